package capi

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
)

// The click id cookie, fbc: fb.{subdomain index}.{creation time in ms}.{fbclid},
// optionally followed by the appendix of Meta's parameter builder. A
// malformed one makes Meta reject the whole event, so freight sends an fbc
// only in that form: it passes a well-formed one as it is, builds one from
// an fbclid (the event's, or the one in its event_source_url or
// referrer_url query, as the parameter builder does), and drops one that
// cannot be valid, counted in freight_user_data_values_dropped_total
// {field="fbc"}; the event is sent without it.

// validFBC reports whether s is a click id cookie Meta takes: the parameter
// builder's rule for the cookies it reads (_validateCoreStructure and
// _validateAppendix in capi-param-builder's ParamBuilder.js: 4 or 5
// dot-separated parts, "fb", digits, digits, a payload, an appendix), with
// the subdomain index Meta documents (0, 1 or 2).
func validFBC(s string) bool {
	if n := strings.Count(s, "."); n != 3 && n != 4 {
		return false // before Split: a hostile value of 100,000 dots is not split into as many strings
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 && len(parts) != 5 {
		return false
	}
	if parts[0] != "fb" || len(parts[1]) != 1 || parts[1][0] < '0' || parts[1][0] > '2' ||
		!allDigits(parts[2]) || parts[3] == "" {
		return false
	}
	return len(parts) == 4 || validAppendix(parts[4])
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// languageTokens are the parameter builder's v1 appendices, one per
// language it is written in.
var languageTokens = [...]string{"AQ", "Ag", "Aw", "BA", "BQ", "Bg"}

// validAppendix is the parameter builder's check of a cookie's appendix: a
// v1 language token, or 8 base64url characters decoding to 6 bytes, a
// format byte 1 and a language index from 1 to 6.
func validAppendix(s string) bool {
	switch len(s) {
	case 2:
		for _, t := range languageTokens {
			if s == t {
				return true
			}
		}
	case 8:
		b, err := base64.RawURLEncoding.DecodeString(s)
		return err == nil && len(b) == 6 && b[0] == 1 && b[1] >= 1 && int(b[1]) <= len(languageTokens)
	}
	return false
}

// fbcFor returns the fbc to send for an event's fbc and fbclid, created at
// millis, with its URLs to look for an fbclid in; dropped reports an fbc or
// fbclid given that could not make a valid one.
func fbcFor(fbc, fbclid string, millis int64, urls ...string) (out string, dropped bool) {
	if fbc = strings.TrimSpace(fbc); fbc != "" {
		if validFBC(fbc) {
			return fbc, false
		}
		dropped = true
	}
	id := strings.TrimSpace(fbclid)
	for _, u := range urls {
		if id != "" {
			break
		}
		id = fbclidIn(u)
	}
	switch {
	case id == "":
		return "", dropped
	case validFBC(id):
		return id, dropped // a cookie value given as the fbclid
	}
	// The fbclid is case-sensitive and must not be altered.
	out = "fb.1." + strconv.FormatInt(millis, 10) + "." + id
	if !validFBC(out) {
		return "", true // dots in it, or a cookie gone wrong
	}
	return out, dropped
}

// fbclidIn returns the fbclid query parameter of a URL, or "". As the
// parameter builder reads a referrer, a URL without a scheme is taken as
// http.
func fbclidIn(raw string) string {
	if !strings.Contains(raw, "fbclid=") {
		return ""
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(u.Query().Get("fbclid"))
}
