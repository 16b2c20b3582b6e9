package dlq

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/deadletter"
)

// The T of --since and --until comes from a person at night: whatever it
// is, ParseTime answers a time or an error, never panics, and a duration
// never lands in the future.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2h", "3d", "2026-03-09T08:30:00Z", "-1h", "99999d", "1e9h", "0", "", "d", "2562047h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, now)
		if err == nil && !strings.Contains(s, "T") && got.After(now) {
			t.Errorf("%q is %v, after now", s, got)
		}
	})
}

// A dead letter's value and headers are anyone's bytes: reading them never
// panics.
func FuzzReadLetter(f *testing.F) {
	f.Add([]byte(`{"event_time":1773100800,"action_source":"physical_store"}`), "1773100800000", "2", "2026-03-10T11:00:00Z")
	f.Add([]byte(`{"event_time":1e300}`), "-5", "-1", "")
	f.Add([]byte("\x00\x00\x00\x00\x01"), "x", "lots", "now")
	f.Add([]byte(strings.Repeat("[", 100000)), "", "", "")
	f.Fuzz(func(t *testing.T, value []byte, sourceTS, replays, failedAt string) {
		r := &kgo.Record{Value: value, Headers: []kgo.RecordHeader{
			{Key: deadletter.HeaderClass, Value: []byte("rejected")},
			{Key: deadletter.HeaderSourceTopic, Value: []byte("web-events")},
			{Key: deadletter.HeaderSourceTimestamp, Value: []byte(sourceTS)},
			{Key: deadletter.HeaderReplayCount, Value: []byte(replays)},
			{Key: deadletter.HeaderFailedAt, Value: []byte(failedAt)},
		}}
		l := read(r)
		if l.replays < 0 && !l.badReplayCount {
			t.Errorf("a negative replay count %d was taken", l.replays)
		}
		_ = tooOld(r, time.Now())
		_ = replayHeaders(r.Headers, l.replays+1)
	})
}

// Whatever a message holds, the sanitized text has no e-mail address, token
// or international phone number left, and stays valid UTF-8 if it was.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"a@b.cc@d.ee", "token=abc", "+1 650 555 1212", "EAABsbCS1iHgBAKZCZA0123456789abcdef",
		`{"access_token":"x"}`, "ann@example.com+1 555 555 5555", "plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Sanitize(s)
		for _, re := range []interface{ MatchString(string) bool }{emailRe, tokenRe, phoneRe} {
			if re.MatchString(got) {
				t.Errorf("Sanitize(%q) = %q still matches %v", s, got, re)
			}
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Errorf("Sanitize(%q) = %q is not UTF-8", s, got)
		}
	})
}
