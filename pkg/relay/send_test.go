package relay

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freight-relay/freight/pkg/capi"
)

func TestBackoffGrowsWithJitterAndIsCapped(t *testing.T) {
	r := &Relay{cfg: Config{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	tests := []struct {
		failures int
		lo, hi   time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second}, // capped at max_backoff
		{50, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := r.backoff(tt.failures)
			if d < tt.lo || d > tt.hi {
				t.Fatalf("failures %d: backoff %v outside [%v, %v]", tt.failures, d, tt.lo, tt.hi)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("failures %d: only %d distinct waits in 200 draws: no jitter", tt.failures, len(seen))
		}
	}
}

func TestMailboxKeepsOrderAndNeverBlocks(t *testing.T) {
	var m mailbox
	m.sig = make(chan struct{}, 1)
	for i := range 10000 { // far more than any channel buffer: posting must not block
		m.post(i)
	}
	select {
	case <-m.sig:
	default:
		t.Fatal("no signal after posting")
	}
	got := m.drain(nil)
	if len(got) != 10000 {
		t.Fatalf("drained %d messages, want 10000", len(got))
	}
	for i, v := range got {
		if v.(int) != i {
			t.Fatalf("message %d is %v: order lost", i, v)
		}
	}
	if rest := m.drain(nil); len(rest) != 0 {
		t.Fatalf("%d messages drained twice", len(rest))
	}
}

func TestPaceSlowsAPixelNearItsLimit(t *testing.T) {
	r := &Relay{cfg: Config{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	tests := []struct {
		usage float64
		want  time.Duration
	}{
		{0, 0},
		{74.9, 0},
		{75, 100 * time.Millisecond},
		{80, 200 * time.Millisecond},
		{90, 800 * time.Millisecond},
		{95, time.Second}, // 1.6 s, capped at max_backoff
		{100, time.Second},
	}
	for _, tt := range tests {
		if got := r.pace(tt.usage); got != tt.want {
			t.Errorf("pace(%v) = %v, want %v", tt.usage, got, tt.want)
		}
	}
}

func TestByParamsMakesOneRequestPerSet(t *testing.T) {
	mk := func(codes ...string) []*item {
		var out []*item
		for i, c := range codes {
			// "T1" is a test code; "U:x" an upload_id.
			var p capi.RequestParams
			if id, ok := strings.CutPrefix(c, "U:"); ok {
				p.UploadID = id
			} else {
				p.TestEventCode = c
			}
			out = append(out, &item{ev: capi.Event{EventID: strconv.Itoa(i), Params: p}})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		codes []string
		want  string // the batches in the order they are sent: ids per batch
	}{
		{"none", nil, ""},
		{"one code", []string{"", "", ""}, "0,1,2"},
		{"one own code", []string{"T1", "T1"}, "0,1"},
		{"mixed, first code first, order kept", []string{"T1", "", "T2", "T1", ""}, "0,3 1,4 2"},
		{"upload ids", []string{"U:a", "U:b", "", "U:a"}, "0,3 1 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stack := byParams(mk(tc.codes...))
			var got []string
			for i := len(stack) - 1; i >= 0; i-- { // sendBatch pops from the end
				var ids []string
				for _, it := range stack[i] {
					ids = append(ids, it.ev.EventID)
					if it.ev.Params != stack[i][0].ev.Params {
						t.Errorf("batch %d mixes parameters", i)
					}
				}
				got = append(got, strings.Join(ids, ","))
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("batches %q, want %q", s, tc.want)
			}
		})
	}
}
