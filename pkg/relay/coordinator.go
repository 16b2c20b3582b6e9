package relay

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/batch"
	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/dedup"
	"github.com/freight-relay/freight/pkg/offsets"
	"github.com/freight-relay/freight/pkg/parking"
)

// item is one record on its way through the pipeline.
type item struct {
	rec  record
	ev   capi.Event
	key  string           // dedup key
	fail *deadletter.Info // set when the record can never be sent
	part *partState
	// draft is the mapped event until the identity lookup finishes it
	// (intake only).
	draft *capi.Draft
	// parked is the parking state of an event read from the parking topic,
	// or of one being parked; nil otherwise.
	parked *parking.Info

	claimed bool // holds a dedup claim that must be confirmed or released
	// size is what the item counts against batch.max_buffered_bytes until
	// it is done (footprint).
	size int64

	// Owned by the sender while the item is in flight.
	attempts     int
	firstFailure time.Time

	// Failed writes of this record to the dead-letter or parking topic,
	// for their backoff and give-up (coordinator only).
	produceFailures     int
	produceFailingSince time.Time
}

// record is what an item keeps of its Kafka record: its place, and the
// bytes a dead letter must carry. Not the *kgo.Record itself: franz-go
// allocates a fetch's records and values in shared blocks, and one record
// held would keep its whole block alive while the buffer is full.
type record struct {
	topic       string
	partition   int32
	leaderEpoch int32
	offset      int64
	timestamp   time.Time
	key, value  []byte
	headers     []kgo.RecordHeader
}

// newRecord copies what the item needs of r into one allocation: the key,
// the value and the header values (franz-go's header values, too, point
// into the fetch's shared block).
func newRecord(r *kgo.Record) record {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Value)
	}
	buf := make([]byte, 0, n)
	take := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	rec := record{topic: r.Topic, partition: r.Partition, leaderEpoch: r.LeaderEpoch, offset: r.Offset,
		timestamp: r.Timestamp, key: take(r.Key), value: take(r.Value)}
	if len(r.Headers) > 0 {
		rec.headers = make([]kgo.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			rec.headers[i] = kgo.RecordHeader{Key: h.Key, Value: take(h.Value)}
		}
	}
	return rec
}

// kafka rebuilds the record for the dead-letter writer and commit marks.
func (r *record) kafka() *kgo.Record {
	return &kgo.Record{Topic: r.topic, Partition: r.partition, LeaderEpoch: r.leaderEpoch, Offset: r.offset,
		Timestamp: r.timestamp, Key: r.key, Value: r.value, Headers: r.headers}
}

type tp struct {
	topic     string
	partition int32
}

type partState struct {
	// offsets tracks the partition's records, with their leader epochs.
	offsets offsets.Partition[int32]
	// bytes is what the partition's records held count against
	// batch.max_buffered_bytes: the items not done, and doneBytes for each
	// done one the watermark has not passed.
	bytes int64
	// revoked is set when the partition moved away: its items are then
	// forgotten (never marked done) and senders abandon them.
	revoked atomic.Bool
}

// Messages to the coordinator.
type (
	pollMsg    struct{ items []*item }
	sentMsg    struct{ items []*item }
	failMsg    struct{ items []*item } // each item's fail is set
	abandonMsg struct{ items []*item } // unfinished: release the claims, do not mark done
	batchDone  struct{ pixel string }
	dlAckMsg   struct {
		it  *item
		err error
	}
	dlRetryMsg struct{ it *item }
	forgetMsg  struct {
		parts map[string][]int32
		done  chan struct{}
	}
	shutdownMsg struct{}
)

// waitRetry is how often events that found another sender's live claim try
// to claim again.
const waitRetry = 200 * time.Millisecond

