package capi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Outcome is Meta's answer to a request, classified once for the relay to
// branch on (CAPI.md, "Responses and errors").
type Outcome int

const (
	// OK: HTTP 2xx, every event accepted.
	OK Outcome = iota
	// Transient: 5xx, timeouts, connection errors, is_transient, codes 1 and
	// 2. Retry with backoff.
	Transient
	// Throttled: rate limits (4, 17, 32, 341, 613, 80000-80014, HTTP 429)
	// and the temporary policy block 368. Back off the pixel.
	Throttled
	// Auth: the token or its permissions are wrong (190, 102, 10, 200-299,
	// 100/33). Keep the events, retry slowly, dead-letter "auth" past
	// give_up_after.
	Auth
	// Rejected: Meta refused the request for an invalid event (code 100 and
	// other client errors). Split the batch to isolate it.
	Rejected
	// TooOld: Meta refused an event as older than 7 days (100/2804003).
	TooOld
	// Deprecated is the answer when the API version is no longer served
	// (2635): a configuration problem. Alert, keep the events, never
	// dead-letter.
	Deprecated
)

var outcomeNames = [...]string{"ok", "transient", "throttled", "auth", "rejected", "too_old", "deprecated_version"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Result is what a request came to.
type Result struct {
	Outcome        Outcome
	Status         int // HTTP status, 0 when no answer came
	EventsReceived int
	FBTraceID      string
	Code, Subcode  int
	// Message is Meta's error_user_msg, else its message, else a
	// description of the transport error. It never holds the token.
	Message string
	// Title is Meta's error_user_title, "" when it gave none.
	Title string
	// RetryAfter is how long Meta asked us to stay away (usage headers), 0
	// when it did not say.
	RetryAfter time.Duration
	// Usage is the highest share (percent) of a rate limit that Meta's
	// usage headers report as used, 0 when it sent none: a pixel near 100
	// is about to be throttled.
	Usage    float64
	Duration time.Duration
}

// ClientConfig configures a Client.
type ClientConfig struct {
	BaseURL      string // https://graph.facebook.com
	APIVersion   string // v25.0
	PartnerAgent string
	Timeout      time.Duration
	HTTPClient   *http.Client // nil: a client with its own transport
}

// Client posts batches of server events to the Graph API.
type Client struct {
	cfg  ClientConfig
	http *http.Client
}

// NewClient returns a client. It keeps connections alive across requests.
func NewClient(cfg ClientConfig) *Client {
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		hc = &http.Client{Transport: tr}
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Client{cfg: cfg, http: hc}
}

// Request is one POST to a pixel's events edge.
type Request struct {
	PixelID   string
	Token     string
	AppSecret string // when set, appsecret_proof is sent
	RequestParams
	Events []json.RawMessage
}

// RequestParams are the parameters the Graph API takes per request, not
// per event. An event may carry its own (Event.Params): a sender sends
// the events of one set of them together.
type RequestParams struct {
	TestEventCode string
	NamespaceID   string
	UploadID      string
	UploadTag     string
	UploadSource  string
}

// Send posts the events and classifies the answer. It never returns the
// token in any field.
func (c *Client) Send(ctx context.Context, r Request) Result {
	start := time.Now()
	res := c.send(ctx, r)
	res.Duration = time.Since(start)
	if r.Token != "" {
		res.Message = strings.ReplaceAll(res.Message, r.Token, "[redacted]")
	}
	return res
}

func (c *Client) send(ctx context.Context, r Request) Result {
	body, size := encodeBody(r, c.cfg.PartnerAgent)
	if c.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	u := c.cfg.BaseURL + "/" + c.cfg.APIVersion + "/" + r.PixelID + "/events"
	fresh := func() io.Reader {
		b := slices.Clone(body) // reading a net.Buffers consumes it
		return &b
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, fresh())
	if err != nil {
		return Result{Outcome: Rejected, Message: "cannot build the request: " + err.Error()}
	}
	// As for a bytes.Reader: the length up front, and a way to send the
	// body again on a connection that the server closed before reading it.
	req.ContentLength = size
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(fresh()), nil }
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		msg := "no answer from the Graph API"
		if errors.Is(err, context.DeadlineExceeded) {
			msg = "the Graph API did not answer within the timeout"
		} else if errors.Is(err, context.Canceled) {
			msg = "the request was canceled"
		}
		return Result{Outcome: Transient, Message: msg}
	}
	defer resp.Body.Close()
	// Bound what we read: a broken proxy must not fill our memory.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_, _ = io.Copy(io.Discard, resp.Body)
	if err != nil {
		return Result{Outcome: Transient, Status: resp.StatusCode, Message: "reading the answer: " + err.Error()}
	}
	return Classify(resp.StatusCode, resp.Header, raw)
}

