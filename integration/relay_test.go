package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/kafkatest"
)

// Events flow end to end, offsets are committed while running (within the
// commit interval, not only at shutdown), and the metrics count them.
func TestDeliversAndCommitsWhileRunning(t *testing.T) {
	e := newEnv(t, 3)
	cfg := e.config()
	in := e.start(cfg)
	var ids []string
	var recs []*kgo.Record
	for i := range 60 {
		id := fmt.Sprintf("w%d", i)
		ids = append(ids, id)
		px := pixelA
		if i%2 == 1 {
			px = pixelB
		}
		w := webEvent(id, px)
		if i%3 == 0 { // a phone with no digits: left out and counted
			w["user"].(map[string]any)["phone"] = "unknown"
		}
		recs = append(recs, w.record(webT, int32(i%3)))
	}
	e.kafka.Produce(recs...)
	e.waitCaughtUp(cfg)
	for i, id := range ids {
		px := pixelA
		if i%2 == 1 {
			px = pixelB
		}
		e.assertOnce(px, id)
	}
	if got := in.counter("freight_events_sent_total"); got != 60 {
		t.Errorf("freight_events_sent_total = %v, want 60", got)
	}
	if got := in.counter("freight_records_consumed_total", "topic", webT); got != 60 {
		t.Errorf("freight_records_consumed_total = %v, want 60", got)
	}
	if got := in.counter("freight_user_data_field_events_total", "pixel", pixelA, "field", "em"); got != 30 {
		t.Errorf("em field count for pixel A = %v, want 30", got)
	}
	if got := in.counter("freight_user_data_values_dropped_total", "pixel", pixelA, "field", "ph"); got != 10 {
		t.Errorf("dropped phones for pixel A = %v, want 10", got)
	}
	if got := in.counter("freight_user_data_field_events_total", "pixel", pixelA, "field", "ph"); got != 0 {
		t.Errorf("%v events of pixel A were sent with a phone that has no digits", got)
	}
	if got := e.meta.Requests().TokenInURL; got != 0 {
		t.Errorf("%d requests carried the token in the URL", got)
	}
	for _, r := range e.meta.Events() {
		if r.PartnerAgent != "freight" {
			t.Fatalf("partner_agent = %q, want freight", r.PartnerAgent)
		}
	}
	if err := in.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// The same event on two topics and several partitions reaches Meta once;
// the copies count as deduplicated.
func TestDuplicatesAcrossTopicsAndPartitionsReachMetaOnce(t *testing.T) {
	e := newEnv(t, 3)
	cfg := e.config()
	in := e.start(cfg)
	var recs []*kgo.Record
	var ids []string
	for i := range 40 {
		id := fmt.Sprintf("d%d", i)
		ids = append(ids, id)
		w := webEvent(id, pixelA)
		// Each event four times: two partitions of the web topic, and the
		// CRM topic (twice, to one partition).
		recs = append(recs, w.record(webT, 0), w.record(webT, int32(1+i%2)),
			crmEvent(id, pixelA).record(crmT, 0), crmEvent(id, pixelA).record(crmT, 0))
	}
	e.kafka.Produce(recs...)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids...)
	if got := in.counter("freight_events_deduplicated_total", "pixel", pixelA); got != 120 {
		t.Errorf("deduplicated = %v, want 120", got)
	}
	// A later redelivery (a replay, a rewound group) within the window is
	// dropped too.
	e.kafka.Produce(webEvent("d0", pixelA).record(webT, 2))
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, "d0")
}

