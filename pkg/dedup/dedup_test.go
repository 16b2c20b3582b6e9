package dedup

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/freight-relay/freight/pkg/redistest"
)

// env is one test's Redis connection and key prefix (package redistest).
type env struct {
	rdb    *redis.Client
	prefix string
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	rdb, prefix := redistest.New(tb)
	return &env{rdb: rdb, prefix: prefix}
}

func (e *env) store(owner string, lease, window time.Duration) *Store {
	return New(e.rdb, Config{KeyPrefix: e.prefix, Owner: owner, Lease: lease, Window: window})
}

// keys returns n event keys of the store, for events e0..e(n-1).
func keys(s *Store, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s.Key("123456789012345", "Purchase", "e"+strconv.Itoa(i))
	}
	return out
}

func (e *env) get(t *testing.T, key string) string {
	t.Helper()
	v, err := e.rdb.Get(context.Background(), key).Result()
	if errors.Is(err, redis.Nil) {
		return ""
	}
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return v
}

func (e *env) pttl(t *testing.T, key string) time.Duration {
	t.Helper()
	d, err := e.rdb.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("PTTL %s: %v", key, err)
	}
	return d
}

// op is one step of a scenario. by names the store: 0 is A, 1 is B (another
// process, another owner).
type op struct {
	by   int
	do   string // claim, confirm, release, renew, del (raw DEL), value (assert GET)
	keys []int
	want []Status // claim
	lost int      // renew
	// value: what GET must return for keys: "A" or "B" (that store's owner),
	// "done", or "" for absent.
	value string
}

