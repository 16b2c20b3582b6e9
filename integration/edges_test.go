package integration

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/dlq"
	"github.com/freight-relay/freight/pkg/kafkatest"
	"github.com/freight-relay/freight/pkg/parking"
)

// Edges of the guarantees (issue "Guarantees at the edges"): a fault during
// shutdown, a revoke during an outage, a parking partition never committed.

// Events parked by an instance that died before the group's first commit
// on the parking partition (the state a SIGKILL right after parking, or a
// rebalance that moved the partition, leaves) are read with start_offset
// latest: the parking topic always starts at its beginning without a
// commit. The input topic still starts at its end.
func TestParkedEventsWithoutACommitAreReadWithStartOffsetLatest(t *testing.T) {
	e := newEnv(t, 2)
	cfg := parkingConfig(e)
	cfg.Kafka.StartOffset = config.StartOffsetLatest
	var parked []*kgo.Record
	var ids []string
	for i := range 40 {
		id := fmt.Sprintf("p%d", i)
		ids = append(ids, id)
		src := webEvent(id, pixelA).record(webT, int32(i%2))
		src.Timestamp, src.Offset = time.Now(), int64(i/2)
		rec := parking.Record(parkT, src, parking.Info{Until: time.Now().Add(-time.Second), Reason: "auth", Count: 1,
			FirstFailure: time.Now().Add(-time.Minute)})
		rec.Partition = int32(i % 2)
		parked = append(parked, rec)
	}
	e.kafka.Produce(parked...)
	// Old input records: start_offset latest skips them.
	old, oldIDs := batchOf("old", 0, 10, pixelB, 2)
	e.kafka.Produce(old...)

	in := e.start(cfg)
	kafkatest.Eventually(t, wait, "every parked event at Meta", func() bool { return e.meta.Total() >= len(ids) })
	kafkatest.Eventually(t, wait, "the group to join", func() bool { return in.counter("freight_ready") == 1 })
	fresh, freshIDs := batchOf("new", 0, 10, pixelB, 2)
	e.kafka.Produce(fresh...)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids...)
	e.assertOnce(pixelB, freshIDs...)
	for _, id := range oldIDs {
		if n := e.meta.Count(pixelB, "Purchase", id); n != 0 {
			t.Errorf("%s, produced before a start_offset latest group joined, was sent %d times", id, n)
		}
	}
	if n := len(e.deadLetters()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

// Records done behind an unfinished head stay held until the watermark
// passes them: they leave the events bound (they are out of the pipeline)
// but count against the bytes bound, at the size of their tracker entry; a
// revoke gives back exactly what the moved partitions held, and once
// everything is committed both gauges are back at zero. Counting a record
// twice made the gauge negative and loosened the bound; not counting done
// records let a stuck head grow memory without bound.
func TestRevokeCountsEveryRecordHeld(t *testing.T) {
	e := newEnv(t, 2)
	cfg := e.config()
	cfg.Kafka.Topics = []config.Topic{{Name: webT, Kind: "web", Format: "json"}}
	cfg.Retry.ParkAfter = time.Hour
	e.meta.SetPixelFault(pixelA, capitest.FaultAuth)
	first := e.start(cfg)
	// Each partition: one event of pixel A (refused, so it stays the
	// head), then 50 of pixel B, done behind it.
	var recs []*kgo.Record
	for p := range int32(2) {
		recs = append(recs, webEvent(fmt.Sprintf("head%d", p), pixelA).record(webT, p))
		for i := range 50 {
			recs = append(recs, webEvent(fmt.Sprintf("b%d-%d", p, i), pixelB).record(webT, p))
		}
	}
	e.kafka.Produce(recs...)
	kafkatest.Eventually(t, wait, "pixel B's events at Meta", func() bool { return e.meta.Total() == 100 })
	kafkatest.Eventually(t, wait, "the two heads left in the pipeline", func() bool { return first.counter("freight_buffered_events") == 2 })
	// The two heads are items; the 100 done records only tracker entries.
	const doneBytes = 32
	if b := first.counter("freight_buffered_bytes"); b < 2*500+100*doneBytes || b > 2*8000+100*doneBytes {
		t.Errorf("freight_buffered_bytes = %v for 2 held events and 100 done records", b)
	}

	second := e.start(cfg)
	kafkatest.Eventually(t, wait, "the partitions to be shared", func() bool {
		as := e.kafka.Assignments(cfg.Kafka.Group)
		return len(as) == 2 && as[0][webT] == 1 && as[1][webT] == 1
	})
	// Each instance holds its partition's head and the 50 records behind
	// it; the second one drops the B events it reads again as duplicates.
	kafkatest.Eventually(t, wait, "one partition's records held in each instance", func() bool {
		return first.counter("freight_buffered_events") == 1 && second.counter("freight_buffered_events") == 1 &&
			first.counter("freight_buffered_bytes") >= 500+50*doneBytes && second.counter("freight_buffered_bytes") >= 500+50*doneBytes
	})
	if b := first.counter("freight_buffered_bytes"); b > 8000+50*doneBytes {
		t.Errorf("freight_buffered_bytes = %v after the revoke, for 1 held event and 50 done records", b)
	}
	e.meta.ClearPixelFault(pixelA)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, "head0", "head1")
	for _, in := range []*instance{first, second} {
		kafkatest.Eventually(t, wait, "both gauges back at zero once everything is committed", func() bool {
			return in.counter("freight_buffered_events") == 0 && in.counter("freight_buffered_bytes") == 0
		})
	}
}

