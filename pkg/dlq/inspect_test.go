package dlq

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/freight-relay/freight/pkg/deadletter"
)

func TestTallyGroups(t *testing.T) {
	recs := []struct {
		headers []string
	}{
		{[]string{deadletter.HeaderPixelID, "111", deadletter.HeaderCode, "100", deadletter.HeaderEventID, "e1",
			deadletter.HeaderFailedAt, "2026-03-10T09:10:00Z"}},
		{[]string{deadletter.HeaderPixelID, "111", deadletter.HeaderCode, "100", deadletter.HeaderEventID, "e2",
			deadletter.HeaderMessage, "bad email ann@example.com", deadletter.HeaderFailedAt, "2026-03-10T10:20:00Z"}},
		{[]string{deadletter.HeaderPixelID, "111", deadletter.HeaderCode, "100", deadletter.HeaderEventID, "e0",
			deadletter.HeaderFailedAt, "2026-03-10T08:00:00Z"}}, // older, read last: not the newest
		{[]string{deadletter.HeaderPixelID, "222", deadletter.HeaderClass, "auth", deadletter.HeaderCode, "190",
			deadletter.HeaderEventID, "e3", deadletter.HeaderFailedAt, "2026-03-10T10:30:00Z"}},
		{[]string{deadletter.HeaderClass, "", deadletter.HeaderFailedAt, ""}}, // foreign
	}
	build := func(o InspectOptions) *Report {
		tl := newTally("freight-dlq", o)
		for i, r := range recs {
			rec := dead("{}", r.headers...)
			rec.Offset = int64(i)
			tl.add(read(rec))
		}
		return tl.report()
	}

	rep := build(InspectOptions{})
	if rep.Read != 5 || rep.Matched != 5 || rep.Foreign != 1 || len(rep.Groups) != 3 {
		t.Fatalf("read %d matched %d foreign %d groups %d", rep.Read, rep.Matched, rep.Foreign, len(rep.Groups))
	}
	g := rep.Groups[0]
	if g.Count != 3 || g.Keys["class"] != "rejected" || g.Keys["pixel"] != "111" || g.Keys["code"] != "100" {
		t.Fatalf("first group %+v", g)
	}
	if g.Newest.EventID != "e2" || g.Newest.Offset != 1 || !strings.HasPrefix(g.Newest.Message, "bad email sha256:") {
		t.Errorf("newest example %+v: want e2 with the email hashed", g.Newest)
	}
	if !g.First.Equal(time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)) || !g.Last.Equal(time.Date(2026, 3, 10, 10, 20, 0, 0, time.UTC)) {
		t.Errorf("first %v last %v", g.First, g.Last)
	}
	if rep.Groups[2].Keys["class"] != ClassForeign && rep.Groups[1].Keys["class"] != ClassForeign {
		t.Errorf("no foreign group: %+v", rep.Groups)
	}

	// By class only, with hour buckets.
	rep = build(InspectOptions{GroupBy: []string{"class"}, Bucket: time.Hour})
	var rows []string
	for _, g := range rep.Groups {
		rows = append(rows, g.Keys["class"]+"@"+g.Keys["bucket"]+"="+itoa(g.Count))
	}
	want := "rejected@2026-03-10T08:00:00Z=1 rejected@2026-03-10T09:00:00Z=1 rejected@2026-03-10T10:00:00Z=1"
	if got := strings.Join(rows, " "); !strings.Contains(got, want) || !strings.Contains(got, "auth@2026-03-10T10:00:00Z=1") {
		t.Errorf("buckets: %s", got)
	}

	// A filter counts what it reads and groups what it selects.
	rep = build(InspectOptions{Filter: Filter{Classes: []string{"auth"}}})
	if rep.Read != 5 || rep.Matched != 1 || len(rep.Groups) != 1 || rep.Groups[0].Newest.EventID != "e3" {
		t.Errorf("filtered: %+v", rep)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestReportTableAndJSON(t *testing.T) {
	tl := newTally("freight-dlq", InspectOptions{})
	tl.add(read(dead("{}", deadletter.HeaderPixelID, "111", deadletter.HeaderEventID, "e1",
		deadletter.HeaderMessage, "token EAABsbCS1iHgBAKZCZA0123456789abcdef refused\nsecond line "+strings.Repeat("x", 200))))
	tl.add(read(dead("{}", deadletter.HeaderClass, "")))
	rep := tl.report()
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "CLASS") || !strings.Contains(lines[0], "MESSAGE") {
		t.Fatalf("want a header, two rows and a summary:\n%s", out)
	}
	if strings.Contains(out, "EAAB") || !strings.Contains(out, "[redacted]") || !strings.Contains(out, "…") {
		t.Errorf("the message must be sanitized, on one line and cut:\n%s", out)
	}
	if !strings.Contains(lines[3], "2 records read") || !strings.Contains(lines[3], "1 foreign") {
		t.Errorf("summary %q", lines[3])
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil || back["foreign"] != 1.0 || len(back["groups"].([]any)) != 2 {
		t.Errorf("JSON %s (%v)", js, err)
	}
	if strings.Contains(string(js), "EAAB") {
		t.Error("a token in the JSON")
	}
}
