package batch

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus d, so that rows read as offsets on one clock.
func at(d time.Duration) time.Time { return t0.Add(d) }

type add struct {
	key  string
	item int
	at   time.Duration
}

type ready struct {
	key   string
	items []int
}

func TestAdd(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		adds   []add
		// full[i] is the batch the i-th Add must return, nil when none.
		full    [][]int
		wantLen int
	}{
		{
			name:   "full exactly at MaxEvents",
			policy: Policy{MaxEvents: 3, MaxWait: time.Second},
			adds:   []add{{"p1", 1, 0}, {"p1", 2, 0}, {"p1", 3, 0}},
			full:   [][]int{nil, nil, {1, 2, 3}},
		},
		{
			name:   "keys fill separately",
			policy: Policy{MaxEvents: 2, MaxWait: time.Second},
			adds:   []add{{"p1", 1, 0}, {"p2", 2, 0}, {"p1", 3, 0}, {"p2", 4, 0}},
			full:   [][]int{nil, nil, {1, 3}, {2, 4}},
		},
		{
			name:    "a full batch starts a new one",
			policy:  Policy{MaxEvents: 2, MaxWait: time.Second},
			adds:    []add{{"p1", 1, 0}, {"p1", 2, 0}, {"p1", 3, 0}, {"p1", 4, 0}, {"p1", 5, 0}},
			full:    [][]int{nil, {1, 2}, nil, {3, 4}, nil},
			wantLen: 1,
		},
		{
			name:    "one key filling leaves the others open",
			policy:  Policy{MaxEvents: 2, MaxWait: time.Second},
			adds:    []add{{"p1", 1, 0}, {"p2", 2, 0}, {"p3", 3, 0}, {"p2", 4, 0}},
			full:    [][]int{nil, nil, nil, {2, 4}},
			wantLen: 2,
		},
		{
			name:   "MaxEvents 0 is taken as 1",
			policy: Policy{MaxEvents: 0, MaxWait: time.Second},
			adds:   []add{{"p1", 1, 0}, {"p1", 2, 0}},
			full:   [][]int{{1}, {2}},
		},
		{
			name:   "negative MaxEvents is taken as 1",
			policy: Policy{MaxEvents: -5, MaxWait: time.Second},
			adds:   []add{{"p1", 7, 0}, {"p2", 8, 0}},
			full:   [][]int{{7}, {8}},
		},
		{
			name:    "age does not make Add return a batch",
			policy:  Policy{MaxEvents: 3, MaxWait: time.Second},
			adds:    []add{{"p1", 1, 0}, {"p1", 2, time.Hour}},
			full:    [][]int{nil, nil},
			wantLen: 2,
		},
		{
			name:   "MaxEvents above the initial capacity",
			policy: Policy{MaxEvents: 100, MaxWait: time.Second},
			adds: func() []add {
				var a []add
				for i := range 100 {
					a = append(a, add{"p1", i, 0})
				}
				return a
			}(),
			full: func() [][]int {
				f := make([][]int, 100)
				for i := range 100 {
					f[99] = append(f[99], i)
				}
				return f
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New[int](tt.policy)
			for i, a := range tt.adds {
				got, ok := b.Add(a.key, a.item, at(a.at))
				want := tt.full[i]
				if ok != (want != nil) || !slices.Equal(got, want) {
					t.Fatalf("Add #%d (%s, %d) = %v, %v; want %v, %v", i, a.key, a.item, got, ok, want, want != nil)
				}
			}
			if got := b.Len(); got != tt.wantLen {
				t.Errorf("Len = %d, want %d", got, tt.wantLen)
			}
			// Whatever is left is open, so Flush returns exactly Len items.
			n := 0
			for _, fb := range b.Flush() {
				n += len(fb.Items)
			}
			if n != tt.wantLen {
				t.Errorf("Flush returned %d items, want %d", n, tt.wantLen)
			}
		})
	}
}