func encodeBody(r Request, partnerAgent string) (body net.Buffers, size int64) {
	// The events are not copied: the body is their slices with the JSON
	// between them, read in order. A copy would double what a request in
	// flight holds (1 MB for 1,000 events; max_in_flight_requests of them
	// per pixel while Meta does not answer), uncounted by the buffer.
	body = make(net.Buffers, 0, 2*len(r.Events)+2)
	body = append(body, []byte(`{"data":[`))
	for i, e := range r.Events {
		if i > 0 {
			body = append(body, comma)
		}
		body = append(body, e)
	}
	var tail []byte
	field := func(k, v string) {
		if v == "" {
			return
		}
		tail = append(tail, `,"`+k+`":`...)
		q, _ := json.Marshal(v)
		tail = append(tail, q...)
	}
	tail = append(tail, ']')
	field("access_token", r.Token)
	field("partner_agent", partnerAgent)
	field("test_event_code", r.TestEventCode)
	field("namespace_id", r.NamespaceID)
	field("upload_id", r.UploadID)
	field("upload_tag", r.UploadTag)
	field("upload_source", r.UploadSource)
	if r.AppSecret != "" {
		field("appsecret_proof", AppSecretProof(r.AppSecret, r.Token))
	}
	tail = append(tail, '}')
	body = append(body, tail)
	for _, b := range body {
		size += int64(len(b))
	}
	return body, size
}

var comma = []byte{','}

// AppSecretProof is hex(HMAC-SHA256(app secret, access token)).
func AppSecretProof(appSecret, token string) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

type graphError struct {
	Error *struct {
		Message        string `json:"message"`
		Type           string `json:"type"`
		Code           int    `json:"code"`
		Subcode        int    `json:"error_subcode"`
		IsTransient    bool   `json:"is_transient"`
		ErrorUserTitle string `json:"error_user_title"`
		ErrorUserMsg   string `json:"error_user_msg"`
		FBTraceID      string `json:"fbtrace_id"`
	} `json:"error"`
	EventsReceived *int   `json:"events_received"`
	FBTraceID      string `json:"fbtrace_id"`
}

// Classify turns an HTTP answer into a Result. Only codes are read, never
// the localized messages, to decide.
func Classify(status int, h http.Header, body []byte) Result {
	res := Result{Status: status}
	res.RetryAfter, res.Usage = usageHeaders(h)
	var g graphError
	parsed := json.Unmarshal(body, &g) == nil
	if status >= 200 && status < 300 {
		if !parsed || g.EventsReceived == nil {
			// Meta's success always says how many events it received. A
			// 2xx without it is not Meta's (a captive portal, a proxy's
			// page): nothing says the events arrived, so they are not
			// confirmed; they are tried again.
			res.Outcome = Transient
			res.Message = fmt.Sprintf("HTTP %d without events_received: not an answer of the Graph API", status)
			return res
		}
		res.Outcome = OK
		res.EventsReceived = *g.EventsReceived
		res.FBTraceID = g.FBTraceID
		return res
	}
	if !parsed || g.Error == nil {
		// Not Meta's answer about the events (a proxy's 403 or 404, a load
		// balancer's HTML page): the way to Meta is broken for the pixel.
		// Retried, and the pixel parked if it lasts; never taken as the
		// events' rejection, which would split the batch and dead-letter
		// every event.
		res.Message = fmt.Sprintf("HTTP %d without a Graph error body", status)
		res.Outcome = Transient
		if status == http.StatusTooManyRequests {
			res.Outcome = Throttled
		}
		return res
	}
	e := g.Error
	res.Code, res.Subcode, res.FBTraceID = e.Code, e.Subcode, e.FBTraceID
	res.Message, res.Title = e.ErrorUserMsg, e.ErrorUserTitle
	if res.Message == "" {
		res.Message = e.Message
	}
	res.Outcome = classifyCode(status, e.Code, e.Subcode, e.IsTransient, e.Type)
	return res
}

