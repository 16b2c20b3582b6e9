package parking

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/deadletter"
)

func TestWait(t *testing.T) {
	tests := []struct {
		count int
		want  time.Duration
	}{{1, 30 * time.Second}, {2, time.Minute}, {3, 2 * time.Minute}, {4, 4 * time.Minute}, {5, 5 * time.Minute}, {60, 5 * time.Minute}}
	for _, tt := range tests {
		if got := Wait(tt.count, 30*time.Second, 5*time.Minute); got != tt.want {
			t.Errorf("Wait(%d) = %v, want %v", tt.count, got, tt.want)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	src := &kgo.Record{Topic: "web-events", Partition: 3, Offset: 42, Timestamp: time.UnixMilli(1795867200123),
		Key: []byte("k"), Value: []byte(`{"event_id":"e"}`),
		Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t1")}}}
	first := Info{Until: time.UnixMilli(1795867230000), Reason: "auth", Count: 1, FirstFailure: time.UnixMilli(1795867100000), Attempts: 3}
	parked := Record("freight-parking", src, first)
	if parked.Topic != "freight-parking" || string(parked.Key) != "k" || string(parked.Value) != `{"event_id":"e"}` {
		t.Fatalf("record %+v: key and value must be the source's", parked)
	}
	got, source, ok := Parse(parked.Headers)
	if !ok || source != "web-events" || fmt.Sprint(got) != fmt.Sprint(first) {
		t.Fatalf("Parse = %+v %q %v, want %+v web-events", got, source, ok, first)
	}
	if deadletter.Header(parked, deadletter.HeaderSourceOffset) != "42" || deadletter.Header(parked, deadletter.HeaderSourceTimestamp) != "1795867200123" {
		t.Errorf("source headers %v", parked.Headers)
	}

	// Parked again, as read back from the parking topic: the source stays
	// the first one, the park headers are replaced, other headers kept.
	again := Info{Until: time.UnixMilli(1795867290000), Reason: "auth", Count: 2, FirstFailure: first.FirstFailure, Attempts: 4}
	parked.Partition, parked.Offset = 0, 7
	reparked := Record("freight-parking", parked, again)
	got, source, ok = Parse(reparked.Headers)
	if !ok || source != "web-events" || fmt.Sprint(got) != fmt.Sprint(again) {
		t.Fatalf("Parse after re-parking = %+v %q %v, want %+v", got, source, ok, again)
	}
	counts := map[string]int{}
	for _, h := range reparked.Headers {
		counts[h.Key]++
	}
	for k, n := range counts {
		if n != 1 {
			t.Errorf("header %s appears %d times", k, n)
		}
	}
	if deadletter.Header(reparked, "trace") != "t1" || deadletter.Header(reparked, deadletter.HeaderSourceOffset) != "42" {
		t.Errorf("re-parking lost a header: %v", reparked.Headers)
	}
}

func TestParseRefusesForeignRecords(t *testing.T) {
	for _, hs := range [][]kgo.RecordHeader{
		nil,
		{{Key: deadletter.HeaderSourceTopic, Value: []byte("web-events")}},
		{{Key: HeaderUntil, Value: []byte("123")}},
		{{Key: deadletter.HeaderSourceTopic, Value: []byte("web-events")}, {Key: HeaderUntil, Value: []byte("soon")}},
	} {
		if _, _, ok := Parse(hs); ok {
			t.Errorf("Parse(%v) ok", hs)
		}
	}
}