type coordinator struct {
	r           *Relay
	sendCtx     context.Context
	cancelSends context.CancelFunc

	parts      map[tp]*partState
	batcher    *batch.Batcher[*item]
	waiting    []*item
	queued     map[string][][]*item
	inflight   map[string]int
	held       map[*item]struct{}
	dlInFlight int
	senders    sync.WaitGroup

	parkedWait   parkedQueue    // parked events read back before their time
	parkedHeld   map[string]int // their number per pixel
	parkedBytes  int64          // their footprint
	parkInFlight int
	parkPaused   bool // the parking topic's fetching is paused: parkedWait is full

	// Work waiting for Redis (on_error: block). The coordinator never
	// waits for Redis in a loop: what a failed round trip was for waits
	// here, and is tried again at redisRetryAt, while revokes, shutdown and
	// the other stages go on.
	unresolved  []*item   // identity lookup failed; drafts not finished
	unconfirmed [][]*item // sent (Meta answered 2xx), confirm failed
	redis       redisState
	lastLog     map[string]time.Time // warnEvery's

	draining      bool
	drainDeadline time.Time
	nextWait      time.Time
	nextRenew     time.Time
	nextStates    time.Time // when refreshStates runs next (idle comes with time)
}

// redisState is the coordinator's view of Redis: after a failed round trip
// every Redis stage waits until retryAt, backing off exponentially.
type redisState struct {
	backoff   time.Duration
	retryAt   time.Time
	downSince time.Time
	lastLog   time.Time
}

const (
	// redisTimeout bounds one round trip of the coordinator.
	redisTimeout = 5 * time.Second
	// redisMaxBackoff is the longest pause between tries while Redis
	// fails: an outage stalls every pixel, so try often.
	redisMaxBackoff = 5 * time.Second
	// logEvery is how often a failure that repeats is logged again.
	logEvery = 10 * time.Second
)

func newCoordinator(r *Relay, sendCtx context.Context, cancel context.CancelFunc) *coordinator {
	return &coordinator{
		r: r, sendCtx: sendCtx, cancelSends: cancel,
		parts:    map[tp]*partState{},
		batcher:  batch.New[*item](r.cfg.Batch),
		queued:   map[string][][]*item{},
		inflight: map[string]int{},
		held:     map[*item]struct{}{},

		parkedHeld: map[string]int{},
		lastLog:    map[string]time.Time{},
	}
}

// warnEvery logs a warning at most every logEvery per key: a failure that
// repeats for every record must not flood the log.
func (c *coordinator) warnEvery(key, msg string, args ...any) {
	now := c.r.now()
	if now.Sub(c.lastLog[key]) < logEvery {
		return
	}
	c.lastLog[key] = now
	c.r.log.Warn(msg, args...)
}

// produceFailed counts a failed write of the item to Kafka and returns how
// long to wait before the next try (capped exponential backoff with
// jitter) and how long its writes have failed.
func (c *coordinator) produceFailed(it *item) (retryIn, failingFor time.Duration) {
	now := c.r.now()
	if it.produceFailures == 0 {
		it.produceFailingSince = now
	}
	it.produceFailures++
	d := time.Second << min(it.produceFailures-1, 5)
	return jitter(min(d, 30*time.Second)), now.Sub(it.produceFailingSince)
}

func (c *coordinator) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var msgs []any
	for {
		msgs = c.r.box.drain(msgs[:0])
		for _, m := range msgs {
			c.handle(m)
		}
		clear(msgs)
		now := c.r.now()
		c.tick(now)
		if c.draining {
			c.dropBlocked()
			if !now.Before(c.drainDeadline) {
				// Grace is over: cancel what is still being sent; the
				// senders report their items as abandoned.
				c.cancelSends()
			}
			if c.idle() {
				c.abandonRest()
				c.senders.Wait()
				c.lastConfirm()
				return
			}
		}
		timer.Reset(c.nextWake(now))
		select {
		case <-c.r.box.sig:
		case <-timer.C:
		}
	}
}

