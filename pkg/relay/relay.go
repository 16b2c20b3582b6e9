// Package relay is the pipeline: it reads records from Kafka, maps them to
// server events, deduplicates them in Redis, batches them per pixel, sends
// them to the Conversions API, dead-letters what can never be delivered, and
// commits each partition's offsets once every record below them is done.
//
// It is the one place that composes the leaf packages and owns goroutines:
//
//   - the intake polls Kafka, decodes and maps records, and hands them to the
//     coordinator before it allows a rebalance (so a revoke always sees every
//     record polled);
//   - the coordinator owns all state (offset trackers, batches, claims) and
//     does the Redis round trips, one pipeline per step;
//   - a sender goroutine per batch in flight (at most
//     batch.max_in_flight_requests per pixel) talks to Meta, retries, and
//     splits rejected batches.
//
// The intake stops polling while batch.max_buffered_events records are
// unfinished, which bounds memory.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/batch"
	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/dedup"
	"github.com/freight-relay/freight/pkg/event"
)

// Topic is an input topic.
type Topic struct {
	Name         string
	Kind         event.Kind
	Decoder      event.Decoder
	DefaultPixel string
}

// Pixel is a configured pixel.
type Pixel struct {
	ID string
	// Token returns the pixel's current access token; it is asked before
	// every request so that a rotated token takes effect at once.
	Token         func() (string, error)
	TestEventCode string
}

// Config is what the relay needs from the configuration.
type Config struct {
	Topics          []Topic
	DeadLetterTopic string
	Pixels          []Pixel
	// AppSecret, when set, makes every request carry appsecret_proof.
	AppSecret func() (string, error)

	Batch               batch.Policy
	MaxInFlightRequests int
	MaxBufferedEvents   int

	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	GiveUpAfter    time.Duration

	// FailOpen sends events without dedup when Redis fails, instead of
	// blocking until it answers.
	FailOpen      bool
	ClaimLease    time.Duration
	ShutdownGrace time.Duration
}

// Deps are the relay's connections, built and closed by the caller.
type Deps struct {
	Dedup    *dedup.Store
	Redis    redis.UniversalClient // for readiness
	CAPI     *capi.Client
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
}

// Relay is one running pipeline.
type Relay struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	m      *metrics
	now    func() time.Time
	kopts  []kgo.Opt
	cl     *kgo.Client // made by Run
	dl     *deadletter.Writer
	topics map[string]*Topic
	pixels map[string]*pixelState

	box       mailbox
	buffered  atomic.Int64
	space     chan struct{}
	coordDone chan struct{}
	joined    atomic.Bool
}

// New builds a relay from base Kafka options (brokers, security, group,
// offsets policy); the relay adds the consumer-group options it relies on.
// Nothing connects until Run.
func New(cfg Config, kopts []kgo.Opt, deps Deps) (*Relay, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	m, err := newMetrics(deps.Registry)
	if err != nil {
		return nil, err
	}
	r := &Relay{
		cfg: cfg, deps: deps, log: deps.Logger, m: m, now: deps.Now,
		topics:    map[string]*Topic{},
		pixels:    map[string]*pixelState{},
		space:     make(chan struct{}, 1),
		coordDone: make(chan struct{}),
	}
	r.box.sig = make(chan struct{}, 1)
	names := make([]string, 0, len(cfg.Topics))
	for i := range cfg.Topics {
		t := &cfg.Topics[i]
		r.topics[t.Name] = t
		names = append(names, t.Name)
	}
	for _, p := range cfg.Pixels {
		r.pixels[p.ID] = &pixelState{Pixel: p}
	}
	r.kopts = append(append([]kgo.Opt{}, kopts...),
		kgo.ConsumeTopics(names...),
		// Rebalances wait until the coordinator has registered what a poll
		// returned, so a revoke sees every record polled.
		kgo.BlockRebalanceOnPoll(),
		// We mark only the contiguous done watermark; franz-go commits the
		// marks every commit_interval.
		kgo.AutoCommitMarks(),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onLost),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { r.joined.Store(true) }),
	)
	return r, nil
}

// Ready reports why the relay is not ready, or nil: it must have joined its
// group and Redis must answer.
func (r *Relay) Ready(ctx context.Context) error {
	if !r.joined.Load() {
		return errors.New("the consumer has not joined its group yet")
	}
	if r.deps.Redis != nil {
		if err := r.deps.Redis.Ping(ctx).Err(); err != nil {
			return errors.New("redis does not answer")
		}
	}
	return nil
}

// Run consumes until ctx is canceled, then drains: it stops fetching, sends
// or abandons what is in flight within ShutdownGrace, commits what is done,
// leaves the group and closes the client. It returns nil after a clean
// drain.
func (r *Relay) Run(ctx context.Context) error {
	// sendCtx outlives ctx by the shutdown grace, so in-flight sends can
	// finish; the coordinator cancels it when the grace is over.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	// The client is made here, not in New: it joins the group at once, and
	// its rebalance callbacks need the coordinator running.
	cl, err := kgo.NewClient(r.kopts...)
	if err != nil {
		close(r.coordDone)
		return fmt.Errorf("kafka client: %w", err)
	}
	r.cl = cl
	r.dl = deadletter.NewWriter(cl, r.cfg.DeadLetterTopic)
	c := newCoordinator(r, sendCtx, cancelSends)
	go func() {
		defer close(r.coordDone)
		c.run()
	}()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.intake(ctx)
	}()
	<-ctx.Done()
	wg.Wait()

	r.log.Info("draining", "grace", r.cfg.ShutdownGrace)
	r.box.post(shutdownMsg{})
	<-r.coordDone

	commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = r.cl.CommitMarkedOffsets(commitCtx)
	if err != nil {
		err = fmt.Errorf("final commit: %w", err)
	}
	r.cl.Close()
	return err
}

