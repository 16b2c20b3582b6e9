package offsets

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// step is one operation on a Partition[int64] whose values are the offsets
// themselves, so that Advance's result names the record.
type step struct {
	add     []int64 // offsets to Add first
	done    int64   // offset to mark done (skipped when noDone)
	noDone  bool
	doneOK  bool  // what Done must report
	advance int64 // what Advance must return; -1: ok == false
	pending int   // Pending after the step
}

func TestPartition(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "in order: each Done advances by one",
			steps: []step{
				{add: []int64{0, 1, 2}, done: 0, doneOK: true, advance: 0, pending: 2},
				{done: 1, doneOK: true, advance: 1, pending: 1},
				{done: 2, doneOK: true, advance: 2, pending: 0},
			},
		},
		{
			name: "out of order: nothing moves until the first is done",
			steps: []step{
				{add: []int64{10, 11, 12, 13}, done: 12, doneOK: true, advance: -1, pending: 4},
				{done: 11, doneOK: true, advance: -1, pending: 4},
				{done: 10, doneOK: true, advance: 12, pending: 1},
				{done: 13, doneOK: true, advance: 13, pending: 0},
			},
		},
		{
			name: "Advance returns the last of the contiguous prefix only",
			steps: []step{
				{add: []int64{0, 1, 2, 3, 4}, done: 1, doneOK: true, advance: -1, pending: 5},
				{done: 3, doneOK: true, advance: -1, pending: 5},
				{done: 4, doneOK: true, advance: -1, pending: 5},
				{done: 0, doneOK: true, advance: 1, pending: 3},
				{done: 2, doneOK: true, advance: 4, pending: 0},
			},
		},
		{
			name: "gaps of a compacted topic",
			steps: []step{
				{add: []int64{0, 1, 5, 9}, done: 5, doneOK: true, advance: -1, pending: 4},
				{done: 0, doneOK: true, advance: 0, pending: 3},
				{done: 1, doneOK: true, advance: 5, pending: 1},
				{done: 9, doneOK: true, advance: 9, pending: 0},
			},
		},
		{
			name: "an offset inside a gap is unknown",
			steps: []step{
				{add: []int64{0, 1, 5, 9}, done: 3, doneOK: false, advance: -1, pending: 4},
				{done: 7, doneOK: false, advance: -1, pending: 4},
				{done: 10, doneOK: false, advance: -1, pending: 4},
			},
		},
		{
			name: "unknown offsets: never added, before the first, past the last",
			steps: []step{
				{done: 0, doneOK: false, advance: -1, pending: 0},
				{add: []int64{100, 101}, done: 99, doneOK: false, advance: -1, pending: 2},
				{done: 102, doneOK: false, advance: -1, pending: 2},
				{done: -1, doneOK: false, advance: -1, pending: 2},
			},
		},
		{
			name: "an already advanced offset is unknown and moves nothing",
			steps: []step{
				{add: []int64{0, 1, 2}, done: 0, doneOK: true, advance: 0, pending: 2},
				{done: 0, doneOK: false, advance: -1, pending: 2},
				{done: 2, doneOK: true, advance: -1, pending: 2},
				{done: 1, doneOK: true, advance: 2, pending: 0},
				{done: 1, doneOK: false, advance: -1, pending: 0},
			},
		},
		{
			name: "Done twice before advancing is harmless",
			steps: []step{
				{add: []int64{0, 1}, done: 1, doneOK: true, advance: -1, pending: 2},
				{done: 1, doneOK: true, advance: -1, pending: 2},
				{done: 0, doneOK: true, advance: 1, pending: 0},
			},
		},
		{
			name: "records added after an advance",
			steps: []step{
				{add: []int64{0}, done: 0, doneOK: true, advance: 0, pending: 0},
				{noDone: true, advance: -1, pending: 0},
				{add: []int64{1, 2}, done: 2, doneOK: true, advance: -1, pending: 2},
				{add: []int64{3}, done: 1, doneOK: true, advance: 2, pending: 1},
			},
		},
		{
			name: "Advance with nothing new returns false",
			steps: []step{
				{add: []int64{0, 1}, noDone: true, advance: -1, pending: 2},
				{done: 0, doneOK: true, advance: 0, pending: 1},
				{noDone: true, advance: -1, pending: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Partition[int64]
			for i, s := range tt.steps {
				for _, o := range s.add {
					p.Add(o, o)
				}
				if !s.noDone {
					if got := p.Done(s.done); got != s.doneOK {
						t.Fatalf("step %d: Done(%d) = %v, want %v", i, s.done, got, s.doneOK)
					}
				}
				last, ok := p.Advance()
				if s.advance < 0 {
					if ok {
						t.Fatalf("step %d: Advance = %d, true; want nothing", i, last)
					}
					if last != 0 {
						t.Fatalf("step %d: Advance returned %d with ok false; want the zero value", i, last)
					}
				} else if !ok || last != s.advance {
					t.Fatalf("step %d: Advance = %d, %v; want %d, true", i, last, ok, s.advance)
				}
				if got := p.Pending(); got != s.pending {
					t.Fatalf("step %d: Pending = %d, want %d", i, got, s.pending)
				}
			}
		})
	}
}

