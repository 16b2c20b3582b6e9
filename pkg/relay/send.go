package relay

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/deadletter"
)

// pixelState is what the senders of one pixel share: when Meta throttles the
// pixel or refuses its token, every batch of the pixel waits, not only the
// one that got the answer; and when the pixel has failed for long, its
// senders hand their batches back to be parked.
type pixelState struct {
	Pixel
	mu           sync.Mutex
	blockedUntil time.Time
	failingSince time.Time // the first failure since the last success; zero while it is served
	reason       string    // the last failure: a Reason* constant
	code         int       // Meta's code of the last failure, 0 without an answer
	parked       bool      // its events were parked since the last success
	// misconfigured: freight could not send for the pixel (no token, no
	// app secret) since Meta last served it.
	misconfigured bool
	lastServed    time.Time // Meta's last answer for the events (accepted or refused)
	lastAccepted  time.Time // Meta's last 2xx
	lastError     *StatusError
	window        minutes // the last hour's counts, for /status
	interrupt     chan struct{}
	// stateGauge is freight_pixel_state, set under mu so that concurrent
	// changes never leave two states at 1.
	stateGauge *prometheus.GaugeVec
}

// Why a pixel cannot be served, for parking and its metrics.
const (
	ReasonAuth        = "auth"
	ReasonThrottled   = "throttled"
	ReasonUnavailable = "unavailable"
	ReasonDeprecated  = "deprecated"
)

// stateLocked names the pixel's state at now; p.mu is held.
func (p *pixelState) stateLocked(now time.Time) string {
	switch {
	case !p.failingSince.IsZero() && p.parked:
		return StateParked
	case !p.failingSince.IsZero():
		switch p.reason {
		case ReasonAuth:
			return StateAuthError
		case ReasonThrottled:
			return StateThrottled
		case ReasonDeprecated:
			return StateConfigError
		}
		return StateFailing
	case p.misconfigured:
		return StateConfigError
	case p.lastServed.IsZero() || now.Sub(p.lastServed) > idleAfter:
		return StateIdle
	}
	return StateOK
}

// update changes the pixel's state under its lock, sets its gauge, and
// reports the state before and after.
func (p *pixelState) update(now time.Time, f func()) (before, after string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	before = p.stateLocked(now)
	f()
	after = p.stateLocked(now)
	if before != after && p.stateGauge != nil {
		p.stateGauge.WithLabelValues(p.ID, before).Set(0)
		p.stateGauge.WithLabelValues(p.ID, after).Set(1)
	}
	return before, after
}

// blockedFor is how long the pixel has failed without a success.
func (p *pixelState) blockedFor(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failingSince.IsZero() {
		return 0
	}
	return now.Sub(p.failingSince)
}

// failure returns why the pixel fails, since when, and Meta's code.
func (p *pixelState) failure() (reason string, since time.Time, code int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reason, p.failingSince, p.code
}

// park marks the pixel parked and makes its sleeping senders hand their
// batches back.
func (p *pixelState) park(now time.Time) (before, after string) {
	return p.update(now, func() {
		p.parked = true
		if p.interrupt != nil {
			close(p.interrupt)
			p.interrupt = nil // the next sender sleeps on a fresh one
		}
	})
}

// isParked reports whether the pixel's events were parked since its last
// success.
func (p *pixelState) isParked() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.parked
}

// interrupted is closed when the pixel's senders must hand their batches
// back for parking.
func (p *pixelState) interrupted() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.interrupt == nil {
		p.interrupt = make(chan struct{})
	}
	return p.interrupt
}

func (p *pixelState) block(until time.Time) {
	p.mu.Lock()
	if until.After(p.blockedUntil) {
		p.blockedUntil = until
	}
	p.mu.Unlock()
}

func (p *pixelState) unblockedAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blockedUntil
}

