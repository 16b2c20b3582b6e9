package capi

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"unicode"
)

// This file holds the normalization freight applies before hashing. It
// follows the rules Meta documents for each match key; the exact behaviour of
// Meta's parameter builder (state and country names, date parsing, E.164
// phones) is tracked separately and lands here when it is done.

// isHashed reports whether v (already trimmed) is a SHA-256 hex digest: such
// a value is passed through lowercased, never hashed twice.
func isHashed(v string) bool {
	if len(v) != 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// hashField is a normalizer for one match key: it returns the normalized
// value, or "" when nothing usable is left.
type normalizer func(string) string

// hashAll normalizes and hashes values, dropping those that normalize to
// nothing and de-duplicating the rest. It returns nil when none is left.
func hashAll(values []string, norm normalizer) []string {
	var out []string
	for _, raw := range values {
		v := strings.TrimSpace(raw)
		var h string
		if isHashed(v) {
			h = strings.ToLower(v)
		} else {
			n := norm(v)
			if n == "" {
				continue
			}
			h = sha256Hex(n)
		}
		if !slices.Contains(out, h) {
			if out == nil {
				out = make([]string, 0, len(values))
			}
			out = append(out, h)
		}
	}
	return out
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	var buf [sha256.Size * 2]byte
	hex.Encode(buf[:], sum[:])
	return string(buf[:])
}

func normEmail(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if strings.Count(v, "@") != 1 || strings.HasPrefix(v, "@") || strings.HasSuffix(v, "@") {
		return ""
	}
	return v
}

// normPhone keeps digits and drops leading zeros.
func normPhone(v string) string {
	var b strings.Builder
	b.Grow(len(v))
	for _, r := range v {
		if '0' <= r && r <= '9' {
			b.WriteRune(r)
		}
	}
	return strings.TrimLeft(b.String(), "0")
}

// normName lowercases and removes white space and ASCII punctuation; other
// letters (UTF-8) are kept, as Meta asks.
func normName(v string) string {
	var b strings.Builder
	b.Grow(len(v))
	for _, r := range strings.ToLower(v) {
		if unicode.IsSpace(r) || r < 128 && unicode.IsPunct(r) || r < 128 && unicode.IsSymbol(r) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// normAlnum keeps lowercase ASCII letters and digits (city).
func normAlnum(v string) string {
	var b strings.Builder
	b.Grow(len(v))
	for _, r := range strings.ToLower(v) {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// normLetters keeps lowercase ASCII letters (state and country codes).
func normLetters(v string) string {
	var b strings.Builder
	b.Grow(len(v))
	for _, r := range strings.ToLower(v) {
		if 'a' <= r && r <= 'z' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// normZip keeps what stands before the first dash, lowercased, without
// spaces.
func normZip(v string) string {
	if i := strings.IndexByte(v, '-'); i >= 0 {
		v = v[:i]
	}
	return normAlnum(v)
}

func normGender(v string) string {
	switch normLetters(v) {
	case "f", "female", "woman", "w", "girl":
		return "f"
	case "m", "male", "man", "boy":
		return "m"
	}
	return ""
}

// normDOB accepts YYYYMMDD and YYYY-MM-DD (or with / or .) and returns
// YYYYMMDD.
func normDOB(v string) string {
	var b strings.Builder
	b.Grow(len(v))
	for _, r := range v {
		if '0' <= r && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := b.String()
	if len(d) != 8 {
		return ""
	}
	month := (d[4]-'0')*10 + d[5] - '0'
	day := (d[6]-'0')*10 + d[7] - '0'
	if month < 1 || month > 12 || day < 1 || day > 31 || d[0] != '1' && d[0] != '2' {
		return ""
	}
	return d
}

func normExternalID(v string) string { return strings.ToLower(strings.TrimSpace(v)) }
