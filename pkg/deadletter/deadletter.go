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
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
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
	// HeaderTruncated names what a dead letter too large for its topic was
	// written without ("value"; "value,key,headers" when even that did not
	// fit). Its freight.source.* headers say where the original is.
	HeaderTruncated = "freight.error.truncated"
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

// Size is a record's size in a record batch of its own, as a broker
// measures it against max.message.bytes, rounded up: the batch header, the
// record's fields with their longest length prefixes, and its headers.
func Size(r *kgo.Record) int {
	const batchHeader, recordFields, perHeader = 61, 5 + 1 + 10 + 5 + 5 + 5 + 5, 5 + 5
	n := batchHeader + recordFields + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += perHeader + len(h.Key) + len(h.Value)
	}
	return n
}

// TooLarge reports whether a produce failed for the record's size, which
// no retry cures.
func TooLarge(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge)
}

// Truncate returns dl without its value, saying so in HeaderTruncated; with
// all set, without its key and the source record's own headers too (the
// freight.* headers stay).
func Truncate(dl *kgo.Record, all bool) *kgo.Record {
	what := "value"
	out := &kgo.Record{Topic: dl.Topic, Key: dl.Key}
	for _, h := range dl.Headers {
		if h.Key == HeaderTruncated || all && !strings.HasPrefix(h.Key, "freight.") {
			continue
		}
		out.Headers = append(out.Headers, h)
	}
	if all {
		what, out.Key = "value,key,headers", nil
	}
	out.Headers = append(out.Headers, kgo.RecordHeader{Key: HeaderTruncated, Value: []byte(what)})
	return out
}

// Fit returns dl as it fits in limit bytes (Size): whole, without its
// value, or without its key and original headers too. limit 0 is no limit.
func Fit(dl *kgo.Record, limit int) *kgo.Record {
	if limit <= 0 || Size(dl) <= limit {
		return dl
	}
	if t := Truncate(dl, false); Size(t) <= limit {
		return t
	}
	return Truncate(dl, true)
}

// Writer produces dead-letter records. The client must produce with acks
// from all in-sync replicas (franz-go's default), since the source offset is
// committed once the write is acknowledged.
type Writer struct {
	cl    *kgo.Client
	topic string
	limit func() int
}

// NewWriter returns a writer to topic. limit is the largest record the
// topic takes (Size), asked at each write; nil or 0 is no limit of ours.
func NewWriter(cl *kgo.Client, topic string, limit func() int) *Writer {
	if limit == nil {
		limit = func() int { return 0 }
	}
	return &Writer{cl: cl, topic: topic, limit: limit}
}

// Write produces the dead letter asynchronously; done is called with the
// broker's verdict, or at once with kgo.ErrMaxBuffered when the producer's
// buffer is full: Write never blocks, so that its caller (the relay's
// coordinator) never waits on a broker that does not answer.
//
// A dead letter larger than the limit is written truncated (Fit); one the
// broker still refuses for its size is written again without its key and
// headers: a size error never comes back to the caller, which retries the
// others.
func (w *Writer) Write(ctx context.Context, src *kgo.Record, info Info, done func(error)) {
	rec := Fit(Record(w.topic, src, info), w.limit())
	w.cl.TryProduce(ctx, rec, func(r *kgo.Record, err error) {
		if !TooLarge(err) || Header(r, HeaderTruncated) == "value,key,headers" {
			done(err)
			return
		}
		w.cl.TryProduce(ctx, Truncate(r, true), func(_ *kgo.Record, err error) { done(err) })
	})
}
