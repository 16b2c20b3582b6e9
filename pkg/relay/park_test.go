package relay

import (
	"testing"
	"time"
)

func TestOverHalf(t *testing.T) {
	tests := []struct {
		buffered, parked, max int64
		want                  bool
	}{
		{0, 0, 100, false},
		{50, 0, 100, false},
		{51, 0, 100, true},
		// Parked events waiting here leave room for a second failing
		// pixel to be parked: half of what they leave counts.
		{75, 50, 100, false},
		{76, 50, 100, true},
		{100, 50, 100, true},
		{50, 50, 100, false}, // all of it parked, nothing of the sources
	}
	for _, tt := range tests {
		if got := overHalf(tt.buffered, tt.parked, tt.max); got != tt.want {
			t.Errorf("overHalf(%d buffered, %d parked, max %d) = %v, want %v", tt.buffered, tt.parked, tt.max, got, tt.want)
		}
	}
}

func TestDueAction(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	parkAfter := 30 * time.Second
	tests := []struct {
		name         string
		since, until time.Time
		probing      bool
		want         int
	}{
		{"served pixel", time.Time{}, time.Time{}, false, dueSend},
		{"served pixel, requests out", time.Time{}, time.Time{}, true, dueSend},
		{"paced, not failing: the sender waits for the pace", time.Time{}, now.Add(time.Minute), false, dueSend},
		{"failing, but Meta's block is over: a probe", now.Add(-time.Hour), now.Add(-time.Second), false, dueSend},
		{"failing, not blocked (timeouts, 5xx): a probe", now.Add(-time.Hour), time.Time{}, false, dueSend},
		{"failing, not blocked, a probe out: park again", now.Add(-time.Hour), time.Time{}, true, dueRepark},
		{"failing, block over, a probe out: park again", now.Add(-time.Hour), now.Add(-time.Second), true, dueRepark},
		{"failing, block ends at once", now.Add(-time.Hour), now, false, dueSend},
		{"failing, block ends soon: wait here, no write", now.Add(-time.Hour), now.Add(10 * time.Second), false, dueHold},
		{"failing, blocked for long: park again", now.Add(-time.Hour), now.Add(time.Hour), false, dueRepark},
		{"failing, blocked exactly park_after", now.Add(-time.Hour), now.Add(parkAfter), false, dueRepark},
	}
	for _, tt := range tests {
		if got := dueAction(tt.since, tt.until, now, parkAfter, tt.probing); got != tt.want {
			t.Errorf("%s: dueAction = %d, want %d", tt.name, got, tt.want)
		}
	}
}
