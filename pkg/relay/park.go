package relay

import (
	"container/heap"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/parking"
)

// Parking (CONTRACT.md, "Parked events"; DESIGN.md property 4). A pixel
// that has failed for ParkAfter while more than half the buffer is taken
// has its buffered events written to the parking topic, and their offsets
// become done: the other pixels' partitions move on. The relay reads the
// parking topic too. A parked event waits (in memory, in parkedWait) until
// its time; then, if its pixel is still blocked by Meta, it is parked again
// for twice as long, else it goes through the pipeline like any event (and
// its dedup claim, taken then, keeps it from being sent twice). Past
// GiveUpAfter since its first failure it is dead-lettered.
//
// Events held in parkedWait count in the buffer, but at most half of it:
// above that the parking topic's fetching pauses, so that parked events
// never hold up the source topics.

// Messages to the coordinator about parking.
type (
	parkMsg    struct{ items []*item } // a parked pixel's sender hands its batches back
	parkAckMsg struct {
		it  *item
		err error
	}
	parkRetryMsg struct{ it *item }
)

// parkedQueue orders parked events by their time (a heap).
type parkedQueue []*item

func (q parkedQueue) Len() int           { return len(q) }
func (q parkedQueue) Less(i, j int) bool { return q[i].parked.Until.Before(q[j].parked.Until) }
func (q parkedQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *parkedQueue) Push(x any)        { *q = append(*q, x.(*item)) }
func (q *parkedQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return it
}

// parkedRecord reads the parking state of a record from the parking topic
// into it, and returns the topic the event first came from, whose format
// and kind it has.
func (r *Relay) parkedRecord(it *item, rec *kgo.Record) *Topic {
	info, source, ok := parking.Parse(rec.Headers)
	if !ok {
		it.fail = &deadletter.Info{Class: deadletter.ClassDecode,
			Message: "a record in the parking topic without freight's park headers (written by someone else?)"}
		return nil
	}
	t := r.topics[source]
	if t == nil {
		it.fail = &deadletter.Info{Class: deadletter.ClassConfig,
			Message: "a parked event from topic " + source + ", which is no longer an input topic"}
		return nil
	}
	it.parked = &info
	it.attempts, it.firstFailure = info.Attempts, info.FirstFailure
	return t
}

// parkedFull reports whether the read-back parked events waiting in memory
// take half the buffer (by events or bytes), or, with half, a quarter.
func (c *coordinator) parkedFull(half bool) bool {
	div := 2
	if half {
		div = 4
	}
	return len(c.parkedWait) >= max(c.r.cfg.MaxBufferedEvents/div, 1) ||
		c.parkedBytes >= c.r.cfg.MaxBufferedBytes/int64(div)
}

// hold keeps a parked event read back before its time.
func (c *coordinator) hold(it *item) {
	heap.Push(&c.parkedWait, it)
	c.parkedBytes += it.size
	c.parkedCount(it.ev.PixelID, +1)
	if !c.parkPaused && c.parkedFull(false) {
		c.parkPaused = true
		c.r.cl.PauseFetchTopics(c.r.cfg.ParkingTopic)
	}
}

func (c *coordinator) parkedCount(pixel string, d int) {
	c.parkedHeld[pixel] += d
	c.r.m.parked.WithLabelValues(pixel).Set(float64(c.parkedHeld[pixel]))
}

// wakeParked takes the parked events whose time has come.
func (c *coordinator) wakeParked(now time.Time) {
	var due []*item
	for len(c.parkedWait) > 0 && !c.parkedWait[0].parked.Until.After(now) {
		it := heap.Pop(&c.parkedWait).(*item)
		c.parkedBytes -= it.size
		c.parkedCount(it.ev.PixelID, -1)
		due = append(due, it)
	}
	if c.parkPaused && !c.parkedFull(true) {
		c.parkPaused = false
		c.r.cl.ResumeFetchTopics(c.r.cfg.ParkingTopic)
	}
	c.dueParked(due, now)
}