func TestDue(t *testing.T) {
	const wait = 10 * time.Second
	tests := []struct {
		name    string
		adds    []add
		now     time.Duration
		want    []ready // in order
		wantLen int     // items left open
	}{
		{
			name: "nothing open",
			now:  time.Hour,
		},
		{
			name:    "younger than MaxWait stays",
			adds:    []add{{"p1", 1, 0}},
			now:     wait - time.Nanosecond,
			wantLen: 1,
		},
		{
			name: "exactly MaxWait is due",
			adds: []add{{"p1", 1, 0}},
			now:  wait,
			want: []ready{{"p1", []int{1}}},
		},
		{
			name: "age counts from the first item",
			adds: []add{{"p1", 1, 0}, {"p1", 2, wait - time.Second}},
			now:  wait,
			want: []ready{{"p1", []int{1, 2}}},
		},
		{
			name: "only the old ones, oldest first",
			adds: []add{
				{"p3", 30, 3 * time.Second},
				{"p1", 10, 1 * time.Second},
				{"young", 99, 8 * time.Second},
				{"p2", 20, 2 * time.Second},
				{"p1", 11, 7 * time.Second},
				{"p4", 40, 0},
			},
			now: wait + 3*time.Second,
			want: []ready{
				{"p4", []int{40}},
				{"p1", []int{10, 11}},
				{"p2", []int{20}},
				{"p3", []int{30}},
			},
			wantLen: 1,
		},
		{
			name: "many keys come out oldest first",
			adds: func() []add {
				var a []add
				// Added in a scrambled order so that map order cannot pass by luck.
				for _, i := range []int{7, 3, 11, 0, 9, 14, 1, 5, 12, 2, 8, 13, 4, 10, 6} {
					a = append(a, add{"k" + strconv.Itoa(i), i, time.Duration(i) * time.Millisecond})
				}
				return a
			}(),
			now: time.Hour,
			want: func() []ready {
				var r []ready
				for i := range 15 {
					r = append(r, ready{"k" + strconv.Itoa(i), []int{i}})
				}
				return r
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New[int](Policy{MaxEvents: 100, MaxWait: wait})
			for _, a := range tt.adds {
				if _, ok := b.Add(a.key, a.item, at(a.at)); ok {
					t.Fatalf("Add(%s) returned a full batch", a.key)
				}
			}
			got := b.Due(at(tt.now))
			assertBatches(t, got, tt.want)
			if b.Len() != tt.wantLen {
				t.Errorf("Len after Due = %d, want %d", b.Len(), tt.wantLen)
			}
			// Due removed what it returned: asking again returns nothing.
			if again := b.Due(at(tt.now)); len(again) != 0 {
				t.Errorf("second Due returned %v", again)
			}
		})
	}
}

func TestUntilNext(t *testing.T) {
	const wait = 10 * time.Second
	tests := []struct {
		name   string
		adds   []add
		now    time.Duration
		want   time.Duration
		wantOK bool
	}{
		{name: "nothing open", now: 0, want: 0, wantOK: false},
		{name: "one fresh batch", adds: []add{{"p1", 1, 0}}, now: 0, want: wait, wantOK: true},
		{name: "one partly aged batch", adds: []add{{"p1", 1, 0}}, now: 4 * time.Second, want: 6 * time.Second, wantOK: true},
		{
			name:   "several: the oldest decides",
			adds:   []add{{"p2", 1, 5 * time.Second}, {"p1", 2, 2 * time.Second}, {"p3", 3, 7 * time.Second}},
			now:    7 * time.Second,
			want:   5 * time.Second,
			wantOK: true,
		},
		{name: "exactly due", adds: []add{{"p1", 1, 0}}, now: wait, want: 0, wantOK: true},
		{name: "past due is zero, not negative", adds: []add{{"p1", 1, 0}, {"p2", 2, time.Second}}, now: time.Hour, want: 0, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New[int](Policy{MaxEvents: 100, MaxWait: wait})
			for _, a := range tt.adds {
				b.Add(a.key, a.item, at(a.at))
			}
			d, ok := b.UntilNext(at(tt.now))
			if d != tt.want || ok != tt.wantOK {
				t.Errorf("UntilNext = %v, %v; want %v, %v", d, ok, tt.want, tt.wantOK)
			}
		})
	}

	t.Run("a full batch is no longer waited for", func(t *testing.T) {
		b := New[int](Policy{MaxEvents: 2, MaxWait: wait})
		b.Add("old", 1, at(0))
		b.Add("new", 2, at(5*time.Second))
		if _, ok := b.Add("old", 3, at(6*time.Second)); !ok {
			t.Fatal("batch of old not full")
		}
		if d, ok := b.UntilNext(at(6 * time.Second)); !ok || d != 9*time.Second {
			t.Errorf("UntilNext = %v, %v; want 9s, true", d, ok)
		}
	})
}

