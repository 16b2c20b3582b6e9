package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/kafkatest"
)

// deadLetter is a dead letter as the relay writes it, for an event of
// pixel from the web topic.
func deadLetter(id, pixel string, info deadletter.Info) *kgo.Record {
	src := &kgo.Record{Topic: "web-events", Partition: 0, Offset: 3, Timestamp: time.Now(), Key: []byte("k-" + id),
		Value: fmt.Appendf(nil, `{"event_id":%q,"event_name":"Purchase","event_time":%d,"pixel_id":%q}`, id, time.Now().Unix(), pixel)}
	info.PixelID, info.EventID, info.EventName, info.FailedAt = pixel, id, "Purchase", time.Now()
	return deadletter.Record("freight-dlq", src, info)
}

func TestDLQInspectAndReplayFromTheCommandLine(t *testing.T) {
	k := kafkatest.New(t, 1, "freight-dlq", "web-events", "crm-events")
	rejected := deadletter.Info{Class: deadletter.ClassRejected, Message: "The user_data parameter em ann@example.com is invalid.", Code: 100, Subcode: 2804019}
	auth := deadletter.Info{Class: deadletter.ClassAuth, Message: "Error validating access token EAABsbCS1iHgBAKZCZA0123456789abcdef", Code: 190}
	k.Produce(deadLetter("r1", "111", rejected), deadLetter("r2", "111", rejected), deadLetter("a1", "222", auth),
		&kgo.Record{Topic: "freight-dlq", Value: []byte("someone else's")})
	path := writeConfig(t, "kafka:\n  brokers: [\""+k.Brokers()[0]+"\"]\n")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	code, stdout, stderr := runCLI(t, ctx, "dlq", "inspect", "-c", path)
	if code != 0 {
		t.Fatalf("inspect: exit %d\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "CLASS") {
		t.Fatalf("want a header, 3 groups and a summary:\n%s", stdout)
	}
	if f := strings.Fields(lines[1]); f[0] != "rejected" || f[1] != "111" || f[2] != "100/2804019" || f[3] != "2" || f[5] != "r2" {
		t.Errorf("first row %q", lines[1])
	}
	if strings.Contains(stdout, "ann@example.com") || strings.Contains(stdout, "EAAB") {
		t.Errorf("customer data or a token printed:\n%s", stdout)
	}
	if !strings.Contains(lines[4], "4 records read") || !strings.Contains(lines[4], "1 foreign") {
		t.Errorf("summary %q", lines[4])
	}

	code, stdout, _ = runCLI(t, ctx, "dlq", "inspect", "-c", path, "--json", "--group-by", "class", "--bucket", "1h", "--class", "auth")
	var rep struct {
		Read, Matched int
		Groups        []struct {
			Keys   map[string]string
			Count  int
			Newest struct {
				EventID string `json:"event_id"`
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d, JSON %v:\n%s", code, err, stdout)
	}
	if rep.Read != 4 || rep.Matched != 1 || len(rep.Groups) != 1 || rep.Groups[0].Keys["bucket"] == "" || rep.Groups[0].Newest.EventID != "a1" {
		t.Errorf("JSON report %+v", rep)
	}

	code, stdout, stderr = runCLI(t, ctx, "dlq", "replay", "-c", path, "--dry-run")
	if code != 0 || !strings.Contains(stdout, "would replay") || !strings.Contains(stdout, "dry run") {
		t.Fatalf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	if n := len(k.ReadAll("web-events")); n != 0 {
		t.Fatalf("a dry run produced %d records", n)
	}

	code, stdout, stderr = runCLI(t, ctx, "dlq", "replay", "-c", path, "--class", "rejected", "--rate", "1000")
	if code != 0 {
		t.Fatalf("replay: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"replayed  2", "to web-events  2", "skipped by filter  2", "records read  4"} {
		if !strings.Contains(squeeze(stdout), want) {
			t.Errorf("replay output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stderr, "\r") {
		t.Error("a progress bar although stderr is not a terminal")
	}
	if n := len(k.ReadAll("web-events")); n != 2 {
		t.Errorf("%d records on web-events, want 2", n)
	}
	if c := k.Committed("freight-replay")["freight-dlq"][0]; c != 4 {
		t.Errorf("the replay group committed %d, want 4", c)
	}
	// Its place is kept: the next run reads nothing.
	code, stdout, _ = runCLI(t, ctx, "dlq", "replay", "-c", path)
	if code != 0 || !strings.Contains(squeeze(stdout), "records read  0") {
		t.Errorf("second replay: exit %d\n%s", code, stdout)
	}
}

// squeeze trims lines and turns runs of spaces into two, so that
// assertions do not depend on column widths.
func squeeze(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		b.WriteString(spaces.ReplaceAllString(strings.TrimSpace(line), "  "))
		b.WriteByte('\n')
	}
	return b.String()
}

var spaces = regexp.MustCompile(`\s{2,}`)

func TestDLQBadInputExits2(t *testing.T) {
	path := writeConfig(t, "kafka:\n  brokers: [\"127.0.0.1:1\"]\n")
	tests := []struct {
		args []string
		key  string
	}{
		{[]string{"dlq"}, ""},
		{[]string{"dlq", "purge"}, ""},
		{[]string{"dlq", "inspect", "-c", path, "--since", "yesterday"}, "--since"},
		{[]string{"dlq", "inspect", "-c", path, "--since", "1h", "--until", "2h"}, "--until"},
		{[]string{"dlq", "inspect", "-c", path, "--group-by", "class,token"}, "--group-by"},
		{[]string{"dlq", "replay", "-c", path, "--class", "reject"}, "--class"},
		{[]string{"dlq", "replay", "-c", path, "--code", "one"}, "--code"},
		{[]string{"dlq", "replay", "-c", path, "--limit", "-1"}, "--limit"},
		{[]string{"dlq", "replay", "-c", path, "--nope"}, ""},
		{[]string{"dlq", "replay", "-c", "/does/not/exist.yaml"}, "-c"},
		{[]string{"dlq", "replay", "-c", path, "extra"}, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, context.Background(), tt.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			if tt.key != "" && !strings.Contains(stderr, tt.key) {
				t.Errorf("stderr does not name %s:\n%s", tt.key, stderr)
			}
		})
	}
}

// A missing topic or a broker that is gone is one line and exit 1, within
// --timeout.
func TestDLQKafkaProblemsExit1(t *testing.T) {
	k := kafkatest.New(t, 1, "web-events")
	gone, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "freight-dlq"))
	if err != nil {
		t.Fatal(err)
	}
	goneAddr := gone.ListenAddrs()[0]
	gone.Close()
	tests := []struct {
		name, broker string
		args         []string
		want         string
	}{
		{"missing dead-letter topic, inspect", k.Brokers()[0], []string{"inspect"}, "topic does not exist: freight-dlq"},
		{"missing dead-letter topic, replay", k.Brokers()[0], []string{"replay"}, "topic does not exist: freight-dlq"},
		{"broker gone, inspect", goneAddr, []string{"inspect"}, "cannot reach the brokers"},
		{"broker gone, replay", goneAddr, []string{"replay", "--dry-run"}, "cannot reach the brokers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, "kafka:\n  brokers: [\""+tt.broker+"\"]\n")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			args := append([]string{"dlq"}, tt.args...)
			code, _, stderr := runCLI(t, ctx, append(args, "-c", path, "--timeout", "3s")...)
			if code != 1 || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, tt.broker) {
				t.Fatalf("exit %d, stderr %q; want 1 and one line with %q and the broker", code, stderr, tt.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
				t.Errorf("%d lines, want one:\n%s", n+1, stderr)
			}
		})
	}
}