// sendBatch delivers one batch: it retries transient failures and throttling
// with exponential backoff and jitter, splits a batch Meta rejects until the
// bad events are alone, and dead-letters what can never be sent. Every item
// is reported to the coordinator exactly once: sent, failed or abandoned.
func (r *Relay) sendBatch(ctx context.Context, px *pixelState, items []*item) {
	defer r.box.post(batchDone{pixel: px.ID})
	stack := byParams(items)
	failures := 0
	for len(stack) > 0 {
		b := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		b = r.prune(b)
		if len(b) == 0 {
			continue
		}
		// The halves of a split batch wait when another sender's answer
		// blocked the pixel meanwhile.
		stack = append(stack, b)
		if !r.wait(ctx, px, px.unblockedAt(), &stack) {
			return
		}
		b = stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		token, err := px.Token()
		if err != nil {
			r.misconfigured(px, "no access token")
			r.fail(b, deadletter.Info{Class: deadletter.ClassConfig,
				Message: "no access token for pixel " + px.ID + ": " + err.Error()})
			continue
		}
		var appSecret string
		if r.cfg.AppSecret != nil {
			if appSecret, err = r.cfg.AppSecret(); err != nil {
				r.misconfigured(px, "no app secret")
				r.fail(b, deadletter.Info{Class: deadletter.ClassConfig, Message: "app secret: " + err.Error()})
				continue
			}
		}
		events := make([]json.RawMessage, len(b))
		for i, it := range b {
			events[i] = it.ev.JSON
			it.attempts++
		}
		params := b[0].ev.Params // the batch's own: byParams
		if params.TestEventCode == "" {
			params.TestEventCode = px.TestEventCode
		}
		res := r.deps.CAPI.Send(ctx, capi.Request{PixelID: px.ID, Token: token, AppSecret: appSecret,
			RequestParams: params, Events: events})
		r.m.requests.WithLabelValues(px.ID, res.Outcome.String()).Inc()
		r.m.requestSeconds.WithLabelValues(px.ID).Observe(res.Duration.Seconds())
		r.m.batchEvents.Observe(float64(len(b)))
		if res.Usage > 0 {
			r.m.usage.WithLabelValues(px.ID).Set(res.Usage)
		}

		if res.Outcome == capi.OK || res.Outcome == capi.Rejected || res.Outcome == capi.TooOld {
			r.served(px, res) // Meta took the token and answered for the events
		}
		switch res.Outcome {
		case capi.OK:
			failures = 0
			r.box.post(sentMsg{items: b})
			// Slow a pixel down before Meta throttles it: continuing at
			// the limit only makes the block longer.
			if d := r.pace(res.Usage); d > 0 {
				px.block(r.now().Add(d))
			}
		case capi.Rejected, capi.TooOld:
			if len(b) > 1 {
				// Meta refuses the whole request for one bad event and does
				// not say which: halve until the bad ones are alone.
				half := len(b) / 2
				stack = append(stack, b[half:], b[:half])
				continue
			}
			class := deadletter.ClassRejected
			if res.Outcome == capi.TooOld {
				class = deadletter.ClassTooOld
			}
			r.fail(b, metaInfo(class, res))
		default: // Transient, Throttled, Auth, Deprecated
			if ctx.Err() != nil {
				r.abandon(append(stack, b))
				return
			}
			failures++
			now := r.now()
			wait := r.backoff(failures)
			if res.Outcome == capi.Throttled || res.Outcome == capi.Auth || res.Outcome == capi.Deprecated {
				// When Meta says how long until the pixel regains access,
				// stop for that long: calls before then extend the block.
				// Only this pixel waits. Capped: a header saying days must
				// not hold events past their deadline; parking takes over
				// a long block.
				wait = max(wait, min(res.RetryAfter, maxRetryAfter))
				px.block(now.Add(wait))
			}
			r.logFailure(px.ID, res, len(b))
			r.failing(px, res, now)
			b = r.giveUp(b, res, now)
			if len(b) > 0 {
				stack = append(stack, b)
			}
			if !r.wait(ctx, px, now.Add(wait), &stack) {
				return
			}
		}
	}
}

// byParams splits a batch into one per set of request parameters
// (test_event_code, namespace_id, upload_id, upload_tag, upload_source),
// which are the request's, not the event's: events with a test code of
// their own go to the Test Events tab in requests of their own. A batch of
// one set (the usual case) stays as it is.
func byParams(items []*item) [][]*item {
	if len(items) == 0 {
		return nil
	}
	first := items[0].ev.Params
	if !slices.ContainsFunc(items, func(it *item) bool { return it.ev.Params != first }) {
		return [][]*item{items}
	}
	var out [][]*item
	index := map[capi.RequestParams]int{}
	for _, it := range items {
		i, ok := index[it.ev.Params]
		if !ok {
			i = len(out)
			index[it.ev.Params] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], it)
	}
	// The stack is worked from its end: the first code's batch goes first.
	slices.Reverse(out)
	return out
}

// maxRetryAfter caps how long one answer of Meta's blocks a pixel.
const maxRetryAfter = time.Hour