func (c *coordinator) idle() bool {
	if len(c.inflight) > 0 {
		return false
	}
	if c.sendCtx.Err() != nil {
		return true // past the grace: stop waiting for queued batches, dead letters and confirms
	}
	return len(c.queued) == 0 && c.dlInFlight == 0 && c.parkInFlight == 0 && len(c.unconfirmed) == 0
}

func (c *coordinator) nextWake(now time.Time) time.Duration {
	d := time.Second
	if w, ok := c.batcher.UntilNext(now); ok {
		d = min(d, w)
	}
	if len(c.waiting) > 0 {
		d = min(d, c.nextWait.Sub(now))
	}
	if len(c.waiting) > 0 || len(c.unresolved) > 0 || len(c.unconfirmed) > 0 {
		d = min(d, c.redis.retryAt.Sub(now))
	}
	for px := range c.queued {
		if u := c.r.pixels[px].unblockedAt(); u.After(now) {
			d = min(d, u.Sub(now))
		}
	}
	if len(c.held) > 0 {
		d = min(d, c.nextRenew.Sub(now))
	}
	if len(c.parkedWait) > 0 {
		d = min(d, c.parkedWait[0].parked.Until.Sub(now))
	}
	if c.draining {
		d = min(d, c.drainDeadline.Sub(now))
	}
	return max(d, time.Millisecond)
}

func (c *coordinator) handle(m any) {
	switch m := m.(type) {
	case pollMsg:
		c.intake(m.items)
	case sentMsg:
		c.sent(m.items)
	case failMsg:
		c.release(m.items)
		for _, it := range m.items {
			// A partition that moved away is the new owner's to finish:
			// it reads the record again and dead-letters it itself, so
			// writing one here too would make two dead letters of one
			// event (and a double replay).
			if !it.part.revoked.Load() {
				c.deadLetter(it)
			}
		}
	case abandonMsg:
		c.release(m.items)
	case parkMsg:
		c.park(m.items, c.r.now())
	case parkAckMsg:
		c.parkAck(m)
	case parkRetryMsg:
		if c.sendCtx.Err() == nil && !m.it.part.revoked.Load() {
			c.writeParked(m.it)
		}
	case batchDone:
		if c.inflight[m.pixel]--; c.inflight[m.pixel] <= 0 {
			delete(c.inflight, m.pixel)
		}
	case dlAckMsg:
		c.dlInFlight--
		if m.err != nil {
			// Never given up: the dead-letter topic is the last place a
			// record can go, and committing past it would lose it. Size
			// errors do not come here (the writer truncates).
			c.r.m.dlWriteErrors.Inc()
			retryIn, failingFor := c.produceFailed(m.it)
			c.warnEvery("dead-letter", "dead-letter writes fail; retrying (freight_dead_letter_write_errors_total counts them)",
				"class", m.it.fail.Class, "pixel", m.it.fail.PixelID, "topic", m.it.rec.topic, "partition", m.it.rec.partition,
				"offset", m.it.rec.offset, "failing_for", failingFor.Round(time.Millisecond), "err", m.err)
			time.AfterFunc(retryIn, func() { c.r.box.post(dlRetryMsg{m.it}) })
			return
		}
		c.r.m.deadLettered.WithLabelValues(m.it.fail.Class).Inc()
		if px := c.r.pixels[m.it.fail.PixelID]; px != nil {
			px.countDeadLettered(c.r.now())
		}
		c.done(m.it)
	case dlRetryMsg:
		if c.sendCtx.Err() == nil && !m.it.part.revoked.Load() {
			c.deadLetter(m.it)
		}
	case forgetMsg:
		c.forget(m.parts)
		close(m.done)
	case shutdownMsg:
		c.draining = true
		c.drainDeadline = c.r.now().Add(c.r.cfg.ShutdownGrace)
		for _, b := range c.batcher.Flush() {
			c.queued[b.Key] = append(c.queued[b.Key], b.Items)
		}
		// Events waiting for another sender's claim, or parked events
		// waiting for their time, hold nothing: leave them undone, to be
		// read again after the restart.
		c.waiting = nil
		c.unresolved = nil
		// Senders sleeping through a backoff or a block give their
		// batches up now instead of at the end of the grace.
		c.r.draining.Store(true)
		c.r.wakeSenders()
		for _, it := range c.parkedWait {
			c.parkedCount(it.ev.PixelID, -1)
		}
		c.parkedWait, c.parkedBytes = nil, 0
	}
}

