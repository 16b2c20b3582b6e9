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
// The intake stops polling while batch.max_buffered_events records or
// batch.max_buffered_bytes bytes are held (done records behind an
// unfinished one count too, at the few bytes they cost), which bounds
// memory; a pixel whose events hold the buffer is parked.
package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/batch"
	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/dedup"
	"github.com/freight-relay/freight/pkg/event"
	"github.com/freight-relay/freight/pkg/identity"
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
	// IdentityGroup names the identity graph the pixel shares with the
	// other pixels of its group; "" gives it a graph of its own.
	IdentityGroup string
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
	MaxBufferedBytes    int64

	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	GiveUpAfter    time.Duration

	// FailOpen sends events without dedup (and without identity lookup)
	// when Redis fails, instead of blocking until it answers.
	FailOpen      bool
	ClaimLease    time.Duration
	ShutdownGrace time.Duration

	// PlainExternalID sends external_id normalized, not hashed
	// (identity.external_id_hashing: none).
	PlainExternalID bool
	// Normalization is capi.normalization.
	Normalization capi.Normalization
	// LinkBy are the identifiers the identity graph joins people by
	// (identity.link_by); used when Deps.Identity is set.
	LinkBy []string

	// MaxRecordBytes is the largest record the dead-letter and parking
	// topics take (kafka.max_record_bytes); 0 reads it from their
	// max.message.bytes when Run starts.
	MaxRecordBytes int

	// MaxPollRecords is the most records one poll takes (kafka.max_poll_records).
	MaxPollRecords int

	// StartAtEnd starts the input topics' partitions that the group never
	// committed at their end (start_offset: latest) instead of their
	// beginning. Never the parking topic's: what was parked into it before
	// its first commit is not done, and skipping it would lose it.
	StartAtEnd bool

	// ParkingTopic receives the events of a pixel that has failed for
	// ParkAfter while the buffer is over half full; "" disables parking.
	ParkingTopic string
	ParkAfter    time.Duration
}

// Deps are the relay's connections, built and closed by the caller.
type Deps struct {
	Dedup *dedup.Store
	// Identity is the identity graph; nil when identity.enabled is false.
	Identity *identity.Graph
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
	lag    *lagTracker
	now    func() time.Time
	kopts  []kgo.Opt
	cl     *kgo.Client // made by Run
	dl     *deadletter.Writer
	topics map[string]*Topic
	pixels map[string]*pixelState
	// pixelOrder is the configured pixels' ids, in configuration order.
	pixelOrder []string
	// derivedIDs is freight_event_ids_derived_total of each input topic,
	// looked up once: prepare counts per event.
	derivedIDs map[string]prometheus.Counter

	box mailbox
	// buffered is the records in the pipeline (read, not done) and
	// bufferedBytes what every record held takes, done ones the watermark
	// has not passed included: added by the intake, released by the
	// coordinator.
	buffered      atomic.Int64
	bufferedBytes atomic.Int64
	space         chan struct{}
	coordDone     chan struct{}
	joined        atomic.Bool
	// registryDown is set while a schema registry outage is waited out,
	// so that it is logged once, not once per record.
	registryDown atomic.Bool
	// redisDown is set by the coordinator while Redis fails: the intake
	// then leaves identity lookups to the coordinator's retries instead of
	// holding its poll (and rebalances) for a round trip bound to fail.
	redisDown atomic.Bool
	// draining is set when the drain starts; with wakeSenders, it makes
	// senders asleep through a backoff give their batches up.
	draining atomic.Bool
	// recordLimit is the largest record freight produces (Run sets it
	// before the first produce); 0 until then.
	recordLimit atomic.Int64
	wakeMu      sync.Mutex
	wake        chan struct{}
}

// wakeSenders wakes every sleeping sender: it must look again at what it
// holds (partitions moved away, the drain started).
func (r *Relay) wakeSenders() {
	r.wakeMu.Lock()
	defer r.wakeMu.Unlock()
	if r.wake != nil {
		close(r.wake)
		r.wake = nil
	}
}

