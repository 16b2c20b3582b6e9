package capitest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"time"
)

// outcome classifies an answered request for RequestStats.
type outcome int

const (
	outcomeOK outcome = iota
	outcomeRejected
	outcomeThrottled
	outcomeAuth
	outcomeTransient
	outcomeConfig
	outcomeAbandoned
)

// graphError is one Graph API error answer.
type graphError struct {
	status    int
	code      int
	subcode   int
	typ       string
	message   string
	userTitle string
	userMsg   string
	transient bool
	outcome   outcome
	header    http.Header // extra response headers (usage headers, WWW-Authenticate)
}

type graphErrorBody struct {
	Error graphErrorFields `json:"error"`
}

type graphErrorFields struct {
	Message     string `json:"message"`
	Type        string `json:"type"`
	Code        int    `json:"code"`
	Subcode     int    `json:"error_subcode,omitempty"`
	IsTransient bool   `json:"is_transient"`
	UserTitle   string `json:"error_user_title,omitempty"`
	UserMsg     string `json:"error_user_msg,omitempty"`
	FBTraceID   string `json:"fbtrace_id"`
}

type successBody struct {
	EventsReceived int      `json:"events_received"`
	Messages       []string `json:"messages"`
	FBTraceID      string   `json:"fbtrace_id"`
}

const (
	typeOAuth       = "OAuthException"
	typeGraphMethod = "GraphMethodException"
)

// invalid is a plain code-100 error ("(#100) ..."), as Graph words parameter errors.
func invalid(format string, args ...any) *graphError {
	return &graphError{
		status:  http.StatusBadRequest,
		code:    100,
		typ:     typeOAuth,
		message: "(#100) " + fmt.Sprintf(format, args...),
		outcome: outcomeRejected,
	}
}

// invalidSub is a code-100 error with a Conversions API subcode, worded like
// Meta's: a generic message and the details in error_user_title/msg.
func invalidSub(subcode int, title, userMsg string) *graphError {
	return &graphError{
		status:    http.StatusBadRequest,
		code:      100,
		subcode:   subcode,
		typ:       typeOAuth,
		message:   "Invalid parameter",
		userTitle: title,
		userMsg:   userMsg,
		outcome:   outcomeRejected,
	}
}

// Conversions API subcodes of code 100.
const (
	subcodeNoSuchObject     = 33
	subcodeTooOld           = 2804003
	subcodeFuture           = 2804004
	subcodeInvalidUserData  = 2804019
	subcodeInsufficientData = 2804050
	subcodeThrottleBUC      = 2446079
)

func errTooOld() *graphError {
	return invalidSub(subcodeTooOld, "Event Timestamp Too Old",
		"The timestamp for this event is too far in the past. Events need to be sent from your server within 7 days of when they occurred (62 days for physical_store events). Enter a timestamp that has occurred within the allowed window.")
}

func errFuture() *graphError {
	return invalidSub(subcodeFuture, "Event Timestamp In The Future",
		"The timestamp for this event is in the future. Enter the Unix time in seconds when the event actually occurred.")
}

func errUserData(field, problem string) *graphError {
	return invalidSub(subcodeInvalidUserData, "Invalid Customer Information Parameter",
		fmt.Sprintf("The user_data parameter %s %s.", field, problem))
}

func errInsufficient() *graphError {
	return invalidSub(subcodeInsufficientData, "Insufficient Customer Information",
		"The server event has insufficient customer information parameters. Add more of them (for example em, ph, external_id, fbp, fbc or client_ip_address with client_user_agent) to user_data.")
}

func errNoSuchPixel(pixel string) *graphError {
	return &graphError{
		status:  http.StatusBadRequest,
		code:    100,
		subcode: subcodeNoSuchObject,
		typ:     typeGraphMethod,
		message: fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api", pixel),
		outcome: outcomeAuth,
	}
}

func errToken(message string) *graphError {
	h := http.Header{}
	h.Set("WWW-Authenticate", `OAuth "Facebook Platform" "invalid_token" "`+message+`"`)
	return &graphError{
		status:  http.StatusBadRequest,
		code:    190,
		typ:     typeOAuth,
		message: message,
		outcome: outcomeAuth,
		header:  h,
	}
}

// errNoToken is Graph's answer to a call without an access token: code 104,
// not 190 (an access token that is invalid).
func errNoToken() *graphError {
	return &graphError{
		status:  http.StatusBadRequest,
		code:    104,
		typ:     typeOAuth,
		message: "An access token is required to request this resource.",
		outcome: outcomeAuth,
	}
}

func errAppSecretProof(message string) *graphError {
	return &graphError{
		status:  http.StatusBadRequest,
		code:    100,
		typ:     typeGraphMethod,
		message: message,
		outcome: outcomeAuth,
	}
}

func errUnknownPath() *graphError {
	return &graphError{
		status:  http.StatusBadRequest,
		code:    2500,
		typ:     typeOAuth,
		message: "Unknown path components: the stand-in serves POST /{version}/{pixel_id}/events with a version like v25.0",
		outcome: outcomeConfig,
	}
}

// writeJSON writes v with Graph's content type and trace header.
func writeJSON(w http.ResponseWriter, status int, trace string, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for the types used here
		status, b = http.StatusInternalServerError, []byte(`{}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if trace != "" {
		h.Set("X-Fb-Trace-Id", trace)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeGraphError(w http.ResponseWriter, trace string, e *graphError) {
	for k, vs := range e.header {
		w.Header()[k] = vs
	}
	writeJSON(w, e.status, trace, graphErrorBody{Error: graphErrorFields{
		Message:     e.message,
		Type:        e.typ,
		Code:        e.code,
		Subcode:     e.subcode,
		IsTransient: e.transient,
		UserTitle:   e.userTitle,
		UserMsg:     e.userMsg,
		FBTraceID:   trace,
	}})
}

// businessID is a stable fake business (ad account) id for a pixel, the key
// of the X-Business-Use-Case-Usage header. It is deliberately not the pixel
// id: freight must not depend on the key.
func businessID(pixel string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(pixel))
	return strconv.FormatUint(100000000000000+h.Sum64()%900000000000000, 10)
}

// businessUsage renders X-Business-Use-Case-Usage as Meta documents it;
// estimated_time_to_regain_access is in minutes.
func businessUsage(pixel string, callCount, cpu, total int, regain time.Duration) string {
	return fmt.Sprintf(`{"%s":[{"type":"ads_management","call_count":%d,"total_cputime":%d,"total_time":%d,"estimated_time_to_regain_access":%g}]}`,
		businessID(pixel), callCount, cpu, total, regain.Minutes())
}

// appUsage renders X-App-Usage (percentages of the app's limits).
func appUsage(callCount, cpu, total int) string {
	return fmt.Sprintf(`{"call_count":%d,"total_cputime":%d,"total_time":%d}`, callCount, cpu, total)
}