// intake registers a poll's records and claims its events in one pipeline;
// parked events read back wait for their time first.
func (c *coordinator) intake(items []*item) {
	now := c.r.now()
	var k tp
	var ps *partState
	for _, it := range items {
		// A poll's records come partition by partition: look the
		// partition up once per run of them.
		if ps == nil || it.rec.partition != k.partition || it.rec.topic != k.topic {
			k = tp{it.rec.topic, it.rec.partition}
			ps = c.parts[k]
		}
		if ps == nil {
			ps = &partState{}
			c.parts[k] = ps
			// Commit where we start. A group that never committed this
			// partition would otherwise restart it at start_offset: with
			// latest, after a crash before the first record is done, every
			// record read so far would be skipped (the parking topic's
			// held events most of all).
			c.r.cl.MarkCommitOffsets(map[string]map[int32]kgo.EpochOffset{
				k.topic: {k.partition: {Epoch: it.rec.leaderEpoch, Offset: it.rec.offset}}})
		}
		it.part = ps
		ps.offsets.Add(it.rec.offset, it.rec.leaderEpoch)
		ps.bytes += it.size
	}
	c.route(items, now)
}

// route sends registered items on: dead letters out, unfinished drafts to
// wait for Redis, source events to be claimed, parked events to wait for
// their time.
func (c *coordinator) route(items []*item, now time.Time) {
	var toClaim, due []*item
	for _, it := range items {
		switch {
		case it.fail != nil:
			c.deadLetter(it)
		case it.draft != nil:
			// The identity lookup failed (on_error: block).
			c.unresolved = append(c.unresolved, it)
		case it.parked == nil:
			toClaim = append(toClaim, it)
		case it.parked.Until.After(now):
			c.hold(it)
		default:
			due = append(due, it)
		}
	}
	c.claim(toClaim)
	c.dueParked(due, now)
}

// claim claims the items' keys; claimed items go to their pixel's batch,
// duplicates are done, busy ones wait.
func (c *coordinator) claim(items []*item) {
	if len(items) == 0 {
		return
	}
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.key
	}
	var statuses []dedup.Status
	err := c.redisTry("claim", func(ctx context.Context) error {
		var err error
		statuses, err = c.r.deps.Dedup.Claim(ctx, keys)
		return err
	})
	now := c.r.now()
	if err != nil {
		if !c.r.cfg.FailOpen {
			// on_error: block: nothing is skipped; the items wait with
			// those that found a busy claim, and are claimed again once
			// Redis answers.
			c.await(now, items...)
			return
		}
		c.r.m.failOpen.Add(float64(len(items)))
		statuses = make([]dedup.Status, len(items)) // all Claimed, without a claim
	}
	var mine map[string]bool // the keys of the claims we hold, when one is Held
	dups := map[string]int{}
	defer func() {
		for px, n := range dups {
			c.r.m.deduplicated.WithLabelValues(px).Add(float64(n))
			c.r.pixels[px].countDeduplicated(now, n)
		}
	}()
	for i, it := range items {
		if statuses[i] == dedup.Held {
			if mine == nil {
				mine = make(map[string]bool, len(c.held))
				for h := range c.held {
					mine[h.key] = true
				}
			}
			// Another copy in our hands: wait for its send. None: an
			// earlier claim of ours whose answer was lost; it is ours.
			statuses[i] = dedup.Busy
			if !mine[it.key] {
				statuses[i] = dedup.Claimed
			}
		}
		switch statuses[i] {
		case dedup.Claimed:
			it.claimed = err == nil
			if it.claimed {
				c.held[it] = struct{}{}
				if mine != nil {
					mine[it.key] = true
				}
			}
			if full, ok := c.batcher.Add(it.ev.PixelID, it, now); ok {
				c.queued[it.ev.PixelID] = append(c.queued[it.ev.PixelID], full)
			}
		case dedup.Duplicate:
			dups[it.ev.PixelID]++
			c.done(it)
		case dedup.Busy:
			c.await(now, it)
		}
	}
}

