// Package offsets tracks which records of a partition are done, so that the
// relay commits only the contiguous watermark: the offset below which every
// record is done (sent, a duplicate, or dead-lettered).
//
// Records of one partition finish out of order (different pixels, retries);
// Kafka keeps one committed offset per partition. Committing past an
// unfinished record would lose it on a crash, so the watermark moves only
// over a done prefix. franz-go does not track this for us.
//
// A Partition is not safe for concurrent use; the relay owns it from one
// goroutine.
package offsets

import "sort"

type entry[T any] struct {
	offset int64
	done   bool
	value  T
}

// Partition tracks the records of one partition in fetch order. T is what
// the caller needs back to commit besides the offset (the relay keeps the
// leader epoch: an entry is then 16 bytes, so that records done behind an
// unfinished one cost little while they wait for the watermark).
type Partition[T any] struct {
	entries []entry[T]
	head    int
	// done counts the entries at or after head that are done: records
	// finished behind an unfinished one, waiting for the watermark.
	done int
}

// Add registers a fetched record. Offsets must increase.
func (p *Partition[T]) Add(offset int64, v T) {
	p.entries = append(p.entries, entry[T]{offset: offset, value: v})
}

// Done marks a record done. It reports false for an offset that is not
// tracked (already advanced past, or never added).
func (p *Partition[T]) Done(offset int64) bool {
	live := p.entries[p.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].offset >= offset })
	if i == len(live) || live[i].offset != offset {
		return false
	}
	if !live[i].done {
		live[i].done = true
		p.done++
	}
	return true
}

// Advance drops the done prefix and returns the last record of it: its
// offset plus one is the new commit offset. ok is false when the prefix was
// empty (nothing new to commit).
func (p *Partition[T]) Advance() (last T, ok bool) {
	_, last, n := p.AdvanceN()
	return last, n > 0
}

// AdvanceN is Advance that also returns the last record's offset and how
// many records the prefix held (0: nothing new to commit).
func (p *Partition[T]) AdvanceN() (offset int64, last T, n int) {
	for p.head < len(p.entries) && p.entries[p.head].done {
		offset, last = p.entries[p.head].offset, p.entries[p.head].value
		var zero T
		p.entries[p.head].value = zero
		p.head++
		p.done--
		n++
	}
	// Compact once the dead prefix dominates, to keep memory bounded.
	if p.head > 1024 && p.head*2 > len(p.entries) {
		k := copy(p.entries, p.entries[p.head:])
		clear(p.entries[k:])
		p.entries = p.entries[:k]
		p.head = 0
	}
	return offset, last, n
}

// Pending is how many records are not yet advanced past, done or not.
func (p *Partition[T]) Pending() int { return len(p.entries) - p.head }

// Undone is how many records are not done yet: Pending less those done
// behind an unfinished one.
func (p *Partition[T]) Undone() int { return len(p.entries) - p.head - p.done }