// Every kind of bad input is dead-lettered with its class, a sentence, the
// source headers and the original bytes; good events around it are
// delivered and the partition keeps moving.
func TestBadInputIsDeadLetteredAndThePartitionMoves(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	cfg.CAPI.Pixels = append(cfg.CAPI.Pixels, cfgPixelWithoutToken())
	e.meta.RefuseEvent("b-meta")
	in := e.start(cfg)

	cases := []struct {
		name  string
		value []byte
		class string
		code  string
	}{
		{"malformed JSON", []byte(`{"event_id": "x",`), deadletter.ClassDecode, ""},
		{"not an object", []byte(`[1,2]`), deadletter.ClassDecode, ""},
		{"missing event_source_url", mustJSON(webEvent("b-url", pixelA).with("event_source_url", "")), deadletter.ClassValidation, ""},
		{"unknown pixel", mustJSON(webEvent("b-px", "999999999999999")), deadletter.ClassConfig, ""},
		{"pixel without token", mustJSON(webEvent("b-tok", pixelNoToken)), deadletter.ClassConfig, ""},
		{"older than 7 days", mustJSON(webEvent("b-old", pixelA).with("event_time", time.Now().Add(-8*24*time.Hour).Unix())), deadletter.ClassTooOld, ""},
		{"refused by Meta", mustJSON(webEvent("b-meta", pixelA)), deadletter.ClassRejected, "100"},
	}
	var recs []*kgo.Record
	for i, c := range cases {
		recs = append(recs, webEvent(fmt.Sprintf("good-%d", i), pixelA).record(webT, 0))
		recs = append(recs, &kgo.Record{Topic: webT, Key: []byte("k-" + c.name), Value: c.value,
			Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t-" + strconv.Itoa(i))}}})
	}
	recs = append(recs, webEvent("good-last", pixelA).record(webT, 0))
	e.kafka.Produce(recs...)
	e.waitCaughtUp(cfg)

	for i := range cases {
		e.assertOnce(pixelA, fmt.Sprintf("good-%d", i))
	}
	e.assertOnce(pixelA, "good-last")
	dls := e.kafka.ReadAll(dlqT)
	if len(dls) != len(cases) {
		t.Fatalf("%d dead letters, want %d", len(dls), len(cases))
	}
	byKey := map[string]*kgo.Record{}
	for _, r := range dls {
		byKey[string(r.Key)] = r
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := byKey["k-"+c.name]
			if r == nil {
				t.Fatal("no dead letter")
			}
			if got := deadletter.Header(r, deadletter.HeaderClass); got != c.class {
				t.Errorf("class = %q, want %q (message %q)", got, c.class, deadletter.Header(r, deadletter.HeaderMessage))
			}
			if deadletter.Header(r, deadletter.HeaderMessage) == "" {
				t.Error("no message")
			}
			if string(r.Value) != string(c.value) {
				t.Error("value bytes changed")
			}
			if got := deadletter.Header(r, "trace"); got != "t-"+strconv.Itoa(i) {
				t.Errorf("original header = %q, want kept", got)
			}
			if deadletter.Header(r, deadletter.HeaderSourceTopic) != webT ||
				deadletter.Header(r, deadletter.HeaderSourcePartition) != "0" ||
				deadletter.Header(r, deadletter.HeaderSourceOffset) != strconv.Itoa(2*i+1) ||
				deadletter.Header(r, deadletter.HeaderSourceTimestamp) == "" {
				t.Errorf("source headers wrong: %v", r.Headers)
			}
			if _, err := time.Parse(time.RFC3339, deadletter.Header(r, deadletter.HeaderFailedAt)); err != nil {
				t.Errorf("failed_at: %v", err)
			}
			if deadletter.Header(r, deadletter.HeaderAttempts) == "" {
				t.Error("no attempts header")
			}
			if got := deadletter.Header(r, deadletter.HeaderCode); got != c.code {
				t.Errorf("code = %q, want %q", got, c.code)
			}
			if c.code != "" && deadletter.Header(r, deadletter.HeaderFBTraceID) == "" {
				t.Error("no fbtrace_id although Meta answered")
			}
		})
	}
	if got := in.counter("freight_events_dead_lettered_total"); got != float64(len(cases)) {
		t.Errorf("dead-lettered metric = %v, want %d", got, len(cases))
	}
}

const pixelNoToken = "333333333333333"