// TestPartitionMatchesBruteForce marks offsets done in random order and
// checks, after every step, that the watermark (last advanced offset plus
// one) is what a brute-force scan says: every tracked offset below it is
// done, and the first tracked offset at or above it is not. The volumes go
// well past 1024 advanced entries, so the compaction in Advance runs many
// times.
func TestPartitionMatchesBruteForce(t *testing.T) {
	tests := []struct {
		name string
		n    int
		// gap returns the distance from one offset to the next.
		gap func(r *rand.Rand) int64
		// window: records are added in chunks and only the oldest window
		// pending ones are marked done (a stream); 0: all added first.
		window int
		seed   uint64
	}{
		{name: "5000 contiguous offsets, all added first", n: 5000, gap: func(*rand.Rand) int64 { return 1 }, seed: 1},
		{name: "5000 contiguous offsets, another order", n: 5000, gap: func(*rand.Rand) int64 { return 1 }, seed: 2},
		{name: "5000 offsets with compaction gaps", n: 5000, gap: func(r *rand.Rand) int64 { return 1 + r.Int64N(5) }, seed: 3},
		{name: "stream: adds interleaved with done", n: 20000, gap: func(*rand.Rand) int64 { return 1 }, window: 300, seed: 4},
		{name: "stream with gaps", n: 20000, gap: func(r *rand.Rand) int64 { return 1 + r.Int64N(3) }, window: 50, seed: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(tt.seed, 0))
			offs := make([]int64, tt.n)
			o := int64(r.Int64N(1000))
			for i := range offs {
				offs[i] = o
				o += tt.gap(r)
			}
			done := make([]bool, tt.n)
			var p Partition[int64]
			added := 0
			// order in which offsets get marked done.
			var order []int
			if tt.window == 0 {
				for ; added < tt.n; added++ {
					p.Add(offs[added], offs[added])
				}
				order = r.Perm(tt.n)
			}
			first := 0             // index of the first undone offset (brute force)
			watermark := int64(-1) // last advanced offset + 1; -1 before any
			for step := 0; step < tt.n; step++ {
				var idx int
				if tt.window == 0 {
					idx = order[step]
				} else {
					// Keep window records added ahead of the oldest
					// undone one, and finish a random undone one among them.
					for added < tt.n && added < first+tt.window {
						p.Add(offs[added], offs[added])
						added++
					}
					for {
						idx = first + r.IntN(added-first)
						if !done[idx] {
							break
						}
					}
				}
				if !p.Done(offs[idx]) {
					t.Fatalf("step %d: Done(%d) = false for a tracked undone offset", step, offs[idx])
				}
				done[idx] = true
				prevFirst := first
				for first < tt.n && done[first] {
					first++
				}
				last, ok := p.Advance()
				if moved := first > prevFirst; ok != moved {
					t.Fatalf("step %d: Advance ok = %v, but the done prefix moved %v", step, ok, moved)
				}
				if ok {
					if want := offs[first-1]; last != want {
						t.Fatalf("step %d: Advance = %d, want %d (lowest undone index %d)", step, last, want, first)
					}
					watermark = last + 1
				}
				// The watermark never passes an undone offset, and every
				// tracked offset below it is done.
				if first < tt.n && watermark > offs[first] {
					t.Fatalf("step %d: watermark %d passes undone offset %d", step, watermark, offs[first])
				}
				if first > 0 && watermark != offs[first-1]+1 {
					t.Fatalf("step %d: watermark %d, want %d", step, watermark, offs[first-1]+1)
				}
				if want := added - first; p.Pending() != want {
					t.Fatalf("step %d: Pending = %d, want %d", step, p.Pending(), want)
				}
				// Undone leaves out what is done behind the first undone
				// record, also when a record is reported done twice (the
				// relay's buffer gauge is built on it).
				if step%31 == 0 {
					p.Done(offs[idx])
				}
				undone := 0
				for i := first; i < added; i++ {
					if !done[i] {
						undone++
					}
				}
				if p.Undone() != undone {
					t.Fatalf("step %d: Undone = %d, want %d", step, p.Undone(), undone)
				}
				// Offsets already advanced past stay unknown across
				// compactions.
				if first > 0 && step%97 == 0 {
					old := r.IntN(first)
					if p.Done(offs[old]) {
						t.Fatalf("step %d: Done(%d) = true for an offset advanced past", step, offs[old])
					}
				}
			}
			if first != tt.n || p.Pending() != 0 {
				t.Fatalf("end: first undone %d of %d, Pending %d", first, tt.n, p.Pending())
			}
			if _, ok := p.Advance(); ok {
				t.Fatal("Advance with nothing left returned ok")
			}
		})
	}
}