// dueParked handles parked events whose time has come: parked again while
// their pixel fails and Meta still blocks it (held here when the block ends
// soon, instead of another write to the parking topic), claimed and sent
// otherwise. A pixel that is only paced (usage near a limit) is no failing
// pixel: its events go to the sender, which waits for the pace.
func (c *coordinator) dueParked(items []*item, now time.Time) {
	var send, again []*item
	for _, it := range items {
		px := c.r.pixels[it.ev.PixelID]
		_, since, _ := px.failure()
		until := px.unblockedAt()
		// A sender of a parked pixel holds a batch only while its request
		// is out: a probe.
		probing := px.isParked() && c.inflight[it.ev.PixelID] > 0
		switch dueAction(since, until, now, c.r.cfg.ParkAfter, probing) {
		case dueSend:
			send = append(send, it)
		case dueHold:
			it.parked.Until = until
			c.hold(it)
		case dueRepark:
			again = append(again, it)
		}
	}
	c.park(again, now)
	c.claim(send)
}

// What becomes of a parked event whose time has come.
const (
	dueSend   = iota // its pixel is served, or only paced: send it
	dueHold          // its pixel is blocked for less than parkAfter: wait here
	dueRepark        // its pixel is blocked for longer: park it again
)

// dueAction decides for a parked event whose pixel has failed since since
// (zero when served) and is blocked by Meta until until; probing is true
// while a request of the pixel, parked, is out. Then the event is parked
// again: sent, it would only wait behind the probe, and with a Meta that
// does not answer, every parked event would come back at its time, fill
// the buffer for a request timeout and be parked again.
func dueAction(since, until, now time.Time, parkAfter time.Duration, probing bool) int {
	switch {
	case since.IsZero():
		return dueSend
	case probing:
		return dueRepark
	case !until.After(now):
		return dueSend
	case until.Sub(now) < parkAfter:
		return dueHold
	}
	return dueRepark
}

// maybePark parks the buffered events of every pixel that has failed for
// ParkAfter, when more than half the buffer is taken: half of what parked
// events read back and waiting for their time leave, so that a second
// failing pixel is parked too while the first one's events wait here.
//
// A failing pixel that Meta no longer blocks, with nothing in flight, is
// left alone for a tick: its batches go out as a probe, which either
// succeeds (the pixel is served again) or fails and blocks it again.
func (c *coordinator) maybePark(now time.Time) {
	if c.draining || c.r.cfg.ParkingTopic == "" {
		return
	}
	over := overHalf(c.r.buffered.Load(), int64(len(c.parkedWait)), int64(c.r.cfg.MaxBufferedEvents)) ||
		overHalf(c.r.bufferedBytes.Load(), c.parkedBytes, c.r.cfg.MaxBufferedBytes)
	for id, px := range c.r.pixels {
		blocked := px.unblockedAt().After(now)
		// A parked pixel that Meta still blocks has its new events parked
		// too, however full the buffer: held here, they would keep their
		// partitions from committing until the block ends.
		if !(px.isParked() && blocked) {
			if !over || px.blockedFor(now) < c.r.cfg.ParkAfter {
				continue
			}
			if !blocked && c.inflight[id] == 0 {
				continue // probe
			}
		}
		// Everything of the pixel not in a sender's hands; its senders
		// hand theirs back (parkMsg) as soon as they wait.
		items := c.batcher.Take(id)
		for _, b := range c.queued[id] {
			items = append(items, b...)
		}
		delete(c.queued, id)
		if len(items) == 0 && px.isParked() {
			continue
		}
		before, after := px.park(c.r.now())
		c.r.stateChanged(px, before, after)
		c.park(items, now)
	}
}

// overHalf reports whether source events (buffered minus the parked ones
// read back) take more than half the space the parked ones leave, in events
// or in bytes.
func overHalf(buffered, parked, max int64) bool {
	return 2*(buffered-parked) > max-parked
}

// park writes items to the parking topic, or dead-letters those past
// GiveUpAfter or too old to send. Their claims are released: nothing was
// sent, and a parked event is claimed anew when it comes back.
func (c *coordinator) park(items []*item, now time.Time) {
	if len(items) == 0 {
		return
	}
	c.release(items)
	for _, it := range items {
		if it.part.revoked.Load() {
			continue // the new owner reads the record again
		}
		px := c.r.pixels[it.ev.PixelID]
		reason, _, code := px.failure()
		if reason == "" {
			reason = ReasonUnavailable
		}
		// Give-up counts from the event's own first failure; an event never
		// tried counts from now, not from its pixel's failure, which may
		// be hours old and have nothing to do with it.
		first := it.firstFailure
		if first.IsZero() {
			first = now
		}
		info := parking.Info{Reason: reason, Count: 1, FirstFailure: first, Attempts: it.attempts}
		if it.parked != nil {
			info.Count = it.parked.Count + 1
		}
		info.Until = now.Add(parking.Wait(info.Count, c.r.cfg.ParkAfter, c.r.cfg.MaxBackoff))
		switch {
		case now.After(it.ev.Deadline()):
			it.fail = &deadletter.Info{Class: deadletter.ClassTooOld,
				Message: "the event became older than Meta accepts while its pixel could not be served"}
		case reason != ReasonDeprecated && now.Sub(first) >= c.r.cfg.GiveUpAfter:
			class := deadletter.ClassRetriesExhausted
			if reason == ReasonAuth {
				class = deadletter.ClassAuth
			}
			it.fail = &deadletter.Info{Class: class, Code: code,
				Message: "pixel " + px.ID + " could not be served (" + reason + ") for longer than retry.give_up_after"}
		}
		if it.fail != nil {
			it.fail.PixelID, it.fail.EventID, it.fail.EventName = it.ev.PixelID, it.ev.EventID, it.ev.EventName
			it.fail.FailedAt = now
			c.deadLetter(it)
			continue
		}
		it.parked = &info
		c.writeParked(it)
	}
}