// woken is closed by the next wakeSenders.
func (r *Relay) woken() <-chan struct{} {
	r.wakeMu.Lock()
	defer r.wakeMu.Unlock()
	if r.wake == nil {
		r.wake = make(chan struct{})
	}
	return r.wake
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
	lag := newLagTracker()
	if err := deps.Registry.Register(lag); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	r := &Relay{
		cfg: cfg, deps: deps, log: deps.Logger, m: m, lag: lag, now: deps.Now,
		topics:     map[string]*Topic{},
		pixels:     map[string]*pixelState{},
		derivedIDs: map[string]prometheus.Counter{},
		space:      make(chan struct{}, 1),
		coordDone:  make(chan struct{}),
	}
	r.box.sig = make(chan struct{}, 1)
	names := make([]string, 0, len(cfg.Topics))
	for i := range cfg.Topics {
		t := &cfg.Topics[i]
		r.topics[t.Name] = t
		r.derivedIDs[t.Name] = r.m.derivedIDs.WithLabelValues(t.Name)
		names = append(names, t.Name)
	}
	if cfg.ParkingTopic != "" {
		names = append(names, cfg.ParkingTopic)
	}
	for _, p := range cfg.Pixels {
		r.pixels[p.ID] = &pixelState{Pixel: p, stateGauge: r.m.pixelState}
		r.pixelOrder = append(r.pixelOrder, p.ID)
	}
	m.zero(names, cfg.Pixels)
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
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.AdjustFetchOffsetsFn(r.startOffsets),
		// Size the producer to what the broker takes, not franz-go's
		// default (1,000,012 bytes, below Kafka's 1,048,588): a dead letter
		// of a record near the source topic's limit must fit. Asked once
		// per partition, at its first produce, after Run set the limit.
		kgo.ProducerBatchMaxBytesFn(func(string) int32 {
			if n := r.recordLimit.Load(); n > 0 {
				return int32(n)
			}
			return kafkaMaxMessageBytes
		}),
	)
	return r, nil
}

// kafkaMaxMessageBytes is Kafka's default max.message.bytes.
const kafkaMaxMessageBytes = 1048588

// readRecordLimit is kafka.max_record_bytes, or else the smallest
// max.message.bytes of the topics freight produces to, or else Kafka's
// default. A broker that refuses a record for its size anyway gets it
// truncated (deadletter.Fit), so a wrong guess costs a retry, no record.
func (r *Relay) readRecordLimit(ctx context.Context, cl *kgo.Client) int {
	if r.cfg.MaxRecordBytes > 0 {
		return r.cfg.MaxRecordBytes
	}
	topics := []string{r.cfg.DeadLetterTopic}
	if r.cfg.ParkingTopic != "" {
		topics = append(topics, r.cfg.ParkingTopic)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topics...)
	limit := 0
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			if n, perr := strconv.Atoi(*c.Value); perr == nil && n > 0 && (limit == 0 || n < limit) {
				limit = n
			}
		}
	}
	if limit == 0 {
		r.log.Warn("cannot read max.message.bytes of the dead-letter and parking topics; assuming Kafka's default (set kafka.max_record_bytes)",
			"default", kafkaMaxMessageBytes, "err", err)
		return kafkaMaxMessageBytes
	}
	return limit
}

// startOffsets applies start_offset: latest to the input topics' partitions
// the group has no commit for. The client's reset offset is the start of a
// partition (app.ConsumerOpts), and franz-go gives a partition without a
// commit that offset, which is negative; a committed one is kept.
func (r *Relay) startOffsets(_ context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	if !r.cfg.StartAtEnd {
		return offs, nil
	}
	for topic, ps := range offs {
		if r.topics[topic] == nil { // the parking topic: always from the start
			continue
		}
		for p, o := range ps {
			if o.EpochOffset().Offset < 0 {
				ps[p] = kgo.NewOffset().AtEnd()
			}
		}
	}
	return offs, nil
}