func TestFlush(t *testing.T) {
	tests := []struct {
		name string
		adds []add
		want []ready
	}{
		{name: "nothing open", want: nil},
		{
			name: "everything, young or old, oldest first",
			adds: []add{{"p2", 3, 2 * time.Second}, {"p1", 1, time.Second}, {"p2", 4, 3 * time.Second}, {"p3", 5, time.Hour}},
			want: []ready{{"p1", []int{1}}, {"p2", []int{3, 4}}, {"p3", []int{5}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New[int](Policy{MaxEvents: 100, MaxWait: 10 * time.Hour})
			for _, a := range tt.adds {
				b.Add(a.key, a.item, at(a.at))
			}
			assertBatches(t, b.Flush(), tt.want)
			if b.Len() != 0 {
				t.Errorf("Len after Flush = %d", b.Len())
			}
			if _, ok := b.UntilNext(at(0)); ok {
				t.Error("UntilNext reports an open batch after Flush")
			}
			if got := b.Flush(); len(got) != 0 {
				t.Errorf("second Flush = %v", got)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	even := func(i int) bool { return i%2 == 0 }
	tests := []struct {
		name     string
		adds     []add
		drop     func(int) bool
		wantOut  []int // in any order
		wantLeft []ready
	}{
		{
			name:     "nothing open",
			drop:     even,
			wantOut:  nil,
			wantLeft: nil,
		},
		{
			name:     "drops matching items across keys, keeps order of the rest",
			adds:     []add{{"p1", 1, 0}, {"p1", 2, 0}, {"p2", 4, time.Second}, {"p2", 5, time.Second}, {"p1", 3, 0}, {"p1", 6, 0}},
			drop:     even,
			wantOut:  []int{2, 4, 6},
			wantLeft: []ready{{"p1", []int{1, 3}}, {"p2", []int{5}}},
		},
		{
			name:     "a key left empty is deleted",
			adds:     []add{{"p1", 2, 0}, {"p1", 4, 0}, {"p2", 3, time.Second}},
			drop:     even,
			wantOut:  []int{2, 4},
			wantLeft: []ready{{"p2", []int{3}}},
		},
		{
			name:     "drop nothing",
			adds:     []add{{"p1", 1, 0}, {"p2", 3, time.Second}},
			drop:     func(int) bool { return false },
			wantOut:  nil,
			wantLeft: []ready{{"p1", []int{1}}, {"p2", []int{3}}},
		},
		{
			name:     "drop everything",
			adds:     []add{{"p1", 1, 0}, {"p2", 3, time.Second}, {"p2", 5, time.Second}},
			drop:     func(int) bool { return true },
			wantOut:  []int{1, 3, 5},
			wantLeft: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New[int](Policy{MaxEvents: 100, MaxWait: time.Minute})
			for _, a := range tt.adds {
				b.Add(a.key, a.item, at(a.at))
			}
			out := b.Remove(tt.drop)
			slices.Sort(out)
			if !slices.Equal(out, tt.wantOut) {
				t.Errorf("Remove returned %v, want %v", out, tt.wantOut)
			}
			wantLen := 0
			for _, r := range tt.wantLeft {
				wantLen += len(r.items)
			}
			if b.Len() != wantLen {
				t.Errorf("Len after Remove = %d, want %d", b.Len(), wantLen)
			}
			if _, ok := b.UntilNext(at(0)); ok != (wantLen > 0) {
				t.Errorf("UntilNext ok = %v with %d items left: an emptied key was kept", ok, wantLen)
			}
			assertBatches(t, b.Flush(), tt.wantLeft)
		})
	}

	t.Run("a key emptied by Remove starts afresh", func(t *testing.T) {
		b := New[int](Policy{MaxEvents: 2, MaxWait: 10 * time.Second})
		b.Add("p1", 2, at(0))
		b.Remove(even)
		// A new batch of p1 counts its age and size from now, not from the
		// removed item.
		if _, ok := b.Add("p1", 3, at(20*time.Second)); ok {
			t.Fatal("Add after Remove returned a full batch of one")
		}
		if due := b.Due(at(25 * time.Second)); len(due) != 0 {
			t.Fatalf("Due = %v: the new batch inherited the removed one's age", due)
		}
		full, ok := b.Add("p1", 5, at(21*time.Second))
		if !ok || !slices.Equal(full, []int{3, 5}) {
			t.Fatalf("Add = %v, %v; want [3 5], true", full, ok)
		}
	})

	t.Run("a partly removed batch still fills at MaxEvents", func(t *testing.T) {
		b := New[int](Policy{MaxEvents: 3, MaxWait: time.Minute})
		b.Add("p1", 1, at(0))
		b.Add("p1", 2, at(0))
		b.Remove(even)
		if _, ok := b.Add("p1", 3, at(0)); ok {
			t.Fatal("full at 2 items")
		}
		full, ok := b.Add("p1", 5, at(0))
		if !ok || !slices.Equal(full, []int{1, 3, 5}) {
			t.Fatalf("Add = %v, %v; want [1 3 5], true", full, ok)
		}
		if b.Len() != 0 {
			t.Errorf("Len = %d, want 0", b.Len())
		}
	})
}

// TestLenTracksEveryPath mixes every operation and checks Len against the
// items actually held after each step.
func TestLenTracksEveryPath(t *testing.T) {
	b := New[int](Policy{MaxEvents: 4, MaxWait: 5 * time.Second})
	held := map[int]bool{}
	forget := func(items []int) {
		for _, it := range items {
			if !held[it] {
				t.Fatalf("returned item %d that was not held (or returned twice)", it)
			}
			delete(held, it)
		}
	}
	for i := range 2000 {
		now := at(time.Duration(i) * 100 * time.Millisecond)
		held[i] = true
		if full, ok := b.Add("p"+strconv.Itoa(i%7), i, now); ok {
			if len(full) != 4 {
				t.Fatalf("full batch of %d items", len(full))
			}
			forget(full)
		}
		switch {
		case i%13 == 0:
			for _, d := range b.Due(now) {
				forget(d.Items)
			}
		case i%97 == 0:
			forget(b.Remove(func(it int) bool { return it%3 == 0 }))
		case i%41 == 0:
			key := "p" + strconv.Itoa(i%5)
			taken := b.Take(key)
			for _, it := range taken {
				if "p"+strconv.Itoa(it%7) != key {
					t.Fatalf("Take(%s) returned item %d of another key", key, it)
				}
			}
			forget(taken)
		case i%501 == 0:
			for _, d := range b.Flush() {
				forget(d.Items)
			}
		}
		if b.Len() != len(held) {
			t.Fatalf("step %d: Len = %d, holding %d", i, b.Len(), len(held))
		}
	}
	for _, d := range b.Flush() {
		forget(d.Items)
	}
	if len(held) != 0 || b.Len() != 0 {
		t.Fatalf("after Flush: %d items lost, Len %d", len(held), b.Len())
	}
}

func TestGenericItems(t *testing.T) {
	type rec struct {
		pixel string
		off   int64
	}
	b := New[*rec](Policy{MaxEvents: 2, MaxWait: time.Second})
	r1, r2 := &rec{"p", 1}, &rec{"p", 2}
	b.Add("p", r1, at(0))
	full, ok := b.Add("p", r2, at(0))
	if !ok || len(full) != 2 || full[0] != r1 || full[1] != r2 {
		t.Fatalf("Add = %v, %v; want the two pointers in order", full, ok)
	}
}

func assertBatches(t *testing.T, got []Batch[int], want []ready) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d batches %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i].Key != want[i].key || !slices.Equal(got[i].Items, want[i].items) {
			t.Errorf("batch %d = %s %v, want %s %v", i, got[i].Key, got[i].Items, want[i].key, want[i].items)
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	keys := make([]string, 16)
	for i := range keys {
		keys[i] = "pixel-" + strconv.Itoa(i)
	}
	bt := New[int](Policy{MaxEvents: 1000, MaxWait: time.Second})
	now := t0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		bt.Add(keys[i%len(keys)], i, now)
		i++
	}
}