func (c *coordinator) writeParked(it *item) {
	rec := parking.Record(c.r.cfg.ParkingTopic, it.rec.kafka(), *it.parked)
	if limit := int(c.r.recordLimit.Load()); limit > 0 && deadletter.Size(rec) > limit {
		c.cannotPark(it, fmt.Sprintf("the record with its park headers (%d bytes) is larger than the parking topic takes (%d)",
			deadletter.Size(rec), limit))
		return
	}
	c.parkInFlight++
	// TryProduce: the coordinator must never block on a producer buffer
	// that a broker outage keeps full; a full buffer is retried.
	c.r.cl.TryProduce(c.sendCtx, rec, func(_ *kgo.Record, err error) { c.r.box.post(parkAckMsg{it: it, err: err}) })
}

// cannotPark dead-letters an event that the parking topic will not take,
// with the class its pixel's failure would give it at give-up: parking is
// the only way past a pixel that cannot be served, and a dead letter is
// replayed once the pixel is fixed.
func (c *coordinator) cannotPark(it *item, why string) {
	reason, _, code := c.r.pixels[it.ev.PixelID].failure()
	class := deadletter.ClassRetriesExhausted
	if reason == ReasonAuth {
		class = deadletter.ClassAuth
	}
	it.fail = &deadletter.Info{Class: class, Code: code, PixelID: it.ev.PixelID, EventID: it.ev.EventID, EventName: it.ev.EventName,
		FailedAt: c.r.now(), Message: "pixel " + it.ev.PixelID + " could not be served (" + reason + ") and its event could not be parked: " + why}
	c.r.m.parkFailed.Inc()
	c.deadLetter(it)
}

func (c *coordinator) parkAck(m parkAckMsg) {
	c.parkInFlight--
	if m.err != nil {
		if m.it.part.revoked.Load() || c.sendCtx.Err() != nil {
			return // the new owner, or the restart, reads the record again
		}
		if deadletter.TooLarge(m.err) {
			c.cannotPark(m.it, "the parking topic refused it as too large: "+m.err.Error())
			return
		}
		retryIn, failingFor := c.produceFailed(m.it)
		if failingFor >= c.r.cfg.GiveUpAfter {
			c.cannotPark(m.it, "parking writes failed for longer than retry.give_up_after: "+m.err.Error())
			return
		}
		c.warnEvery("parking", "parking writes fail; retrying", "topic", m.it.rec.topic, "partition", m.it.rec.partition,
			"offset", m.it.rec.offset, "failing_for", failingFor.Round(time.Millisecond), "err", m.err)
		time.AfterFunc(retryIn, func() { c.r.box.post(parkRetryMsg{m.it}) })
		return
	}
	if !m.it.part.revoked.Load() {
		c.r.m.parkedTotal.WithLabelValues(m.it.ev.PixelID, m.it.parked.Reason).Inc()
	}
	c.done(m.it)
}

// dropParked forgets the held parked events of partitions that moved away.
func (c *coordinator) dropParked(gone func(*item) bool) {
	kept := c.parkedWait[:0]
	for _, it := range c.parkedWait {
		if gone(it) {
			c.parkedCount(it.ev.PixelID, -1)
			c.parkedBytes -= it.size
		} else {
			kept = append(kept, it)
		}
	}
	for i := len(kept); i < len(c.parkedWait); i++ {
		c.parkedWait[i] = nil
	}
	c.parkedWait = kept
	heap.Init(&c.parkedWait)
}