// SIGTERM while Redis does not answer (on_error: block) exits within
// shutdown_timeout, with exit code 0, committing only what is done; after
// Redis and freight are back, every event is delivered once. With identity
// off the claim is the stage that meets the outage, with it on the identity
// lookup.
func TestSIGTERMDuringARedisOutageExitsWithinTheTimeout(t *testing.T) {
	for _, identity := range []bool{false, true} {
		t.Run(fmt.Sprintf("identity=%v", identity), func(t *testing.T) {
			e := newEnv(t, 2)
			rs := newPrivateRedis(t)
			cfg := e.config()
			cfg.Redis.URL = rs.url()
			cfg.Redis.OnError = config.OnErrorBlock
			cfg.Identity.Enabled = identity
			cfg.ShutdownTimeout = 3 * time.Second
			cfg.Kafka.InstanceID = "freight-0"
			recs, ids := batchOf("r", 0, 40, pixelA, 2)
			e.kafka.Produce(recs...)
			p := e.runProcess(cfg, nil)
			e.waitCaughtUp(cfg)

			rs.stop()
			more, moreIDs := batchOf("r", 40, 100, pixelA, 2)
			e.kafka.Produce(more...)
			kafkatest.Eventually(t, wait, "the relay to meet the outage", func() bool {
				return p.metric("freight_redis_errors_total") > 0
			})
			start := time.Now()
			p.signal(syscall.SIGTERM)
			if code := p.exitCode(); code != 0 {
				t.Errorf("exit code %d after SIGTERM during the outage", code)
			}
			// A second of slack for the final commit and leaving the group.
			if took := time.Since(start); took > cfg.ShutdownTimeout+time.Second {
				t.Errorf("SIGTERM took %s to exit, shutdown_timeout is %s", took.Round(time.Millisecond), cfg.ShutdownTimeout)
			}
			if n := e.meta.Total(); n != 40 {
				t.Fatalf("%d events at Meta, want the 40 sent before the outage", n)
			}
			rs.start()
			e.runProcess(cfg, nil)
			e.waitCaughtUp(cfg)
			e.assertOnce(pixelA, append(ids, moreIDs...)...)
		})
	}
}

// A revoke during a Redis outage (on_error: block) gives its partitions up:
// a second instance that joins gets its share, and once Redis answers again
// every event is delivered once.
func TestRevokeDuringARedisOutage(t *testing.T) {
	e := newEnv(t, 2)
	rs := newPrivateRedis(t)
	cfg := e.config()
	cfg.Kafka.Topics = []config.Topic{{Name: webT, Kind: "web", Format: "json"}}
	cfg.Redis.URL = rs.url()
	cfg.Identity.Enabled = false
	first := e.start(cfg)
	kafkatest.Eventually(t, wait, "the first instance to join", func() bool { return first.counter("freight_ready") == 1 })
	rs.stop()
	recs, ids := batchOf("v", 0, 60, pixelA, 2)
	e.kafka.Produce(recs...)
	kafkatest.Eventually(t, wait, "the relay to meet the outage", func() bool {
		return first.counter("freight_redis_errors_total", "op", "claim") > 0
	})
	e.start(cfg)
	kafkatest.Eventually(t, wait, "the partitions to be shared during the outage", func() bool {
		as := e.kafka.Assignments(cfg.Kafka.Group)
		return len(as) == 2 && as[0][webT] == 1 && as[1][webT] == 1
	})
	if n := e.meta.Total(); n != 0 {
		t.Fatalf("%d events sent without a claim", n)
	}
	rs.start()
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids...)
}