func cfgPixelWithoutToken() config.Pixel {
	return config.Pixel{ID: pixelNoToken, AccessTokenEnv: "TOKEN_NOBODY_SET"}
}

// A batch Meta refuses for one bad event is split until the bad event is
// alone: the others are delivered, only it is dead-lettered.
func TestRejectedBatchIsSplitToIsolateTheBadEvent(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	cfg.Batch.MaxWait = 2 * time.Second // one batch for all
	in := e.start(cfg)
	var recs []*kgo.Record
	var good []string
	for i := range 31 {
		id := fmt.Sprintf("s%d", i)
		if i == 17 {
			e.meta.RefuseEvent(id)
			recs = append(recs, webEvent(id, pixelA).record(webT, 0))
			continue
		}
		good = append(good, id)
		recs = append(recs, webEvent(id, pixelA).record(webT, 0))
	}
	e.kafka.Produce(recs...)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, good...)
	dl := e.deadLetters()
	if len(dl) != 1 || dl["s17"] == nil {
		t.Fatalf("dead letters %v, want only s17", keys(dl))
	}
	if got := deadletter.Header(dl["s17"], deadletter.HeaderClass); got != deadletter.ClassRejected {
		t.Errorf("class %q", got)
	}
	if n := in.counter("freight_capi_requests_total", "outcome", "rejected"); n < 2 {
		t.Errorf("%v rejected requests: the batch was not split", n)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// 5xx answers, timeouts and every kind of throttling lose nothing and
// duplicate nothing.
func TestTransientFaultsAndThrottlingLoseNothing(t *testing.T) {
	e := newEnv(t, 2)
	cfg := e.config()
	cfg.CAPI.Timeout = 300 * time.Millisecond
	cfg.Batch.MaxEvents = 10
	e.meta.SetRegainAfter(100 * time.Millisecond) // Meta says minutes; the test has no minutes to spare
	e.meta.FailNext(12, capitest.Fault5xx)
	in := e.start(cfg)
	var ids []string
	produce := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			id := fmt.Sprintf("t%d", i)
			ids = append(ids, id)
			recs = append(recs, webEvent(id, pixelA).record(webT, int32(i%2)))
		}
		e.kafka.Produce(recs...)
	}
	produce(0, 40)
	kafkatest.Eventually(t, wait, "first events", func() bool { return e.meta.Total() >= 10 })
	for _, f := range []capitest.Fault{capitest.FaultThrottle, capitest.FaultAppThrottle, capitest.FaultThrottle429,
		capitest.Fault500, capitest.FaultTimeout} {
		e.meta.FailNext(2, f)
	}
	produce(40, 120)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids...)
	if n := len(e.deadLetters()); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
	for _, o := range []string{"transient", "throttled"} {
		if in.counter("freight_capi_requests_total", "outcome", o) == 0 {
			t.Errorf("no %s request counted: the faults were not exercised", o)
		}
	}
}

// A pixel whose token Meta refuses keeps its events and retries; the other
// pixel is not held back; past give_up_after its events are dead-lettered
// with class auth and Meta's code.
func TestAuthFailureKeepsEventsThenDeadLettersAuth(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	cfg.Retry.GiveUpAfter = 1500 * time.Millisecond
	e.meta.SetPixelFault(pixelB, capitest.FaultAuth)
	in := e.start(cfg)
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, webEvent(fmt.Sprintf("a%d", i), pixelA).record(webT, 0),
			webEvent(fmt.Sprintf("b%d", i), pixelB).record(webT, 0))
	}
	e.kafka.Produce(recs...)
	kafkatest.Eventually(t, wait, "pixel A's events", func() bool { return e.meta.Total() == 20 })
	e.waitCaughtUp(cfg)
	dl := e.deadLetters()
	if len(dl) != 20 {
		t.Fatalf("%d dead letters, want pixel B's 20", len(dl))
	}
	for i := range 20 {
		r := dl[fmt.Sprintf("b%d", i)]
		if r == nil {
			t.Fatalf("b%d not dead-lettered", i)
		}
		if c := deadletter.Header(r, deadletter.HeaderClass); c != deadletter.ClassAuth {
			t.Errorf("class %q, want auth", c)
		}
		if c := deadletter.Header(r, deadletter.HeaderCode); c != "190" {
			t.Errorf("code %q, want 190", c)
		}
		if a, _ := strconv.Atoi(deadletter.Header(r, deadletter.HeaderAttempts)); a < 2 {
			t.Errorf("attempts %d: it was not retried", a)
		}
	}
	if in.counter("freight_capi_requests_total", "pixel", pixelB, "outcome", "auth") < 2 {
		t.Error("pixel B was not retried")
	}
}

