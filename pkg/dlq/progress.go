package dlq

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"
)

// Progress is a replay's progress, updated by Replay and read by a display
// in another goroutine.
type Progress struct {
	total    atomic.Int64 // records to read, known once the end offsets are listed
	done     atomic.Int64 // records decided (replayed or skipped)
	replayed atomic.Int64
}

// Snapshot is Progress at one moment.
type Snapshot struct {
	Total, Done, Replayed int64
	Elapsed               time.Duration
}

// Snapshot reads the counters.
func (p *Progress) Snapshot(elapsed time.Duration) Snapshot {
	return Snapshot{Total: p.total.Load(), Done: p.done.Load(), Replayed: p.replayed.Load(), Elapsed: elapsed}
}

func (s Snapshot) perSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Done) / s.Elapsed.Seconds()
}

func (s Snapshot) eta() string {
	r := s.perSecond()
	left := s.Total - s.Done
	switch {
	case left <= 0:
		return "0s"
	case r <= 0:
		return "-"
	}
	return (time.Duration(float64(left) / r * float64(time.Second))).Round(time.Second).String()
}

// Bar renders the snapshot as a terminal progress bar of about width
// columns.
func (s Snapshot) Bar(width int) string {
	tail := fmt.Sprintf(" %d/%d %3.0f%% %.0f/s ETA %s", s.Done, s.Total, s.percent(), s.perSecond(), s.eta())
	n := max(width-len(tail)-2, 10)
	fill := 0
	if s.Total > 0 {
		fill = int(min(s.Done, s.Total) * int64(n) / s.Total)
	}
	return "[" + strings.Repeat("=", fill) + strings.Repeat(" ", n-fill) + "]" + tail
}

// Line renders the snapshot as a plain log line.
func (s Snapshot) Line() string {
	return fmt.Sprintf("replay: %d of %d records read (%.0f%%), %d replayed, %.0f records/s, ETA %s",
		s.Done, s.Total, s.percent(), s.Replayed, s.perSecond(), s.eta())
}

func (s Snapshot) percent() float64 {
	if s.Total <= 0 {
		return 100
	}
	return 100 * float64(min(s.Done, s.Total)) / float64(s.Total)
}

// Display shows progress until ctx ends: a bar rewritten in place every
// 200ms on a terminal, a plain line every interval otherwise (logs, CI).
// It returns when ctx is done, after a last rendering.
func Display(ctx context.Context, w io.Writer, p *Progress, terminal bool, interval time.Duration) {
	start := time.Now()
	if terminal {
		interval = 200 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	show := func() {
		s := p.Snapshot(time.Since(start))
		if terminal {
			// \r and "erase line" rewrite the bar in place.
			fmt.Fprintf(w, "\r\x1b[K%s", s.Bar(80))
		} else {
			fmt.Fprintln(w, s.Line())
		}
	}
	for {
		select {
		case <-t.C:
			show()
		case <-ctx.Done():
			if terminal {
				show()
				fmt.Fprintln(w)
			}
			return
		}
	}
}