// Events Meta accepted while Redis is away, during the drain, are confirmed
// once Redis answers before the grace is over, and committed: the restart
// does not send them again.
func TestConfirmDuringTheDrainOutlastsARedisOutage(t *testing.T) {
	e := newEnv(t, 1)
	rs := newPrivateRedis(t)
	cfg := e.config()
	cfg.Redis.URL = rs.url()
	cfg.Identity.Enabled = false
	cfg.ShutdownTimeout = 30 * time.Second
	cfg.Dedup.ClaimLease = 2 * time.Second
	e.meta.SetDelay(3 * time.Second) // the requests are in flight when Redis stops
	in := e.start(cfg)
	recs, ids := batchOf("c", 0, 20, pixelA, 1)
	e.kafka.Produce(recs...)
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", rs.port)})
	kafkatest.Eventually(t, wait, "every event claimed", func() bool {
		keys, _ := rdb.Keys(context.Background(), e.prefix+"dedup:*").Result()
		return len(keys) == 20
	})
	rdb.Close()
	rs.stop()
	stopped := make(chan error, 1)
	go func() { stopped <- in.stop() }()
	kafkatest.Eventually(t, wait, "Meta's answers to meet the outage", func() bool {
		return in.counter("freight_redis_errors_total", "op", "confirm") > 0
	})
	if e.meta.Total() != 20 {
		t.Fatalf("Meta accepted %d events, want 20", e.meta.Total())
	}
	rs.start()
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !e.kafka.CaughtUp(cfg.Kafka.Group, webT) {
		t.Fatal("the events Meta accepted were not committed at the drain")
	}
	e.meta.SetDelay(0)
	e.start(cfg)
	e.kafka.Produce(webEvent("after", pixelA).record(webT, 0))
	kafkatest.Eventually(t, wait, "the restarted instance to deliver", func() bool { return e.meta.Count(pixelA, "Purchase", "after") == 1 })
	e.assertOnce(pixelA, ids...)
}

// A pixel Meta throttles for an hour is parked, and so are its events that
// arrive after it was parked, however few: no sender sleeps through the
// hour with them, so the other pixel's partitions commit.
func TestEventsOfAParkedPixelAreParkedWhileItIsBlocked(t *testing.T) {
	e := newEnv(t, 2)
	cfg := parkingConfig(e)
	e.meta.SetRegainAfter(time.Hour)
	e.meta.SetPixelFault(pixelA, capitest.FaultThrottle)
	in := e.start(cfg)
	recs, ids := mixed(200, 2, pixelA, pixelB)
	e.kafka.Produce(recs...)
	kafkatest.Eventually(t, wait, "pixel A to be parked", func() bool {
		return in.counter("freight_pixel_state", "pixel", pixelA, "state", "parked") == 1
	})
	kafkatest.Eventually(t, wait, "the web topic committed past pixel A's events", func() bool {
		return e.kafka.CaughtUp(cfg.Kafka.Group, webT)
	})
	// A few more of A, far from half the buffer, and some of B.
	var late []*kgo.Record
	for i := range 5 {
		id := fmt.Sprintf("late-%d", i)
		ids[pixelB] = append(ids[pixelB], "b"+id)
		late = append(late, webEvent("a"+id, pixelA).record(webT, int32(i%2)), webEvent("b"+id, pixelB).record(webT, int32(i%2)))
	}
	e.kafka.Produce(late...)
	kafkatest.Eventually(t, wait, "the web topic committed past pixel A's late events", func() bool {
		return e.kafka.CaughtUp(cfg.Kafka.Group, webT)
	})
	e.assertOnce(pixelB, ids[pixelB]...)
	if n := in.counter("freight_events_parked_total", "pixel", pixelA); n < float64(len(ids[pixelA])+5) {
		t.Errorf("%v of pixel A's events parked, want at least %d", n, len(ids[pixelA])+5)
	}
}

