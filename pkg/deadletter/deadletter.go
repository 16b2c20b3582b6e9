// Package deadletter builds the dead-letter records of CONTRACT.md section 4
// and writes them to the dead-letter topic.
//
// A dead-letter record is the source record's key, value and headers, plus
// freight.* headers saying why it failed and where it came from. A record
// that already carries freight.source.* headers (a parked or replayed record)
// keeps them, so a dead letter always names where the event first came from.
// Headers never carry an access token: only the fields of Info are written.
package deadletter

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header names.
const (
	HeaderClass           = "freight.error.class"
	HeaderMessage         = "freight.error.message"
	HeaderCode            = "freight.error.code"
	HeaderSubcode         = "freight.error.subcode"
	HeaderFBTraceID       = "freight.fbtrace_id"
	HeaderPixelID         = "freight.pixel_id"
	HeaderEventID         = "freight.event_id"
	HeaderEventName       = "freight.event_name"
	HeaderSourceTopic     = "freight.source.topic"
	HeaderSourcePartition = "freight.source.partition"
	HeaderSourceOffset    = "freight.source.offset"
	HeaderSourceTimestamp = "freight.source.timestamp"
	HeaderAttempts        = "freight.attempts"
	HeaderFailedAt        = "freight.failed_at"
	HeaderReplayCount     = "freight.replay.count"
)

// Classes of failure.
const (
	ClassDecode           = "decode"
	ClassValidation       = "validation"
	ClassConfig           = "config"
	ClassRejected         = "rejected"
	ClassAuth             = "auth"
	ClassTooOld           = "too_old"
	ClassRetriesExhausted = "retries_exhausted"
)

// Classes lists every class, for metrics and docs.
var Classes = []string{ClassDecode, ClassValidation, ClassConfig, ClassRejected, ClassAuth, ClassTooOld, ClassRetriesExhausted}

// Info says why a record failed.
type Info struct {
	Class   string
	Message string
	// Code, Subcode and FBTraceID are Meta's, when Meta answered (Code > 0).
	Code, Subcode int
	FBTraceID     string
	PixelID       string
	EventID       string
	EventName     string
	Attempts      int
	FailedAt      time.Time
}

// Record builds the dead-letter record for src.
func Record(topic string, src *kgo.Record, info Info) *kgo.Record {
	headers := make([]kgo.RecordHeader, 0, len(src.Headers)+16)
	hasSource := false
	for _, h := range src.Headers {
		if h.Key == HeaderSourceTopic {
			hasSource = true
		}
	}
	for _, h := range src.Headers {
		// Drop what a previous failure wrote; we write it anew. Keep the
		// replay count and, for parked or replayed records, the source.
		if strings.HasPrefix(h.Key, "freight.") && h.Key != HeaderReplayCount &&
			!strings.HasPrefix(h.Key, "freight.source.") && !strings.HasPrefix(h.Key, "freight.park.") {
			continue
		}
		headers = append(headers, h)
	}
	add := func(k, v string) { headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	add(HeaderClass, info.Class)
	add(HeaderMessage, info.Message)
	if info.Code > 0 {
		add(HeaderCode, strconv.Itoa(info.Code))
		if info.Subcode > 0 {
			add(HeaderSubcode, strconv.Itoa(info.Subcode))
		}
	}
	if info.FBTraceID != "" {
		add(HeaderFBTraceID, info.FBTraceID)
	}
	if info.PixelID != "" {
		add(HeaderPixelID, info.PixelID)
	}
	if info.EventID != "" {
		add(HeaderEventID, info.EventID)
	}
	if info.EventName != "" {
		add(HeaderEventName, info.EventName)
	}
	if !hasSource {
		add(HeaderSourceTopic, src.Topic)
		add(HeaderSourcePartition, strconv.Itoa(int(src.Partition)))
		add(HeaderSourceOffset, strconv.FormatInt(src.Offset, 10))
		add(HeaderSourceTimestamp, strconv.FormatInt(src.Timestamp.UnixMilli(), 10))
	}
	add(HeaderAttempts, strconv.Itoa(info.Attempts))
	failedAt := info.FailedAt
	if failedAt.IsZero() {
		failedAt = time.Now()
	}
	add(HeaderFailedAt, failedAt.UTC().Format(time.RFC3339))
	return &kgo.Record{Topic: topic, Key: src.Key, Value: src.Value, Headers: headers}
}

// Header returns the value of a header, "" when absent.
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Writer produces dead-letter records. The client must produce with acks
// from all in-sync replicas (franz-go's default), since the source offset is
// committed once the write is acknowledged.
type Writer struct {
	cl    *kgo.Client
	topic string
}

// NewWriter returns a writer to topic.
func NewWriter(cl *kgo.Client, topic string) *Writer { return &Writer{cl: cl, topic: topic} }

// Write produces the dead letter asynchronously; done is called with the
// broker's verdict, or at once with kgo.ErrMaxBuffered when the producer's
// buffer is full: Write never blocks, so that its caller (the relay's
// coordinator) never waits on a broker that does not answer.
func (w *Writer) Write(ctx context.Context, src *kgo.Record, info Info, done func(error)) {
	w.cl.TryProduce(ctx, Record(w.topic, src, info), func(_ *kgo.Record, err error) { done(err) })
}
