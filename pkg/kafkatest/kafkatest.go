// Package kafkatest runs an in-process Kafka broker (franz-go's kfake, which
// speaks the real protocol) for tests, with the helpers they keep needing:
// produce, read a whole topic, and wait for a group's commits.
package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is a kfake cluster closed by t.Cleanup.
type Cluster struct {
	*kfake.Cluster
	t     testing.TB
	admin *kadm.Client
	prod  *kgo.Client
}

// New starts a one-broker cluster with the topics given, each with
// partitions partitions.
func New(t testing.TB, partitions int32, topics ...string) *Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.MetadataMinAge(100*time.Millisecond),
		// Tests produce records up to the broker's limit (Kafka's default
		// max.message.bytes), above franz-go's default producer limit.
		kgo.ProducerBatchMaxBytes(1048588),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(topics[0]))
	if err != nil {
		c.Close()
		t.Fatalf("producer: %v", err)
	}
	kc := &Cluster{Cluster: c, t: t, admin: kadm.NewClient(prod), prod: prod}
	t.Cleanup(func() {
		prod.Close()
		c.Close()
	})
	return kc
}

// Brokers are the seed addresses.
func (c *Cluster) Brokers() []string { return c.ListenAddrs() }

// Produce writes the records synchronously, to the partition each names.
func (c *Cluster) Produce(recs ...*kgo.Record) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		c.t.Fatalf("produce: %v", err)
	}
}

// ReadAll returns every record of topic, from the start to the end offsets
// as they are now.
func (c *Cluster) ReadAll(topic string) []*kgo.Record {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := c.admin.ListEndOffsets(ctx, topic)
	if err != nil {
		c.t.Fatalf("end offsets: %v", err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		c.t.Fatalf("consumer: %v", err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			c.t.Fatalf("reading %s: %v (still waiting for partitions %v)", topic, err, want)
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

// Committed returns the group's committed offset per topic and partition.
func (c *Cluster) Committed(group string) map[string]map[int32]int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]map[int32]int64{}
	offs, err := c.admin.FetchOffsets(ctx, group)
	if err != nil {
		return out
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.At
	})
	return out
}

// Assignments returns how many partitions of each topic each member of the
// group holds, as the broker describes the group.
func (c *Cluster) Assignments(group string) []map[string]int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	described, err := c.admin.DescribeGroups(ctx, group)
	if err != nil {
		return nil
	}
	var out []map[string]int
	for _, m := range described[group].Members {
		n := map[string]int{}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				n[t.Topic] += len(t.Partitions)
			}
		}
		out = append(out, n)
	}
	return out
}

// CaughtUp reports whether the group has committed the end offset of every
// non-empty partition of the topics.
func (c *Cluster) CaughtUp(group string, topics ...string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := c.admin.ListEndOffsets(ctx, topics...)
	if err != nil {
		return false
	}
	committed := c.Committed(group)
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 && committed[o.Topic][o.Partition] < o.Offset {
			ok = false
		}
	})
	return ok
}

// Eventually polls cond every 20ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
