package relay

import (
	"testing"
	"time"

	"github.com/freight-relay/freight/pkg/capi"
)

// The last hour's counts forget what is older than an hour, minute by
// minute, also when the ring of buckets wraps around.
func TestStatusCountsTheLastHour(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 30, 0, time.UTC)
	var fields [len(capi.FieldNames)]int
	fields[0] = 2 // em
	px := &pixelState{Pixel: Pixel{ID: "1"}}
	px.countSent(t0, 2, &fields)
	px.countDeduplicated(t0.Add(10*time.Minute), 3)
	px.countDeadLettered(t0.Add(59 * time.Minute))
	px.countSent(t0.Add(61*time.Minute), 1, &[len(capi.FieldNames)]int{})

	for _, tc := range []struct {
		at        time.Duration
		want      HourCounts
		wantEmail float64
	}{
		{0, HourCounts{Sent: 2}, 1},
		{10 * time.Minute, HourCounts{Sent: 2, Deduplicated: 3}, 1},
		{59 * time.Minute, HourCounts{Sent: 2, Deduplicated: 3, DeadLettered: 1}, 1},
		{60 * time.Minute, HourCounts{Deduplicated: 3, DeadLettered: 1}, 0},          // t0's minute is an hour old
		{61 * time.Minute, HourCounts{Sent: 1, Deduplicated: 3, DeadLettered: 1}, 0}, // reuses t0's bucket
		{71 * time.Minute, HourCounts{Sent: 1, DeadLettered: 1}, 0},
		{3 * time.Hour, HourCounts{}, 0},
	} {
		st := px.status(t0.Add(tc.at))
		if st.LastHour != tc.want {
			t.Errorf("at +%v: %+v, want %+v", tc.at, st.LastHour, tc.want)
		}
		if st.MatchKeys["em"] != tc.wantEmail {
			t.Errorf("at +%v: em share %v, want %v", tc.at, st.MatchKeys["em"], tc.wantEmail)
		}
	}
}

// A pixel is idle until Meta first serves it and again an hour after the
// last time; failures win over both; freight's own failure to send (no
// token) is config_error until Meta serves the pixel again.
func TestPixelStates(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	px := &pixelState{Pixel: Pixel{ID: "1"}}
	steps := []struct {
		name string
		at   time.Duration
		do   func(now time.Time)
		want string
	}{
		{"never served", 0, func(time.Time) {}, StateIdle},
		{"served", time.Minute, func(now time.Time) { px.lastServed = now }, StateOK},
		{"an hour later", 62 * time.Minute, func(time.Time) {}, StateIdle},
		{"throttled", 63 * time.Minute, func(now time.Time) { px.failingSince, px.reason = now, ReasonThrottled }, StateThrottled},
		{"token refused", 64 * time.Minute, func(time.Time) { px.reason = ReasonAuth }, StateAuthError},
		{"deprecated version", 65 * time.Minute, func(time.Time) { px.reason = ReasonDeprecated }, StateConfigError},
		{"no answer", 66 * time.Minute, func(time.Time) { px.reason = ReasonUnavailable }, StateFailing},
		{"parked", 67 * time.Minute, func(time.Time) { px.parked = true }, StateParked},
		{"served again", 68 * time.Minute, func(now time.Time) { px.failingSince, px.parked, px.lastServed = time.Time{}, false, now }, StateOK},
		{"no token", 69 * time.Minute, func(time.Time) { px.misconfigured = true }, StateConfigError},
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		if _, got := px.update(now, func() { s.do(now) }); got != s.want {
			t.Errorf("%s: state %s, want %s", s.name, got, s.want)
		}
	}
}