// maxPoll is the most records one poll takes.
const maxPoll = 5000

// intake is the poll loop.
func (r *Relay) intake(ctx context.Context) {
	for ctx.Err() == nil {
		free := r.cfg.MaxBufferedEvents - int(r.buffered.Load())
		if free <= 0 {
			select {
			case <-r.space:
			case <-ctx.Done():
			}
			continue
		}
		// A poll is decoded and mapped as a whole while franz-go's blocks
		// behind it are alive: keep it to a size that adds little to the
		// buffer's memory, and still fills a Redis pipeline well.
		fetches := r.cl.PollRecords(ctx, min(free, maxPoll))
		if fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		var recs []*kgo.Record
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if n := len(fp.Records); n > 0 {
				last := fp.Records[n-1].Offset
				r.m.lag.WithLabelValues(fp.Topic, itoa(fp.Partition)).Set(float64(max(fp.HighWatermark-last-1, 0)))
				r.m.consumed.WithLabelValues(fp.Topic).Add(float64(n))
			}
			recs = append(recs, fp.Records...)
		})
		msg := pollMsg{items: r.prepareAll(recs)}
		if len(msg.items) > 0 {
			r.buffered.Add(int64(len(msg.items)))
			r.m.buffered.Set(float64(r.buffered.Load()))
			r.box.post(msg)
		}
		r.cl.AllowRebalance()
	}
}

// prepareAll decodes and maps a poll's records, in order. Decoding,
// normalizing and hashing are most of the relay's CPU, so a large poll is
// split over one goroutine per CPU.
func (r *Relay) prepareAll(recs []*kgo.Record) []*item {
	items := make([]*item, len(recs))
	now := r.now()
	workers := min(runtime.GOMAXPROCS(0), len(recs)/256)
	if workers <= 1 {
		for i, rec := range recs {
			items[i] = r.prepare(rec, now)
		}
		return items
	}
	var wg sync.WaitGroup
	chunk := (len(recs) + workers - 1) / workers
	for lo := 0; lo < len(recs); lo += chunk {
		hi := min(lo+chunk, len(recs))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				items[i] = r.prepare(recs[i], now)
			}
		})
	}
	wg.Wait()
	return items
}

// prepare decodes and maps one record. A record that cannot be sent comes
// back with its dead-letter verdict.
func (r *Relay) prepare(rec *kgo.Record, now time.Time) *item {
	it := &item{rec: newRecord(rec)}
	t := r.topics[rec.Topic]
	if t == nil { // cannot happen: we consume only configured topics
		it.fail = &deadletter.Info{Class: deadletter.ClassConfig, Message: "record from an unconfigured topic"}
		return it
	}
	raw, err := t.Decoder.Decode(rec.Value)
	if err != nil {
		it.fail = &deadletter.Info{Class: deadletter.ClassDecode, Message: err.Error()}
		return it
	}
	ev, err := capi.Map(&raw, t.Kind, t.DefaultPixel, now)
	if err != nil {
		var inv *capi.InvalidError
		class, msg := deadletter.ClassValidation, err.Error()
		if errors.As(err, &inv) {
			class = inv.Class
		}
		it.fail = &deadletter.Info{Class: class, Message: msg, PixelID: raw.PixelID, EventID: raw.EventID, EventName: raw.EventName}
		return it
	}
	it.ev = ev
	if r.pixels[ev.PixelID] == nil {
		it.fail = &deadletter.Info{Class: deadletter.ClassConfig, Message: "pixel " + ev.PixelID + " is not configured",
			PixelID: ev.PixelID, EventID: ev.EventID, EventName: ev.EventName}
		return it
	}
	it.key = r.deps.Dedup.Key(ev.PixelID, ev.EventName, ev.EventID)
	return it
}

// onRevoked runs in franz-go's group goroutine, between polls (we block
// rebalances while a poll is being handed over). The coordinator forgets the
// revoked partitions' unfinished work and releases its claims; then the done
// watermark, already marked, is committed before the partitions move. We do
// not commit "uncommitted" offsets here: that would commit records still in
// flight.
func (r *Relay) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	r.forget(revoked)
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		r.log.Warn("commit on revoke", "err", err)
	}
}

// onLost: the partitions are gone already; commits would fail. Forget their
// work without committing: the new owner does it again.
func (r *Relay) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	r.joined.Store(false) // until the group is joined again
	r.forget(lost)
}

func (r *Relay) forget(parts map[string][]int32) {
	done := make(chan struct{})
	r.box.post(forgetMsg{parts: parts, done: done})
	select {
	case <-done:
	case <-r.coordDone:
	}
}

func itoa(p int32) string { return strconv.Itoa(int(p)) }

// mailbox is the coordinator's unbounded inbox. Unbounded so that no poster
// (the intake, senders, franz-go's produce callbacks) ever blocks on the
// coordinator while the coordinator waits for it: the memory it can hold is
// bounded by the buffered-events cap.
type mailbox struct {
	mu  sync.Mutex
	q   []any
	sig chan struct{}
}

func (m *mailbox) post(msg any) {
	m.mu.Lock()
	m.q = append(m.q, msg)
	m.mu.Unlock()
	select {
	case m.sig <- struct{}{}:
	default:
	}
}

func (m *mailbox) drain(into []any) []any {
	m.mu.Lock()
	into = append(into, m.q...)
	clear(m.q)
	m.q = m.q[:0]
	m.mu.Unlock()
	return into
}
