package capitest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Server.
type Options struct {
	// Tokens maps a pixel id to its valid access token. A pixel not in the
	// map does not exist (100/33). A token valid for another pixel is
	// answered 100/33 too, an unknown token 190.
	Tokens map[string]string
	// AnyToken makes every pixel exist and any non-empty token valid for
	// it, for `freight sandbox` without a configuration; Tokens is then
	// ignored. Auth errors come only from faults.
	AnyToken bool
	// Now is the clock event times are judged by; default time.Now.
	Now func() time.Time
	// Faults are the probabilistic faults (dev, sandbox); see SetFaults.
	// Values out of range are clamped: validate input with ParseFaults.
	Faults Faults
	// Seed seeds the fault draws and the fbtrace_ids, so a run is repeatable.
	Seed int64
	// MaxRecorded bounds the events kept for Events and Count (the oldest
	// are dropped); 0 keeps all. Total counts all events either way.
	MaxRecorded int
	// AppSecret, when set, makes every request need a valid appsecret_proof
	// (hex HMAC-SHA256 of the token keyed by the secret), as an app with
	// "Require App Secret" does.
	AppSecret string
}

// Received is one accepted event.
type Received struct {
	Seq            int64           `json:"seq"` // 1, 2, ... in order of acceptance
	ReceivedAt     time.Time       `json:"received_at"`
	PixelID        string          `json:"pixel_id"`
	APIVersion     string          `json:"api_version"`
	EventName      string          `json:"event_name"`
	EventID        string          `json:"event_id,omitempty"`
	TestEventCode  string          `json:"test_event_code,omitempty"`
	PartnerAgent   string          `json:"partner_agent,omitempty"`
	Upload         Upload          `json:"upload"`
	AppSecretProof bool            `json:"appsecret_proof"` // the request carried one
	FBTraceID      string          `json:"fbtrace_id"`
	Raw            json.RawMessage `json:"event"` // the event's bytes as sent
}

// Upload holds the request's offline upload parameters, "" when not sent.
type Upload struct {
	NamespaceID  string `json:"namespace_id,omitempty"`
	UploadID     string `json:"upload_id,omitempty"`
	UploadTag    string `json:"upload_tag,omitempty"`
	UploadSource string `json:"upload_source,omitempty"`
}

// Fields decodes the raw event (numbers as float64), for assertions.
func (r Received) Fields() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Raw, &m)
	return m
}

// RequestStats count requests to the events route by outcome. Every request
// counts in Total and in at most one outcome.
type RequestStats struct {
	Total      int `json:"total"`
	OK         int `json:"ok"`
	Rejected   int `json:"rejected"`     // invalid request or event (code 100)
	Throttled  int `json:"throttled"`    // codes 4, 17, 80004
	Auth       int `json:"auth"`         // 190, 200, unknown pixel (100/33), bad appsecret_proof
	Transient  int `json:"transient"`    // 5xx answers and FaultTimeout
	Config     int `json:"config"`       // 2635, unknown path or method
	Abandoned  int `json:"abandoned"`    // the client went away before the answer
	TokenInURL int `json:"token_in_url"` // requests with access_token in the URL query
}

type eventKey struct{ pixel, name, id string }

type faultRun struct {
	fault Fault
	n     int
}

// Server is the Conversions API stand-in. It is an http.Handler; all its
// methods are safe for concurrent use.
type Server struct {
	now       func() time.Time
	maxRec    int
	appSecret string
	anyToken  bool
	closed    chan struct{}
	closeOnce sync.Once

	mu          sync.Mutex
	hang        time.Duration // how long FaultTimeout holds a request at most
	tokens      map[string]string
	usage       map[string]int // pixel -> percent reported on success
	regain      time.Duration  // estimated_time_to_regain_access of throttling faults
	faults      Faults
	faultRand   *rand.Rand
	traceRand   *rand.Rand
	delay       time.Duration
	failNext    []faultRun
	failNextFor map[string][]faultRun
	pixelFaults map[string]Fault
	refused     map[string]bool // event ids Meta refuses (RefuseEvent)
	events      []Received
	counts      map[eventKey]int
	total       int
	seq         int64
	stats       RequestStats
}