// await puts items aside to be claimed again: they found another sender's
// live claim, or Redis did not answer.
func (c *coordinator) await(now time.Time, items ...*item) {
	if len(c.waiting) == 0 {
		c.nextWait = now.Add(waitRetry)
	}
	c.waiting = append(c.waiting, items...)
}

// redisTry runs one Redis round trip of the coordinator, on a context of
// its own: detached from shutdown, so that a confirm after Meta's 2xx is not
// skipped because the grace ran out, and bounded by redisTimeout, so that
// no revoke or shutdown waits long for it. A failure is counted, logged at
// most every logEvery, and sets when the Redis stages try again (capped
// exponential backoff); a success clears it.
func (c *coordinator) redisTry(op string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.sendCtx), redisTimeout)
	err := f(ctx)
	cancel()
	now := c.r.now()
	rs := &c.redis
	if err == nil {
		if !rs.downSince.IsZero() {
			c.r.log.Info("redis answers again", "down_for", now.Sub(rs.downSince).Round(time.Millisecond))
		}
		c.r.redisDown.Store(false)
		*rs = redisState{}
		return nil
	}
	c.r.m.redisErrors.WithLabelValues(op).Inc()
	if rs.downSince.IsZero() {
		rs.downSince = now
	}
	c.r.redisDown.Store(true)
	rs.backoff = min(max(2*rs.backoff, 50*time.Millisecond), redisMaxBackoff)
	rs.retryAt = now.Add(jitter(rs.backoff))
	if now.Sub(rs.lastLog) >= logEvery {
		rs.lastLog = now
		mode := "retrying (on_error: block)"
		if c.r.cfg.FailOpen {
			mode = "going on without it (on_error: fail_open)"
		}
		c.r.log.Warn("redis error; "+mode, "op", op, "err", err, "down_for", now.Sub(rs.downSince).Round(time.Millisecond))
	}
	return err
}

// redisDue reports whether the stages waiting for Redis may try again.
func (c *coordinator) redisDue(now time.Time) bool { return !now.Before(c.redis.retryAt) }

// retryRedis tries again what waits for Redis: identity lookups, then
// confirms. Claims wait in c.waiting.
func (c *coordinator) retryRedis(now time.Time) {
	if len(c.unresolved) > 0 && c.redisDue(now) && !c.draining {
		items := c.unresolved
		c.unresolved = nil
		err := c.redisTry("identity", func(ctx context.Context) error { return c.r.resolveIdentities(ctx, items) })
		if err != nil {
			c.unresolved = items
		} else {
			c.route(items, now)
		}
	}
	for len(c.unconfirmed) > 0 && c.redisDue(now) {
		b := c.unconfirmed[0]
		c.unconfirmed[0] = nil
		c.unconfirmed = c.unconfirmed[1:]
		if !c.sent(b) {
			break
		}
	}
}

