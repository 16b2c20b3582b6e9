package relay

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestNextOffsetToFinish(t *testing.T) {
	eo := func(o int64) kgo.EpochOffset { return kgo.EpochOffset{Epoch: -1, Offset: o} }
	tests := []struct {
		name                string
		firstSeen, logStart int64
		marked, committed   int64 // -1: absent
		fromStart           bool
		want                int64
		wantKnown           bool
	}{
		{name: "mark ahead of the commit", firstSeen: 0, logStart: -1, marked: 120, committed: 100, fromStart: true, want: 120, wantKnown: true},
		{name: "only a commit (fetched at assignment)", firstSeen: -1, logStart: -1, marked: -1, committed: 100, fromStart: true, want: 100, wantKnown: true},
		{name: "commit, then the first fetch from it", firstSeen: 100, logStart: 0, marked: -1, committed: 100, fromStart: true, want: 100, wantKnown: true},
		{name: "no commit: the first fetch is where consuming starts", firstSeen: 40, logStart: 0, marked: -1, committed: -1, fromStart: true, want: 40, wantKnown: true},
		{name: "nothing fetched yet, from the start: the whole log", firstSeen: -1, logStart: 7, marked: -1, committed: -1, fromStart: true, want: 7, wantKnown: true},
		{name: "nothing fetched yet, from the end: unknown", firstSeen: -1, logStart: 7, marked: -1, committed: -1, fromStart: false, want: -1, wantKnown: false},
		{name: "nothing known at all", firstSeen: -1, logStart: -1, marked: -1, committed: -1, fromStart: true, want: -1, wantKnown: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lp := &lagPart{end: 1000, firstSeen: tt.firstSeen, logStart: tt.logStart}
			got, known := nextOffset(lp, eo(tt.marked), eo(tt.committed), tt.marked >= 0, tt.committed >= 0, tt.fromStart)
			if got != tt.want || known != tt.wantKnown {
				t.Errorf("nextOffset = %d, %v; want %d, %v", got, known, tt.want, tt.wantKnown)
			}
		})
	}
}

// Only owned partitions are tracked: a fetch that arrives for a partition
// revoked meanwhile does not bring its series back.
func TestLagTrackerForgetsRevokedPartitions(t *testing.T) {
	l := newLagTracker()
	l.assign(map[string][]int32{"web-events": {0, 1}})
	l.observe("web-events", 0, 5, 50)
	l.observe("web-events", 1, 0, 10)
	l.drop(map[string][]int32{"web-events": {1}})
	l.observe("web-events", 1, 0, 12) // late fetch of the revoked partition
	l.observe("crm-events", 0, 0, 3)  // never ours
	if len(l.parts) != 1 || l.parts[lagKey{"web-events", 0}] == nil {
		t.Fatalf("tracked %v, want only web-events/0", l.parts)
	}
	if lp := l.parts[lagKey{"web-events", 0}]; lp.end != 50 || lp.firstSeen != 5 {
		t.Errorf("web-events/0: end %d first %d, want 50 and 5", lp.end, lp.firstSeen)
	}
}