// A rotated token file takes effect without a restart, and the events held
// back by the auth error are sent with the new token.
func TestRotatedTokenFileIsPickedUp(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	file := t.TempDir() + "/token"
	writeFile(t, file, "an-old-revoked-token\n")
	cfg.CAPI.Pixels[0] = cfgFilePixel(pixelA, file)
	in := e.start(cfg)
	e.kafka.Produce(webEvent("r1", pixelA).record(webT, 0), webEvent("r2", pixelA).record(webT, 0))
	kafkatest.Eventually(t, wait, "an auth failure", func() bool {
		return in.counter("freight_capi_requests_total", "pixel", pixelA, "outcome", "auth") > 0
	})
	writeFile(t, file, tokenA+"\n")
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, "r1", "r2")
}

// Events older than Meta accepts are never sent, also when they age while
// their pixel is blocked: they are dead-lettered too_old.
func TestEventsAgingDuringRetriesAreDeadLetteredTooOld(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	e.meta.SetPixelFault(pixelA, capitest.Fault5xx)
	in := e.start(cfg, withClock(clock))
	old := webEvent("aging", pixelA).with("event_time", time.Now().Add(-7*24*time.Hour+10*time.Minute).Unix())
	e.kafka.Produce(old.record(webT, 0))
	kafkatest.Eventually(t, wait, "a failed attempt", func() bool {
		return in.counter("freight_capi_requests_total", "outcome", "transient") > 0
	})
	skew.Store(int64(15 * time.Minute)) // the event is now past Meta's 7 days
	e.waitCaughtUp(cfg)
	dl := e.deadLetters()
	if dl["aging"] == nil || deadletter.Header(dl["aging"], deadletter.HeaderClass) != deadletter.ClassTooOld {
		t.Fatalf("want aging dead-lettered too_old, got %v", dl)
	}
	if e.meta.Total() != 0 {
		t.Error("an event reached Meta")
	}
}

// A throttled pixel stops sending for as long as Meta's usage header says
// it will take to regain access, while the other pixel keeps flowing; a
// pixel near its limit is reported in freight_capi_usage_percent.
func TestThrottledPixelWaitsForMetaWithoutHoldingOthers(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	cfg.Batch.MaxEvents = 5
	cfg.Batch.MaxInFlightRequests = 1                     // so that no other request of pixel A is already on its way
	cfg.ShutdownTimeout = time.Second                     // pixel A's events are still waiting when the test ends
	e.meta.FailNextFor(pixelA, 1, capitest.FaultThrottle) // regain access in 1 minute
	e.meta.SetUsage(pixelB, 88)
	in := e.start(cfg)
	var recs []*kgo.Record
	var bIDs []string
	for i := range 20 {
		recs = append(recs, webEvent(fmt.Sprintf("ta%d", i), pixelA).record(webT, 0))
		id := fmt.Sprintf("tb%d", i)
		bIDs = append(bIDs, id)
		recs = append(recs, webEvent(id, pixelB).record(webT, 0))
	}
	e.kafka.Produce(recs...)
	kafkatest.Eventually(t, wait, "pixel B's events", func() bool { return e.meta.Total() == 20 })
	e.assertOnce(pixelB, bIDs...)
	// Pixel B's 20 events took several requests; pixel A, told to wait a
	// minute, sent nothing after its throttled request.
	if n := in.counter("freight_capi_requests_total", "pixel", pixelA); n != 1 {
		t.Errorf("pixel A made %v requests, want only the throttled one", n)
	}
	if got := in.counter("freight_capi_usage_percent", "pixel", pixelB); got != 88 {
		t.Errorf("freight_capi_usage_percent for pixel B = %v, want 88", got)
	}
}