// A sender asleep in a long backoff gives up the items of a partition that
// moved away at once, so that the new owner, whose claims wait for them,
// delivers them; and it gives up the rest at SIGTERM instead of sleeping
// through the grace.
func TestSleepingSendersWakeForRevokeAndShutdown(t *testing.T) {
	e := newEnv(t, 2)
	cfg := e.config()
	cfg.Kafka.Topics = []config.Topic{{Name: webT, Kind: "web", Format: "json"}}
	cfg.Retry.InitialBackoff = time.Hour
	cfg.Retry.MaxBackoff = time.Hour
	cfg.ShutdownTimeout = 30 * time.Second
	cfg.Batch.MaxEvents = 1000
	cfg.Batch.MaxWait = 200 * time.Millisecond
	first := e.start(cfg)
	kafkatest.Eventually(t, wait, "the first instance to join", func() bool { return first.counter("freight_ready") == 1 })
	e.meta.FailNext(1, capitest.Fault5xx)
	recs, ids := batchOf("w", 0, 40, pixelA, 2)
	e.kafka.Produce(recs...)
	kafkatest.Eventually(t, wait, "the one batch to fail", func() bool {
		return first.counter("freight_capi_requests_total", "outcome", "transient") == 1
	})
	e.start(cfg)
	kafkatest.Eventually(t, wait, "the moved partition's events at Meta", func() bool { return e.meta.Total() == 20 })

	start := time.Now()
	if err := first.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if took := time.Since(start); took > cfg.ShutdownTimeout/3 {
		t.Errorf("stopping took %s: a sleeping sender held the drain (grace %s)", took.Round(time.Millisecond), cfg.ShutdownTimeout)
	}
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids...)
}

// incompressible is n random letters: the producer compresses batches and
// the broker measures them compressed, so a test of the size limit needs
// bytes that do not shrink.
func incompressible(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return string(b)
}

// Records at the broker's size limit (Kafka's default max.message.bytes,
// 1,048,588) never wedge their partition: one whose dead letter does not fit
// with its headers is dead-lettered without its value, naming its source;
// one above franz-go's default producer limit but below the broker's is
// dead-lettered whole; an event too large to park is dead-lettered with its
// pixel's class instead. The events around them are delivered.
func TestRecordsAtTheBrokerLimitNeverWedgeAPartition(t *testing.T) {
	e := newEnv(t, 1)
	cfg := parkingConfig(e)
	e.meta.SetPixelFault(pixelA, capitest.FaultAuth)
	in := e.start(cfg)
	huge := &kgo.Record{Topic: webT, Key: []byte("huge"), Value: []byte(incompressible(1048588 - 300))}
	big := &kgo.Record{Topic: webT, Key: []byte("big"), Value: []byte(incompressible(1_000_100))}
	// A valid event of the refused pixel, near the limit: it cannot be
	// parked with the park headers.
	large := func(note string) *kgo.Record {
		return webEvent("large", pixelA).with("custom", map[string]any{"value": 1, "currency": "usd",
			"properties": map[string]any{"note": note}}).record(webT, 0)
	}
	largeEv := large(incompressible(1048588 - 150 - deadletter.Size(large(""))))
	recs := []*kgo.Record{webEvent("ok1", pixelB).record(webT, 0), huge, webEvent("ok2", pixelB).record(webT, 0), big, largeEv}
	// Enough of the refused pixel's events to fill the buffer and park it.
	blocked, blockedIDs := batchOf("blk", 0, 150, pixelA, 1)
	recs = append(recs, blocked...)
	recs = append(recs, webEvent("ok3", pixelB).record(webT, 0))
	for _, r := range recs {
		e.kafka.Produce(r) // one at a time: two of them make a full batch each
	}
	kafkatest.Eventually(t, wait, "the web topic committed past every record", func() bool {
		return e.kafka.CaughtUp(cfg.Kafka.Group, webT)
	})
	e.assertOnce(pixelB, "ok1", "ok2", "ok3")
	dl := e.deadLetters()
	hugeDL, bigDL, largeDL := dl["offset:web-events/0/1"], dl["offset:web-events/0/3"], dl["large"]
	if hugeDL == nil || bigDL == nil || largeDL == nil {
		t.Fatalf("dead letters: huge %v, big %v, large %v (of %d)", hugeDL != nil, bigDL != nil, largeDL != nil, len(dl))
	}
	if h := deadletter.Header(hugeDL, deadletter.HeaderTruncated); h != "value" || len(hugeDL.Value) != 0 {
		t.Errorf("the huge record's dead letter: truncated %q, %d value bytes; want it without its value", h, len(hugeDL.Value))
	}
	if deadletter.Header(hugeDL, deadletter.HeaderSourceOffset) != "1" || deadletter.Header(hugeDL, deadletter.HeaderClass) != deadletter.ClassDecode {
		t.Errorf("the huge record's dead letter does not say where it came from or why: %v", hugeDL.Headers)
	}
	if deadletter.Header(bigDL, deadletter.HeaderTruncated) != "" || string(bigDL.Value) != string(big.Value) {
		t.Errorf("the big record's dead letter lost its value (%d of %d bytes)", len(bigDL.Value), len(big.Value))
	}
	if c := deadletter.Header(largeDL, deadletter.HeaderClass); c != deadletter.ClassAuth {
		t.Errorf("the event too large to park: class %q, want auth", c)
	}
	if n := in.counter("freight_park_failures_total"); n != 1 {
		t.Errorf("freight_park_failures_total = %v, want 1", n)
	}
	e.meta.ClearPixelFault(pixelA)
	kafkatest.Eventually(t, wait, "the parked events at Meta", func() bool { return e.meta.Total() == 3+len(blockedIDs) })
	e.assertOnce(pixelA, blockedIDs...)
	// The event too large to park is also too large to dead-letter whole.
	if h := deadletter.Header(largeDL, deadletter.HeaderTruncated); h != "value" {
		t.Errorf("the event too large to park: truncated %q, want value", h)
	}
	// A replay skips the truncated dead letters (an empty record at the
	// source would be no event) and counts them; it copies the whole one.
	res := e.replay(cfg, dlq.ReplayOptions{DryRun: true})
	if res.SkippedTruncated != 2 || res.Replayed != 1 {
		t.Errorf("replay: %d truncated skipped, %d replayed; want 2 and 1", res.SkippedTruncated, res.Replayed)
	}
}

