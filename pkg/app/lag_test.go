package app

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/freight-relay/freight/pkg/apptest"
	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/kafkatest"
)

// freight_consumer_lag counts the records of a partition that are not done,
// not just the ones not fetched: while a pixel's token is refused its
// events sit in the buffer and are lag; while the buffer is full nothing is
// fetched and the lag still grows as producers write; once Meta takes the
// events the lag falls to zero.
func TestConsumerLagCountsRecordsNotDone(t *testing.T) {
	kc := kafkatest.New(t, 2, webTopic, crmTopic, dlqTopic, parkTopic)
	meta, metaURL := capitest.NewHTTPTest(t, capitest.Options{Tokens: map[string]string{testPixel: testToken}})
	meta.SetPixelFault(testPixel, capitest.FaultAuth)
	cfg := testConfig(t, kc.Brokers(), memRedis(t), metaURL)
	cfg.Batch.MaxBufferedEvents = 10 // full after one poll: the intake stops fetching
	app := startApp(t, cfg, map[string]string{"TOKEN": testToken})

	lag := func() map[string]float64 {
		return inputLag(app.Series(t, "freight_consumer_lag", "topic", "partition"))
	}
	wantLag := func(what string, want map[string]float64) {
		t.Helper()
		eventually(t, what, func() bool { return maps.Equal(lag(), want) }, func() any { return lag() })
	}

	kc.Produce(webRecords("p0", webTopic, 0, 8)...)
	kc.Produce(webRecords("p1", webTopic, 1, 4)...)
	eventually(t, "Meta to refuse the token", func() bool {
		return app.Series(t, "freight_capi_requests_total", "outcome")["auth"] > 0
	}, nil)
	wantLag("every record to count as lag while none is done", map[string]float64{
		"web-events/0": 8, "web-events/1": 4, "crm-events/0": 0, "crm-events/1": 0,
	})
	if b := app.Series(t, "freight_buffered_events")[""]; b != 10 {
		t.Fatalf("freight_buffered_events = %v, want 10 (the buffer full, the intake paused)", b)
	}

	// Nothing is fetched now; the lag must grow anyway.
	kc.Produce(webRecords("more", webTopic, 1, 5)...)
	wantLag("the lag to grow while the intake is paused", map[string]float64{
		"web-events/0": 8, "web-events/1": 9, "crm-events/0": 0, "crm-events/1": 0,
	})

	meta.SetPixelFault(testPixel, capitest.FaultNone)
	wantLag("the lag to fall to zero once Meta takes the events", map[string]float64{
		"web-events/0": 0, "web-events/1": 0, "crm-events/0": 0, "crm-events/1": 0,
	})
	if n := meta.Total(); n != 17 {
		t.Errorf("Meta received %d events, want 17", n)
	}
}

// Each member reports only the partitions it owns, so that a sum over the
// replicas of a Deployment counts each partition once, also after a
// rebalance moved partitions between them.
func TestConsumerLagIsReportedByTheOwnerOnly(t *testing.T) {
	kc := kafkatest.New(t, 4, webTopic, crmTopic, dlqTopic, parkTopic)
	meta, metaURL := capitest.NewHTTPTest(t, capitest.Options{Tokens: map[string]string{testPixel: testToken}})
	meta.SetPixelFault(testPixel, capitest.FaultAuth)
	cfg := testConfig(t, kc.Brokers(), memRedis(t), metaURL)
	cfg.ShutdownTimeout = time.Second // the held events are abandoned at the end, not awaited
	env := map[string]string{"TOKEN": testToken}
	for p := range int32(4) {
		kc.Produce(webRecords(fmt.Sprint("p", p), webTopic, p, int(p)+1)...)
	}
	first := startApp(t, cfg, env)
	lagOf := func(r *apptest.Instance) map[string]float64 {
		return inputLag(r.Series(t, "freight_consumer_lag", "topic", "partition"))
	}
	eventually(t, "the first member to report all 8 partitions", func() bool { return len(lagOf(first)) == 8 },
		func() any { return lagOf(first) })

	second := startApp(t, cfg, env)
	var a, b map[string]float64
	eventually(t, "the partitions to be split between the members, each reported once", func() bool {
		a, b = lagOf(first), lagOf(second)
		if len(a) == 0 || len(b) == 0 || len(a)+len(b) != 8 {
			return false
		}
		for k := range a {
			if _, dup := b[k]; dup {
				return false
			}
		}
		return true
	}, func() any { return fmt.Sprint(a, " and ", b) })

	// The records are still held (the token is refused): the lag summed
	// over the members is every record produced.
	var sum float64
	for _, m := range []map[string]float64{a, b} {
		for k, v := range m {
			if strings.HasPrefix(k, webTopic+"/") {
				sum += v
			}
		}
	}
	if sum != 1+2+3+4 {
		t.Errorf("lag summed over the members = %v, want 10", sum)
	}
}

// inputLag keeps the lag of the input topics: the relay consumes the
// parking topic too, which these tests leave empty.
func inputLag(all map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range all {
		if strings.HasPrefix(k, webTopic+"/") || strings.HasPrefix(k, crmTopic+"/") {
			out[k] = v
		}
	}
	return out
}