// Ready reports why the relay is not ready, or nil: it must have joined its
// group and Redis must answer.
func (r *Relay) Ready(ctx context.Context) error {
	if !r.joined.Load() {
		return errors.New("the consumer has not joined its group yet")
	}
	if r.deps.Redis != nil {
		// After Redis restarts, the pool still holds connections to the old
		// process; each failed ping drops a few. Try a few times before
		// calling Redis down.
		var err error
		for range 5 {
			if err = r.deps.Redis.Ping(ctx).Err(); err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
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
	r.lag.cl.Store(cl)
	defer r.lag.cl.Store(nil) // a closed client has no lag to report
	r.recordLimit.Store(int64(r.readRecordLimit(ctx, cl)))
	r.dl = deadletter.NewWriter(cl, r.cfg.DeadLetterTopic, func() int { return int(r.recordLimit.Load()) })
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

// intake is the poll loop.
func (r *Relay) intake(ctx context.Context) {
	// perRecord is the bytes counted per record in the last poll; before
	// the first, a guess on the large side (a web event of about 1 KB
	// counts 2.5 to 3 KB).
	perRecord := int64(4 << 10)
	for ctx.Err() == nil {
		free := r.cfg.MaxBufferedEvents - int(r.buffered.Load())
		if free <= 0 || r.bufferedBytes.Load() >= r.cfg.MaxBufferedBytes {
			select {
			case <-r.space:
			case <-ctx.Done():
			}
			continue
		}
		// A poll is decoded and mapped as a whole while franz-go's blocks
		// behind it are alive: keep it to a size that adds little to the
		// buffer's memory, and still fills a Redis pipeline well.
		//
		// Near the bytes bound, a poll takes about as many records as fit,
		// at the last poll's bytes per record, so that a poll overshoots
		// the bound by a record, not by max_poll_records of them.
		n := min(free, r.cfg.MaxPollRecords, int(max((r.cfg.MaxBufferedBytes-r.bufferedBytes.Load())/perRecord, 1)))
		fetches := r.cl.PollRecords(ctx, n)
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
			first := int64(-1)
			if n := len(fp.Records); n > 0 {
				first = fp.Records[0].Offset
				r.m.consumed.WithLabelValues(fp.Topic).Add(float64(n))
			}
			r.lag.observe(fp.Topic, fp.Partition, first, fp.HighWatermark)
			recs = append(recs, fp.Records...)
		})
		items, ok := r.prepareAll(ctx, recs)
		if !ok {
			// Shutting down during a schema registry outage: nothing of
			// this poll is done. The client's leaving the group waits for
			// the poll to be let go.
			r.cl.AllowRebalance()
			return
		}
		if r.deps.Identity != nil {
			r.intakeIdentities(ctx, items)
		}
		if len(items) > 0 {
			var bytes int64
			for _, it := range items {
				it.size = it.footprint()
				bytes += it.size
			}
			r.hold(len(items), bytes)
			perRecord = max(bytes/int64(len(items)), 1)
			r.box.post(pollMsg{items: items})
		}
		r.cl.AllowRebalance()
	}
}

// hold counts records taken into the buffer.
func (r *Relay) hold(events int, bytes int64) {
	r.m.buffered.Set(float64(r.buffered.Add(int64(events))))
	r.m.bufferedBytes.Set(float64(r.bufferedBytes.Add(bytes)))
}

// free gives buffer space back and wakes the intake if it waits for it.
func (r *Relay) free(events int, bytes int64) {
	if events == 0 && bytes == 0 {
		return
	}
	r.m.buffered.Set(float64(r.buffered.Add(-int64(events))))
	r.m.bufferedBytes.Set(float64(r.bufferedBytes.Add(-bytes)))
	select {
	case r.space <- struct{}{}:
	default:
	}
}

// prepareAll decodes and maps a poll's records, in order. Decoding,
// normalizing and hashing are most of the relay's CPU, so a large poll is
// split over one goroutine per CPU.
//
// ok is false when ctx ended while records waited for the schema registry:
// then none of the poll may be posted. Its records are not registered with
// the offset trackers, so no commit passes them, and they are read again
// after the restart; posting the rest would let the watermark skip the
// abandoned ones.
func (r *Relay) prepareAll(ctx context.Context, recs []*kgo.Record) (items []*item, ok bool) {
	items = make([]*item, len(recs))
	now := r.now()
	inParallel(len(recs), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if items[i] = r.prepare(ctx, recs[i], now); items[i] == nil {
				return
			}
		}
	})
	if slices.Contains(items, nil) {
		return nil, false
	}
	return items, true
}

