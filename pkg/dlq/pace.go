package dlq

import (
	"context"
	"time"
)

// Pacer paces replayed records (--rate). Wait returns when the next record
// may be produced, or ctx's error.
type Pacer interface {
	Wait(ctx context.Context) error
}

// rate lets one record through every interval. It keeps no burst: after a
// stall (a slow flush) it does not catch up, since the point of --rate is to
// spare the relay and Meta a sudden load.
type rate struct {
	interval time.Duration
	next     time.Time
	now      func() time.Time
}

// NewRate returns a Pacer of perSecond records per second; nil (no pacing)
// when perSecond is not positive. now is the clock, time.Now when nil.
func NewRate(perSecond float64, now func() time.Time) Pacer {
	if perSecond <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &rate{interval: time.Duration(float64(time.Second) / perSecond), now: now}
}

func (p *rate) Wait(ctx context.Context) error {
	now := p.now()
	if p.next.Before(now) {
		p.next = now
	}
	d := p.next.Sub(now)
	p.next = p.next.Add(p.interval)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