// New returns a stand-in serving the pixels of opts.Tokens.
func New(opts Options) *Server {
	s := &Server{
		now:         opts.Now,
		maxRec:      max(opts.MaxRecorded, 0),
		appSecret:   opts.AppSecret,
		anyToken:    opts.AnyToken,
		hang:        30 * time.Second,
		closed:      make(chan struct{}),
		tokens:      make(map[string]string, len(opts.Tokens)),
		usage:       map[string]int{},
		regain:      time.Minute,
		faults:      opts.Faults.sanitized(),
		faultRand:   rand.New(rand.NewPCG(uint64(opts.Seed), 0x6361706974657374)),
		traceRand:   rand.New(rand.NewPCG(uint64(opts.Seed), 0x7472616365696473)),
		failNextFor: map[string][]faultRun{},
		pixelFaults: map[string]Fault{},
		counts:      map[eventKey]int{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	for pixel, tok := range opts.Tokens {
		s.tokens[pixel] = tok
	}
	return s
}

// NewHTTPTest starts the stand-in on an httptest.Server, closed (after
// Close) by t.Cleanup, and returns it with its base URL (no trailing slash).
func NewHTTPTest(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return s, ts.URL
}

// Close releases the requests held by SetDelay, slow faults and
// FaultTimeout, so that an http.Server can shut down promptly. Delays do
// not apply after Close; the stand-in keeps answering.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

var versionPattern = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)

// ServeHTTP serves POST /{version}/{pixel_id}/events and the /_sandbox/ endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sandbox/") {
		s.serveSandbox(w, r)
		return
	}
	tokenInURL := r.URL.Query().Has("access_token")
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var e *graphError
	switch {
	case len(parts) != 3 || parts[2] != "events" || !versionPattern.MatchString(parts[0]) || parts[1] == "":
		e = errUnknownPath()
	case r.Method != http.MethodPost:
		e = invalid("Unsupported %s request: the stand-in serves POST only", strings.ToLower(r.Method))
		e.outcome = outcomeConfig
	default:
		s.serveEvents(w, r, parts[0], parts[1], tokenInURL)
		return
	}
	s.mu.Lock()
	s.stats.Total++
	if tokenInURL {
		s.stats.TokenInURL++
	}
	s.mu.Unlock()
	s.answerError(w, s.newTraceID(), e)
}

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, version, pixel string, tokenInURL bool) {
	ctx := r.Context()
	trace := s.newTraceID()
	body, bodyErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))

	wait, fault := s.plan(pixel, tokenInURL)
	if !s.wait(ctx, wait) {
		s.countOutcome(outcomeAbandoned)
		return
	}
	switch fault {
	case FaultNone:
	case FaultTimeout:
		s.countOutcome(outcomeTransient)
		s.hold(ctx)
		abortResponse(w)
		return
	default:
		s.answerError(w, trace, fault.graphError(pixel, s.regainAfter()))
		return
	}

	if bodyErr != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](bodyErr); tooLarge {
			s.answerError(w, trace, invalid("the request body is larger than the stand-in's %d bytes", maxBodyBytes))
			return
		}
		s.countOutcome(outcomeAbandoned)
		return
	}
	p, e := parseParams(r, body)
	if e != nil {
		s.answerError(w, trace, e)
		return
	}
	if e := s.authorize(r, p, pixel); e != nil {
		s.answerError(w, trace, e)
		return
	}
	events, e := dataEvents(p)
	if e != nil {
		s.answerError(w, trace, e)
		return
	}
	now := s.now()
	nowUnix := now.Unix()
	infos := make([]eventInfo, len(events))
	for i, ev := range events {
		if infos[i], e = validateEvent(ev, nowUnix); e != nil {
			s.answerError(w, trace, e)
			return
		}
		s.mu.Lock()
		refused := s.refused[infos[i].id]
		s.mu.Unlock()
		if refused {
			s.answerError(w, trace, errInsufficient())
			return
		}
	}

	recs := make([]Received, len(events))
	for i, ev := range events {
		recs[i] = Received{
			ReceivedAt:     now,
			PixelID:        pixel,
			APIVersion:     version,
			EventName:      infos[i].name,
			EventID:        infos[i].id,
			TestEventCode:  p.testEventCode,
			PartnerAgent:   p.partnerAgent,
			Upload:         p.upload,
			AppSecretProof: p.appsecretProof != "",
			FBTraceID:      trace,
			Raw:            bytes.Clone(ev), // keeps no other part of the body (the token) alive
		}
	}

	s.mu.Lock()
	for _, rec := range recs {
		s.seq++
		rec.Seq = s.seq
		s.record(rec)
	}
	s.total += len(events)
	s.stats.OK++
	s.mu.Unlock()

	s.mu.Lock()
	usage := max(s.usage[pixel], 1)
	s.mu.Unlock()
	w.Header().Set("X-Business-Use-Case-Usage", businessUsage(pixel, usage, usage, usage, 0))
	writeJSON(w, http.StatusOK, trace, successBody{EventsReceived: len(events), Messages: []string{}, FBTraceID: trace})
}

