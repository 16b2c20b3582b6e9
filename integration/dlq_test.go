package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/dlq"
	"github.com/freight-relay/freight/pkg/kafkatest"
)

// The dead-letter operations of CONTRACT.md section 1 (freight dlq inspect
// and replay) over kfake, with the relay where the test is about what
// reaches Meta.

// dlqSource reads this env's dead-letter topic.
func (e *env) dlqSource() dlq.Source {
	return dlq.Source{Opts: []kgo.Opt{kgo.SeedBrokers(e.kafka.Brokers()...), kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.HeartbeatInterval(500 * time.Millisecond)}, Topic: dlqT, Timeout: wait}
}

// replay runs a replay as freight dlq replay would for cfg, with o's
// settings on top.
func (e *env) replay(cfg config.Config, o dlq.ReplayOptions) dlq.Result {
	e.t.Helper()
	if o.Group == "" {
		o.Group = cfg.Kafka.Group + "-replay"
	}
	if o.MaxCount == 0 {
		o.MaxCount = cfg.Replay.MaxCount
	}
	o.KnownTopics = []string{webT, crmT}
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	defer cancel()
	res, err := dlq.Replay(ctx, e.dlqSource(), o)
	if err != nil {
		e.t.Fatalf("replay: %v (after %+v)", err, res)
	}
	return res
}

func (e *env) createTopic(name string) {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.Brokers()...))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, name); err != nil {
		e.t.Fatalf("create topic %s: %v", name, err)
	}
}

// letterAt is the dead letter the relay would write for event id (pixel,
// source topic) with info, failed at failedAt.
func letterAt(id, pixel, topic string, failedAt time.Time, info deadletter.Info) *kgo.Record {
	ev := webEvent(id, pixel)
	if topic == crmT {
		ev = crmEvent(id, pixel)
	}
	src := ev.record(topic, 0)
	src.Headers = []kgo.RecordHeader{{Key: "trace", Value: []byte("t-" + id)}}
	src.Offset, src.Timestamp = 42, failedAt.Add(-time.Minute)
	info.PixelID, info.EventID, info.EventName, info.FailedAt, info.Attempts = pixel, id, "Purchase", failedAt, 1
	return deadletter.Record(dlqT, src, info)
}

var (
	infoRejected  = deadletter.Info{Class: deadletter.ClassRejected, Message: "Insufficient Customer Information", Code: 100, Subcode: 2804050, FBTraceID: "Atr1"}
	infoRejected3 = deadletter.Info{Class: deadletter.ClassRejected, Message: "The user_data parameter fbc is invalid.", Code: 100, Subcode: 2804019}
	infoAuth      = deadletter.Info{Class: deadletter.ClassAuth, Message: "Error validating access token: Session has expired", Code: 190}
	infoConfig    = deadletter.Info{Class: deadletter.ClassConfig, Message: "pixel 999999999999999 is not configured"}
)

const pixelUnknown = "999999999999999"

// fixture is a dead-letter topic with a bit of everything, in this offset
// order.
func fixture(now time.Time) []*kgo.Record {
	foreign := webEvent("foreign-1", pixelA).record(dlqT, 0)
	foreign.Key = []byte("foreign-1")
	return []*kgo.Record{
		letterAt("rej-a1", pixelA, webT, now.Add(-10*time.Minute), infoRejected),
		letterAt("rej-a2", pixelA, webT, now.Add(-9*time.Minute), infoRejected),
		letterAt("rej-b1", pixelB, crmT, now.Add(-8*time.Minute), infoRejected3),
		letterAt("auth-b1", pixelB, webT, now.Add(-3*time.Hour), infoAuth),
		letterAt("auth-b2", pixelB, webT, now.Add(-3*time.Hour+time.Minute), infoAuth),
		letterAt("cfg-c1", pixelUnknown, crmT, now.Add(-30*time.Hour), infoConfig),
		foreign,
	}
}