// Hostile values: a record of 50,000 e-mail addresses (about a megabyte) is
// dead-lettered as validation without stalling the partition; an event
// whose event_id and first_name are 100,000 characters long is sent once,
// and its copy dropped as a duplicate.
func TestHostileValuesAreIsolated(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	in := e.start(cfg)
	emails := make([]string, 50000)
	for i := range emails {
		emails[i] = fmt.Sprintf("p%d@example.com", i)
	}
	many := webEvent("many", pixelA).with("user", map[string]any{"email": emails, "client_user_agent": "UA"}).record(webT, 0)
	longID := incompressible(100_000)
	long := webEvent(longID, pixelA).with("user", map[string]any{"email": "a@x.com", "client_user_agent": "UA",
		"first_name": incompressible(100_000)})
	e.kafka.Produce(webEvent("before", pixelA).record(webT, 0), many, long.record(webT, 0), long.record(webT, 0),
		webEvent("after", pixelA).record(webT, 0))
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, "before", "after", longID)
	dl := e.deadLetters()
	if r := dl["many"]; r == nil || deadletter.Header(r, deadletter.HeaderClass) != deadletter.ClassValidation {
		t.Fatalf("the record of 50,000 e-mails was not dead-lettered as validation (%d dead letters)", len(dl))
	}
	if n := in.counter("freight_events_deduplicated_total"); n != 1 {
		t.Errorf("freight_events_deduplicated_total = %v, want 1", n)
	}
}

// A proxy between freight and Meta that answers 403 with an HTML page (a
// WAF, a misrouted egress) is an endpoint fault, not Meta refusing the
// events: they are retried and delivered, none is dead-lettered, no batch
// is split for it. So is a 200 page that is not Graph's.
func TestNonGraphAnswersAreRetriedNotDeadLettered(t *testing.T) {
	e := newEnv(t, 1)
	target, err := url.Parse(e.metaURL)
	if err != nil {
		t.Fatal(err)
	}
	var faults atomic.Int32
	faults.Store(6)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := faults.Add(-1); {
		case n >= 3:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, "<html><body>Request blocked</body></html>")
		case n >= 0:
			fmt.Fprint(w, "<html><body>Sign in to the network</body></html>")
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	cfg := e.config()
	cfg.CAPI.BaseURL = srv.URL
	in := e.start(cfg)
	recs, ids := batchOf("px", 0, 30, pixelA, 1)
	e.kafka.Produce(recs...)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids...)
	if n := len(e.deadLetters()); n != 0 {
		t.Errorf("%d dead letters for answers that were not Meta's", n)
	}
	if n := in.counter("freight_capi_requests_total", "outcome", "transient"); n < 6 {
		t.Errorf("%v transient requests, want the 6 the proxy spoiled", n)
	}
}