func TestScenarios(t *testing.T) {
	const A, B = 0, 1
	tests := []struct {
		name string
		ops  []op
	}{
		{
			name: "new keys are claimed with the owner's id",
			ops: []op{
				{by: A, do: "claim", keys: []int{0, 1, 2}, want: []Status{Claimed, Claimed, Claimed}},
				{do: "value", keys: []int{0, 1, 2}, value: "A"},
			},
		},
		{
			name: "a second claim by the same store is held: the caller knows whether a copy is in its hands",
			ops: []op{
				{by: A, do: "claim", keys: []int{0}, want: []Status{Claimed}},
				{by: A, do: "claim", keys: []int{0}, want: []Status{Held}},
				{do: "value", keys: []int{0}, value: "A"},
			},
		},
		{
			name: "the same key twice in one pipeline: the second copy finds it held",
			ops: []op{
				{by: A, do: "claim", keys: []int{0, 0}, want: []Status{Claimed, Held}},
			},
		},
		{
			name: "a claim by another owner is busy and does not take the key",
			ops: []op{
				{by: A, do: "claim", keys: []int{0}, want: []Status{Claimed}},
				{by: B, do: "claim", keys: []int{0, 1}, want: []Status{Busy, Claimed}},
				{do: "value", keys: []int{0}, value: "A"},
				{do: "value", keys: []int{1}, value: "B"},
			},
		},
		{
			name: "after Confirm the key is a duplicate for both",
			ops: []op{
				{by: A, do: "claim", keys: []int{0, 1}, want: []Status{Claimed, Claimed}},
				{by: A, do: "confirm", keys: []int{0}},
				{do: "value", keys: []int{0}, value: "done"},
				{by: A, do: "claim", keys: []int{0}, want: []Status{Duplicate}},
				{by: B, do: "claim", keys: []int{0, 1, 2}, want: []Status{Duplicate, Busy, Claimed}},
			},
		},
		{
			name: "Release by a non-owner does nothing",
			ops: []op{
				{by: A, do: "claim", keys: []int{0}, want: []Status{Claimed}},
				{by: B, do: "release", keys: []int{0}},
				{do: "value", keys: []int{0}, value: "A"},
				{by: B, do: "claim", keys: []int{0}, want: []Status{Busy}},
			},
		},
		{
			name: "Release by the owner frees the key for anyone",
			ops: []op{
				{by: A, do: "claim", keys: []int{0, 1}, want: []Status{Claimed, Claimed}},
				{by: A, do: "release", keys: []int{0, 1}},
				{do: "value", keys: []int{0, 1}, value: ""},
				{by: B, do: "claim", keys: []int{0}, want: []Status{Claimed}},
				{by: A, do: "claim", keys: []int{1}, want: []Status{Claimed}},
			},
		},
		{
			name: "Release never deletes a confirmed key",
			ops: []op{
				{by: A, do: "claim", keys: []int{0}, want: []Status{Claimed}},
				{by: A, do: "confirm", keys: []int{0}},
				{by: A, do: "release", keys: []int{0}},
				{do: "value", keys: []int{0}, value: "done"},
			},
		},
		{
			name: "Release of keys never claimed",
			ops: []op{
				{by: A, do: "release", keys: []int{0, 1}},
				{do: "value", keys: []int{0, 1}, value: ""},
			},
		},
		{
			name: "Renew keeps live claims and reports the lost ones",
			ops: []op{
				{by: A, do: "claim", keys: []int{0, 1, 2, 3}, want: []Status{Claimed, Claimed, Claimed, Claimed}},
				{do: "del", keys: []int{1}},                                   // expired
				{by: B, do: "confirm", keys: []int{2}},                        // sent by someone else
				{do: "del", keys: []int{3}},                                   // expired ...
				{by: B, do: "claim", keys: []int{3}, want: []Status{Claimed}}, // ... and taken
				{by: A, do: "renew", keys: []int{0, 1, 2, 3}, lost: 3},
				{do: "value", keys: []int{0}, value: "A"},
				{do: "value", keys: []int{1}, value: ""}, // Renew does not recreate
				{do: "value", keys: []int{2}, value: "done"},
				{do: "value", keys: []int{3}, value: "B"},
			},
		},
		{
			name: "Renew of keys never claimed reports them all lost",
			ops: []op{
				{by: A, do: "renew", keys: []int{0, 1}, lost: 2},
				{do: "value", keys: []int{0, 1}, value: ""},
			},
		},
		{
			name: "Confirm without a claim",
			ops: []op{
				{by: B, do: "confirm", keys: []int{0}},
				{by: A, do: "claim", keys: []int{0}, want: []Status{Duplicate}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			stores := []*Store{
				e.store("owner-a", time.Minute, time.Hour),
				e.store("owner-b", time.Minute, time.Hour),
			}
			names := map[string]string{"A": stores[A].Owner(), "B": stores[B].Owner()}
			all := keys(stores[A], 5)
			for i, o := range tt.ops {
				ks := make([]string, len(o.keys))
				for j, k := range o.keys {
					ks[j] = all[k]
				}
				s := stores[o.by]
				switch o.do {
				case "claim":
					got, err := s.Claim(ctx, ks)
					if err != nil {
						t.Fatalf("op %d: Claim: %v", i, err)
					}
					if !slices.Equal(got, o.want) {
						t.Fatalf("op %d: Claim by %d of %v = %v, want %v", i, o.by, o.keys, got, o.want)
					}
				case "confirm":
					if err := s.Confirm(ctx, ks); err != nil {
						t.Fatalf("op %d: Confirm: %v", i, err)
					}
				case "release":
					if err := s.Release(ctx, ks); err != nil {
						t.Fatalf("op %d: Release: %v", i, err)
					}
				case "renew":
					lost, err := s.Renew(ctx, ks)
					if err != nil {
						t.Fatalf("op %d: Renew: %v", i, err)
					}
					if lost != o.lost {
						t.Fatalf("op %d: Renew lost = %d, want %d", i, lost, o.lost)
					}
				case "del":
					if err := e.rdb.Del(ctx, ks...).Err(); err != nil {
						t.Fatal(err)
					}
				case "value":
					want := o.value
					if n, ok := names[want]; ok {
						want = n
					}
					for j, k := range ks {
						if got := e.get(t, k); got != want {
							t.Fatalf("op %d: key %d holds %q, want %q", i, o.keys[j], got, want)
						}
					}
				default:
					t.Fatalf("op %d: unknown op %q", i, o.do)
				}
			}
		})
	}
}

func TestTTLs(t *testing.T) {
	ctx := context.Background()
	const lease, window = 30 * time.Second, 48 * time.Hour
	// within checks that a TTL was set to want just now (it can only have
	// shrunk a little since).
	within := func(t *testing.T, what string, got, want time.Duration) {
		t.Helper()
		if got > want || got < want-5*time.Second {
			t.Errorf("%s: PTTL = %v, want about %v", what, got, want)
		}
	}

	t.Run("a claim lives for the lease", func(t *testing.T) {
		e := newEnv(t)
		s := e.store("a", lease, window)
		k := keys(s, 1)
		if _, err := s.Claim(ctx, k); err != nil {
			t.Fatal(err)
		}
		within(t, "claim", e.pttl(t, k[0]), lease)
	})

	t.Run("Confirm sets the TTL to the window", func(t *testing.T) {
		e := newEnv(t)
		s := e.store("a", lease, window)
		k := keys(s, 2)
		if _, err := s.Claim(ctx, k[:1]); err != nil {
			t.Fatal(err)
		}
		if err := s.Confirm(ctx, k); err != nil {
			t.Fatal(err)
		}
		within(t, "confirmed claim", e.pttl(t, k[0]), window)
		within(t, "confirmed without claim", e.pttl(t, k[1]), window)
	})

	t.Run("Renew extends the lease of our claims only", func(t *testing.T) {
		e := newEnv(t)
		a := e.store("a", lease, window)
		b := e.store("b", 10*time.Second, window)
		k := keys(a, 3)
		if _, err := a.Claim(ctx, k[:2]); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Claim(ctx, k[2:]); err != nil {
			t.Fatal(err)
		}
		// Let the claims run almost out, as time would.
		for _, key := range k {
			if err := e.rdb.PExpire(ctx, key, 2*time.Second).Err(); err != nil {
				t.Fatal(err)
			}
		}
		lost, err := a.Renew(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if lost != 1 {
			t.Errorf("lost = %d, want 1 (b's claim)", lost)
		}
		within(t, "renewed k0", e.pttl(t, k[0]), lease)
		within(t, "renewed k1", e.pttl(t, k[1]), lease)
		if got := e.pttl(t, k[2]); got > 2*time.Second {
			t.Errorf("b's claim PTTL = %v: a's Renew extended a claim that is not its own", got)
		}
		if got := e.get(t, k[2]); got != "b" {
			t.Errorf("b's claim now holds %q", got)
		}
	})

	t.Run("Renew does not shorten a confirmed key", func(t *testing.T) {
		e := newEnv(t)
		s := e.store("a", lease, window)
		k := keys(s, 1)
		if _, err := s.Claim(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := s.Confirm(ctx, k); err != nil {
			t.Fatal(err)
		}
		lost, err := s.Renew(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if lost != 1 {
			t.Errorf("lost = %d, want 1: a confirmed key is no longer a claim", lost)
		}
		within(t, "confirmed key after Renew", e.pttl(t, k[0]), window)
	})
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func TestExpiredLease(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.store("a", time.Second, time.Hour) // a dies holding its claim
	b := e.store("b", time.Minute, time.Hour)
	k := keys(a, 1)
	if st, err := a.Claim(ctx, k); err != nil || st[0] != Claimed {
		t.Fatalf("a's Claim = %v, %v", st, err)
	}
	if st, err := b.Claim(ctx, k); err != nil || st[0] != Busy {
		t.Fatalf("b's Claim while a's lease lives = %v, %v; want busy", st, err)
	}
	if d := e.pttl(t, k[0]); d <= 0 || d > time.Second {
		t.Fatalf("PTTL of a 1s lease = %v", d)
	}
	eventually(t, 5*time.Second, "a's 1s lease to expire", func() bool {
		n, err := e.rdb.Exists(ctx, k[0]).Result()
		if err != nil {
			t.Fatalf("EXISTS: %v", err)
		}
		return n == 0
	})
	if st, err := b.Claim(ctx, k); err != nil || st[0] != Claimed {
		t.Fatalf("b's Claim after the lease expired = %v, %v; want claimed", st, err)
	}
	// a comes back (a paused process, not a dead one): the claim is no
	// longer its own, and it can neither renew nor release it.
	if lost, err := a.Renew(ctx, k); err != nil || lost != 1 {
		t.Fatalf("a's Renew = %d, %v; want 1 lost", lost, err)
	}
	if err := a.Release(ctx, k); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, k[0]); got != "b" {
		t.Fatalf("key holds %q after a's Release, want b's claim", got)
	}
}

func TestKey(t *testing.T) {
	s := New(nil, Config{KeyPrefix: "freight:"})
	type in struct{ pixel, name, id string }
	long := strings.Repeat("x", 10<<10)
	tests := []struct {
		name string
		a, b in
		same bool
	}{
		{name: "same inputs, same key", a: in{"1", "Purchase", "e1"}, b: in{"1", "Purchase", "e1"}, same: true},
		{name: "same long id, same key", a: in{"1", "Purchase", long}, b: in{"1", "Purchase", long}, same: true},
		{name: "pixels differ", a: in{"1", "Purchase", "e1"}, b: in{"2", "Purchase", "e1"}},
		{name: "event names differ", a: in{"1", "Purchase", "e1"}, b: in{"1", "Lead", "e1"}},
		{name: "event ids differ", a: in{"1", "Purchase", "e1"}, b: in{"1", "Purchase", "e2"}},
		{name: "ids differ in case", a: in{"1", "Purchase", "e1"}, b: in{"1", "Purchase", "E1"}},
		{name: "long ids differ in the last byte", a: in{"1", "Purchase", long + "a"}, b: in{"1", "Purchase", long + "b"}},
		{name: "name/id boundary", a: in{"1", "Purchase", "e1"}, b: in{"1", "Purchas", "ee1"}},
		{name: "name and id swapped", a: in{"1", "a", "b"}, b: in{"1", "b", "a"}},
		{name: "pixel/name boundary", a: in{"12", "3", "e"}, b: in{"1", "23", "e"}},
		{name: "pixel with a colon", a: in{"1:2", "x", "e"}, b: in{"1", "2:x", "e"}},
		{name: "empty id vs a space", a: in{"1", "Purchase", ""}, b: in{"1", "Purchase", " "}},
		{name: "a NUL in the name vs in the id", a: in{"1", "a\x00b", "c"}, b: in{"1", "a", "b\x00c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := s.Key(tt.a.pixel, tt.a.name, tt.a.id), s.Key(tt.b.pixel, tt.b.name, tt.b.id)
			if (ka == kb) != tt.same {
				t.Errorf("Key(%.20q) = %s, Key(%.20q) = %s; same = %v, want %v", tt.a, ka, tt.b, kb, ka == kb, tt.same)
			}
			for _, k := range []string{ka, kb} {
				if !strings.HasPrefix(k, "freight:") {
					t.Errorf("key %q lacks the prefix", k)
				}
				if len(k) > 100 {
					t.Errorf("key of %d bytes: the event fields are not bounded", len(k))
				}
			}
		})
	}
	if a, b := New(nil, Config{KeyPrefix: "x:"}).Key("1", "n", "i"), New(nil, Config{KeyPrefix: "y:"}).Key("1", "n", "i"); a == b {
		t.Errorf("prefixes x: and y: give the same key %s", a)
	}
	// Keys must not change between releases: confirmed keys in Redis would
	// stop matching and events would be sent twice.
	if got, want := s.Key("123", "Purchase", "e1"), "freight:dedup:123:"; !strings.HasPrefix(got, want) || len(got) != len(want)+32 {
		t.Errorf("key %q: want %s followed by 32 hex digits", got, want)
	}
}

func TestOwner(t *testing.T) {
	if got := New(nil, Config{Owner: "pod-1/3f2a"}).Owner(); got != "pod-1/3f2a" {
		t.Errorf("Owner = %q, want the configured one", got)
	}
	a, b := New(nil, Config{}).Owner(), New(nil, Config{}).Owner()
	if a == "" || a == b || a == doneValue {
		t.Errorf("random owners %q and %q: want distinct non-empty ids", a, b)
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{Claimed: "claimed", Duplicate: "duplicate", Busy: "busy", Held: "held"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", s, got, want)
		}
	}
}

// closedAddr returns an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func deadStore(t *testing.T) *Store {
	rdb := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	return New(rdb, Config{KeyPrefix: "freight-test:dead:", Lease: time.Minute, Window: time.Hour})
}

// TestEmptySlices: every method with no keys does nothing. The store is
// pointed at a closed port, so any command would fail.
func TestEmptySlices(t *testing.T) {
	s := deadStore(t)
	ctx := context.Background()
	for _, ks := range [][]string{nil, {}} {
		if st, err := s.Claim(ctx, ks); err != nil || len(st) != 0 {
			t.Errorf("Claim(%#v) = %v, %v", ks, st, err)
		}
		if err := s.Confirm(ctx, ks); err != nil {
			t.Errorf("Confirm(%#v) = %v", ks, err)
		}
		if err := s.Release(ctx, ks); err != nil {
			t.Errorf("Release(%#v) = %v", ks, err)
		}
		if lost, err := s.Renew(ctx, ks); err != nil || lost != 0 {
			t.Errorf("Renew(%#v) = %d, %v", ks, lost, err)
		}
	}
}

func TestRedisDown(t *testing.T) {
	s := deadStore(t)
	ks := keys(s, 3)
	tests := []struct {
		name string
		call func(context.Context) error
	}{
		{"Claim", func(ctx context.Context) error {
			st, err := s.Claim(ctx, ks)
			if st != nil {
				t.Errorf("Claim returned statuses %v with its error", st)
			}
			return err
		}},
		{"Confirm", func(ctx context.Context) error { return s.Confirm(ctx, ks) }},
		{"Release", func(ctx context.Context) error { return s.Release(ctx, ks) }},
		{"Renew", func(ctx context.Context) error {
			lost, err := s.Renew(ctx, ks)
			if lost != 0 {
				t.Errorf("Renew reported %d lost with its error", lost)
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := tt.call(ctx)
			if err == nil {
				t.Fatal("no error with Redis down")
			}
			if !strings.Contains(err.Error(), "dedup") {
				t.Errorf("error %q does not say dedup", err)
			}
			if errors.Unwrap(err) == nil {
				t.Errorf("error %q does not wrap the cause", err)
			}
			var op *net.OpError
			if !errors.As(err, &op) {
				t.Errorf("error %q does not wrap the network error", err)
			}
		})
	}
}

// TestNoScript: after Redis forgets its scripts (a restart, SCRIPT FLUSH),
// Release and Renew load them again and still work.
func TestNoScript(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	s := e.store("a", 30*time.Second, time.Hour)
	k := keys(s, 2)
	flush := func(t *testing.T) {
		t.Helper()
		if err := e.rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatalf("SCRIPT FLUSH: %v", err)
		}
		ok, err := e.rdb.ScriptExists(ctx, renewScript.Hash(), releaseScript.Hash()).Result()
		if err != nil || ok[0] || ok[1] {
			t.Fatalf("scripts still loaded after SCRIPT FLUSH: %v, %v", ok, err)
		}
	}
	if _, err := s.Claim(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.PExpire(ctx, k[0], 2*time.Second).Err(); err != nil {
		t.Fatal(err)
	}

	flush(t)
	lost, err := s.Renew(ctx, k)
	if err != nil || lost != 0 {
		t.Fatalf("Renew after SCRIPT FLUSH = %d, %v; want 0 lost", lost, err)
	}
	if d := e.pttl(t, k[0]); d < 25*time.Second {
		t.Errorf("PTTL after Renew = %v: not renewed", d)
	}

	flush(t)
	if err := s.Release(ctx, k[:1]); err != nil {
		t.Fatalf("Release after SCRIPT FLUSH: %v", err)
	}
	if got := e.get(t, k[0]); got != "" {
		t.Errorf("key still holds %q after Release", got)
	}
	if got := e.get(t, k[1]); got != "a" {
		t.Errorf("other key holds %q, want a's claim", got)
	}
}

// BenchmarkClaim claims 500 new keys per operation in one pipeline, as the
// relay does for a poll.
func BenchmarkClaim(b *testing.B) {
	const perOp = 500
	e := newEnv(b)
	s := e.store("bench", 30*time.Second, time.Hour)
	ctx := context.Background()
	ks := make([]string, perOp)
	n := 0
	for b.Loop() {
		for i := range ks {
			ks[i] = s.Key("123456789012345", "Purchase", strconv.Itoa(n))
			n++
		}
		st, err := s.Claim(ctx, ks)
		if err != nil {
			b.Fatal(err)
		}
		if st[0] != Claimed {
			b.Fatalf("new key is %v", st[0])
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "keys/s")
}