// record appends one event, dropping the oldest beyond MaxRecorded. s.mu is held.
func (s *Server) record(ev Received) {
	if s.maxRec > 0 && len(s.events) >= s.maxRec {
		old := s.events[0]
		k := eventKey{old.PixelID, old.EventName, old.EventID}
		if s.counts[k]--; s.counts[k] <= 0 {
			delete(s.counts, k)
		}
		s.events[0] = Received{}
		s.events = s.events[1:]
	}
	s.events = append(s.events, ev)
	s.counts[eventKey{ev.PixelID, ev.EventName, ev.EventID}]++
}

// authorize checks the token (body, then Authorization header, then URL
// query, as Graph accepts all three), the pixel and appsecret_proof.
func (s *Server) authorize(r *http.Request, p params, pixel string) *graphError {
	token := p.token
	if token == "" {
		auth := r.Header.Get("Authorization")
		for _, scheme := range []string{"Bearer ", "OAuth "} {
			if len(auth) > len(scheme) && strings.EqualFold(auth[:len(scheme)], scheme) {
				token = strings.TrimSpace(auth[len(scheme):])
			}
		}
	}
	if token == "" {
		token = r.URL.Query().Get("access_token")
	}
	if token == "" {
		return errNoToken()
	}

	if !s.anyToken {
		s.mu.Lock()
		want, pixelExists := s.tokens[pixel]
		known := false
		for _, t := range s.tokens {
			if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
				known = true
			}
		}
		s.mu.Unlock()

		if !known {
			return errToken("Invalid OAuth access token - Cannot parse access token")
		}
		if !pixelExists || subtle.ConstantTimeCompare([]byte(want), []byte(token)) != 1 {
			return errNoSuchPixel(pixel)
		}
	}
	if s.appSecret != "" {
		if p.appsecretProof == "" {
			return errAppSecretProof("API calls from the server require an appsecret_proof argument")
		}
		mac := hmac.New(sha256.New, []byte(s.appSecret))
		mac.Write([]byte(token))
		got, err := hex.DecodeString(p.appsecretProof)
		if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
			return errAppSecretProof("Invalid appsecret_proof provided in the API argument")
		}
	}
	return nil
}

// plan counts the request and decides its delay and fault: a FailNextFor
// entry for the pixel, else the pixel's fault, else a FailNext entry, else
// the probabilistic faults. Both random draws happen for every request so
// that a seed gives the same sequence whatever the deterministic faults do.
func (s *Server) plan(pixel string, tokenInURL bool) (time.Duration, Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Total++
	if tokenInURL {
		s.stats.TokenInURL++
	}
	errDraw, slowDraw := s.faultRand.Float64(), s.faultRand.Float64()

	wait := s.delay
	if slowDraw < s.faults.Slow {
		d := s.faults.SlowDelay
		if d == 0 {
			d = defaultSlowDelay
		}
		wait += d
	}

	if q := s.failNextFor[pixel]; len(q) > 0 {
		f := pop(&q)
		if len(q) == 0 {
			delete(s.failNextFor, pixel)
		} else {
			s.failNextFor[pixel] = q
		}
		return wait, f
	}
	if f, ok := s.pixelFaults[pixel]; ok {
		return wait, f
	}
	if len(s.failNext) > 0 {
		return wait, pop(&s.failNext)
	}
	switch p := s.faults; {
	case errDraw < p.Err5xx:
		return wait, Fault5xx
	case errDraw < p.Err5xx+p.Throttle:
		return wait, FaultThrottle
	case errDraw < p.Err5xx+p.Throttle+p.Auth:
		return wait, FaultAuth
	}
	return wait, FaultNone
}

func pop(q *[]faultRun) Fault {
	f := (*q)[0].fault
	if (*q)[0].n--; (*q)[0].n <= 0 {
		*q = (*q)[1:]
	}
	return f
}

// wait sleeps for d unless the client leaves (false) or Close is called.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-s.closed:
		}
	}
	return ctx.Err() == nil
}

// hold is FaultTimeout's hang: until the client leaves, s.hang, or Close.
func (s *Server) hold(ctx context.Context) {
	s.mu.Lock()
	hang := s.hang
	s.mu.Unlock()
	t := time.NewTimer(hang)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.closed:
	}
}

// abortResponse drops the connection without an answer.
func abortResponse(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	// HTTP/2 and other writers that cannot be hijacked: net/http resets the
	// stream and does not log this panic.
	panic(http.ErrAbortHandler)
}

