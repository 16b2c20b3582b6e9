// Package batch groups events per pixel into batches: a batch is ready when
// it holds Policy.MaxEvents events or its first event has waited
// Policy.MaxWait.
//
// It is pure: no I/O, no goroutines, no clock of its own. The caller passes
// the time and asks UntilNext how long to sleep.
package batch

import (
	"sort"
	"time"
)

// Policy says when a batch is ready.
type Policy struct {
	MaxEvents int
	MaxWait   time.Duration
}

// Batch is a ready batch of one key (pixel).
type Batch[T any] struct {
	Key   string
	Items []T
}

type open[T any] struct {
	items []T
	since time.Time
}

// Batcher holds the open batches.
type Batcher[T any] struct {
	policy Policy
	open   map[string]*open[T]
	n      int
}

// New returns an empty batcher. MaxEvents below 1 is taken as 1.
func New[T any](p Policy) *Batcher[T] {
	if p.MaxEvents < 1 {
		p.MaxEvents = 1
	}
	return &Batcher[T]{policy: p, open: map[string]*open[T]{}}
}

// Len is the number of items held.
func (b *Batcher[T]) Len() int { return b.n }

// Add appends an item to its key's open batch and returns the batch when it
// became full.
func (b *Batcher[T]) Add(key string, item T, now time.Time) (full []T, ok bool) {
	o := b.open[key]
	if o == nil {
		o = &open[T]{since: now, items: make([]T, 0, min(b.policy.MaxEvents, 64))}
		b.open[key] = o
	}
	o.items = append(o.items, item)
	b.n++
	if len(o.items) >= b.policy.MaxEvents {
		delete(b.open, key)
		b.n -= len(o.items)
		return o.items, true
	}
	return nil, false
}

// Due removes and returns the batches that have waited MaxWait, oldest
// first.
func (b *Batcher[T]) Due(now time.Time) []Batch[T] {
	return b.take(func(o *open[T]) bool { return now.Sub(o.since) >= b.policy.MaxWait })
}

// Flush removes and returns every open batch, oldest first.
func (b *Batcher[T]) Flush() []Batch[T] {
	return b.take(func(*open[T]) bool { return true })
}

func (b *Batcher[T]) take(ready func(*open[T]) bool) []Batch[T] {
	var out []Batch[T]
	var since []time.Time
	for k, o := range b.open {
		if ready(o) {
			out = append(out, Batch[T]{Key: k, Items: o.items})
			since = append(since, o.since)
			b.n -= len(o.items)
			delete(b.open, k)
		}
	}
	sort.Sort(byTime[T]{out, since})
	return out
}

type byTime[T any] struct {
	b []Batch[T]
	t []time.Time
}

func (s byTime[T]) Len() int           { return len(s.b) }
func (s byTime[T]) Less(i, j int) bool { return s.t[i].Before(s.t[j]) }
func (s byTime[T]) Swap(i, j int) {
	s.b[i], s.b[j] = s.b[j], s.b[i]
	s.t[i], s.t[j] = s.t[j], s.t[i]
}

// UntilNext is how long until the oldest open batch is due; ok is false when
// nothing is open.
func (b *Batcher[T]) UntilNext(now time.Time) (d time.Duration, ok bool) {
	first := true
	for _, o := range b.open {
		w := b.policy.MaxWait - now.Sub(o.since)
		if first || w < d {
			d, first = w, false
		}
	}
	return max(d, 0), !first
}

// Take removes and returns the open batch of key, nil when it has none.
func (b *Batcher[T]) Take(key string) []T {
	o := b.open[key]
	if o == nil {
		return nil
	}
	delete(b.open, key)
	b.n -= len(o.items)
	return o.items
}

// Remove drops the items for which drop returns true and returns them (used
// when a partition is revoked).
func (b *Batcher[T]) Remove(drop func(T) bool) []T {
	var out []T
	for k, o := range b.open {
		kept := o.items[:0]
		for _, it := range o.items {
			if drop(it) {
				out = append(out, it)
			} else {
				kept = append(kept, it)
			}
		}
		// Clear the tail so that dropped items can be collected.
		clear(o.items[len(kept):])
		o.items = kept
		if len(kept) == 0 {
			delete(b.open, k)
		}
	}
	b.n -= len(out)
	return out
}
