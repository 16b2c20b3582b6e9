package deadletter

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/kafkatest"
)

var (
	srcTime  = time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	failedAt = time.Date(2026, 1, 3, 10, 20, 30, 999_000_000, time.FixedZone("CET", 3600))
)

func hdr(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }

func srcRecord(headers ...kgo.RecordHeader) *kgo.Record {
	return &kgo.Record{
		Topic:     "web-events",
		Partition: 7,
		Offset:    123456,
		Timestamp: srcTime,
		Key:       []byte("user-42"),
		Value:     []byte(`{"event_id":"e1","user":{"email":"a@x.com"}}`),
		Headers:   headers,
	}
}

// headerMap returns the headers as a map and fails on a duplicated freight.*
// header.
func headerMap(t *testing.T, r *kgo.Record) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, h := range r.Headers {
		if _, dup := m[h.Key]; dup && strings.HasPrefix(h.Key, "freight.") {
			t.Errorf("header %s appears twice", h.Key)
		}
		m[h.Key] = string(h.Value)
	}
	return m
}

func TestRecord(t *testing.T) {
	full := Info{
		Class: ClassRejected, Message: "Invalid parameter", Code: 100, Subcode: 2804003,
		FBTraceID: "AbC123", PixelID: "123456789012345", EventID: "e1", EventName: "Purchase",
		Attempts: 3, FailedAt: failedAt,
	}
	source := map[string]string{
		HeaderSourceTopic:     "web-events",
		HeaderSourcePartition: "7",
		HeaderSourceOffset:    "123456",
		HeaderSourceTimestamp: "1767323045678",
	}
	tests := []struct {
		name    string
		headers []kgo.RecordHeader
		info    Info
		want    map[string]string // every header the record must carry, exactly
	}{
		{
			name: "Meta answered: every header",
			info: full,
			want: merge(source, map[string]string{
				HeaderClass: ClassRejected, HeaderMessage: "Invalid parameter",
				HeaderCode: "100", HeaderSubcode: "2804003", HeaderFBTraceID: "AbC123",
				HeaderPixelID: "123456789012345", HeaderEventID: "e1", HeaderEventName: "Purchase",
				HeaderAttempts: "3", HeaderFailedAt: "2026-01-03T09:20:30Z",
			}),
		},
		{
			name: "decode failure: only what is always present",
			info: Info{Class: ClassDecode, Message: "not a valid json event", FailedAt: failedAt},
			want: merge(source, map[string]string{
				HeaderClass: ClassDecode, HeaderMessage: "not a valid json event",
				HeaderAttempts: "0", HeaderFailedAt: "2026-01-03T09:20:30Z",
			}),
		},
		{
			name: "code without subcode",
			info: Info{Class: ClassAuth, Message: "token expired", Code: 190, FailedAt: failedAt, Attempts: 12},
			want: merge(source, map[string]string{
				HeaderClass: ClassAuth, HeaderMessage: "token expired", HeaderCode: "190",
				HeaderAttempts: "12", HeaderFailedAt: "2026-01-03T09:20:30Z",
			}),
		},
		{
			name: "no code: subcode not written",
			info: Info{Class: ClassValidation, Message: "m", Subcode: 33, FBTraceID: "T", FailedAt: failedAt},
			want: merge(source, map[string]string{
				HeaderClass: ClassValidation, HeaderMessage: "m", HeaderFBTraceID: "T",
				HeaderAttempts: "0", HeaderFailedAt: "2026-01-03T09:20:30Z",
			}),
		},
		{
			name:    "original headers kept",
			headers: []kgo.RecordHeader{hdr("traceparent", "00-abc-01"), hdr("content-type", "application/json")},
			info:    Info{Class: ClassTooOld, Message: "older than 7 days", FailedAt: failedAt},
			want: merge(source, map[string]string{
				"traceparent": "00-abc-01", "content-type": "application/json",
				HeaderClass: ClassTooOld, HeaderMessage: "older than 7 days",
				HeaderAttempts: "0", HeaderFailedAt: "2026-01-03T09:20:30Z",
			}),
		},
		{
			name: "parked record: its source headers kept, not duplicated",
			headers: []kgo.RecordHeader{
				hdr("traceparent", "t"),
				hdr(HeaderSourceTopic, "crm-events"),
				hdr(HeaderSourcePartition, "2"),
				hdr(HeaderSourceOffset, "99"),
				hdr(HeaderSourceTimestamp, "1700000000000"),
				hdr("freight.park.until", "1767400000000"),
				hdr("freight.park.reason", "auth"),
			},
			info: Info{Class: ClassAuth, Message: "token revoked", Attempts: 40, FailedAt: failedAt},
			want: map[string]string{
				"traceparent":         "t",
				HeaderSourceTopic:     "crm-events",
				HeaderSourcePartition: "2",
				HeaderSourceOffset:    "99",
				HeaderSourceTimestamp: "1700000000000",
				"freight.park.until":  "1767400000000",
				"freight.park.reason": "auth",
				HeaderClass:           ClassAuth, HeaderMessage: "token revoked",
				HeaderAttempts: "40", HeaderFailedAt: "2026-01-03T09:20:30Z",
			},
		},
		{
			name: "replayed record that failed again: old error replaced, replay count kept",
			headers: []kgo.RecordHeader{
				hdr("traceparent", "t"),
				hdr(HeaderClass, ClassRejected),
				hdr(HeaderMessage, "old message"),
				hdr(HeaderCode, "100"),
				hdr(HeaderSubcode, "1"),
				hdr(HeaderFBTraceID, "OLD"),
				hdr(HeaderPixelID, "1"),
				hdr(HeaderEventID, "old-e"),
				hdr(HeaderEventName, "Old"),
				hdr(HeaderSourceTopic, "crm-events"),
				hdr(HeaderSourcePartition, "2"),
				hdr(HeaderSourceOffset, "99"),
				hdr(HeaderSourceTimestamp, "1700000000000"),
				hdr(HeaderAttempts, "5"),
				hdr(HeaderFailedAt, "2025-12-01T00:00:00Z"),
				hdr(HeaderReplayCount, "2"),
			},
			info: Info{Class: ClassRetriesExhausted, Message: "gave up", Attempts: 9, PixelID: "2", FailedAt: failedAt},
			want: map[string]string{
				"traceparent":         "t",
				HeaderSourceTopic:     "crm-events",
				HeaderSourcePartition: "2",
				HeaderSourceOffset:    "99",
				HeaderSourceTimestamp: "1700000000000",
				HeaderReplayCount:     "2",
				HeaderClass:           ClassRetriesExhausted, HeaderMessage: "gave up", HeaderPixelID: "2",
				HeaderAttempts: "9", HeaderFailedAt: "2026-01-03T09:20:30Z",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := srcRecord(tt.headers...)
			srcHeaders := append([]kgo.RecordHeader(nil), src.Headers...)
			got := Record("freight-dlq", src, tt.info)
			if got.Topic != "freight-dlq" {
				t.Errorf("Topic = %q, want freight-dlq", got.Topic)
			}
			if !bytes.Equal(got.Key, src.Key) || !bytes.Equal(got.Value, src.Value) {
				t.Errorf("key/value = %q/%q, want the source's %q/%q", got.Key, got.Value, src.Key, src.Value)
			}
			if m := headerMap(t, got); !maps.Equal(m, tt.want) {
				t.Errorf("headers:\n got %v\nwant %v", m, tt.want)
			}
			// Non-freight headers keep their order, ahead of ours.
			var orig []string
			for _, h := range tt.headers {
				if !strings.HasPrefix(h.Key, "freight.") {
					orig = append(orig, h.Key)
				}
			}
			for i, k := range orig {
				if got.Headers[i].Key != k {
					t.Errorf("header %d is %s, want original %s", i, got.Headers[i].Key, k)
				}
			}
			// The source record is not modified.
			if len(src.Headers) != len(srcHeaders) {
				t.Fatalf("source headers changed: %v", src.Headers)
			}
			for i := range srcHeaders {
				if src.Headers[i].Key != srcHeaders[i].Key || !bytes.Equal(src.Headers[i].Value, srcHeaders[i].Value) {
					t.Errorf("source header %d changed to %v", i, src.Headers[i])
				}
			}
		})
	}
}

