package integration

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/kafkatest"
	"github.com/freight-relay/freight/pkg/parking"
)

// parkingConfig is a small buffer and a short park_after, so that a blocked
// pixel fills the buffer and is parked within the test.
func parkingConfig(e *env) config.Config {
	cfg := e.config()
	cfg.Batch.MaxBufferedEvents = 100
	cfg.Batch.MaxEvents = 20
	cfg.Retry.ParkAfter = 300 * time.Millisecond
	cfg.Retry.MaxBackoff = time.Second
	cfg.Retry.GiveUpAfter = time.Hour
	return cfg
}

// mixed returns n events of each pixel, interleaved over the partitions.
func mixed(n int, partitions int32, pixels ...string) ([]*kgo.Record, map[string][]string) {
	var recs []*kgo.Record
	ids := map[string][]string{}
	for i := range n {
		for _, px := range pixels {
			id := fmt.Sprintf("%s-%d", px[:1], i)
			ids[px] = append(ids[px], id)
			recs = append(recs, webEvent(id, px).record(webT, int32(i)%partitions))
		}
	}
	return recs, ids
}

// With pixel A's token revoked and the buffer small, pixel B's events are
// delivered and the source offsets committed while A's events are parked;
// once Meta accepts A again, every parked event is delivered exactly once.
func TestParkingKeepsOtherPixelsFlowing(t *testing.T) {
	e := newEnv(t, 2)
	cfg := parkingConfig(e)
	e.meta.SetPixelFault(pixelA, capitest.FaultAuth)
	in := e.start(cfg)

	recs, ids := mixed(400, 2, pixelA, pixelB)
	e.kafka.Produce(recs...)
	kafkatest.Eventually(t, wait, "pixel B's events at Meta", func() bool {
		return e.meta.Total() == len(ids[pixelB])
	})
	kafkatest.Eventually(t, wait, "the source topic committed past pixel A's events", func() bool {
		return e.kafka.CaughtUp(cfg.Kafka.Group, webT)
	})
	e.assertOnce(pixelB, ids[pixelB]...)
	if n := in.counter("freight_events_parked_total", "pixel", pixelA, "reason", "auth"); n < float64(len(ids[pixelA])) {
		t.Errorf("freight_events_parked_total{pixel A, auth} = %v, want at least %d", n, len(ids[pixelA]))
	}
	if n := in.counter("freight_events_parked_total", "pixel", pixelB); n != 0 {
		t.Errorf("%v of pixel B's events were parked", n)
	}
	if n := in.counter("freight_pixel_state", "pixel", pixelA, "state", "parked"); n != 1 {
		t.Errorf("pixel A's state gauge for parked = %v, want 1", n)
	}
	parkedRecs := e.kafka.ReadAll(parkT)
	if len(parkedRecs) == 0 {
		t.Fatal("the parking topic is empty")
	}
	for _, r := range parkedRecs[:1] {
		info, source, ok := parking.Parse(r.Headers)
		if !ok || source != webT || info.Reason != "auth" || info.Until.IsZero() {
			t.Errorf("a parked record's headers: %+v from %q (ok %v)", info, source, ok)
		}
		if deadletter.Header(r, deadletter.HeaderSourceOffset) == "" {
			t.Error("a parked record does not name its source offset")
		}
	}

	e.meta.ClearPixelFault(pixelA)
	kafkatest.Eventually(t, wait, "pixel A's parked events at Meta", func() bool {
		return e.meta.Total() == len(ids[pixelA])+len(ids[pixelB])
	})
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids[pixelA]...)
	if n := len(e.deadLetters()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	if n := in.counter("freight_pixel_state", "pixel", pixelA, "state", "ok"); n != 1 {
		t.Errorf("pixel A's state gauge for ok = %v, want 1 after it recovered", n)
	}
}

