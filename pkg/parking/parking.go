// Package parking builds and reads the records of the parking topic
// (CONTRACT.md, "Parked events"): the events of a pixel that cannot be
// served for a while, moved out of the way so that the other pixels' offsets
// move on, and read back when their time has come.
//
// A parked record is its source record's key, value and headers, plus
// freight.park.* headers saying until when it waits and why, and the
// freight.source.* headers naming where it first came from; re-parking keeps
// those, so a dead letter of a parked event names its origin.
package parking

import (
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/deadletter"
)

// Header names. Until and Reason are the contract's; the others carry what
// a parked event's retries need across parkings.
const (
	HeaderUntil        = "freight.park.until"         // unix ms
	HeaderReason       = "freight.park.reason"        // auth, throttled, unavailable, deprecated
	HeaderCount        = "freight.park.count"         // how many times parked, 1 the first time
	HeaderFirstFailure = "freight.park.first_failure" // unix ms of the first failed send
	HeaderAttempts     = "freight.park.attempts"      // sends tried so far
)

// Info is a parked event's state.
type Info struct {
	Until        time.Time
	Reason       string
	Count        int
	FirstFailure time.Time
	Attempts     int
}

// Wait is how long an event waits at its count-th parking: parkAfter the
// first time, twice as long each next time, at most maxWait.
func Wait(count int, parkAfter, maxWait time.Duration) time.Duration {
	d := parkAfter
	for i := 1; i < count && d < maxWait; i++ {
		d *= 2
	}
	return min(d, maxWait)
}

// Record builds the parking record of src: freight.source.* name src's
// place, unless src carries them already (it was parked before, or
// replayed).
func Record(topic string, src *kgo.Record, info Info) *kgo.Record {
	headers := make([]kgo.RecordHeader, 0, len(src.Headers)+9)
	hasSource := false
	for _, h := range src.Headers {
		if strings.HasPrefix(h.Key, "freight.park.") {
			continue // written anew below
		}
		if h.Key == deadletter.HeaderSourceTopic {
			hasSource = true
		}
		headers = append(headers, h)
	}
	add := func(k, v string) { headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	if !hasSource {
		add(deadletter.HeaderSourceTopic, src.Topic)
		add(deadletter.HeaderSourcePartition, strconv.Itoa(int(src.Partition)))
		add(deadletter.HeaderSourceOffset, strconv.FormatInt(src.Offset, 10))
		add(deadletter.HeaderSourceTimestamp, strconv.FormatInt(src.Timestamp.UnixMilli(), 10))
	}
	add(HeaderUntil, strconv.FormatInt(info.Until.UnixMilli(), 10))
	add(HeaderReason, info.Reason)
	add(HeaderCount, strconv.Itoa(info.Count))
	add(HeaderFirstFailure, strconv.FormatInt(info.FirstFailure.UnixMilli(), 10))
	add(HeaderAttempts, strconv.Itoa(info.Attempts))
	return &kgo.Record{Topic: topic, Key: src.Key, Value: src.Value, Headers: headers}
}

// Parse reads a parked record's state and the topic it first came from. A
// record without freight's headers (written by someone else) is not ok.
func Parse(headers []kgo.RecordHeader) (info Info, source string, ok bool) {
	get := func(k string) string {
		for i := len(headers) - 1; i >= 0; i-- { // the last of repeated headers counts
			if headers[i].Key == k {
				return string(headers[i].Value)
			}
		}
		return ""
	}
	source = get(deadletter.HeaderSourceTopic)
	until, err1 := strconv.ParseInt(get(HeaderUntil), 10, 64)
	if source == "" || err1 != nil {
		return Info{}, "", false
	}
	info.Until = time.UnixMilli(until)
	info.Reason = get(HeaderReason)
	info.Count, _ = strconv.Atoi(get(HeaderCount))
	info.Count = max(info.Count, 1)
	if ms, err := strconv.ParseInt(get(HeaderFirstFailure), 10, 64); err == nil {
		info.FirstFailure = time.UnixMilli(ms)
	}
	info.Attempts, _ = strconv.Atoi(get(HeaderAttempts))
	return info, source, true
}
