package dlq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/kafkatest"
)

// These tests run over kfake (the real protocol, in process). The scenarios
// with the relay are in integration/dlq_test.go.

func source(k *kafkatest.Cluster) Source {
	return Source{Opts: []kgo.Opt{kgo.SeedBrokers(k.Brokers()...), kgo.MetadataMinAge(100 * time.Millisecond)},
		Topic: "freight-dlq", Timeout: 30 * time.Second}
}

func freshLetter(id string, partition int32, headers ...string) *kgo.Record {
	r := dead(fmt.Sprintf(`{"event_id":%q,"event_time":%d}`, id, time.Now().Add(-time.Hour).Unix()),
		append([]string{deadletter.HeaderEventID, id, deadletter.HeaderFailedAt, time.Now().UTC().Format(time.RFC3339)}, headers...)...)
	r.Partition, r.Timestamp, r.Key = partition, time.Time{}, []byte("k-"+id)
	return r
}

func TestReplayOverKafkaResumesFromItsGroup(t *testing.T) {
	k := kafkatest.New(t, 2, "freight-dlq", "web-events")
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, freshLetter(fmt.Sprint("e", i), int32(i%2)))
	}
	k.Produce(recs...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var p Progress
	o := ReplayOptions{Group: "freight-replay", MaxCount: 3, Limit: 4, Progress: &p, CommitEvery: 1}
	res, err := Replay(ctx, source(k), o)
	if err != nil || res.Replayed != 4 || !res.StoppedAtLimit {
		t.Fatalf("first run: %+v, %v; want 4 replayed and stopped at the limit", res, err)
	}
	if s := p.Snapshot(time.Second); s.Total != 10 || s.Done != 4 || s.Replayed != 4 {
		t.Errorf("progress %+v", s)
	}
	o.Limit, o.Progress = 0, nil
	res, err = Replay(ctx, source(k), o)
	if err != nil || res.Replayed != 6 || res.Read != 6 {
		t.Fatalf("second run: %+v, %v; want the other 6", res, err)
	}
	res, err = Replay(ctx, source(k), o)
	if err != nil || res.Read != 0 {
		t.Fatalf("third run: %+v, %v; want nothing left", res, err)
	}
	out := k.ReadAll("web-events")
	seen := map[string]int{}
	for _, r := range out {
		seen[string(r.Key)]++
		if got := deadletter.Header(r, deadletter.HeaderReplayCount); got != "1" {
			t.Errorf("replay count %q", got)
		}
	}
	if len(out) != 10 || len(seen) != 10 {
		t.Errorf("%d records for %d keys on the source topic, want each of 10 once", len(out), len(seen))
	}
	if c := k.Committed("freight-replay")["freight-dlq"]; c[0] != 5 || c[1] != 5 {
		t.Errorf("committed %v, want 5 and 5", c)
	}
}

func TestInspectOverKafkaCommitsNothing(t *testing.T) {
	k := kafkatest.New(t, 2, "freight-dlq")
	k.Produce(freshLetter("a", 0), freshLetter("b", 1, deadletter.HeaderClass, "auth"), freshLetter("c", 1))
	rep, err := Inspect(context.Background(), source(k), InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Read != 3 || len(rep.Groups) != 2 || rep.Groups[0].Count != 2 {
		t.Errorf("report %+v", rep)
	}
	if c := k.Committed(""); len(c) != 0 {
		t.Errorf("committed %v", c)
	}
	empty := kafkatest.New(t, 1, "freight-dlq")
	if rep, err := Inspect(context.Background(), source(empty), InspectOptions{}); err != nil || rep.Read != 0 {
		t.Errorf("an empty topic: %+v, %v", rep, err)
	}
}

// A missing topic or a broker that does not answer is an error within the
// timeout, never a hang.
func TestKafkaErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	k := kafkatest.New(t, 1, "freight-dlq", "web-events")
	k.Produce(freshLetter("a", 0, deadletter.HeaderSourceTopic, "gone-topic"))

	src := source(k)
	src.Topic = "no-such-dlq"
	if _, err := Inspect(ctx, src, InspectOptions{}); !errors.Is(err, ErrTopicMissing) || !strings.Contains(err.Error(), "no-such-dlq") {
		t.Errorf("inspect, missing topic: %v", err)
	}
	if _, err := Replay(ctx, src, ReplayOptions{Group: "g", MaxCount: 1}); !errors.Is(err, ErrTopicMissing) {
		t.Errorf("replay, missing topic: %v", err)
	}
	if _, err := Replay(ctx, source(k), ReplayOptions{Group: "g", MaxCount: 1, ToTopic: "nope"}); !errors.Is(err, ErrTopicMissing) ||
		!strings.Contains(err.Error(), "nope") {
		t.Errorf("replay, missing --to-topic: %v", err)
	}
	res, err := Replay(ctx, source(k), ReplayOptions{Group: "g", MaxCount: 1})
	if !errors.Is(err, ErrTopicMissing) || !strings.Contains(err.Error(), "gone-topic") || !strings.Contains(err.Error(), "--to-topic") {
		t.Errorf("replay to a source topic that is gone: %v", err)
	}
	if res.Read != 0 || len(k.Committed("g")) != 0 {
		t.Errorf("the record was counted or committed: %+v %v", res, k.Committed("g"))
	}
	if res, err := Replay(ctx, source(k), ReplayOptions{Group: "g", MaxCount: 1, ToTopic: "web-events"}); err != nil || res.Replayed != 1 {
		t.Errorf("with --to-topic: %+v, %v", res, err)
	}

	// A cluster that is gone.
	dead, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "freight-dlq"))
	if err != nil {
		t.Fatal(err)
	}
	addrs := dead.ListenAddrs()
	dead.Close()
	src = Source{Opts: []kgo.Opt{kgo.SeedBrokers(addrs...)}, Topic: "freight-dlq", Timeout: time.Second}
	for name, run := range map[string]func() error{
		"inspect": func() error { _, err := Inspect(ctx, src, InspectOptions{}); return err },
		"replay":  func() error { _, err := Replay(ctx, src, ReplayOptions{Group: "g", MaxCount: 1}); return err },
		"dry run": func() error {
			_, err := Replay(ctx, src, ReplayOptions{Group: "g", MaxCount: 1, DryRun: true})
			return err
		},
	} {
		start := time.Now()
		err := run()
		if !errors.Is(err, ErrUnreachable) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s, unreachable broker: %v", name, err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s took %v to give up with a 1s timeout", name, d)
		}
	}
}
