package dlq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/deadletter"
)

func TestReplayHeaders(t *testing.T) {
	h := func(kv ...string) []kgo.RecordHeader {
		var out []kgo.RecordHeader
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return out
	}
	tests := []struct {
		name  string
		in    []kgo.RecordHeader
		count int
		want  []kgo.RecordHeader
	}{
		{"a first failure",
			h("trace", "t-1", deadletter.HeaderClass, "auth", deadletter.HeaderMessage, "expired", deadletter.HeaderCode, "190",
				deadletter.HeaderFBTraceID, "A1", deadletter.HeaderPixelID, "111", deadletter.HeaderEventID, "e1",
				deadletter.HeaderEventName, "Purchase", deadletter.HeaderSourceTopic, "web-events",
				deadletter.HeaderSourcePartition, "2", deadletter.HeaderSourceOffset, "9", deadletter.HeaderSourceTimestamp, "1700000000000",
				deadletter.HeaderAttempts, "4", deadletter.HeaderFailedAt, "2026-03-10T11:00:00Z", "x-tenant", "acme"),
			1,
			h("trace", "t-1", deadletter.HeaderSourceTopic, "web-events", deadletter.HeaderSourcePartition, "2",
				deadletter.HeaderSourceOffset, "9", deadletter.HeaderSourceTimestamp, "1700000000000", "x-tenant", "acme",
				deadletter.HeaderReplayCount, "1")},
		{"a replayed record failing again: one count, the new one",
			h(deadletter.HeaderReplayCount, "2", deadletter.HeaderClass, "config", deadletter.HeaderSourceTopic, "crm-events",
				"freight.park.until", "1700000000000", "freight.park.reason", "auth"),
			3,
			h(deadletter.HeaderSourceTopic, "crm-events", deadletter.HeaderReplayCount, "3")},
		{"no headers", nil, 1, h(deadletter.HeaderReplayCount, "1")},
		{"a header repeated by its producer stays repeated", h("a", "1", "a", "2"), 1,
			h("a", "1", "a", "2", deadletter.HeaderReplayCount, "1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := replayHeaders(tt.in, tt.count)
			if fmt.Sprint(show(got)) != fmt.Sprint(show(tt.want)) {
				t.Errorf("got  %v\nwant %v", show(got), show(tt.want))
			}
		})
	}
}

func show(hs []kgo.RecordHeader) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Key+"="+string(h.Value))
	}
	return out
}

// The pacer lets one record through per interval, the first at once, and
// does not catch up after a stall. synctest's clock moves only when every
// goroutine waits, so the test needs no real time and cannot flake.
func TestRatePaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewRate(10, nil) // one every 100ms
		start := time.Now()
		for range 5 {
			if err := p.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if got := time.Since(start); got != 400*time.Millisecond {
			t.Errorf("5 records took %v, want 400ms", got)
		}
		time.Sleep(time.Second) // a stall: no burst afterwards
		start = time.Now()
		for range 3 {
			_ = p.Wait(t.Context())
		}
		if got := time.Since(start); got != 200*time.Millisecond {
			t.Errorf("3 records after a stall took %v, want 200ms", got)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := p.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait on a canceled context = %v", err)
		}
	})
	if NewRate(0, nil) != nil || NewRate(-1, nil) != nil {
		t.Error("a rate of 0 or less must mean no pacing")
	}
}