// wait sleeps until t with the batches of stack in hand. It reports false
// when the sender must stop, having handed every batch back: abandoned at
// shutdown (ctx ended, or the drain started: a sender does not sleep
// through the grace), or to be parked (the pixel is being parked). When the
// relay wakes it (a revoke), it drops the items of partitions that moved
// away and sleeps on with the rest.
func (r *Relay) wait(ctx context.Context, px *pixelState, t time.Time, stack *[][]*item) bool {
	for {
		if r.draining.Load() && t.After(r.now()) {
			r.abandon(*stack)
			return false
		}
		// A sender of a parked pixel never sleeps with batches in hand: one
		// whose request was in flight when the pixel was parked missed the
		// interrupt, and sleeping through retries it would hold its
		// partitions' watermarks, and with them the buffer, until Meta
		// answers again.
		if px.isParked() && t.After(r.now()) {
			r.handBack(*stack)
			return false
		}
		switch sleepUntil(ctx, t, r.now, px.interrupted(), r.woken()) {
		case slept:
			return true
		case canceled:
			r.abandon(*stack)
			return false
		case interrupted:
			r.handBack(*stack)
			return false
		}
		kept := (*stack)[:0]
		for _, b := range *stack {
			if b = r.prune(b); len(b) > 0 {
				kept = append(kept, b)
			}
		}
		clear((*stack)[len(kept):])
		*stack = kept
		if len(kept) == 0 {
			return false
		}
	}
}

func (r *Relay) logFailure(pixel string, res capi.Result, events int) {
	switch res.Outcome {
	case capi.Auth:
		r.log.Warn("meta refused the pixel's token or permissions; events are kept", "pixel", pixel,
			"code", res.Code, "subcode", res.Subcode, "fbtrace_id", res.FBTraceID)
	case capi.Deprecated:
		r.m.deprecated.Inc()
		r.log.Error("capi.api_version is no longer served by Meta; events are kept, update the configuration",
			"pixel", pixel, "code", res.Code)
	default:
		r.log.Info("send failed; retrying", "pixel", pixel, "outcome", res.Outcome.String(),
			"status", res.Status, "code", res.Code, "subcode", res.Subcode, "fbtrace_id", res.FBTraceID, "events", events)
	}
}

// Pacing starts when a pixel has used paceFrom percent of a limit.
const paceFrom = 75

// pace is how long a pixel pauses between requests once Meta's usage
// headers report usage at or above paceFrom percent: InitialBackoff there,
// doubling every 5 points, at most MaxBackoff (at 95%, 16 times
// InitialBackoff).
func (r *Relay) pace(usage float64) time.Duration {
	if usage < paceFrom {
		return 0
	}
	d := time.Duration(float64(r.cfg.InitialBackoff) * math.Exp2((usage-paceFrom)/5))
	return min(d, r.cfg.MaxBackoff)
}

// backoff is exponential from InitialBackoff, capped at MaxBackoff, with
// jitter so that many senders do not retry in step.
func (r *Relay) backoff(failures int) time.Duration {
	d := r.cfg.InitialBackoff
	for i := 1; i < failures && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return jitter(min(d, r.cfg.MaxBackoff))
}

// giveUp dead-letters the items that have failed for longer than
// GiveUpAfter and returns the others. A deprecated API version is a
// configuration problem: its events are never dead-lettered.
func (r *Relay) giveUp(b []*item, res capi.Result, now time.Time) []*item {
	if res.Outcome == capi.Deprecated {
		return b
	}
	var keep, expired []*item
	for _, it := range b {
		if it.firstFailure.IsZero() {
			it.firstFailure = now
		}
		if now.Sub(it.firstFailure) >= r.cfg.GiveUpAfter {
			expired = append(expired, it)
		} else {
			keep = append(keep, it)
		}
	}
	if len(expired) > 0 {
		class := deadletter.ClassRetriesExhausted
		if res.Outcome == capi.Auth {
			class = deadletter.ClassAuth
		}
		r.fail(expired, metaInfo(class, res))
	}
	return keep
}

// prune reports items that must not be sent any more: those of partitions
// that moved away (abandoned) and those too old for Meta (dead-lettered
// too_old, also during long retries).
func (r *Relay) prune(b []*item) []*item {
	now := r.now()
	var keep, gone, old []*item
	for _, it := range b {
		switch {
		case it.part.revoked.Load():
			gone = append(gone, it)
		case now.After(it.ev.Deadline()):
			old = append(old, it)
		default:
			keep = append(keep, it)
		}
	}
	if len(gone) > 0 {
		r.box.post(abandonMsg{items: gone})
	}
	if len(old) > 0 {
		r.fail(old, deadletter.Info{Class: deadletter.ClassTooOld,
			Message: "the event became older than Meta accepts before it could be sent"})
	}
	return keep
}

