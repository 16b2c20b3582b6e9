package relay

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/freight-relay/freight/pkg/batch"
	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/dedup"
	"github.com/freight-relay/freight/pkg/redistest"
)

// A send that fails for good after its partition moved away is left to the
// new owner, which reads the record again: dead-lettering it here as well
// would give one event two dead letters.
func TestFailureOfARevokedPartitionIsNotDeadLettered(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	// No dead-letter writer: writing one would dereference nil.
	r := &Relay{m: m, log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newCoordinator(r, ctx, cancel)

	gone := &partState{}
	gone.revoked.Store(true)
	it := &item{part: gone, rec: record{topic: "web-events", offset: 7},
		fail: &deadletter.Info{Class: deadletter.ClassAuth, Message: "token refused"}}
	c.handle(failMsg{items: []*item{it}})
	c.handle(dlRetryMsg{it: it})
	if c.dlInFlight != 0 {
		t.Fatalf("%d dead letters written for a revoked partition's record", c.dlInFlight)
	}
}

// A claim whose answer was lost (a timeout after Redis applied it) leaves
// the key held by this process with no item holding it: claiming again must
// take it, not wait for the lease to expire (it would never be renewed).
// A second copy of an event whose first copy this process holds still
// waits.
func TestClaimRetriedAfterALostAnswerTakesItsOwnKey(t *testing.T) {
	rdb, prefix := redistest.New(t)
	store := dedup.New(rdb, dedup.Config{KeyPrefix: prefix, Window: time.Hour, Lease: time.Hour})
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{m: m, log: slog.New(slog.DiscardHandler), now: time.Now, deps: Deps{Dedup: store},
		cfg: Config{Batch: batch.Policy{MaxEvents: 100, MaxWait: time.Hour}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newCoordinator(r, ctx, cancel)
	key := store.Key("1", "Purchase", "e1")
	// The earlier claim that landed without its answer.
	if st, err := store.Claim(ctx, []string{key}); err != nil || st[0] != dedup.Claimed {
		t.Fatalf("first claim: %v %v", st, err)
	}
	first := &item{key: key, ev: capi.Event{PixelID: "1"}}
	c.claim([]*item{first})
	if len(c.waiting) != 0 || c.batcher.Len() != 1 || !first.claimed {
		t.Fatalf("the retried claim waits (%d waiting, %d batched): it would stall until its lease expires", len(c.waiting), c.batcher.Len())
	}
	second := &item{key: key, ev: capi.Event{PixelID: "1"}}
	c.claim([]*item{second})
	if len(c.waiting) != 1 || second.claimed {
		t.Fatalf("a second copy of a claimed event did not wait (%d waiting)", len(c.waiting))
	}
}