// arrived lists the ids of the records on the topics, as id@topic, sorted;
// the key is the event id in every fixture.
func (e *env) arrived(topics ...string) []string {
	var out []string
	for _, t := range topics {
		for _, r := range e.kafka.ReadAll(t) {
			out = append(out, string(r.Key)+"@"+t)
		}
	}
	sort.Strings(out)
	return out
}

func TestDLQInspectGroupsByClassPixelAndCode(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	now := time.Now()
	recs := fixture(now)
	// A newer rejected one for pixel A: the newest example of its group.
	recs = append(recs, letterAt("rej-a3", pixelA, webT, now.Add(-time.Minute), deadletter.Info{
		Class: deadletter.ClassRejected, Message: "Insufficient Customer Information for ann@example.com", Code: 100, Subcode: 2804050}))
	e.kafka.Produce(recs...)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	rep, err := dlq.Inspect(ctx, e.dlqSource(), dlq.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		class, pixel, code string
		count              int
		newest             string
	}
	var got []row
	for _, g := range rep.Groups {
		got = append(got, row{g.Keys["class"], g.Keys["pixel"], g.Keys["code"], g.Count, g.Newest.EventID})
	}
	want := []row{
		{"rejected", pixelA, "100/2804050", 3, "rej-a3"},
		{"auth", pixelB, "190", 2, "auth-b2"},
		{"config", pixelUnknown, "", 1, "cfg-c1"},
		{"foreign", "", "", 1, ""},
		{"rejected", pixelB, "100/2804019", 1, "rej-b1"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("groups\n got %v\nwant %v", got, want)
	}
	if rep.Read != 8 || rep.Foreign != 1 {
		t.Errorf("read %d foreign %d", rep.Read, rep.Foreign)
	}
	if m := rep.Groups[0].Newest.Message; strings.Contains(m, "ann@example.com") || !strings.Contains(m, "sha256:") {
		t.Errorf("newest message %q: customer data must be hashed", m)
	}

	// By class, in hour buckets, since 1h ago: only the recent rejected ones.
	rep, err = dlq.Inspect(ctx, e.dlqSource(), dlq.InspectOptions{GroupBy: []string{"class"}, Bucket: time.Hour,
		Filter: dlq.Filter{Since: now.Add(-time.Hour), Classes: []string{"rejected"}}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rep.Groups {
		if g.Keys["class"] != "rejected" || g.Keys["bucket"] == "" {
			t.Errorf("group %+v", g.Keys)
		}
		n += g.Count
	}
	if n != 4 || rep.Matched != 4 {
		t.Errorf("%d in groups, %d matched; want the 4 recent rejected", n, rep.Matched)
	}

	// Inspect commits nothing, for any group.
	if c := e.kafka.Committed(cfg.Kafka.Group + "-replay"); len(c) != 0 {
		t.Errorf("the replay group has commits: %v", c)
	}
	cl, _ := kgo.NewClient(kgo.SeedBrokers(e.kafka.Brokers()...))
	defer cl.Close()
	if groups, err := kadm.NewClient(cl).ListGroups(ctx); err != nil || len(groups) != 0 {
		t.Errorf("groups after inspect: %v %v", groups.Groups(), err)
	}
}

func TestDLQReplayFilters(t *testing.T) {
	all := []string{"rej-a1@" + webT, "rej-a2@" + webT, "rej-b1@" + crmT, "auth-b1@" + webT, "auth-b2@" + webT, "cfg-c1@" + crmT}
	tests := []struct {
		name     string
		opts     func(now time.Time) dlq.ReplayOptions
		want     []string // id@topic
		filtered int
		foreign  int
	}{
		{"everything", func(time.Time) dlq.ReplayOptions { return dlq.ReplayOptions{} }, all, 0, 1},
		{"--class auth", func(time.Time) dlq.ReplayOptions {
			return dlq.ReplayOptions{Filter: dlq.Filter{Classes: []string{"auth"}}}
		}, []string{"auth-b1@" + webT, "auth-b2@" + webT}, 5, 0},
		{"--class rejected --class config", func(time.Time) dlq.ReplayOptions {
			return dlq.ReplayOptions{Filter: dlq.Filter{Classes: []string{"rejected", "config"}}}
		}, []string{"rej-a1@" + webT, "rej-a2@" + webT, "rej-b1@" + crmT, "cfg-c1@" + crmT}, 3, 0},
		{"--pixel B", func(time.Time) dlq.ReplayOptions {
			return dlq.ReplayOptions{Filter: dlq.Filter{Pixels: []string{pixelB}}}
		},
			[]string{"rej-b1@" + crmT, "auth-b1@" + webT, "auth-b2@" + webT}, 4, 0},
		{"--code 190", func(time.Time) dlq.ReplayOptions {
			return dlq.ReplayOptions{Filter: dlq.Filter{Codes: []string{"190"}}}
		},
			[]string{"auth-b1@" + webT, "auth-b2@" + webT}, 5, 0},
		{"--code 100/2804019", func(time.Time) dlq.ReplayOptions {
			return dlq.ReplayOptions{Filter: dlq.Filter{Codes: []string{"100/2804019"}}}
		}, []string{"rej-b1@" + crmT}, 6, 0},
		{"--since 1h", func(now time.Time) dlq.ReplayOptions {
			return dlq.ReplayOptions{Filter: dlq.Filter{Since: now.Add(-time.Hour)}}
		}, []string{"rej-a1@" + webT, "rej-a2@" + webT, "rej-b1@" + crmT}, 3, 1},
		{"--until 2h", func(now time.Time) dlq.ReplayOptions {
			return dlq.ReplayOptions{Filter: dlq.Filter{Until: now.Add(-2 * time.Hour)}}
		}, []string{"auth-b1@" + webT, "auth-b2@" + webT, "cfg-c1@" + crmT}, 4, 0},
		{"--since 24h --until 2h", func(now time.Time) dlq.ReplayOptions {
			return dlq.ReplayOptions{Filter: dlq.Filter{Since: now.Add(-24 * time.Hour), Until: now.Add(-2 * time.Hour)}}
		}, []string{"auth-b1@" + webT, "auth-b2@" + webT}, 5, 0},
		{"--limit 2", func(time.Time) dlq.ReplayOptions { return dlq.ReplayOptions{Limit: 2} },
			[]string{"rej-a1@" + webT, "rej-a2@" + webT}, 0, 0},
		{"--rate 500", func(time.Time) dlq.ReplayOptions { return dlq.ReplayOptions{Pacer: dlq.NewRate(500, nil)} }, all, 0, 1},
		{"--to-topic, foreign records too", func(time.Time) dlq.ReplayOptions { return dlq.ReplayOptions{ToTopic: "replayed"} },
			[]string{"auth-b1@replayed", "auth-b2@replayed", "cfg-c1@replayed", "foreign-1@replayed", "rej-a1@replayed",
				"rej-a2@replayed", "rej-b1@replayed"}, 0, 0},
		{"--class foreign without --to-topic", func(time.Time) dlq.ReplayOptions {
			return dlq.ReplayOptions{Filter: dlq.Filter{Classes: []string{dlq.ClassForeign}}}
		}, nil, 6, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 1)
			e.createTopic("replayed")
			cfg := e.config()
			now := time.Now()
			e.kafka.Produce(fixture(now)...)
			res := e.replay(cfg, tt.opts(now))
			got := e.arrived(webT, crmT, "replayed")
			want := slices.Clone(tt.want)
			sort.Strings(want)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("replayed\n got %v\nwant %v", got, want)
			}
			if res.Replayed != len(tt.want) || res.SkippedFilter != tt.filtered || res.SkippedForeign != tt.foreign {
				t.Errorf("result %+v; want %d replayed, %d filtered, %d foreign", res, len(tt.want), tt.filtered, tt.foreign)
			}
			if res.StoppedAtLimit != strings.Contains(tt.name, "limit") {
				t.Errorf("stopped at limit: %v", res.StoppedAtLimit)
			}
		})
	}
}

