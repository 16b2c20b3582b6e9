package capitest

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is an injected failure: the way one request fails instead of being
// validated.
type Fault int

const (
	// FaultNone lets the request through. Queued with FailNext it consumes
	// a slot without failing, which lets a test fail the 2nd request only.
	FaultNone Fault = iota
	// Fault5xx answers 503 with code 2, is_transient true.
	Fault5xx
	// Fault500 answers 500 with code 1, is_transient true.
	Fault500
	// FaultThrottle answers 400 with code 80004 subcode 2446079 (too many calls
	// to this ad account) and an X-Business-Use-Case-Usage header whose
	// estimated_time_to_regain_access is 1 minute.
	FaultThrottle
	// FaultAppThrottle answers 400 with code 4 (application request limit)
	// and an exhausted X-App-Usage header.
	FaultAppThrottle
	// FaultThrottle429 answers HTTP 429 with code 17 (user request limit).
	FaultThrottle429
	// FaultAuth answers 400 with code 190: the token was invalidated.
	FaultAuth
	// FaultPermission answers 403 with code 200 (permissions error).
	FaultPermission
	// FaultDeprecatedVersion answers 400 with code 2635 (deprecated API version).
	FaultDeprecatedVersion
	// FaultTimeout never answers: it holds the request until the client
	// gives up (or 30 s, or Close) and then drops the connection. It needs a
	// real connection (httptest.Server), not an httptest.ResponseRecorder.
	FaultTimeout
	// FaultReject answers 400 with code 100 subcode 2804050 for the whole
	// request, as when Meta refuses one of its events.
	FaultReject
)

var faultNames = [...]string{
	FaultNone:              "none",
	Fault5xx:               "5xx",
	Fault500:               "500",
	FaultThrottle:          "throttle",
	FaultAppThrottle:       "app_throttle",
	FaultThrottle429:       "throttle429",
	FaultAuth:              "auth",
	FaultPermission:        "permission",
	FaultDeprecatedVersion: "deprecated_version",
	FaultTimeout:           "timeout",
	FaultReject:            "reject",
}