func (s *Server) answerError(w http.ResponseWriter, trace string, e *graphError) {
	s.mu.Lock()
	s.countOutcomeLocked(e.outcome)
	s.mu.Unlock()
	writeGraphError(w, trace, e)
}

func (s *Server) countOutcome(o outcome) {
	s.mu.Lock()
	s.countOutcomeLocked(o)
	s.mu.Unlock()
}

func (s *Server) countOutcomeLocked(o outcome) {
	switch o {
	case outcomeOK:
		s.stats.OK++
	case outcomeRejected:
		s.stats.Rejected++
	case outcomeThrottled:
		s.stats.Throttled++
	case outcomeAuth:
		s.stats.Auth++
	case outcomeTransient:
		s.stats.Transient++
	case outcomeConfig:
		s.stats.Config++
	case outcomeAbandoned:
		s.stats.Abandoned++
	}
}

const traceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

// newTraceID returns a Graph-like fbtrace_id.
func (s *Server) newTraceID() string {
	var b [23]byte
	s.mu.Lock()
	for i := range b {
		b[i] = traceAlphabet[s.traceRand.IntN(len(traceAlphabet))]
	}
	s.mu.Unlock()
	return string(b[:])
}

// Events returns a copy of the accepted events, oldest first.
func (s *Server) Events() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyEvents(s.events)
}

func copyEvents(evs []Received) []Received {
	out := make([]Received, len(evs))
	for i, ev := range evs {
		ev.Raw = bytes.Clone(ev.Raw)
		out[i] = ev
	}
	return out
}

// Count returns how many times an event with this pixel, event_name and
// event_id was accepted (among the recorded events, see MaxRecorded).
func (s *Server) Count(pixel, eventName, eventID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[eventKey{pixel, eventName, eventID}]
}

// Total returns how many events were accepted since New or Reset.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Requests returns the request counters.
func (s *Server) Requests() RequestStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Reset forgets the recorded events and the counters. Faults, delay and
// tokens stay as they are (see ClearFaults).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = nil
	s.counts = map[eventKey]int{}
	s.total = 0
	s.seq = 0
	s.stats = RequestStats{}
}

// SetToken makes token the valid token of pixel, creating the pixel if
// needed (rotation tests). An empty token removes the pixel.
func (s *Server) SetToken(pixel, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token == "" {
		delete(s.tokens, pixel)
		return
	}
	s.tokens[pixel] = token
}

// FailNext makes the next n requests, for any pixel, fail with f. Calls
// queue up: FailNext(2, Fault5xx); FailNext(1, FaultThrottle) fails three.
func (s *Server) FailNext(n int, f Fault) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, faultRun{f, n})
}

// FailNextFor makes the next n requests for pixel fail with f. It comes
// before SetPixelFault and FailNext.
func (s *Server) FailNextFor(pixel string, n int, f Fault) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNextFor[pixel] = append(s.failNextFor[pixel], faultRun{f, n})
}

// RefuseEvent makes Meta refuse every request that holds an event with this
// event_id, as it refuses a request for one invalid event (100/2804050),
// whatever the event holds: for tests of what freight does with an event
// Meta will not take although freight's own checks pass it.
func (s *Server) RefuseEvent(eventID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[string]bool{}
	}
	s.refused[eventID] = true
}

// SetPixelFault makes every request for pixel fail with f until
// ClearPixelFault (for example FaultAuth: the token was revoked).
func (s *Server) SetPixelFault(pixel string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pixelFaults[pixel] = f
}

// ClearPixelFault ends SetPixelFault for pixel.
func (s *Server) ClearPixelFault(pixel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pixelFaults, pixel)
}

// SetUsage makes successful answers for pixel report that share (percent)
// of its business use case limits as used, as Meta does when a pixel nears
// throttling; 0 reports the usual low usage.
func (s *Server) SetUsage(pixel string, percent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usage[pixel] = percent
}

// SetRegainAfter sets the estimated_time_to_regain_access that throttling
// faults report (default 1 minute).
func (s *Server) SetRegainAfter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.regain = d
}

func (s *Server) regainAfter() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.regain
}

// SetDelay delays every answer of the events route by d (0 for none). A
// client that gives up earlier gets no answer.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = max(d, 0)
}

// SetFaults replaces the probabilistic faults.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	return nil
}

// ClearFaults removes every injected fault: queued FailNext and FailNextFor
// entries, pixel faults, the delay and the probabilistic faults.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = nil
	s.failNextFor = map[string][]faultRun{}
	s.pixelFaults = map[string]Fault{}
	s.delay = 0
	s.faults = Faults{}
}