// A replayed record is the dead letter's key and value byte for byte, with
// the source record's own headers and freight.source.*, and a replay count.
func TestDLQReplayIsByteIdentical(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	dl := letterAt("bytes-1", pixelA, webT, time.Now(), infoAuth)
	dl.Value = append(dl.Value, "  \n"...) // bytes a re-encoding would lose
	e.kafka.Produce(dl)
	if res := e.replay(cfg, dlq.ReplayOptions{}); res.Replayed != 1 {
		t.Fatalf("result %+v", res)
	}
	out := e.kafka.ReadAll(webT)
	if len(out) != 1 {
		t.Fatalf("%d records", len(out))
	}
	r := out[0]
	if string(r.Key) != string(dl.Key) || string(r.Value) != string(dl.Value) {
		t.Errorf("key or value changed")
	}
	var keys []string
	for _, h := range r.Headers {
		keys = append(keys, h.Key+"="+string(h.Value))
	}
	want := []string{"trace=t-bytes-1", "freight.source.topic=" + webT, "freight.source.partition=0", "freight.source.offset=42",
		"freight.source.timestamp=" + deadletter.Header(dl, deadletter.HeaderSourceTimestamp), "freight.replay.count=1"}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Errorf("headers\n got %v\nwant %v", keys, want)
	}
}