// String returns the fault's short name ("5xx", "throttle", ...).
func (f Fault) String() string {
	if f >= 0 && int(f) < len(faultNames) {
		return faultNames[f]
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// graphError returns the answer for a fault (all but FaultNone and FaultTimeout).
func (f Fault) graphError(pixel string, regain time.Duration) *graphError {
	e := &graphError{status: http.StatusBadRequest, typ: typeOAuth, header: http.Header{}}
	switch f {
	case Fault5xx:
		e.status, e.code, e.transient, e.outcome = http.StatusServiceUnavailable, 2, true, outcomeTransient
		e.message = "An unexpected error has occurred. Please retry your request later."
	case Fault500:
		e.status, e.code, e.transient, e.outcome = http.StatusInternalServerError, 1, true, outcomeTransient
		e.message = "An unknown error has occurred."
	case FaultThrottle:
		e.code, e.subcode, e.transient, e.outcome = 80004, subcodeThrottleBUC, true, outcomeThrottled
		e.message = "(#80004) There have been too many calls to this ad-account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management."
		e.userTitle = "Too many calls"
		e.userMsg = "There have been too many calls to this ad account. Wait a bit and try again."
		e.header.Set("X-Business-Use-Case-Usage", businessUsage(pixel, 100, 42, 57, regain))
	case FaultAppThrottle:
		e.code, e.transient, e.outcome = 4, true, outcomeThrottled
		e.message = "(#4) Application request limit reached"
		e.header.Set("X-App-Usage", appUsage(100, 37, 48))
	case FaultThrottle429:
		e.status, e.code, e.transient, e.outcome = http.StatusTooManyRequests, 17, true, outcomeThrottled
		e.message = "(#17) User request limit reached"
		e.header.Set("X-Business-Use-Case-Usage", businessUsage(pixel, 100, 42, 57, regain))
	case FaultAuth:
		e = errToken("Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.")
	case FaultPermission:
		e.status, e.code, e.outcome = http.StatusForbidden, 200, outcomeAuth
		e.message = "(#200) Permissions error"
	case FaultDeprecatedVersion:
		e.code, e.outcome = 2635, outcomeConfig
		e.message = "(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: v25.0."
	case FaultReject:
		e = errInsufficient()
	default:
		e.status, e.code, e.transient, e.outcome = http.StatusInternalServerError, 1, true, outcomeTransient
		e.message = "An unknown error has occurred (capitest: unknown fault " + f.String() + ")."
	}
	return e
}

// Faults are per-request probabilities of injected failures, for `freight
// dev` and `freight sandbox`. Each request draws once for Err5xx, Throttle and
// Auth (so they add up to at most 1) and once more for Slow, from a source
// seeded with Options.Seed.
type Faults struct {
	Err5xx    float64       // Fault5xx (503, code 2)
	Throttle  float64       // FaultThrottle (code 80004)
	Auth      float64       // FaultAuth (code 190)
	Slow      float64       // the answer comes SlowDelay late
	SlowDelay time.Duration // 0 means 2s
}

const defaultSlowDelay = 2 * time.Second

// Validate reports whether the probabilities are in [0, 1], Err5xx, Throttle
// and Auth add up to at most 1, and SlowDelay is not negative.
func (f Faults) Validate() error {
	var errs []error
	for _, p := range []struct {
		name string
		v    float64
	}{{"5xx", f.Err5xx}, {"throttle", f.Throttle}, {"auth", f.Auth}, {"slow", f.Slow}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
			errs = append(errs, fmt.Errorf("capitest: fault %s: probability %v is not between 0 and 1", p.name, p.v))
		}
	}
	if len(errs) == 0 && f.Err5xx+f.Throttle+f.Auth > 1+1e-9 {
		errs = append(errs, fmt.Errorf("capitest: faults 5xx+throttle+auth add up to %v, more than 1", f.Err5xx+f.Throttle+f.Auth))
	}
	if f.SlowDelay < 0 {
		errs = append(errs, fmt.Errorf("capitest: fault slow_delay %v is negative", f.SlowDelay))
	}
	return errors.Join(errs...)
}

// String renders f in the syntax ParseFaults reads, omitting zero values.
func (f Faults) String() string {
	var parts []string
	add := func(name string, v float64) {
		if v != 0 {
			parts = append(parts, name+"="+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	add("5xx", f.Err5xx)
	add("throttle", f.Throttle)
	add("auth", f.Auth)
	add("slow", f.Slow)
	if f.SlowDelay != 0 {
		parts = append(parts, "slow_delay="+f.SlowDelay.String())
	}
	return strings.Join(parts, ",")
}

// sanitized returns f with out-of-range values forced into range, for
// Options.Faults, which New cannot refuse.
func (f Faults) sanitized() Faults {
	clamp := func(p float64) float64 {
		if math.IsNaN(p) || p < 0 {
			return 0
		}
		return min(p, 1)
	}
	f.Err5xx, f.Throttle, f.Auth, f.Slow = clamp(f.Err5xx), clamp(f.Throttle), clamp(f.Auth), clamp(f.Slow)
	f.SlowDelay = max(f.SlowDelay, 0)
	return f
}

// ParseFaults parses the --faults spec of `freight sandbox`: comma-separated
// name=value items, names 5xx, throttle, auth, slow (probabilities between 0
// and 1) and slow_delay (a Go duration such as 2s). An empty spec means no
// faults. Errors name the offending item.
func ParseFaults(spec string) (Faults, error) {
	var f Faults
	if strings.TrimSpace(spec) == "" {
		return f, nil
	}
	seen := map[string]bool{}
	for i, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return Faults{}, fmt.Errorf("capitest: fault spec item %d is empty", i+1)
		}
		name, val, ok := strings.Cut(item, "=")
		name, val = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(val)
		if !ok || name == "" || val == "" {
			return Faults{}, fmt.Errorf("capitest: fault spec item %q: want name=value", item)
		}
		if seen[name] {
			return Faults{}, fmt.Errorf("capitest: fault spec item %q: %s given twice", item, name)
		}
		seen[name] = true
		var dst *float64
		switch name {
		case "5xx":
			dst = &f.Err5xx
		case "throttle":
			dst = &f.Throttle
		case "auth":
			dst = &f.Auth
		case "slow":
			dst = &f.Slow
		case "slow_delay":
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				return Faults{}, fmt.Errorf("capitest: fault spec item %q: slow_delay wants a non-negative duration such as 2s", item)
			}
			f.SlowDelay = d
			continue
		default:
			return Faults{}, fmt.Errorf("capitest: fault spec item %q: unknown fault %q (known: 5xx, throttle, auth, slow, slow_delay)", item, name)
		}
		p, err := strconv.ParseFloat(val, 64)
		if err != nil || math.IsNaN(p) || p < 0 || p > 1 {
			return Faults{}, fmt.Errorf("capitest: fault spec item %q: %s wants a probability between 0 and 1", item, name)
		}
		*dst = p
	}
	if err := f.Validate(); err != nil {
		return Faults{}, err
	}
	return f, nil
}