// classifyCode decides on Graph's code, subcode and error type, never the
// message. Errors about the request rather than its events are the pixel's
// faults (Auth): retried slowly, parked, shown in the pixel's state, never
// split and dead-lettered event by event, which would lose a whole batch to
// a wrong app secret.
func classifyCode(status, code, subcode int, transient bool, typ string) Outcome {
	switch {
	case code == 100 && subcode == 2804003:
		return TooOld
	case code == 100 && subcode == 33:
		return Auth
	// 104: no access token reached Graph. 3: the app lacks the capability
	// for the call.
	case code == 104 || code == 3:
		return Auth
	// A method error without a subcode is about the call, not an event:
	// an invalid or missing appsecret_proof, an unsupported request. The
	// Conversions API's event errors are OAuthException, with a subcode.
	case code == 100 && subcode == 0 && typ == "GraphMethodException":
		return Auth
	case code == 2635:
		return Deprecated
	case code == 190 || code == 102 || code == 10 || code >= 200 && code <= 299:
		return Auth
	case code == 4 || code == 17 || code == 32 || code == 341 || code == 613 || code == 368 ||
		code >= 80000 && code <= 80014 || status == http.StatusTooManyRequests:
		return Throttled
	case transient || code == 1 || code == 2 || status >= 500:
		return Transient
	default:
		return Rejected
	}
}

// usageHeaders reads Meta's rate-limit headers: how long it asks us to wait
// (X-Business-Use-Case-Usage's estimated_time_to_regain_access in minutes,
// X-Ad-Account-Usage's reset_time_duration in seconds, Retry-After), and the
// highest share of any limit used (call count, CPU time, total time, ad
// account utilization; percentages).
func usageHeaders(h http.Header) (wait time.Duration, usage float64) {
	type counts struct {
		CallCount    float64 `json:"call_count"`
		TotalCPUTime float64 `json:"total_cputime"`
		TotalTime    float64 `json:"total_time"`
	}
	use := func(c counts) { usage = max(usage, c.CallCount, c.TotalCPUTime, c.TotalTime) }
	if v := h.Get("X-Business-Use-Case-Usage"); v != "" {
		var buc map[string][]struct {
			counts
			ETA float64 `json:"estimated_time_to_regain_access"`
		}
		if json.Unmarshal([]byte(v), &buc) == nil {
			for _, entries := range buc {
				for _, e := range entries {
					wait = max(wait, time.Duration(e.ETA*float64(time.Minute)))
					use(e.counts)
				}
			}
		}
	}
	if v := h.Get("X-App-Usage"); v != "" {
		var app counts
		if json.Unmarshal([]byte(v), &app) == nil {
			use(app)
		}
	}
	if v := h.Get("X-Ad-Account-Usage"); v != "" {
		var acc struct {
			Util  float64 `json:"acc_id_util_pct"`
			Reset float64 `json:"reset_time_duration"`
		}
		if json.Unmarshal([]byte(v), &acc) == nil {
			usage = max(usage, acc.Util)
			if acc.Util >= 100 {
				wait = max(wait, time.Duration(acc.Reset*float64(time.Second)))
			}
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil {
			wait = max(wait, time.Duration(s)*time.Second)
		}
	}
	return wait, usage
}