func TestProgressRendering(t *testing.T) {
	tests := []struct {
		name      string
		s         Snapshot
		bar, line []string
	}{
		{"half way", Snapshot{Total: 1000, Done: 500, Replayed: 400, Elapsed: 10 * time.Second},
			[]string{"500/1000", " 50%", "50/s", "ETA 10s"}, []string{"500 of 1000", "(50%)", "400 replayed", "50 records/s", "ETA 10s"}},
		{"not started", Snapshot{Total: 10}, []string{"0/10", "ETA -"}, []string{"ETA -"}},
		{"done", Snapshot{Total: 10, Done: 10, Elapsed: time.Second}, []string{"100%", "ETA 0s"}, []string{"ETA 0s"}},
		{"nothing to do", Snapshot{}, []string{"0/0", "100%"}, []string{"(100%)"}},
		{"more read than listed (gaps)", Snapshot{Total: 5, Done: 7, Elapsed: time.Second}, []string{"100%"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bar, line := tt.s.Bar(80), tt.s.Line()
			if !strings.HasPrefix(bar, "[") || strings.Count(bar, "]") != 1 {
				t.Errorf("bar %q", bar)
			}
			for _, w := range tt.bar {
				if !strings.Contains(bar, w) {
					t.Errorf("bar %q lacks %q", bar, w)
				}
			}
			for _, w := range tt.line {
				if !strings.Contains(line, w) {
					t.Errorf("line %q lacks %q", line, w)
				}
			}
		})
	}
	half := Snapshot{Total: 100, Done: 50}.Bar(80)
	if n := strings.Count(half, "="); n < 20 || n > 40 {
		t.Errorf("half a bar has %d of its cells filled: %q", n, half)
	}
}

// Display writes plain lines when not on a terminal, and a bar rewritten in
// place on one.
func TestDisplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p Progress
		p.total.Store(10)
		p.done.Store(4)
		var plain, term bytes.Buffer
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{}, 2)
		go func() { Display(ctx, &plain, &p, false, 10*time.Second); done <- struct{}{} }()
		go func() { Display(ctx, &term, &p, true, 10*time.Second); done <- struct{}{} }()
		time.Sleep(25 * time.Second)
		cancel()
		<-done
		<-done
		if n := strings.Count(plain.String(), "\n"); n != 2 || !strings.Contains(plain.String(), "4 of 10") {
			t.Errorf("plain: %d lines in 25s at 10s, want 2:\n%s", n, plain.String())
		}
		if s := term.String(); !strings.Contains(s, "\r\x1b[K[") || !strings.HasSuffix(s, "\n") {
			t.Errorf("terminal output %q", s)
		}
	})
}

func TestResultTable(t *testing.T) {
	res := Result{Read: 10, Replayed: 5, ByTopic: map[string]int{"web-events": 3, "crm-events": 2}, SkippedFilter: 1,
		SkippedMaxCount: 1, SkippedTooOld: 2, SkippedForeign: 1, SkippedTruncated: 1, MaxCount: 3, StoppedAtLimit: true}
	var b bytes.Buffer
	if err := res.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"replayed", "to crm-events", "to web-events", "skipped by filter",
		"skipped at replay.max_count (3)", "skipped as too old to send", "skipped as foreign", "skipped as truncated", "records read", "--limit"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Index(b.String(), "crm-events") > strings.Index(b.String(), "web-events") {
		t.Error("topics not sorted")
	}
	b.Reset()
	res.DryRun, res.Interrupted = true, true
	_ = res.WriteTable(&b)
	if !strings.Contains(b.String(), "would replay") || !strings.Contains(b.String(), "dry run") ||
		strings.Contains(b.String(), "place is saved") {
		t.Errorf("dry-run table:\n%s", b.String())
	}
}

// Records at or past the end listed at the start (new dead letters, or this
// replay's own copies sent back to the dead-letter topic) are left for the
// next run, so that a replay ends.
func TestReplayStopsAtTheEndListedAtTheStart(t *testing.T) {
	var res Result
	res.ByTopic = map[string]int{}
	r := &replayer{o: ReplayOptions{DryRun: true, MaxCount: 3, CommitEvery: 100, CommitInterval: time.Hour, Now: func() time.Time { return now }},
		res: &res, ends: map[int32]int64{0: 2}, pos: map[int32]int64{0: 0}, checked: map[string]bool{"web-events": true}}
	var recs []*kgo.Record
	for i := range 5 {
		rec := dead(`{}`, deadletter.HeaderEventID, fmt.Sprint("e", i))
		rec.Offset = int64(i)
		recs = append(recs, rec)
	}
	stop, err := r.handleAll(context.Background(), recs)
	if stop || err != nil {
		t.Fatalf("stop %v err %v", stop, err)
	}
	if res.Read != 2 || r.decided != 2 || r.pos[0] != 2 {
		t.Errorf("read %d, decided %d, position %d; want 2, 2, 2", res.Read, r.decided, r.pos[0])
	}
}