// A pixel whose requests Meta never answers (each times out: a transient
// failure, which blocks nothing) is parked like a refused one. Its batches
// in flight when the pixel is parked come back to be parked once their
// requests time out, instead of being retried in the sender forever: held
// there, they kept the buffer full (done records behind them count), and
// every pixel stopped.
func TestParkingTakesAPixelWhoseRequestsNeverAnswer(t *testing.T) {
	e := newEnv(t, 2)
	cfg := parkingConfig(e)
	cfg.CAPI.Timeout = 300 * time.Millisecond
	e.meta.SetPixelFault(pixelA, capitest.FaultTimeout)
	in := e.start(cfg)

	recs, ids := mixed(400, 2, pixelA, pixelB)
	e.kafka.Produce(recs...)
	kafkatest.Eventually(t, wait, "pixel B's events at Meta", func() bool {
		return e.meta.Total() == len(ids[pixelB])
	})
	kafkatest.Eventually(t, wait, "the source topic committed past pixel A's events", func() bool {
		return e.kafka.CaughtUp(cfg.Kafka.Group, webT)
	})
	e.assertOnce(pixelB, ids[pixelB]...)
	if n := in.counter("freight_events_parked_total", "pixel", pixelA, "reason", "unavailable"); n < float64(len(ids[pixelA])) {
		t.Errorf("freight_events_parked_total{pixel A, unavailable} = %v, want at least %d", n, len(ids[pixelA]))
	}
	if got := e.meta.Requests().Transient; got == 0 {
		t.Error("no request of pixel A's was held until it timed out; the test proves nothing")
	}

	e.meta.ClearPixelFault(pixelA)
	kafkatest.Eventually(t, wait, "pixel A's parked events at Meta", func() bool {
		return e.meta.Total() == len(ids[pixelA])+len(ids[pixelB])
	})
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids[pixelA]...)
	if n := len(e.deadLetters()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

// The bytes bound parks a stuck pixel that the events bound never would:
// 1,500 events of pixel A whose requests never answer take several MiB,
// far below max_buffered_events but over max_buffered_bytes (1 MiB).
// Fetching pauses at the bound (the bytes gauge, sampled, never exceeds it
// by more than a poll's estimate), A is parked, B is delivered meanwhile,
// and A once Meta answers again.
func TestTheBytesBoundParksAStuckPixel(t *testing.T) {
	e := newEnv(t, 2)
	cfg := e.config()
	cfg.Batch.MaxBufferedBytes = 1 << 20
	cfg.Batch.MaxEvents = 20
	cfg.Retry.ParkAfter = 300 * time.Millisecond
	cfg.Retry.MaxBackoff = time.Second
	cfg.Retry.GiveUpAfter = time.Hour
	cfg.CAPI.Timeout = 300 * time.Millisecond
	e.meta.SetPixelFault(pixelA, capitest.FaultTimeout)
	in := e.start(cfg)

	recs, ids := mixed(1500, 2, pixelA, pixelB)
	e.kafka.Produce(recs...)
	var peak float64
	kafkatest.Eventually(t, wait, "pixel B's events at Meta, the source topic committed", func() bool {
		peak = max(peak, in.counter("freight_buffered_bytes"))
		return e.meta.Total() == len(ids[pixelB]) && e.kafka.CaughtUp(cfg.Kafka.Group, webT)
	})
	if peak > float64(cfg.Batch.MaxBufferedBytes)+64<<10 {
		t.Errorf("freight_buffered_bytes peaked at %.0f, the bound is %d", peak, cfg.Batch.MaxBufferedBytes)
	}
	if peak < float64(cfg.Batch.MaxBufferedBytes)/2 {
		t.Errorf("freight_buffered_bytes peaked at %.0f: the bound was never approached; the test proves nothing", peak)
	}
	if n := in.counter("freight_buffered_events"); n >= float64(cfg.Batch.MaxBufferedEvents)/2 {
		t.Fatalf("%v events buffered: the events bound, not the bytes bound, did the parking", n)
	}
	if n := in.counter("freight_events_parked_total", "pixel", pixelA); n < float64(len(ids[pixelA])) {
		t.Errorf("%v of pixel A's %d events parked", n, len(ids[pixelA]))
	}
	e.meta.ClearPixelFault(pixelA)
	kafkatest.Eventually(t, wait, "pixel A's parked events at Meta", func() bool {
		return e.meta.Total() == len(ids[pixelA])+len(ids[pixelB])
	})
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids[pixelA]...)
	e.assertOnce(pixelB, ids[pixelB]...)
}