// lastConfirm is the drain's last try to confirm what Meta accepted, once
// the grace is over: the confirm's own timeout bounds it.
func (c *coordinator) lastConfirm() {
	bs := c.unconfirmed
	c.unconfirmed = nil
	for i, b := range bs {
		c.redis.retryAt = time.Time{}
		if !c.sent(b) {
			// Redis still fails: the rest are not tried, but they are
			// reported below with the one that failed.
			c.unconfirmed = append(c.unconfirmed, bs[i+1:]...)
			break
		}
	}
	for _, b := range c.unconfirmed {
		pixel := b[0].ev.PixelID
		c.r.log.Warn("events accepted by Meta but not confirmed in redis before exit; they are sent again after the restart",
			"pixel", pixel, "events", len(b))
	}
}

// sent confirms the events' keys for the dedup window, then marks them
// done. When Redis fails (on_error: block) the batch waits in unconfirmed,
// undone, and sent reports false; it is confirmed once Redis answers, also
// when its partition moved away meanwhile (the new owner's claim then finds
// it sent instead of sending it again).
func (c *coordinator) sent(items []*item) bool {
	if len(items) == 0 {
		return true
	}
	var keys []string
	for _, it := range items {
		if it.claimed {
			keys = append(keys, it.key)
		}
	}
	if len(keys) > 0 {
		if !c.redisDue(c.r.now()) && !c.r.cfg.FailOpen {
			c.unconfirmed = append(c.unconfirmed, items)
			return false
		}
		err := c.redisTry("confirm", func(ctx context.Context) error { return c.r.deps.Dedup.Confirm(ctx, keys) })
		if err != nil && !c.r.cfg.FailOpen {
			c.unconfirmed = append(c.unconfirmed, items)
			return false
		}
	}
	// A batch is one pixel's: count once per batch, not per event (label
	// lookups are not free).
	var fields, dropped [len(capi.FieldNames)]int
	for _, it := range items {
		delete(c.held, it)
		it.claimed = false
		for i := range fields {
			if it.ev.Fields.Has(i) {
				fields[i]++
			}
			if it.ev.Dropped.Has(i) {
				dropped[i]++
			}
		}
		c.done(it)
	}
	px := items[0].ev.PixelID
	c.r.pixels[px].countSent(c.r.now(), len(items), &fields)
	c.r.m.sent.WithLabelValues(px).Add(float64(len(items)))
	for i, n := range fields {
		if n > 0 {
			c.r.m.fieldEvents.WithLabelValues(px, capi.FieldNames[i]).Add(float64(n))
		}
		if d := dropped[i]; d > 0 {
			c.r.m.fieldDropped.WithLabelValues(px, capi.FieldNames[i]).Add(float64(d))
		}
	}
	return true
}

// release gives up the claims of items that will not be sent now.
func (c *coordinator) release(items []*item) {
	var keys []string
	for _, it := range items {
		if it.claimed {
			keys = append(keys, it.key)
			it.claimed = false
			delete(c.held, it)
		}
	}
	if len(keys) == 0 {
		return
	}
	if c.r.redisDown.Load() {
		// The claims expire after their lease; nothing is lost, and a
		// round trip that fails would only hold up a revoke or the drain.
		return
	}
	// On failure the claims expire after their lease; nothing is lost.
	_ = c.redisTry("release", func(ctx context.Context) error { return c.r.deps.Dedup.Release(ctx, keys) })
}

func (c *coordinator) deadLetter(it *item) {
	it.fail.Attempts = it.attempts
	if it.fail.FailedAt.IsZero() {
		it.fail.FailedAt = c.r.now()
	}
	c.dlInFlight++
	c.r.log.Debug("dead-lettering", "class", it.fail.Class, "pixel", it.fail.PixelID,
		"topic", it.rec.topic, "partition", it.rec.partition, "offset", it.rec.offset)
	c.r.dl.Write(c.sendCtx, it.rec.kafka(), *it.fail, func(err error) { c.r.box.post(dlAckMsg{it: it, err: err}) })
}

