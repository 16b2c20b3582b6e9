package integration

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/kafkatest"
)

func batchOf(prefix string, from, to int, pixel string, partitions int32) ([]*kgo.Record, []string) {
	var recs []*kgo.Record
	var ids []string
	for i := from; i < to; i++ {
		id := fmt.Sprintf("%s%d", prefix, i)
		ids = append(ids, id)
		recs = append(recs, webEvent(id, pixel).record(webT, int32(i)%partitions))
	}
	return recs, ids
}

// With on_error block, a Redis outage pauses the pipeline: nothing is sent
// without a claim, nothing is skipped, and everything goes through once
// Redis is back. Readiness reports the outage.
func TestRedisOutageWithBlockLosesNothing(t *testing.T) {
	e := newEnv(t, 2)
	rs := newPrivateRedis(t)
	cfg := e.config()
	cfg.Redis.URL = rs.url()
	cfg.Redis.OnError = config.OnErrorBlock
	in := e.start(cfg)

	recs, ids := batchOf("o", 0, 40, pixelA, 2)
	e.kafka.Produce(recs...)
	e.waitCaughtUp(cfg)

	rs.stop()
	kafkatest.Eventually(t, wait, "/readyz to report the outage", func() bool {
		return status(t, "http://"+in.addr+"/readyz") == http.StatusServiceUnavailable
	})
	recs, more := batchOf("o", 40, 100, pixelA, 2)
	e.kafka.Produce(recs...)
	kafkatest.Eventually(t, wait, "the relay to hit the outage", func() bool {
		return in.counter("freight_redis_errors_total") > 0
	})
	if got := e.meta.Total(); got != 40 {
		t.Fatalf("%d events reached Meta during the outage; want none beyond the first 40", got-40)
	}
	rs.start()
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, append(ids, more...)...)
	if n := len(e.deadLetters()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	if got := status(t, "http://"+in.addr+"/readyz"); got != http.StatusOK {
		t.Errorf("/readyz = %d after Redis came back", got)
	}
}

// With on_error fail_open, events keep flowing without dedup while Redis is
// away, and the relay counts them.
func TestRedisOutageWithFailOpenKeepsSending(t *testing.T) {
	e := newEnv(t, 1)
	rs := newPrivateRedis(t)
	cfg := e.config()
	cfg.Redis.URL = rs.url()
	cfg.Redis.OnError = config.OnErrorFailOpen
	in := e.start(cfg)
	rs.stop()
	recs, ids := batchOf("f", 0, 30, pixelA, 1)
	e.kafka.Produce(recs...)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids...)
	if got := in.counter("freight_dedup_fail_open_total"); got != 30 {
		t.Errorf("freight_dedup_fail_open_total = %v, want 30", got)
	}
}

// A send that takes longer than the claim lease keeps its claim (the holder
// renews it), so a copy of the event waiting for the claim is dropped as a
// duplicate instead of being sent a second time.
func TestClaimIsRenewedDuringASlowSend(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	cfg.Dedup.ClaimLease = time.Second
	cfg.CAPI.Timeout = 10 * time.Second
	e.meta.SetDelay(3 * time.Second)
	in := e.start(cfg)
	e.kafka.Produce(webEvent("slow", pixelA).record(webT, 0), crmEvent("slow", pixelA).record(crmT, 0))
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, "slow")
	if got := in.counter("freight_events_deduplicated_total"); got != 1 {
		t.Errorf("deduplicated = %v, want 1", got)
	}
}

