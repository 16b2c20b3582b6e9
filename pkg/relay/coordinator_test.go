package relay

import (
	"context"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/freight-relay/freight/pkg/deadletter"
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