// Every family of the contract is on /metrics from the start, with a zero
// for every configured pixel, class and outcome, so that an alert on
// rate(...) > 0 can tell "none yet" from "not exported". pprof is served
// only when http.pprof asks for it.
func TestEveryMetricFamilyIsExportedFromTheStart(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	in := e.start(cfg)
	kafkatest.Eventually(t, wait, "the group to join", func() bool { return in.counter("freight_ready") == 1 })
	body := get(t, "http://"+in.addr+"/metrics")
	want := []string{
		`freight_records_consumed_total{topic="web-events"} 0`,
		`freight_records_consumed_total{topic="freight-parking"} 0`,
		`freight_buffered_events 0`,
		`freight_batch_events_count 0`,
	}
	for _, c := range deadletter.Classes {
		want = append(want, `freight_events_dead_lettered_total{class="`+c+`"} 0`)
	}
	for _, px := range []string{pixelA, pixelB} {
		want = append(want,
			`freight_events_deduplicated_total{pixel="`+px+`"} 0`,
			`freight_events_sent_total{pixel="`+px+`"} 0`,
			`freight_capi_requests_total{outcome="ok",pixel="`+px+`"} 0`,
			`freight_capi_requests_total{outcome="auth",pixel="`+px+`"} 0`,
			`freight_capi_request_duration_seconds_count{pixel="`+px+`"} 0`,
			`freight_user_data_field_events_total{field="em",pixel="`+px+`"} 0`,
			`freight_pixel_state{pixel="`+px+`",state="idle"} 1`,
			`freight_pixel_state{pixel="`+px+`",state="parked"} 0`,
			`freight_events_parked_total{pixel="`+px+`",reason="auth"} 0`,
		)
	}
	for _, w := range want {
		if !strings.Contains(body, w+"\n") {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	if code := status(t, "http://"+in.addr+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ answered %d without http.pprof", code)
	}
	cfg.HTTP.Pprof = true
	cfg.Kafka.Group += "-pprof"
	with := e.start(cfg)
	if code := status(t, "http://"+with.addr+"/debug/pprof/"); code != http.StatusOK {
		t.Errorf("/debug/pprof/ answered %d with http.pprof: true", code)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The fault run: three instances in one group (real processes), Meta
// answering 5xx to a share of the requests, a Redis outage while events
// flow, and one instance killed (SIGKILL) and restarted. Every event
// reaches Meta exactly once: Meta holds every request from just before the
// kill until after it, and the kill waits until every event Meta accepted
// is confirmed, so no request is in flight with an answer the dead process
// could have missed (the contract's one exception, which no sender can
// close, is left out by construction, not by luck).
func TestFaultRunThreeInstancesLoseNothing(t *testing.T) {
	e := newEnv(t, 6)
	rs := newPrivateRedis(t)
	cfg := e.config()
	cfg.Redis.URL = rs.url()
	cfg.Redis.OnError = config.OnErrorBlock
	cfg.Batch.MaxEvents = 25
	if err := e.meta.SetFaults(capitest.Faults{Err5xx: 0.15}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	wave := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			id := fmt.Sprintf("f%d", i)
			px := pixelA
			if i%3 == 0 {
				px = pixelB
			}
			ids = append(ids, id)
			recs = append(recs, webEvent(id, px).record(webT, int32(i%6)))
		}
		e.kafka.Produce(recs...)
	}
	procs := make([]*proc, 3)
	for i := range procs {
		c := cfg
		c.Kafka.InstanceID = fmt.Sprintf("freight-%d", i)
		procs[i] = e.runProcess(c, nil)
	}
	wave(0, 300)
	kafkatest.Eventually(t, wait, "deliveries from the group", func() bool { return e.meta.Total() >= 100 })

	rs.stop()
	wave(300, 600)
	kafkatest.Eventually(t, wait, "the instances to meet the outage", func() bool {
		n := 0.0
		for _, p := range procs {
			n += p.metric("freight_redis_errors_total")
		}
		return n > 0
	})
	rs.start()
	wave(600, 900)
	kafkatest.Eventually(t, wait, "deliveries after the outage", func() bool { return e.meta.Total() >= 650 })

	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", rs.port)})
	defer rdb.Close()
	confirmed := func() int {
		n := 0
		iter := rdb.Scan(context.Background(), 0, e.prefix+"dedup:*", 1000).Iterator()
		for iter.Next(context.Background()) {
			if v, _ := rdb.Get(context.Background(), iter.Val()).Result(); v == "done" {
				n++
			}
		}
		return n
	}
	e.meta.SetDelay(time.Hour)
	kafkatest.Eventually(t, wait, "every accepted event to be confirmed", func() bool { return confirmed() == e.meta.Total() })
	procs[1].signal(syscall.SIGKILL)
	procs[1].exitCode()
	atKill := e.meta.Total()
	e.meta.SetDelay(0)
	c := cfg
	c.Kafka.InstanceID = "freight-1"
	procs[1] = e.runProcess(c, nil)
	wave(900, 1000)
	e.waitCaughtUp(cfg)
	t.Logf("%d events at Meta at the kill, %d requests abandoned in flight, %d answered 5xx",
		atKill, e.meta.Requests().Abandoned, e.meta.Requests().Transient)
	lost, dups := 0, 0
	for _, id := range ids {
		px := pixelA
		var i int
		fmt.Sscanf(id, "f%d", &i)
		if i%3 == 0 {
			px = pixelB
		}
		switch n := e.meta.Count(px, "Purchase", id); {
		case n == 0:
			lost++
		case n > 1:
			dups++
		}
	}
	if lost != 0 || dups != 0 {
		t.Errorf("of %d events, %d lost and %d sent more than once", len(ids), lost, dups)
	}
	for _, p := range procs {
		p.signal(syscall.SIGTERM)
	}
	for i, p := range procs {
		if code := p.exitCode(); code != 0 {
			t.Errorf("instance %d exited %d after SIGTERM", i, code)
		}
	}
}

// Hostile values in the fields mapped since the first round: an fbc of
// 100,000 dots, an X-Forwarded-For of 20,000 entries none of them valid,
// 100,000 characters of country, state, zip and city (one of them in a
// non-Latin script), a phone of 100,000 digits after +440, a 100,000
// character attribution scope, and no event_id. The event is sent once
// (its copy, the same bytes, is a duplicate of the derived id), what could
// not be valid is left out and counted, and the partition moves on.
func TestHostileValuesInTheMappedFields(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	in := e.start(cfg)
	hostile := webEvent("", pixelA).with("user", map[string]any{
		"email":             "a@x.com",
		"client_user_agent": "UA",
		"fbc":               "fb." + strings.Repeat(".", 100_000),
		"client_ip_address": strings.Repeat("1.2.3, ", 20_000),
		"country":           incompressible(100_000),
		"state":             incompressible(100_000),
		"zip":               incompressible(100_000),
		"city":              strings.Repeat("東", 33_334),
		"phone":             "+440" + strings.Repeat("7", 100_000),
	}).with("attribution_data", map[string]any{"scope": incompressible(100_000)})
	delete(hostile, "event_id")
	rec := hostile.record(webT, 0)
	e.kafka.Produce(webEvent("h-before", pixelA).record(webT, 0), rec,
		&kgo.Record{Topic: webT, Partition: 0, Value: rec.Value}, webEvent("h-after", pixelA).record(webT, 0))
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, "h-before", "h-after")
	if n := e.meta.Total(); n != 3 {
		t.Fatalf("Meta accepted %d events, want 3 (the hostile one once)", n)
	}
	if n := len(e.deadLetters()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	if n := in.counter("freight_events_deduplicated_total"); n != 1 {
		t.Errorf("freight_events_deduplicated_total = %v, want 1 (the copy)", n)
	}
	for _, f := range []string{"fbc", "client_ip_address", "country"} {
		if n := in.counter("freight_user_data_values_dropped_total", "field", f); n != 1 {
			t.Errorf("freight_user_data_values_dropped_total{field=%q} = %v, want 1", f, n)
		}
	}
}