// done marks a record finished and moves its partition's commit mark over
// the done prefix.
func (c *coordinator) done(it *item) {
	if it.part.revoked.Load() {
		return // forgotten with its partition
	}
	// The tracker keeps done items until the watermark passes them, which
	// can be long when an earlier record of the partition waits: drop what
	// only a send or a dead letter needed.
	it.rec.key, it.rec.value, it.rec.headers, it.ev.JSON, it.fail = nil, nil, nil, nil, nil
	ps := it.part
	if !ps.offsets.Done(it.rec.offset) {
		return
	}
	// The item itself is let go, and leaves max_buffered_events: it is out
	// of the pipeline. Its tracker entry stays, counted in bytes, until the
	// watermark passes it. Counted as an event, a record done behind
	// another pixel's request in flight would stop every pixel once the
	// events bound filled, for as long as that request takes (a Meta that
	// never answers: capi.timeout, again at every retry).
	freed := it.size - doneBytes
	offset, epoch, n := ps.offsets.AdvanceN()
	if n > 0 {
		c.r.cl.MarkCommitRecords(&kgo.Record{Topic: it.rec.topic, Partition: it.rec.partition,
			LeaderEpoch: epoch, Offset: offset})
		freed += int64(n) * doneBytes
	}
	ps.bytes -= freed
	c.r.free(1, freed)
}

func (c *coordinator) tick(now time.Time) {
	if !c.draining {
		c.wakeParked(now)
		c.maybePark(now)
		for _, b := range c.batcher.Due(now) {
			c.queued[b.Key] = append(c.queued[b.Key], b.Items)
		}
		if len(c.waiting) > 0 && !now.Before(c.nextWait) && c.redisDue(now) {
			w := c.waiting
			c.waiting = nil
			c.nextWait = now.Add(waitRetry)
			c.claim(w)
		}
	}
	c.retryRedis(now)
	if !now.Before(c.nextStates) {
		c.r.refreshStates(now)
		c.nextStates = now.Add(10 * time.Second)
	}
	if len(c.held) > 0 && !now.Before(c.nextRenew) {
		c.renew()
		c.nextRenew = now.Add(c.r.cfg.ClaimLease / 3)
	} else if len(c.held) == 0 {
		c.nextRenew = now.Add(c.r.cfg.ClaimLease / 3)
	}
	if c.sendCtx.Err() == nil {
		c.dispatch(now)
	}
}

// renew extends the leases of every claim we hold, so that they expire only
// if this process dies.
func (c *coordinator) renew() {
	keys := make([]string, 0, len(c.held))
	for it := range c.held {
		keys = append(keys, it.key)
	}
	var lost int
	err := c.redisTry("renew", func(ctx context.Context) error {
		var err error
		lost, err = c.r.deps.Dedup.Renew(ctx, keys)
		return err
	})
	if err != nil {
		return
	}
	if lost > 0 {
		c.r.m.leasesLost.Add(float64(lost))
		c.r.log.Warn("dedup claims expired before they were renewed", "claims", lost)
	}
}

// dispatch starts senders for queued batches, up to the in-flight limit of
// each pixel.
//
// A pixel that Meta blocks (throttled, token refused) gets no sender until
// the block ends: its batches wait here, where parking can take them, not
// in senders asleep through the block.
func (c *coordinator) dispatch(now time.Time) {
	for px, bs := range c.queued {
		if c.r.pixels[px].unblockedAt().After(now) {
			continue
		}
		for len(bs) > 0 && c.inflight[px] < c.r.cfg.MaxInFlightRequests {
			b := bs[0]
			bs[0] = nil
			bs = bs[1:]
			c.inflight[px]++
			c.senders.Add(1)
			ps := c.r.pixels[px]
			go func() {
				defer c.senders.Done()
				c.r.sendBatch(c.sendCtx, ps, b)
			}()
		}
		if len(bs) == 0 {
			delete(c.queued, px)
		} else {
			c.queued[px] = bs
		}
	}
}