// inParallel calls f over [0, n) split in one range per CPU, and waits; a
// small n is one call on this goroutine.
func inParallel(n int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n/256)
	if workers <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Go(func() { f(lo, hi) })
	}
	wg.Wait()
}

// prepare decodes and maps one record. A record that cannot be sent comes
// back with its dead-letter verdict; nil means ctx ended while the record
// waited for the schema registry.
func (r *Relay) prepare(ctx context.Context, rec *kgo.Record, now time.Time) *item {
	it := &item{rec: newRecord(rec)}
	t := r.topics[rec.Topic]
	if rec.Topic == r.cfg.ParkingTopic {
		t = r.parkedRecord(it, rec)
		if it.fail != nil {
			return it
		}
	}
	if t == nil { // cannot happen: we consume only configured topics
		it.fail = &deadletter.Info{Class: deadletter.ClassConfig, Message: "record from an unconfigured topic"}
		return it
	}
	raw, err := r.decode(ctx, t, rec.Value)
	if errors.Is(err, errAbandoned) {
		return nil
	}
	if err != nil {
		it.fail = &deadletter.Info{Class: deadletter.ClassDecode, Message: err.Error()}
		return it
	}
	if strings.TrimSpace(raw.EventID) == "" {
		// CRM exports often have no event id. One derived from the
		// record's bytes is the same on every redelivery, in the parking
		// topic and in a dead-letter replay (all keep the bytes), so the
		// event is still sent once.
		raw.EventID = derivedEventID(rec.Value)
		r.derivedIDs[t.Name].Inc()
	}
	d, err := capi.NewDraft(&raw, t.Kind, capi.Options{DefaultPixel: t.DefaultPixel,
		PlainExternalID: r.cfg.PlainExternalID, Normalization: r.cfg.Normalization}, now)
	if err != nil {
		it.fail = invalidInfo(err, raw.PixelID, raw.EventID, raw.EventName)
		return it
	}
	if r.deps.Identity != nil {
		it.draft = d // finished after the identity lookup (resolveIdentities)
		return it
	}
	r.finish(it, d)
	return it
}

// derivedEventID is the event_id of an event that has none: "freight-" and
// the first 32 hex digits of the SHA-256 of the record's value.
func derivedEventID(value []byte) string {
	sum := sha256.Sum256(value)
	return "freight-" + hex.EncodeToString(sum[:16])
}

// errAbandoned: the relay stopped while a record waited for the schema
// registry.
var errAbandoned = errors.New("abandoned while waiting for the schema registry")