func (r *Relay) fail(b []*item, info deadletter.Info) {
	info.FailedAt = r.now()
	for _, it := range b {
		f := info
		f.PixelID, f.EventID, f.EventName = it.ev.PixelID, it.ev.EventID, it.ev.EventName
		it.fail = &f
	}
	r.box.post(failMsg{items: b})
}

// handBack gives the coordinator the batches of a pixel being parked.
func (r *Relay) handBack(bs [][]*item) {
	var all []*item
	for _, b := range bs {
		all = append(all, b...)
	}
	if len(all) > 0 {
		r.box.post(parkMsg{items: all})
	}
}

// served records that Meta answered for the pixel's events.
func (r *Relay) served(px *pixelState, res capi.Result) {
	now := r.now()
	before, after := px.update(now, func() {
		px.failingSince, px.parked, px.reason, px.code, px.misconfigured = time.Time{}, false, "", 0, false
		px.lastServed = now
		if res.Outcome == capi.OK {
			px.lastAccepted = now
		} else {
			px.lastError = statusError(now, ReasonRejected, res)
		}
	})
	r.stateChanged(px, before, after)
}

// failing records that a send of the pixel failed.
func (r *Relay) failing(px *pixelState, res capi.Result, now time.Time) {
	reason := ReasonUnavailable
	switch res.Outcome {
	case capi.Auth:
		reason = ReasonAuth
	case capi.Throttled:
		reason = ReasonThrottled
	case capi.Deprecated:
		reason = ReasonDeprecated
	}
	before, after := px.update(now, func() {
		if px.failingSince.IsZero() {
			px.failingSince = now
		}
		px.reason, px.code = reason, res.Code
		px.lastError = statusError(now, reason, res)
	})
	r.stateChanged(px, before, after)
}

// misconfigured records that freight cannot send for the pixel: its
// events are dead-lettered as config, and it shows config_error until Meta
// serves it again.
func (r *Relay) misconfigured(px *pixelState, title string) {
	now := r.now()
	before, after := px.update(now, func() {
		px.misconfigured = true
		px.lastError = &StatusError{Time: now, Reason: ReasonConfig, Title: title}
	})
	r.stateChanged(px, before, after)
}

func statusError(now time.Time, reason string, res capi.Result) *StatusError {
	title := res.Title
	if title == "" && res.Code == 0 {
		// No Graph error (a timeout, a proxy's page): freight's own
		// description of what came back, which holds no event data.
		title = res.Message
	}
	return &StatusError{Time: now, Reason: reason, Code: res.Code, Subcode: res.Subcode, Title: title, FBTraceID: res.FBTraceID}
}

// stateChanged logs a change of the pixel's state, with the Graph error
// code that caused it.
func (r *Relay) stateChanged(px *pixelState, before, after string) {
	if before == after {
		return
	}
	reason, since, code := px.failure()
	switch {
	case before == StateIdle && after == StateOK, before == StateOK && after == StateIdle:
		return // traffic began or paused: nothing failed
	case after == StateOK || after == StateIdle:
		r.log.Info("pixel served again", "pixel", px.ID, "was", before)
		return
	}
	r.log.Warn("pixel state changed", "pixel", px.ID, "state", after, "was", before, "reason", reason,
		"code", code, "failing_since", since.UTC().Format(time.RFC3339))
}

func (r *Relay) abandon(bs [][]*item) {
	var all []*item
	for _, b := range bs {
		all = append(all, b...)
	}
	if len(all) > 0 {
		r.box.post(abandonMsg{items: all})
	}
}

func metaInfo(class string, res capi.Result) deadletter.Info {
	return deadletter.Info{Class: class, Message: res.Message, Code: res.Code, Subcode: res.Subcode, FBTraceID: res.FBTraceID}
}

// How a sleep ended.
const (
	slept       = iota
	canceled    // ctx ended: shutting down
	interrupted // the pixel is being parked
	woken       // the relay asks senders to look at their items again
)

// sleepUntil waits until t, unless ctx ends, interrupt is closed or wake is
// closed first.
func sleepUntil(ctx context.Context, t time.Time, now func() time.Time, interrupt, wake <-chan struct{}) int {
	if ctx.Err() != nil {
		return canceled
	}
	select {
	case <-interrupt:
		return interrupted
	default:
	}
	d := t.Sub(now())
	if d <= 0 {
		return slept
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return slept
	case <-ctx.Done():
		return canceled
	case <-interrupt:
		return interrupted
	case <-wake:
		return woken
	}
}