// A parked pixel whose token is fixed while other pixels keep the buffer
// over half full is tried again (a probe), and its parked events are
// delivered, not parked round and round until they are dead-lettered.
func TestParkedPixelRecoversUnderLoad(t *testing.T) {
	e := newEnv(t, 2)
	cfg := parkingConfig(e)
	// Pixel B's backlog lasts longer than give_up_after: without a probe,
	// pixel A's events would be parked until they are given up.
	cfg.Retry.GiveUpAfter = 4 * time.Second
	cfg.Batch.MaxInFlightRequests = 1
	e.meta.SetPixelFault(pixelA, capitest.FaultAuth)
	in := e.start(cfg)
	recs, ids := mixed(100, 2, pixelA)
	e.kafka.Produce(recs...)
	kafkatest.Eventually(t, wait, "pixel A to be parked", func() bool {
		return in.counter("freight_events_parked_total", "pixel", pixelA) > 0
	})
	// A backlog of pixel B keeps the buffer full from now on: one request
	// of 20 events at a time, each taking 50 ms, about 8 s for them all.
	e.meta.SetDelay(50 * time.Millisecond)
	backlog, bIDs := batchOf("b", 0, 3000, pixelB, 2)
	e.kafka.Produce(backlog...)
	kafkatest.Eventually(t, wait, "the buffer to fill with pixel B's events", func() bool {
		return in.counter("freight_buffered_events") > float64(cfg.Batch.MaxBufferedEvents)/2
	})
	e.meta.ClearPixelFault(pixelA)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids[pixelA]...)
	e.assertOnce(pixelB, bIDs...)
	if n := len(e.kafka.ReadAll(dlqT)); n != 0 {
		t.Errorf("%d dead letters: a recovered pixel's parked events were given up", n)
	}
}

// A pixel blocked past retry.give_up_after ends in the dead-letter topic
// with class auth, every event once, naming the topic it first came from.
func TestParkedPixelPastGiveUpIsDeadLetteredAuth(t *testing.T) {
	e := newEnv(t, 2)
	cfg := parkingConfig(e)
	cfg.Retry.GiveUpAfter = 3 * time.Second
	e.meta.SetPixelFault(pixelA, capitest.FaultAuth)
	e.start(cfg)
	recs, ids := mixed(200, 2, pixelA, pixelB)
	e.kafka.Produce(recs...)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelB, ids[pixelB]...)
	if n := len(e.kafka.ReadAll(dlqT)); n != len(ids[pixelA]) {
		t.Fatalf("%d dead-letter records, want one for each of pixel A's %d events", n, len(ids[pixelA]))
	}
	dl := e.deadLetters()
	parked := 0
	for _, id := range ids[pixelA] {
		r := dl[id]
		if r == nil {
			t.Fatalf("%s not dead-lettered", id)
		}
		if c := deadletter.Header(r, deadletter.HeaderClass); c != deadletter.ClassAuth {
			t.Errorf("%s: class %q, want auth", id, c)
		}
		if s := deadletter.Header(r, deadletter.HeaderSourceTopic); s != webT {
			t.Errorf("%s: source topic %q, want %s", id, s, webT)
		}
		if deadletter.Header(r, parking.HeaderUntil) != "" {
			parked++
		}
	}
	if parked == 0 {
		t.Error("no dead letter went through the parking topic: the test did not park")
	}
}

