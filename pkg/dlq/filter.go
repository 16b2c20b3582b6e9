package dlq

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/event"
)

// Filter selects dead letters. Empty lists and zero times select all; a
// record must match every part that is set.
type Filter struct {
	Classes []string // deadletter classes, or ClassForeign
	Pixels  []string
	// Codes are Meta's codes: "100" matches every subcode of 100,
	// "100/2804003" only that subcode.
	Codes []string
	// Since and Until bound freight.failed_at (the record's timestamp when
	// the header is missing), both inclusive.
	Since, Until time.Time
}

// Match reports whether the filter selects the letter.
func (f Filter) Match(l letter) bool {
	if len(f.Classes) > 0 && !slices.Contains(f.Classes, l.class) {
		return false
	}
	if len(f.Pixels) > 0 && !slices.Contains(f.Pixels, l.pixel) {
		return false
	}
	if len(f.Codes) > 0 {
		code, _, _ := strings.Cut(l.code, "/")
		if l.code == "" || !slices.ContainsFunc(f.Codes, func(c string) bool { return c == l.code || c == code }) {
			return false
		}
	}
	if !f.Since.IsZero() && l.failedAt.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && l.failedAt.After(f.Until) {
		return false
	}
	return true
}

// ValidClasses are the values --class takes.
var ValidClasses = append(slices.Clone(deadletter.Classes), ClassForeign)

// ParseClasses checks class names, so that a typo (`--class reject`) is an
// error instead of a filter that silently matches nothing.
func ParseClasses(values []string) ([]string, error) {
	for _, v := range values {
		if !slices.Contains(ValidClasses, v) {
			return nil, fmt.Errorf("unknown class %q; the classes are %s", v, strings.Join(ValidClasses, ", "))
		}
	}
	return values, nil
}

// ParseCodes checks Meta error codes: N or N/SUBCODE, digits only.
func ParseCodes(values []string) ([]string, error) {
	digits := func(s string) bool {
		return s != "" && len(s) <= 10 && strings.Trim(s, "0123456789") == ""
	}
	for _, v := range values {
		code, sub, hasSub := strings.Cut(v, "/")
		if !digits(code) || hasSub && !digits(sub) {
			return nil, fmt.Errorf("%q is not a Meta error code (N or N/SUBCODE, e.g. 100 or 100/2804003)", v)
		}
	}
	return values, nil
}

// ParseTime reads the T of --since and --until: an RFC 3339 time, or a
// duration back from now ("90m", "2h"; "3d" for days, which Go durations
// lack and SREs think in).
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration like 2h or 3d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration like 2h or 3d", s)
		}
	}
	if d < 0 {
		return time.Time{}, fmt.Errorf("%q: a duration counts back from now and cannot be negative", s)
	}
	return now.Add(-d), nil
}

// tooOld reports whether Meta would refuse the event as too old now (7 days,
// 62 for physical_store: capi.Deadline, as the relay judges it). Replaying
// such an event only dead-letters it again, so replay counts and leaves it.
// An event whose time cannot be told is not too old: the relay decides.
func tooOld(r *kgo.Record, now time.Time) bool {
	at, actionSource, ok := eventTime(r)
	return ok && now.After(capi.Deadline(at.Unix(), actionSource))
}

// eventTime tells when the event of a dead letter happened: the value's
// event_time (unix seconds, or milliseconds above 10^12) when the value is a
// JSON object; otherwise (Avro, garbage) when the source record was written
// (freight.source.timestamp), and failing that when the dead letter was: the
// event cannot be younger than either.
func eventTime(r *kgo.Record) (at time.Time, actionSource string, ok bool) {
	var p fastjson.Parser // its depth limit keeps a hostile value from exhausting the stack
	if v, err := p.ParseBytes(r.Value); err == nil && v.Type() == fastjson.TypeObject {
		if et := v.Get("event_time"); et != nil && et.Type() == fastjson.TypeNumber {
			if f, err := et.Float64(); err == nil && f > 0 && f == math.Trunc(f) && f <= math.MaxInt64/2 {
				if as := v.Get("action_source"); as != nil && as.Type() == fastjson.TypeString {
					actionSource = string(as.GetStringBytes())
				}
				return time.Unix(event.TimeOf(int64(f)).Unix, 0), actionSource, true
			}
		}
	}
	if ms, err := strconv.ParseInt(deadletter.Header(r, deadletter.HeaderSourceTimestamp), 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms), "", true
	}
	if !r.Timestamp.IsZero() {
		return r.Timestamp, "", true
	}
	return time.Time{}, "", false
}

// Patterns of what must not be printed from a message: Meta's error text
// (error_user_msg) is Meta's, and nothing guarantees it never quotes the
// request. Package-level so they compile once.
var (
	// Meta access tokens start with EAA; also anything passed as a token
	// parameter.
	tokenRe      = regexp.MustCompile(`EAA[A-Za-z0-9]{16,}`)
	tokenParamRe = regexp.MustCompile(`(?i)\b(access_token|appsecret_proof|token)(=|"\s*:\s*")[^\s&"',;]+`)
	emailRe      = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)
	// Phone numbers in international form. Bare digit runs are left
	// alone: they are pixel ids, codes and timestamps far more often.
	phoneRe = regexp.MustCompile(`\+[0-9][0-9 ().\-]{5,}[0-9]`)
)

// Sanitize makes a dead letter's message (or id) safe to print: tokens
// become [redacted], e-mail addresses and international phone numbers
// become a SHA-256 prefix of their normalized form, so that equal values
// still look equal.
func Sanitize(s string) string {
	// Until nothing changes: a replacement can join what surrounds it into
	// a new match ("a@b.cc@d.ee"). Each round that changes something either
	// removes an @ or a +, or leaves only [redacted] where it replaced, so
	// it ends.
	for {
		before := s
		s = tokenRe.ReplaceAllString(s, "[redacted]")
		s = tokenParamRe.ReplaceAllString(s, "$1$2[redacted]")
		s = emailRe.ReplaceAllStringFunc(s, func(m string) string { return hashed(strings.ToLower(m)) })
		s = phoneRe.ReplaceAllStringFunc(s, func(m string) string {
			return hashed(strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, m))
		})
		if s == before {
			return s
		}
	}
}

func hashed(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:6])
}