// forget drops the unfinished work of partitions that moved away (revoked
// or lost): their records will be read again by the new owner, whose claims
// wait for our sends still in flight.
func (c *coordinator) forget(parts map[string][]int32) {
	gone := map[*partState]bool{}
	for topic, ps := range parts {
		for _, p := range ps {
			k := tp{topic, p}
			if st := c.parts[k]; st != nil {
				st.revoked.Store(true)
				gone[st] = true
				c.r.free(st.offsets.Undone(), st.bytes)
				delete(c.parts, k)
			}
		}
	}
	if len(gone) == 0 {
		return
	}
	isGone := func(it *item) bool { return gone[it.part] }
	dropped := c.batcher.Remove(isGone)
	kept := c.waiting[:0]
	for _, it := range c.waiting {
		if !isGone(it) {
			kept = append(kept, it)
		}
	}
	c.waiting = kept
	keptU := c.unresolved[:0]
	for _, it := range c.unresolved {
		if !isGone(it) {
			keptU = append(keptU, it)
		}
	}
	clear(c.unresolved[len(keptU):])
	c.unresolved = keptU
	c.dropParked(isGone)
	// Senders asleep with the gone partitions' items give them up now.
	c.r.wakeSenders()
	for px, bs := range c.queued {
		var keep [][]*item
		for _, b := range bs {
			var rest []*item
			for _, it := range b {
				if isGone(it) {
					dropped = append(dropped, it)
				} else {
					rest = append(rest, it)
				}
			}
			if len(rest) > 0 {
				keep = append(keep, rest)
			}
		}
		if len(keep) == 0 {
			delete(c.queued, px)
		} else {
			c.queued[px] = keep
		}
	}
	c.release(dropped)
}

// dropBlocked gives up, at the drain, the queued batches of pixels Meta
// blocks past the drain's deadline: no sender would take them before it.
func (c *coordinator) dropBlocked() {
	for px, bs := range c.queued {
		if !c.r.pixels[px].unblockedAt().After(c.drainDeadline) {
			continue
		}
		var rest []*item
		for _, b := range bs {
			rest = append(rest, b...)
		}
		delete(c.queued, px)
		c.release(rest)
	}
}

// abandonRest releases the claims of batches never sent (shutdown).
func (c *coordinator) abandonRest() {
	var rest []*item
	for _, bs := range c.queued {
		for _, b := range bs {
			rest = append(rest, b...)
		}
	}
	c.queued = map[string][][]*item{}
	c.release(rest)
}

// jitter returns a random duration in [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// doneBytes is what a record done behind an unfinished one counts against
// batch.max_buffered_bytes while it waits for the watermark: its 16-byte
// tracker entry, twice for the slack of the tracker's growing slice.
const doneBytes = 32

// itemOverhead is what an item costs besides the bytes it holds: the item
// itself, the strings of its dedup key and ids, its places in the batch,
// claim and send slices, and the allocator's rounding.
const itemOverhead = int64(unsafe.Sizeof(item{})) + 256

// draftFactor estimates a draft (the decoded event, before the identity
// lookup finishes it) from its record's value: only drafts that wait for
// Redis are held.
const draftFactor = 3

// footprint is what an item counts against batch.max_buffered_bytes while
// it is not done: an estimate of the heap it holds, kept honest by
// TestFootprintCoversTheHeap.
func (it *item) footprint() int64 {
	n := itemOverhead + int64(cap(it.rec.key)+cap(it.rec.value)+cap(it.ev.JSON)) +
		int64(len(it.ev.PixelID)+len(it.ev.EventName)+len(it.ev.EventID)+len(it.key))
	for _, h := range it.rec.headers {
		n += int64(len(h.Key)+len(h.Value)) + 32
	}
	if it.draft != nil {
		n += draftFactor * int64(len(it.rec.value))
	}
	if it.fail != nil {
		n += int64(len(it.fail.Message)) + 128
	}
	return n
}