func TestRecordFailedAtDefaultsToNow(t *testing.T) {
	before := time.Now().Truncate(time.Second)
	r := Record("dlq", srcRecord(), Info{Class: ClassDecode, Message: "m"})
	after := time.Now()
	v := Header(r, HeaderFailedAt)
	ts, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatalf("failed_at %q is not RFC 3339: %v", v, err)
	}
	if !strings.HasSuffix(v, "Z") {
		t.Errorf("failed_at %q is not in UTC", v)
	}
	if ts.Before(before) || ts.After(after) {
		t.Errorf("failed_at %s not between %s and %s", ts, before, after)
	}
}

func TestHeader(t *testing.T) {
	r := srcRecord(hdr("a", "1"), hdr("b", ""), hdr("a", "2"))
	tests := []struct {
		name, key, want string
	}{
		{"present", "a", "1"},
		{"present and empty", "b", ""},
		{"absent", "c", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Header(r, tt.key); got != tt.want {
				t.Errorf("Header(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

// TestWriterWrite writes a dead letter for a record read back from a real
// (in-process) broker and reads the dead-letter topic.
func TestWriterWrite(t *testing.T) {
	c := kafkatest.New(t, 1, "src", "dlq")
	c.Produce(&kgo.Record{Topic: "src", Key: []byte("k1"), Value: []byte(`{"event_id":"e1"}`),
		Headers: []kgo.RecordHeader{hdr("traceparent", "00-1-01")}})
	srcs := c.ReadAll("src")
	if len(srcs) != 1 {
		t.Fatalf("read %d source records, want 1", len(srcs))
	}
	src := srcs[0]

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	w := NewWriter(cl, "dlq", nil)

	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w.Write(ctx, src, Info{Class: ClassRejected, Message: "Invalid parameter", Code: 100, EventID: "e1",
		Attempts: 1, FailedAt: failedAt}, func(err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("done called with %v, want nil", err)
		}
	case <-ctx.Done():
		t.Fatal("done was not called within 30s")
	}

	got := c.ReadAll("dlq")
	if len(got) != 1 {
		t.Fatalf("dead-letter topic holds %d records, want 1", len(got))
	}
	r := got[0]
	if string(r.Key) != "k1" || string(r.Value) != `{"event_id":"e1"}` {
		t.Errorf("key/value = %q/%q", r.Key, r.Value)
	}
	want := map[string]string{
		"traceparent":         "00-1-01",
		HeaderClass:           ClassRejected,
		HeaderMessage:         "Invalid parameter",
		HeaderCode:            "100",
		HeaderEventID:         "e1",
		HeaderSourceTopic:     "src",
		HeaderSourcePartition: "0",
		HeaderSourceOffset:    "0",
		HeaderSourceTimestamp: strconv.FormatInt(src.Timestamp.UnixMilli(), 10),
		HeaderAttempts:        "1",
		HeaderFailedAt:        "2026-01-03T09:20:30Z",
	}
	if m := headerMap(t, r); !maps.Equal(m, want) {
		t.Errorf("headers:\n got %v\nwant %v", m, want)
	}
}

func merge(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// kafkaDefaultMax is Kafka's (and kfake's) default max.message.bytes.
const kafkaDefaultMax = 1048588

// A dead letter of a record near the broker's limit does not fit with its
// headers: it is written without its value (or, when the writer was not
// told the limit and the broker refuses it, without key and headers too),
// never retried forever. A record whose Size is at the limit is taken, so
// Size never underestimates.
func TestWriterFitsRecordsAtTheBrokerLimit(t *testing.T) {
	c := kafkatest.New(t, 1, "src", "dlq")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.ProducerBatchMaxBytes(4<<20)) // above the broker's: the broker decides
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	info := Info{Class: ClassDecode, Message: "not JSON", FailedAt: failedAt}
	tests := []struct {
		name      string
		value     int    // source value bytes
		limit     int    // what the writer is told
		truncated string // HeaderTruncated wanted, "" for the whole record
	}{
		{"small", 100, kafkaDefaultMax, ""},
		{"near the limit, limit known", kafkaDefaultMax - 200, kafkaDefaultMax, "value"},
		{"near the limit, limit unknown: the broker refuses, written bare", kafkaDefaultMax - 200, 0, "value,key,headers"},
		{"above franz-go's default producer limit, below the broker's", 1_000_100, kafkaDefaultMax, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &kgo.Record{Topic: "src", Offset: int64(i), Key: []byte("key"), Value: incompressible(tt.value),
				Headers: []kgo.RecordHeader{hdr("traceparent", "00-1-01")}, Timestamp: failedAt}
			w := NewWriter(cl, "dlq", func() int { return tt.limit })
			done := make(chan error, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			w.Write(ctx, src, info, func(err error) { done <- err })
			if err := <-done; err != nil {
				t.Fatalf("write: %v", err)
			}
			var got *kgo.Record
			for _, r := range c.ReadAll("dlq") {
				if Header(r, HeaderSourceOffset) == strconv.Itoa(i) {
					got = r
				}
			}
			if got == nil {
				t.Fatal("no dead letter")
			}
			if h := Header(got, HeaderTruncated); h != tt.truncated {
				t.Errorf("%s = %q, want %q", HeaderTruncated, h, tt.truncated)
			}
			if wantLen := map[bool]int{true: 0, false: tt.value}[tt.truncated != ""]; len(got.Value) != wantLen {
				t.Errorf("value of %d bytes, want %d", len(got.Value), wantLen)
			}
			for _, k := range []string{HeaderClass, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset, HeaderSourceTimestamp} {
				if Header(got, k) == "" {
					t.Errorf("header %s missing", k)
				}
			}
		})
	}
	t.Run("Size at the limit is taken", func(t *testing.T) {
		r := &kgo.Record{Topic: "dlq", Key: []byte("k"), Headers: []kgo.RecordHeader{hdr("a", "b")}}
		r.Value = incompressible(kafkaDefaultMax - Size(r))
		if Size(r) != kafkaDefaultMax {
			t.Fatalf("Size = %d", Size(r))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("a record of Size %d refused: %v", Size(r), err)
		}
	})
}

// incompressible returns n random bytes: the producer compresses batches,
// and the broker measures them compressed.
func incompressible(n int) []byte {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return b
}