// Instances join and leave while events flow and sends are in flight:
// nothing is lost, nothing is sent twice, everything is committed.
func TestRebalanceLosesNothingAndSendsNothingTwice(t *testing.T) {
	e := newEnv(t, 4)
	cfg := e.config()
	e.meta.SetDelay(30 * time.Millisecond)
	a := e.start(cfg)

	// A producer writes steadily while members come and go.
	var (
		mu   sync.Mutex
		all  []string
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for n := 0; ; n += 8 {
			select {
			case <-stop:
				return
			default:
			}
			recs, ids := batchOf("r", n, n+8, pixelA, 4)
			e.kafka.Produce(recs...)
			mu.Lock()
			all = append(all, ids...)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond) // pacing of the producer, not a wait for a result
		}
	}()
	kafkatest.Eventually(t, wait, "first deliveries", func() bool { return e.meta.Total() > 0 })
	b := e.start(cfg)
	kafkatest.Eventually(t, wait, "the second instance to consume", func() bool {
		return b.counter("freight_records_consumed_total") > 0
	})
	if err := a.stop(); err != nil {
		t.Fatalf("stopping the first instance: %v", err)
	}
	c := e.start(cfg)
	kafkatest.Eventually(t, wait, "the third instance to consume", func() bool {
		return c.counter("freight_records_consumed_total") > 0
	})
	close(stop)
	<-done
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, all...)
	if e.meta.Total() != len(all) {
		t.Errorf("Meta accepted %d events, want %d", e.meta.Total(), len(all))
	}
}

// While a pixel cannot be served, at most max_buffered_events records are
// held: fetching pauses, and resumes when the pixel recovers.
func TestBufferIsBoundedWhileAPixelIsBlocked(t *testing.T) {
	e := newEnv(t, 2)
	cfg := e.config()
	cfg.Batch.MaxBufferedEvents = 20
	cfg.Batch.MaxEvents = 10
	cfg.Retry.GiveUpAfter = time.Hour
	e.meta.SetPixelFault(pixelA, capitest.FaultAuth)
	in := e.start(cfg)
	recs, ids := batchOf("m", 0, 200, pixelA, 2)
	e.kafka.Produce(recs...)
	kafkatest.Eventually(t, wait, "the buffer to fill", func() bool {
		return in.counter("freight_buffered_events") == 20
	})
	before := in.counter("freight_capi_requests_total", "outcome", "auth")
	kafkatest.Eventually(t, wait, "more retries", func() bool {
		return in.counter("freight_capi_requests_total", "outcome", "auth") >= before+3
	})
	if got := in.counter("freight_records_consumed_total"); got > 20 {
		t.Fatalf("consumed %v records with the buffer capped at 20", got)
	}
	e.meta.ClearPixelFault(pixelA)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids...)
}

func status(t *testing.T, url string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A wrong app secret makes Meta refuse every request (code 100 without a
// subcode, GraphMethodException: "Invalid appsecret_proof"). That is the
// pixel's fault, not its events': nothing is split or dead-lettered, the
// pixel shows auth_error, and once the secret is fixed every event is
// delivered once. Taken as event rejection, all 60 were dead-lettered.
func TestAWrongAppSecretIsAPixelFaultNotRejection(t *testing.T) {
	e := newEnv(t, 1)
	e.meta, e.metaURL = capitest.NewHTTPTest(t, capitest.Options{
		Tokens: map[string]string{pixelA: tokenA, pixelB: tokenB}, AppSecret: "the-right-app-secret"})
	e.envs["APP_SECRET"] = "a-wrong-app-secret"
	cfg := e.config()
	cfg.CAPI.AppSecretEnv = "APP_SECRET"
	cfg.Retry.GiveUpAfter = time.Hour
	recs, ids := batchOf("s", 0, 60, pixelA, 1)
	e.kafka.Produce(recs...)

	first := e.start(cfg)
	kafkatest.Eventually(t, wait, "pixel A in state auth_error", func() bool {
		return first.counter("freight_pixel_state", "pixel", pixelA, "state", "auth_error") == 1
	})
	if got := e.meta.Requests().Auth; got == 0 {
		t.Fatal("Meta refused no request; the test proves nothing")
	}
	if err := first.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if n := len(e.deadLetters()); n != 0 {
		t.Fatalf("%d dead letters for a wrong app secret", n)
	}
	if n := e.meta.Total(); n != 0 {
		t.Fatalf("Meta accepted %d events with a wrong app secret", n)
	}

	e.envs["APP_SECRET"] = "the-right-app-secret"
	e.start(cfg)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids...)
	if n := len(e.deadLetters()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}