// TestCompactionReleasesValues checks that advanced records are not kept
// alive by the tracker: the slots behind the head are zeroed.
func TestCompactionReleasesValues(t *testing.T) {
	var p Partition[*int64]
	for i := range int64(3000) {
		v := i
		p.Add(i, &v)
	}
	for i := range int64(2999) {
		p.Done(i)
	}
	last, ok := p.Advance()
	if !ok || *last != 2998 {
		t.Fatalf("Advance = %v, %v; want 2998", last, ok)
	}
	if p.Pending() != 1 {
		t.Fatalf("Pending = %d, want 1", p.Pending())
	}
	for i, e := range p.entries[:cap(p.entries)] {
		if e.value != nil && *e.value != 2999 {
			t.Fatalf("slot %d still holds advanced record %d", i, *e.value)
		}
	}
	if !p.Done(2999) {
		t.Fatal("Done(2999) = false after compaction")
	}
	if last, ok := p.Advance(); !ok || *last != 2999 {
		t.Fatalf("Advance = %v, %v; want 2999", last, ok)
	}
}

// BenchmarkAddDoneAdvance is the tracker's work per record: Add, Done in an
// order shuffled within blocks of 64, Advance.
func BenchmarkAddDoneAdvance(b *testing.B) {
	const block = 64
	perm := rand.New(rand.NewPCG(1, 2)).Perm(block)
	var p Partition[int64]
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		p.Add(i, i)
		if i >= block {
			base := i - i%block - block
			p.Done(base + int64(perm[i%block]))
		}
		p.Advance()
		i++
	}
}

// TestAdvanceN checks the count and last offset of each advanced prefix,
// over a compacted topic's gaps.
func TestAdvanceN(t *testing.T) {
	var p Partition[int32]
	for _, o := range []int64{3, 4, 7, 8, 9} {
		p.Add(o, int32(o%2))
	}
	p.Done(4)
	p.Done(8)
	if off, _, n := p.AdvanceN(); n != 0 || off != 0 {
		t.Fatalf("AdvanceN with the head undone = %d, %d; want 0, 0", off, n)
	}
	p.Done(3)
	if off, epoch, n := p.AdvanceN(); off != 4 || epoch != 0 || n != 2 {
		t.Fatalf("AdvanceN = %d, %d, %d; want offset 4, epoch 0, 2 records", off, epoch, n)
	}
	p.Done(7)
	if off, epoch, n := p.AdvanceN(); off != 8 || epoch != 0 || n != 2 {
		t.Fatalf("AdvanceN = %d, %d, %d; want offset 8, epoch 0, 2 records", off, epoch, n)
	}
	if p.Pending() != 1 || p.Undone() != 1 {
		t.Fatalf("Pending %d, Undone %d; want 1, 1", p.Pending(), p.Undone())
	}
}

// TestEntryIsSmall pins what a record done behind an unfinished one costs
// the relay (Partition[int32]): the relay's byte bound counts it so.
func TestEntryIsSmall(t *testing.T) {
	if got := unsafe.Sizeof(entry[int32]{}); got != 16 {
		t.Fatalf("entry[int32] is %d bytes, want 16", got)
	}
}
