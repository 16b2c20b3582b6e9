package relay

import (
	"time"

	"github.com/freight-relay/freight/pkg/capi"
)

// PixelStatus is one pixel's connection status, as GET /status shows it
// (CONTRACT.md section 5): the status Meta asks platforms to show
// advertisers. It holds no token and no customer data.
type PixelStatus struct {
	Pixel string `json:"pixel"`
	// State is ok, idle (nothing accepted in the last hour), throttled,
	// auth_error, config_error, failing (Meta does not answer, or answers
	// 5xx) or parked.
	State        string       `json:"state"`
	LastAccepted *time.Time   `json:"last_accepted,omitempty"`
	LastError    *StatusError `json:"last_error,omitempty"`
	LastHour     HourCounts   `json:"last_hour"`
	// MatchKeys is the share (0 to 1) of the events sent in the last hour
	// that carried each match key (user_data field), for the keys any
	// carried.
	MatchKeys map[string]float64 `json:"match_keys"`
}

// StatusError is the last failure Meta (or freight, for a pixel it cannot
// send for) reported for a pixel.
type StatusError struct {
	Time time.Time `json:"time"`
	// Reason is freight's: auth, throttled, unavailable, deprecated,
	// config, or rejected (Meta served the pixel but refused events).
	Reason    string `json:"reason"`
	Code      int    `json:"code,omitempty"`
	Subcode   int    `json:"subcode,omitempty"`
	Title     string `json:"title,omitempty"` // Meta's error_user_title
	FBTraceID string `json:"fbtrace_id,omitempty"`
}

// HourCounts are a pixel's events of the last hour.
type HourCounts struct {
	Sent         int64 `json:"sent"`
	Deduplicated int64 `json:"deduplicated"`
	DeadLettered int64 `json:"dead_lettered"`
}

// Pixel states (freight_pixel_state's state label).
const (
	StateOK          = "ok"
	StateIdle        = "idle"
	StateThrottled   = "throttled"
	StateAuthError   = "auth_error"
	StateConfigError = "config_error"
	StateFailing     = "failing"
	StateParked      = "parked"
)

// pixelStates are the values of freight_pixel_state's state label.
var pixelStates = []string{StateOK, StateIdle, StateThrottled, StateAuthError, StateConfigError, StateFailing, StateParked}

// ReasonConfig: freight cannot send for the pixel (no access token, no app
// secret). Not a reason to park: its events are dead-lettered at once.
const ReasonConfig = "config"

// ReasonRejected: Meta served the pixel and refused events of a request
// (its last error, shown while the pixel is ok).
const ReasonRejected = "rejected"

// idleAfter is how long a pixel served without a request accepted is idle.
const idleAfter = time.Hour

// minutes is a sliding window of the last hour in one-minute buckets.
type minutes struct {
	at     [60]int64 // the unix minute each bucket counts
	counts [60]minuteCounts
}

type minuteCounts struct {
	HourCounts
	fields [len(capi.FieldNames)]int64
}

// bucket is the bucket of now's minute, emptied if it held an older one.
func (m *minutes) bucket(now time.Time) *minuteCounts {
	u := now.Unix() / 60
	i := int(u % 60)
	if m.at[i] != u {
		m.at[i], m.counts[i] = u, minuteCounts{}
	}
	return &m.counts[i]
}

// sum adds up the buckets of the hour before now.
func (m *minutes) sum(now time.Time) minuteCounts {
	u := now.Unix() / 60
	var s minuteCounts
	for i := range m.at {
		if m.at[i] > u-60 && m.at[i] <= u {
			c := &m.counts[i]
			s.Sent += c.Sent
			s.Deduplicated += c.Deduplicated
			s.DeadLettered += c.DeadLettered
			for f := range s.fields {
				s.fields[f] += c.fields[f]
			}
		}
	}
	return s
}

// countSent counts events Meta accepted, with how many carried each field.
func (p *pixelState) countSent(now time.Time, n int, fields *[len(capi.FieldNames)]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.window.bucket(now)
	b.Sent += int64(n)
	for i, f := range fields {
		b.fields[i] += int64(f)
	}
}

func (p *pixelState) countDeduplicated(now time.Time, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.window.bucket(now).Deduplicated += int64(n)
}

func (p *pixelState) countDeadLettered(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.window.bucket(now).DeadLettered++
}

// status is the pixel's PixelStatus at now.
func (p *pixelState) status(now time.Time) PixelStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.window.sum(now)
	st := PixelStatus{Pixel: p.ID, State: p.stateLocked(now), LastHour: s.HourCounts, MatchKeys: map[string]float64{}}
	if !p.lastAccepted.IsZero() {
		t := p.lastAccepted.UTC()
		st.LastAccepted = &t
	}
	if p.lastError != nil {
		e := *p.lastError
		e.Time = e.Time.UTC()
		st.LastError = &e
	}
	for i, n := range s.fields {
		if n > 0 && s.Sent > 0 {
			st.MatchKeys[capi.FieldNames[i]] = float64(n) / float64(s.Sent)
		}
	}
	return st
}

// StatusReport is the body of GET /status.
type StatusReport struct {
	Time   time.Time     `json:"time"`
	Pixels []PixelStatus `json:"pixels"`
}

// Status is every configured pixel's connection status, in configuration
// order.
func (r *Relay) Status() StatusReport {
	now := r.now()
	rep := StatusReport{Time: now.UTC(), Pixels: make([]PixelStatus, 0, len(r.pixelOrder))}
	for _, id := range r.pixelOrder {
		rep.Pixels = append(rep.Pixels, r.pixels[id].status(now))
	}
	return rep
}

// refreshStates moves pixels served long ago to idle (a state that changes
// with time, not with an answer): the coordinator calls it now and then.
func (r *Relay) refreshStates(now time.Time) {
	for _, id := range r.pixelOrder {
		px := r.pixels[id]
		px.update(now, func() {})
	}
}