// A relay killed (SIGKILL) while it parks a pixel's events loses none and
// sends none twice: source records parked but not committed are read again
// after the restart (and sent, the pixel being served again by then) while
// their parked copies come back from the parking topic too; the dedup keeps
// the copies from reaching Meta twice.
func TestCrashWhileParkingLosesNothingAndDuplicatesNothing(t *testing.T) {
	e := newEnv(t, 2)
	cfg := parkingConfig(e)
	cfg.Kafka.InstanceID = "freight-0"
	e.meta.SetPixelFault(pixelA, capitest.FaultAuth)
	recs, ids := mixed(300, 2, pixelA, pixelB)
	e.kafka.Produce(recs...)

	first := e.runProcess(cfg, nil)
	kafkatest.Eventually(t, wait, "parking to start", func() bool { return len(e.kafka.ReadAll(parkT)) > 0 })
	// Meta now holds every request, and we kill once every event it
	// accepted is confirmed: a kill between Meta's answer and the confirm
	// is the one duplicate no sender can prevent (the contract's
	// exception), not what this test is about.
	e.meta.SetDelay(time.Hour)
	kafkatest.Eventually(t, wait, "every accepted event to be confirmed", func() bool {
		return e.confirmedKeys() == e.meta.Total()
	})
	first.signal(syscall.SIGKILL)
	first.exitCode()
	// How many parked events will also be read again from their source:
	// the copies the dedup must keep apart. Whether the kill fell before
	// or after a commit is up to the clock, so it is reported, not
	// asserted.
	committed := e.kafka.Committed(cfg.Kafka.Group)[webT]
	overlap := 0
	for _, r := range e.kafka.ReadAll(parkT) {
		p, _ := strconv.Atoi(deadletter.Header(r, deadletter.HeaderSourcePartition))
		o, _ := strconv.ParseInt(deadletter.Header(r, deadletter.HeaderSourceOffset), 10, 64)
		if o >= committed[int32(p)] {
			overlap++
		}
	}
	t.Logf("killed with %d records in the parking topic (%d of them also uncommitted at their source), %d events at Meta",
		len(e.kafka.ReadAll(parkT)), overlap, e.meta.Total())

	e.meta.SetDelay(0)
	e.meta.ClearPixelFault(pixelA)
	second := e.runProcess(cfg, nil)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids[pixelA]...)
	e.assertOnce(pixelB, ids[pixelB]...)
	if want := len(ids[pixelA]) + len(ids[pixelB]); e.meta.Total() != want {
		t.Errorf("Meta accepted %d events, want %d", e.meta.Total(), want)
	}
	second.signal(syscall.SIGTERM)
	if code := second.exitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}

// With start_offset latest, a parking partition the group never committed
// (its parked events still wait for their time, so none is done) must not
// restart at the end after a crash: its parked events would be skipped, for
// good, their source offsets being committed already. The relay commits
// where it starts reading each partition, so the restart reads them again.
func TestParkedEventsSurviveACrashWithStartOffsetLatest(t *testing.T) {
	e := newEnv(t, 1)
	cfg := parkingConfig(e)
	cfg.Kafka.StartOffset = config.StartOffsetLatest
	cfg.Kafka.InstanceID = "freight-0"
	heldBy := func(p *proc) bool {
		return strings.Contains(p.get("/metrics"), `freight_parked_events{pixel="`+pixelA+`"} 1`)
	}
	first := e.runProcess(cfg, nil)
	kafkatest.Eventually(t, wait, "the first instance to own the parking partition", func() bool {
		as := e.kafka.Assignments(cfg.Kafka.Group)
		return len(as) == 1 && as[0][parkT] == 1
	})
	// An event parked (by this instance, say) that waits another hour: no
	// relay here finishes it during the test.
	src := webEvent("held-1", pixelA).record(webT, 0)
	src.Timestamp = time.Now()
	e.kafka.Produce(parking.Record(parkT, src, parking.Info{Until: time.Now().Add(time.Hour), Reason: "auth", Count: 1,
		FirstFailure: time.Now().Add(-time.Minute)}))
	kafkatest.Eventually(t, wait, "the first instance to hold the parked event", func() bool { return heldBy(first) })
	kafkatest.Eventually(t, wait, "the parking partition committed where reading started", func() bool {
		_, ok := e.kafka.Committed(cfg.Kafka.Group)[parkT][0]
		return ok
	})
	first.signal(syscall.SIGKILL)
	first.exitCode()

	second := e.runProcess(cfg, nil)
	kafkatest.Eventually(t, wait, "the restarted instance to hold the parked event again", func() bool { return heldBy(second) })
	second.signal(syscall.SIGTERM)
	if code := second.exitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}
