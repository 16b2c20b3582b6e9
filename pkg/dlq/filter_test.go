package dlq

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/deadletter"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// dead is a dead letter as the relay writes it, with the given headers
// overriding or adding to the defaults ("" removes one).
func dead(value string, headers ...string) *kgo.Record {
	h := map[string]string{
		deadletter.HeaderClass:           deadletter.ClassRejected,
		deadletter.HeaderMessage:         "Meta refused it",
		deadletter.HeaderSourceTopic:     "web-events",
		deadletter.HeaderSourcePartition: "0",
		deadletter.HeaderSourceOffset:    "7",
		deadletter.HeaderSourceTimestamp: "1773100800000", // 2026-03-10T00:00:00Z
		deadletter.HeaderAttempts:        "1",
		deadletter.HeaderFailedAt:        "2026-03-10T11:00:00Z",
	}
	order := []string{deadletter.HeaderClass, deadletter.HeaderMessage, deadletter.HeaderSourceTopic,
		deadletter.HeaderSourcePartition, deadletter.HeaderSourceOffset, deadletter.HeaderSourceTimestamp,
		deadletter.HeaderAttempts, deadletter.HeaderFailedAt}
	for i := 0; i+1 < len(headers); i += 2 {
		if _, ok := h[headers[i]]; !ok {
			order = append(order, headers[i])
		}
		h[headers[i]] = headers[i+1]
	}
	r := &kgo.Record{Topic: "freight-dlq", Value: []byte(value), Timestamp: now.Add(-30 * time.Minute)}
	for _, k := range order {
		if v := h[k]; v != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
	}
	return r
}