func TestDLQDryRunChangesNothing(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	e.kafka.Produce(fixture(time.Now())...)
	res := e.replay(cfg, dlq.ReplayOptions{DryRun: true})
	if !res.DryRun || res.Replayed != 6 || res.ByTopic[webT] != 4 || res.ByTopic[crmT] != 2 || res.SkippedForeign != 1 {
		t.Errorf("dry run %+v", res)
	}
	if got := e.arrived(webT, crmT); len(got) != 0 {
		t.Errorf("a dry run produced %v", got)
	}
	if c := e.kafka.Committed(cfg.Kafka.Group + "-replay"); len(c) != 0 {
		t.Errorf("a dry run committed %v", c)
	}
	if n := len(e.kafka.ReadAll(dlqT)); n != 7 {
		t.Errorf("the dead-letter topic holds %d records, want the 7 it had", n)
	}
	// The real run still finds everything where it was.
	if res := e.replay(cfg, dlq.ReplayOptions{}); res.Replayed != 6 || res.Read != 7 {
		t.Errorf("the run after the dry run: %+v", res)
	}
}

// cancelAfter lets n records through, then cancels the replay's context as
// SIGINT would.
type cancelAfter struct {
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Wait(ctx context.Context) error {
	if c.n == 0 {
		c.cancel()
		return ctx.Err()
	}
	c.n--
	return ctx.Err()
}

func TestDLQInterruptedReplayResumesWithoutDuplicates(t *testing.T) {
	e := newEnv(t, 2)
	cfg := e.config()
	now := time.Now()
	var recs []*kgo.Record
	var want []string
	for i := range 30 {
		id := fmt.Sprintf("int-%02d", i)
		r := letterAt(id, pixelA, webT, now, infoRejected)
		r.Partition = int32(i % 2)
		recs = append(recs, r)
		want = append(want, id+"@"+webT)
	}
	e.kafka.Produce(recs...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	defer cancel()
	runCtx, interrupt := context.WithCancel(ctx)
	o := dlq.ReplayOptions{Group: cfg.Kafka.Group + "-replay", MaxCount: 3, CommitEvery: 4,
		Pacer: &cancelAfter{n: 13, cancel: interrupt}}
	res, err := dlq.Replay(runCtx, e.dlqSource(), o)
	if err != nil || !res.Interrupted || res.Replayed != 13 {
		t.Fatalf("interrupted run: %+v, %v; want 13 replayed and interrupted", res, err)
	}
	committed := 0
	for _, off := range e.kafka.Committed(o.Group)[dlqT] {
		committed += int(off)
	}
	if committed != 13 {
		t.Errorf("committed %d records' offsets, want the 13 replayed", committed)
	}
	o.Pacer = nil
	res, err = dlq.Replay(ctx, e.dlqSource(), o)
	if err != nil || res.Interrupted || res.Replayed != 17 || res.Read != 17 {
		t.Fatalf("resumed run: %+v, %v; want the other 17", res, err)
	}
	sort.Strings(want)
	if got := e.arrived(webT); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("source topic after the resumed replay:\n got %v\nwant each of the 30 once", got)
	}
}

// The whole loop with the relay: a pixel whose token was revoked has its
// events dead-lettered auth; once the token is fixed, a replay sends each
// of them to Meta once; a second replay of the same group finds nothing;
// and a replay that reads them all again (another group, as after a reset)
// sends nothing new, because the relay's dedup remembers them.
func TestDLQSecondReplaySendsNothingNewToMeta(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	cfg.Retry.GiveUpAfter = 1500 * time.Millisecond
	e.meta.SetPixelFault(pixelB, capitest.FaultAuth)
	in := e.start(cfg)
	var recs []*kgo.Record
	var ids []string
	for i := range 10 {
		id := fmt.Sprintf("rb%d", i)
		ids = append(ids, id)
		recs = append(recs, webEvent(id, pixelB).record(webT, 0), webEvent(fmt.Sprintf("ra%d", i), pixelA).record(webT, 0))
	}
	e.kafka.Produce(recs...)
	e.waitCaughtUp(cfg)
	if n := len(e.deadLetters()); n != 10 {
		t.Fatalf("%d dead letters, want pixel B's 10", n)
	}
	if e.meta.Total() != 10 {
		t.Fatalf("Meta has %d events, want pixel A's 10", e.meta.Total())
	}

	e.meta.ClearPixelFault(pixelB) // the SRE fixed the token
	res := e.replay(cfg, dlq.ReplayOptions{Filter: dlq.Filter{Classes: []string{"auth"}}})
	if res.Replayed != 10 {
		t.Fatalf("first replay %+v", res)
	}
	e.waitCaughtUp(cfg)
	kafkatest.Eventually(t, wait, "pixel B's events at Meta", func() bool { return e.meta.Total() == 20 })
	e.assertOnce(pixelB, ids...)

	if res := e.replay(cfg, dlq.ReplayOptions{}); res.Read != 0 || res.Replayed != 0 {
		t.Errorf("second replay of the same group: %+v, want nothing read", res)
	}
	dedupBefore := in.counter("freight_events_deduplicated_total", "pixel", pixelB)
	res = e.replay(cfg, dlq.ReplayOptions{Group: cfg.Kafka.Group + "-replay-again"})
	if res.Replayed != 10 {
		t.Fatalf("replay of another group %+v", res)
	}
	e.waitCaughtUp(cfg)
	kafkatest.Eventually(t, wait, "the relay to drop the second copies", func() bool {
		return in.counter("freight_events_deduplicated_total", "pixel", pixelB)-dedupBefore == 10
	})
	e.assertOnce(pixelB, ids...)
	if e.meta.Total() != 20 {
		t.Errorf("Meta has %d events, want 20", e.meta.Total())
	}
	if n := len(e.deadLetters()); n != 10 {
		t.Errorf("%d dead letters, want still the 10", n)
	}
}

// An event that fails every time is replayed replay.max_count times and then
// skipped and counted, never looped; every dead letter of it names where it
// first came from.
func TestDLQLoopGuardStopsAtMaxCount(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	cfg.Replay.MaxCount = 3
	e.start(cfg)
	e.kafka.Produce(webEvent("loop-1", pixelUnknown).record(webT, 0)) // no such pixel: class config, every time
	letters := func(n int) {
		t.Helper()
		kafkatest.Eventually(t, wait, fmt.Sprintf("%d dead letters", n), func() bool { return len(e.kafka.ReadAll(dlqT)) == n })
	}
	for i := 1; i <= 3; i++ {
		letters(i)
		if res := e.replay(cfg, dlq.ReplayOptions{}); res.Replayed != 1 || res.Read != 1 {
			t.Fatalf("replay %d: %+v", i, res)
		}
	}
	letters(4)
	res := e.replay(cfg, dlq.ReplayOptions{})
	if res.Replayed != 0 || res.SkippedMaxCount != 1 {
		t.Fatalf("fourth replay %+v, want the record skipped at max_count", res)
	}
	e.waitCaughtUp(cfg)
	dls := e.kafka.ReadAll(dlqT)
	if len(dls) != 4 {
		t.Fatalf("%d dead letters, want 4: the guard let it loop", len(dls))
	}
	for i, r := range dls {
		wantCount := ""
		if i > 0 {
			wantCount = fmt.Sprint(i)
		}
		if got := deadletter.Header(r, deadletter.HeaderReplayCount); got != wantCount {
			t.Errorf("dead letter %d: replay count %q, want %q", i, got, wantCount)
		}
		if deadletter.Header(r, deadletter.HeaderSourceTopic) != webT || deadletter.Header(r, deadletter.HeaderSourceOffset) != "0" {
			t.Errorf("dead letter %d names source %s@%s, want the original %s@0", i,
				deadletter.Header(r, deadletter.HeaderSourceTopic), deadletter.Header(r, deadletter.HeaderSourceOffset), webT)
		}
	}
}

// Events older than Meta accepts are counted and left: replaying them would
// only dead-letter them again. The event time comes from the value, or for
// a value that is not JSON from freight.source.timestamp.
func TestDLQTooOldEventsAreSkippedAndCounted(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	now := time.Now()
	old := now.Add(-8 * 24 * time.Hour)
	seconds := letterAt("old-s", pixelA, webT, now, infoAuth)
	seconds.Value = mustJSON(webEvent("old-s", pixelA).with("event_time", old.Unix()))
	millis := letterAt("old-ms", pixelA, webT, now, infoAuth)
	millis.Value = mustJSON(webEvent("old-ms", pixelA).with("event_time", old.UnixMilli()))
	avro := letterAt("old-avro", pixelA, webT, now, infoAuth)
	avro.Value = []byte("\x00\x00\x00\x00\x07\x02binary avro")
	for i, h := range avro.Headers {
		if h.Key == deadletter.HeaderSourceTimestamp {
			avro.Headers[i].Value = fmt.Append(nil, old.UnixMilli())
		}
	}
	fresh := letterAt("fresh", pixelA, webT, now, infoAuth)
	e.kafka.Produce(seconds, millis, avro, fresh)

	res := e.replay(cfg, dlq.ReplayOptions{})
	if res.Replayed != 1 || res.SkippedTooOld != 3 || res.Read != 4 {
		t.Fatalf("result %+v, want 1 replayed and 3 too old", res)
	}
	if got := e.arrived(webT); strings.Join(got, " ") != "fresh@"+webT {
		t.Errorf("replayed %v, want only fresh", got)
	}
	// Counted and left: they stay in the topic, and the next run does not
	// read them again.
	if n := len(e.kafka.ReadAll(dlqT)); n != 4 {
		t.Errorf("the dead-letter topic holds %d, want 4", n)
	}
	if res := e.replay(cfg, dlq.ReplayOptions{}); res.Read != 0 {
		t.Errorf("next run %+v", res)
	}
}

// Replaying into the dead-letter topic itself ends at the end listed at the
// start instead of chasing its own records.
func TestDLQReplayIntoTheDeadLetterTopicEnds(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	e.kafka.Produce(fixture(time.Now())[:3]...)
	if res := e.replay(cfg, dlq.ReplayOptions{ToTopic: dlqT}); res.Replayed != 3 || res.Read != 3 {
		t.Fatalf("result %+v", res)
	}
	res := e.replay(cfg, dlq.ReplayOptions{ToTopic: dlqT})
	if res.Replayed != 3 || res.Read != 3 {
		t.Fatalf("the next run reads the 3 copies: %+v", res)
	}
	var counts []string
	for _, r := range e.kafka.ReadAll(dlqT) {
		counts = append(counts, deadletter.Header(r, deadletter.HeaderReplayCount))
	}
	if got, _ := json.Marshal(counts); string(got) != `["","","","1","1","1","2","2","2"]` {
		t.Errorf("replay counts %s", got)
	}
}