// decode decodes a record's value. A decoder that cannot reach the schema
// registry says so with *event.UnavailableError: the record is fine, so it
// is never dead-lettered; like Redis in block mode, decode waits (capped
// exponential backoff with jitter, from retry.initial_backoff) and tries
// again until the registry answers or ctx ends (errAbandoned). While it
// waits, the poll and with it rebalances wait too: a member held past the
// group's rebalance timeout loses its partitions, which onLost handles as
// after any lost session.
func (r *Relay) decode(ctx context.Context, t *Topic, value []byte) (event.Event, error) {
	// An outage stalls every topic's intake: keep the tries frequent (at
	// least every 5s) even when retry.max_backoff, sized for Meta, is
	// minutes.
	backoff, maxBackoff := r.cfg.InitialBackoff, min(r.cfg.MaxBackoff, 5*time.Second)
	if backoff <= 0 || maxBackoff < backoff {
		backoff, maxBackoff = 200*time.Millisecond, 5*time.Second
	}
	var since time.Time
	for {
		raw, err := t.Decoder.Decode(value)
		var ue *event.UnavailableError
		if !errors.As(err, &ue) {
			if !since.IsZero() && r.registryDown.CompareAndSwap(true, false) {
				r.log.Info("schema registry answers again", "topic", t.Name, "waited", time.Since(since).Round(time.Millisecond))
			}
			return raw, err
		}
		if since.IsZero() {
			since = time.Now()
		}
		if r.registryDown.CompareAndSwap(false, true) {
			// The error names the schema id and the failure, never the value.
			r.log.Warn("schema registry unavailable; holding the poll and retrying", "topic", t.Name,
				"schema_id", ue.SchemaID, "err", ue)
		}
		select {
		case <-ctx.Done():
			return event.Event{}, errAbandoned
		case <-time.After(jitter(backoff)):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// finish checks a draft's customer data and encodes it: the item is ready
// to claim and batch, or has its dead-letter verdict.
func (r *Relay) finish(it *item, d *capi.Draft) {
	ev, err := d.Finish()
	if err != nil {
		it.fail = invalidInfo(err, d.PixelID(), d.EventID(), d.EventName())
		return
	}
	it.ev = ev
	if r.pixels[ev.PixelID] == nil {
		it.fail = &deadletter.Info{Class: deadletter.ClassConfig, Message: "pixel " + ev.PixelID + " is not configured",
			PixelID: ev.PixelID, EventID: ev.EventID, EventName: ev.EventName}
		return
	}
	it.key = r.deps.Dedup.Key(ev.PixelID, ev.EventName, ev.EventID)
}

// invalidInfo is the dead-letter verdict for an event capi refused.
func invalidInfo(err error, pixel, eventID, eventName string) *deadletter.Info {
	class := deadletter.ClassValidation
	var inv *capi.InvalidError
	if errors.As(err, &inv) {
		class = inv.Class
	}
	return &deadletter.Info{Class: class, Message: err.Error(), PixelID: pixel, EventID: eventID, EventName: eventName}
}

// onAssigned runs in franz-go's group goroutine when the group gave us
// partitions (with the cooperative balancer, only the new ones).
func (r *Relay) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	r.lag.assign(assigned)
	for topic, ps := range assigned {
		r.log.Info("partitions assigned", "topic", topic, "partitions", ps)
	}
	r.joined.Store(true)
}

// onRevoked runs in franz-go's group goroutine, between polls (we block
// rebalances while a poll is being handed over). The coordinator forgets the
// revoked partitions' unfinished work and releases its claims; then the done
// watermark, already marked, is committed before the partitions move. We do
// not commit "uncommitted" offsets here: that would commit records still in
// flight.
func (r *Relay) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	r.lag.drop(revoked)
	r.forget(revoked)
	for topic, ps := range revoked {
		r.log.Info("partitions revoked", "topic", topic, "partitions", ps)
	}
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		r.log.Warn("commit on revoke", "err", err)
	}
}

// onLost: the partitions are gone already; commits would fail. Forget their
// work without committing: the new owner does it again.
func (r *Relay) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	r.joined.Store(false) // until the group is joined again
	r.lag.drop(lost)
	r.forget(lost)
	for topic, ps := range lost {
		r.log.Warn("partitions lost; their unfinished records go to the new owner", "topic", topic, "partitions", ps)
	}
}

func (r *Relay) forget(parts map[string][]int32) {
	done := make(chan struct{})
	r.box.post(forgetMsg{parts: parts, done: done})
	select {
	case <-done:
	case <-r.coordDone:
	}
}

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