// A malformed fbc makes Meta refuse the whole event; freight drops it
// (counted) and sends the event. An fbclid in the page's URL makes one; an
// fbclid that holds a cookie is that cookie, not fb.1.<ms>.fb.1.<ms>.<id>.
func TestClickIDsAreValidOrLeftOut(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	in := e.start(cfg)
	user := func(extra map[string]any) map[string]any {
		u := map[string]any{"email": "x@example.com", "client_user_agent": "UA"}
		for k, v := range extra {
			u[k] = v
		}
		return u
	}
	const cookie = "fb.1.1554000000000.IwAR2cookie"
	e.kafka.Produce(
		webEvent("malformed", pixelA).with("user", user(map[string]any{"fbc": "not-a-click-id"})).record(webT, 0),
		webEvent("from-url", pixelA).with("event_source_url", "https://shop.example.com/p?utm_source=fb&fbclid=IwAR9url").record(webT, 0),
		webEvent("cookie-as-fbclid", pixelA).with("user", user(map[string]any{"fbclid": cookie})).record(webT, 0),
	)
	e.waitCaughtUp(cfg)
	if n := len(e.deadLetters()); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
	fbc := map[string]string{}
	for _, r := range e.meta.Events() {
		var m struct {
			UserData struct {
				Fbc string `json:"fbc"`
			} `json:"user_data"`
		}
		if err := json.Unmarshal(r.Raw, &m); err != nil {
			t.Fatal(err)
		}
		fbc[r.EventID] = m.UserData.Fbc
	}
	if len(fbc) != 3 {
		t.Fatalf("Meta accepted %d of the 3 events", len(fbc))
	}
	if got := fbc["malformed"]; got != "" {
		t.Errorf("a malformed fbc was sent: %q", got)
	}
	if got := fbc["from-url"]; !strings.HasPrefix(got, "fb.1.") || !strings.HasSuffix(got, ".IwAR9url") {
		t.Errorf("fbc from the page's fbclid = %q", got)
	}
	if got := fbc["cookie-as-fbclid"]; got != cookie {
		t.Errorf("fbc from an fbclid holding a cookie = %q, want %q", got, cookie)
	}
	if n := in.counter("freight_user_data_values_dropped_total", "pixel", pixelA, "field", "fbc"); n != 1 {
		t.Errorf("freight_user_data_values_dropped_total{fbc} = %v, want 1", n)
	}
}

// An event without an event_id (CRM exports often have none) gets one
// derived from the record's bytes: the same bytes read twice (a
// redelivery, a replay) are sent once.
func TestEventsWithoutAnIDAreSentOnce(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	in := e.start(cfg)
	noID := mustJSON(crmEvent("", pixelA))
	other := mustJSON(crmEvent("", pixelA).with("crm_id", "C-other"))
	e.kafka.Produce(
		&kgo.Record{Topic: crmT, Value: noID},
		&kgo.Record{Topic: crmT, Value: other},
		&kgo.Record{Topic: crmT, Value: noID}, // read again, as after a crash
	)
	e.waitCaughtUp(cfg)
	if n := len(e.deadLetters()); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
	if n := e.meta.Total(); n != 2 {
		t.Fatalf("Meta accepted %d events, want 2 (the same bytes twice are one event)", n)
	}
	ids := map[string]bool{}
	for _, r := range e.meta.Events() {
		if !strings.HasPrefix(r.EventID, "freight-") {
			t.Errorf("event_id %q is not a derived one", r.EventID)
		}
		ids[r.EventID] = true
	}
	if len(ids) != 2 {
		t.Errorf("%d distinct event ids for 2 distinct records", len(ids))
	}
	if n := in.counter("freight_event_ids_derived_total", "topic", crmT); n != 3 {
		t.Errorf("freight_event_ids_derived_total = %v, want 3", n)
	}
	if n := in.counter("freight_events_deduplicated_total"); n != 1 {
		t.Errorf("freight_events_deduplicated_total = %v, want 1", n)
	}
}