func TestRead(t *testing.T) {
	tests := []struct {
		name string
		rec  *kgo.Record
		want letter
	}{
		{"freight's dead letter", dead("{}", deadletter.HeaderPixelID, "111", deadletter.HeaderEventID, "e1",
			deadletter.HeaderEventName, "Purchase", deadletter.HeaderCode, "100", deadletter.HeaderSubcode, "2804003"),
			letter{class: "rejected", pixel: "111", eventID: "e1", eventName: "Purchase", message: "Meta refused it",
				code: "100/2804003", sourceTopic: "web-events", failedAt: time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC)}},
		{"a code without subcode", dead("{}", deadletter.HeaderCode, "190"),
			letter{class: "rejected", message: "Meta refused it", code: "190", sourceTopic: "web-events",
				failedAt: time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC)}},
		{"replayed twice", dead("{}", deadletter.HeaderReplayCount, "2"),
			letter{class: "rejected", message: "Meta refused it", sourceTopic: "web-events", replays: 2,
				failedAt: time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC)}},
		{"a replay count that is not one", dead("{}", deadletter.HeaderReplayCount, "lots"),
			letter{class: "rejected", message: "Meta refused it", sourceTopic: "web-events", badReplayCount: true,
				failedAt: time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC)}},
		{"failed_at unreadable: the record's timestamp", dead("{}", deadletter.HeaderFailedAt, "yesterday"),
			letter{class: "rejected", message: "Meta refused it", sourceTopic: "web-events", failedAt: now.Add(-30 * time.Minute)}},
		{"no class: foreign", dead("{}", deadletter.HeaderClass, ""),
			letter{class: ClassForeign, foreign: true, message: "Meta refused it", sourceTopic: "web-events",
				failedAt: time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC)}},
		{"no source topic: foreign", dead("{}", deadletter.HeaderSourceTopic, ""),
			letter{class: ClassForeign, foreign: true, message: "Meta refused it",
				failedAt: time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC)}},
		{"no headers at all", &kgo.Record{Value: []byte("x"), Timestamp: now},
			letter{class: ClassForeign, foreign: true, failedAt: now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := read(tt.rec)
			got.rec = nil
			if !got.failedAt.Equal(tt.want.failedAt) {
				t.Errorf("failedAt %v, want %v", got.failedAt, tt.want.failedAt)
			}
			got.failedAt, tt.want.failedAt = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	l := read(dead("{}", deadletter.HeaderPixelID, "111", deadletter.HeaderCode, "100", deadletter.HeaderSubcode, "2804003"))
	foreign := read(&kgo.Record{Timestamp: time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC)})
	at := time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC) // l's failed_at
	tests := []struct {
		name string
		f    Filter
		l    letter
		want bool
	}{
		{"no filter", Filter{}, l, true},
		{"class", Filter{Classes: []string{"auth", "rejected"}}, l, true},
		{"other class", Filter{Classes: []string{"auth"}}, l, false},
		{"pixel", Filter{Pixels: []string{"111"}}, l, true},
		{"other pixel", Filter{Pixels: []string{"222"}}, l, false},
		{"code matches every subcode", Filter{Codes: []string{"100"}}, l, true},
		{"code and subcode", Filter{Codes: []string{"100/2804003"}}, l, true},
		{"other subcode", Filter{Codes: []string{"100/33"}}, l, false},
		{"other code", Filter{Codes: []string{"190"}}, l, false},
		{"a code filter never matches a record without code", Filter{Codes: []string{"100"}}, foreign, false},
		{"since, inclusive", Filter{Since: at}, l, true},
		{"since, after", Filter{Since: at.Add(time.Second)}, l, false},
		{"until, inclusive", Filter{Until: at}, l, true},
		{"until, before", Filter{Until: at.Add(-time.Second)}, l, false},
		{"a window", Filter{Since: at.Add(-time.Hour), Until: at.Add(time.Hour)}, l, true},
		{"every part must match", Filter{Classes: []string{"rejected"}, Pixels: []string{"222"}}, l, false},
		{"foreign by class", Filter{Classes: []string{ClassForeign}}, foreign, true},
		{"foreign by time: the record's timestamp", Filter{Since: at}, foreign, true},
		{"foreign and a pixel", Filter{Pixels: []string{"111"}}, foreign, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(tt.l); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{"2026-03-09T08:30:00Z", time.Date(2026, 3, 9, 8, 30, 0, 0, time.UTC), ""},
		{"2026-03-09T08:30:00+02:00", time.Date(2026, 3, 9, 6, 30, 0, 0, time.UTC), ""},
		{"2026-03-09T08:30:00.5Z", time.Date(2026, 3, 9, 8, 30, 0, 5e8, time.UTC), ""},
		{"2h", now.Add(-2 * time.Hour), ""},
		{" 90m ", now.Add(-90 * time.Minute), ""},
		{"1h30m", now.Add(-90 * time.Minute), ""},
		{"3d", now.Add(-72 * time.Hour), ""},
		{"0", now, ""},
		{"", time.Time{}, "empty"},
		{"-2h", time.Time{}, "negative"},
		{"d", time.Time{}, "neither"},
		{"1.5d", time.Time{}, "neither"},
		{"-3d", time.Time{}, "neither"},
		{"yesterday", time.Time{}, "neither"},
		{"2026-03-09", time.Time{}, "neither"},
		{"99999999d", time.Time{}, "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTime(tt.in, now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestParseClassesCodesGroupBy(t *testing.T) {
	tests := []struct {
		name  string
		parse func() error
		ok    bool
	}{
		{"every class", func() error { _, err := ParseClasses(ValidClasses); return err }, true},
		{"a typo", func() error { _, err := ParseClasses([]string{"reject"}); return err }, false},
		{"codes", func() error { _, err := ParseCodes([]string{"100", "100/2804003", "190"}); return err }, true},
		{"not digits", func() error { _, err := ParseCodes([]string{"abc"}); return err }, false},
		{"empty subcode", func() error { _, err := ParseCodes([]string{"100/"}); return err }, false},
		{"negative", func() error { _, err := ParseCodes([]string{"-1"}); return err }, false},
		{"group by", func() error { _, err := ParseGroupBy("class, pixel,code,topic,event"); return err }, true},
		{"group by nothing", func() error { _, err := ParseGroupBy(" , "); return err }, false},
		{"group by unknown", func() error { _, err := ParseGroupBy("class,token"); return err }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.parse(); (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if got, _ := ParseGroupBy("pixel,class,pixel"); strings.Join(got, ",") != "pixel,class" {
		t.Errorf("ParseGroupBy keeps the order and drops repeats: %v", got)
	}
}

func TestTooOld(t *testing.T) {
	day := 24 * time.Hour
	sec := func(d time.Duration) string { return strconv.FormatInt(now.Add(-d).Unix(), 10) }
	ms := func(d time.Duration) string { return strconv.FormatInt(now.Add(-d).UnixMilli(), 10) }
	tests := []struct {
		name string
		rec  *kgo.Record
		want bool
	}{
		{"JSON, seconds, 6 days", dead(`{"event_time":` + sec(6*day) + `}`), false},
		{"JSON, seconds, 8 days", dead(`{"event_time":` + sec(8*day) + `}`), true},
		{"JSON, milliseconds, 8 days", dead(`{"event_time":` + ms(8*day) + `}`), true},
		{"JSON, milliseconds, 1 day", dead(`{"event_time":` + ms(day) + `}`), false},
		{"a minute short of 7 days is past the safety margin", dead(`{"event_time":` + sec(7*day-30*time.Second) + `}`), true},
		{"physical_store gets 62 days", dead(`{"event_time":` + sec(30*day) + `,"action_source":"physical_store"}`), false},
		{"physical_store, 63 days", dead(`{"event_time":` + sec(63*day) + `,"action_source":"physical_store"}`), true},
		{"JSON without event_time: the source timestamp (fresh)", dead(`{"event_id":"x"}`), false},
		{"event_time a string: the source timestamp", dead(`{"event_time":"` + sec(8*day) + `"}`), false},
		{"not JSON (Avro): the source timestamp, 8 days",
			dead("\x00\x00\x00\x00\x01binary", deadletter.HeaderSourceTimestamp, ms(8*day)), true},
		{"not JSON: the source timestamp, 2 days",
			dead("\x00\x00\x00\x00\x01binary", deadletter.HeaderSourceTimestamp, ms(2*day)), false},
		{"no source timestamp: the dead letter's own time", &kgo.Record{Value: []byte("x"), Timestamp: now.Add(-8 * day)}, true},
		{"nothing to tell by: not too old, the relay decides", &kgo.Record{Value: []byte("x")}, false},
		{"a JSON array", dead(`[1,2]`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tooOld(tt.rec, now); got != tt.want {
				at, as, ok := eventTime(tt.rec)
				t.Errorf("tooOld = %v, want %v (event time %v %q %v)", got, tt.want, at, as, ok)
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		name, in string
		gone     []string // must not appear
		kept     []string // must appear
	}{
		{"a sentence stays", "event_time 2026-03-01T00:00:00Z is older than Meta accepts for pixel 123456789012345",
			nil, []string{"event_time 2026-03-01T00:00:00Z is older than Meta accepts for pixel 123456789012345"}},
		{"an access token", "Error validating access token EAABsbCS1iHgBAKZCZA0123456789abcdef",
			[]string{"EAABsbCS1iHgBAKZCZA0123456789abcdef"}, []string{"[redacted]"}},
		{"a token parameter", "GET /v25.0/1/events?access_token=abc123secret&x=1", []string{"abc123secret"},
			[]string{"access_token=[redacted]&x=1"}},
		{"a token in JSON", `{"access_token": "abc123secret"}`, []string{"abc123secret"}, []string{"[redacted]"}},
		{"an email", "the email Ann.Smith@Example.com is invalid", []string{"Ann.Smith", "Example.com"},
			[]string{"the email sha256:", " is invalid"}},
		{"equal emails look equal", "a@x.com A@X.COM", nil, []string{hashed("a@x.com") + " " + hashed("a@x.com")}},
		{"a phone in international form", "phone +1 (650) 555-1212 invalid", []string{"555-1212"},
			[]string{"phone " + hashed("16505551212") + " invalid"}},
		{"emails that overlap", "a@b.cc@d.ee", []string{"@"}, nil},
		{"codes and ids stay", "code 100 subcode 2804003 fbtrace_id AbC123", nil, []string{"100", "2804003", "AbC123"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sanitize(tt.in)
			for _, g := range tt.gone {
				if strings.Contains(got, g) {
					t.Errorf("%q still holds %q", got, g)
				}
			}
			for _, k := range tt.kept {
				if !strings.Contains(got, k) {
					t.Errorf("%q lacks %q", got, k)
				}
			}
		})
	}
}
