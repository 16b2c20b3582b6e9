//go:build docker

package docker

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/deadletter"
)

// Every event reaches Meta once, duplicates across topics and partitions
// included; a record that cannot be decoded is dead-lettered with its
// source; the group commits the end of every partition; the lag gauge falls
// to zero for every partition the member owns.
func TestDeliveryDedupAndDeadLettersOnRealServers(t *testing.T) {
	w := newWorld(t, 3)
	in := w.start(w.config())
	var recs []*kgo.Record
	for i := range 300 {
		recs = append(recs, &kgo.Record{Topic: w.web, Partition: int32(i % 3), Value: event(fmt.Sprint("e", i))})
	}
	for i := range 30 { // the same events again, on the other topic and other partitions
		recs = append(recs, &kgo.Record{Topic: w.crm, Partition: int32((i + 1) % 3), Value: event(fmt.Sprint("e", i))})
	}
	for i := range 5 {
		recs = append(recs, &kgo.Record{Topic: w.web, Partition: int32(i % 3), Value: []byte("{not json")})
	}
	w.produce(recs...)

	eventually(t, "the group to commit every record", w.caughtUp)
	for i := range 300 {
		if n := w.meta.Count(pixel, "Purchase", fmt.Sprint("e", i)); n != 1 {
			t.Errorf("e%d reached Meta %d times, want once", i, n)
		}
	}
	dl := w.readAll(w.dlq)
	if len(dl) != 5 {
		t.Fatalf("%d dead letters, want the 5 undecodable records", len(dl))
	}
	for _, r := range dl {
		if c := deadletter.Header(r, deadletter.HeaderClass); c != deadletter.ClassDecode {
			t.Errorf("dead letter class %q, want decode", c)
		}
		if s := deadletter.Header(r, deadletter.HeaderSourceTopic); s != w.web {
			t.Errorf("dead letter source topic %q, want %s", s, w.web)
		}
	}
	eventually(t, "freight_consumer_lag to be 0 for the 9 partitions (input and parking topics)", func() bool {
		g := in.gauges("freight_consumer_lag")
		if len(g) != 9 {
			return false
		}
		for _, v := range g {
			if v != 0 {
				return false
			}
		}
		return true
	})
}

// Members join and leave while events flow: nothing is lost and nothing
// reaches Meta twice.
func TestRebalanceOnRealServers(t *testing.T) {
	w := newWorld(t, 6)
	cfg := w.config()
	w.meta.SetDelay(20 * time.Millisecond) // keep sends in flight across the rebalances
	first := w.start(cfg)
	produce := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: w.web, Partition: int32(i % 6), Value: event(fmt.Sprint("r", i))})
		}
		w.produce(recs...)
	}
	produce(0, 500)
	second := w.start(cfg)
	produce(500, 1000)
	eventually(t, "some events to be sent", func() bool { return w.meta.Total() >= 300 })
	if err := first.stop(); err != nil {
		t.Fatalf("first member: %v", err)
	}
	produce(1000, 1500)
	eventually(t, "the group to commit every record", w.caughtUp)
	if err := second.stop(); err != nil {
		t.Fatalf("second member: %v", err)
	}
	for i := range 1500 {
		if n := w.meta.Count(pixel, "Purchase", fmt.Sprint("r", i)); n != 1 {
			t.Errorf("r%d reached Meta %d times, want once", i, n)
		}
	}
}

// A relay stopped while Meta refuses the pixel's token commits nothing it
// did not finish; the next one sends every held event, once.
func TestRestartResumesFromTheCommit(t *testing.T) {
	w := newWorld(t, 2)
	cfg := w.config()
	cfg.ShutdownTimeout = 2 * time.Second // give up on the held events quickly
	w.meta.SetPixelFault(pixel, capitest.FaultAuth)
	first := w.start(cfg)
	var recs []*kgo.Record
	for i := range 100 {
		recs = append(recs, &kgo.Record{Topic: w.web, Partition: int32(i % 2), Value: event(fmt.Sprint("h", i))})
	}
	w.produce(recs...)
	eventually(t, "Meta to refuse the token", func() bool {
		return first.counter("freight_capi_requests_total", "outcome", "auth") > 0
	})
	if err := first.stop(); err != nil {
		t.Fatalf("first relay: %v", err)
	}
	if w.caughtUp() {
		t.Fatal("the group committed events that were never sent")
	}
	w.meta.SetPixelFault(pixel, capitest.FaultNone)
	w.start(cfg)
	eventually(t, "the group to commit every record", w.caughtUp)
	for i := range 100 {
		if n := w.meta.Count(pixel, "Purchase", fmt.Sprint("h", i)); n != 1 {
			t.Errorf("h%d reached Meta %d times, want once", i, n)
		}
	}
}

// readAll reads a topic from its start to its end offsets as they are now.
func (w *world) readAll(topic string) []*kgo.Record {
	w.t.Helper()
	ctx, cancel := contextWithTimeout(time.Minute)
	defer cancel()
	ends, err := w.admin.ListEndOffsets(ctx, topic)
	if err != nil {
		w.t.Fatalf("end offsets: %v", err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		w.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			w.t.Fatalf("reading %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return out
}