// An event's own test_event_code sends it to the Test Events tab, in a
// request of its own code (the code is the request's); the others go with
// the pixel's code, or none. The offline upload parameters are grouped the
// same way.
func TestAnEventsOwnRequestParameters(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	cfg.CAPI.Pixels[0].TestEventCode = "TESTPIXEL"
	cfg.Batch.MaxWait = time.Second // the four events in one batch
	in := e.start(cfg)
	e.kafka.Produce(
		webEvent("tc-1", pixelA).with("test_event_code", "T1").record(webT, 0),
		webEvent("tc-2", pixelA).record(webT, 0),
		webEvent("tc-3", pixelA).with("test_event_code", "T2").record(webT, 0),
		webEvent("tc-4", pixelA).with("test_event_code", "T1").record(webT, 0),
		webEvent("tc-5", pixelB).record(webT, 0),
		webEvent("up-1", pixelA).with("upload_id", "store-2026-12-07").with("upload_tag", "stores").
			with("upload_source", "pos").with("namespace_id", "778899").record(webT, 0),
	)
	e.waitCaughtUp(cfg)
	want := map[string]string{"tc-1": "T1", "tc-2": "TESTPIXEL", "tc-3": "T2", "tc-4": "T1", "tc-5": "", "up-1": "TESTPIXEL"}
	got := map[string]string{}
	for _, r := range e.meta.Events() {
		got[r.EventID] = r.TestEventCode
		wantUpload := capitest.Upload{}
		if r.EventID == "up-1" {
			wantUpload = capitest.Upload{NamespaceID: "778899", UploadID: "store-2026-12-07", UploadTag: "stores", UploadSource: "pos"}
		}
		if r.Upload != wantUpload {
			t.Errorf("%s: sent with upload parameters %+v, want %+v", r.EventID, r.Upload, wantUpload)
		}
	}
	for id, code := range want {
		if c, ok := got[id]; !ok || c != code {
			t.Errorf("%s: sent with test_event_code %q (sent: %v), want %q", id, c, ok, code)
		}
	}
	if n := in.counter("freight_events_sent_total"); n != 6 {
		t.Errorf("freight_events_sent_total = %v, want 6", n)
	}
}

// capi.normalization reaches the mapping: documented (the default) sends
// Meta's ISO code for "UK", param-builder the builder's "uk".
func TestNormalizationModeIsConfigured(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{"", "gb"},
		{config.NormalizationParamBuilder, "uk"},
	} {
		t.Run("mode "+tc.mode, func(t *testing.T) {
			e := newEnv(t, 1)
			cfg := e.config()
			if tc.mode != "" {
				cfg.CAPI.Normalization = tc.mode
			}
			e.start(cfg)
			e.kafka.Produce(webEvent("n-1", pixelA).with("user", map[string]any{"email": "a@example.com", "country": "UK",
				"client_user_agent": "Mozilla/5.0 (test)", "client_ip_address": "203.0.113.7"}).record(webT, 0))
			e.waitCaughtUp(cfg)
			evs := e.meta.Events()
			if len(evs) != 1 {
				t.Fatalf("Meta got %d events, want 1", len(evs))
			}
			ud, _ := evs[0].Fields()["user_data"].(map[string]any)
			country, _ := ud["country"].([]any)
			sum := sha256.Sum256([]byte(tc.want))
			if len(country) != 1 || country[0] != hex.EncodeToString(sum[:]) {
				t.Errorf("country sent as %v, want the hash of %q", ud["country"], tc.want)
			}
		})
	}
}
