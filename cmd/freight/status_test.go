package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/freight-relay/freight/pkg/kafkatest"
	"github.com/freight-relay/freight/pkg/relay"
)

// freight status reads a running freight's GET /status: a table, or the
// JSON with --json; exit 0 while every pixel is ok or idle, 1 once one is
// not, and 1 when nothing answers.
func TestStatusReadsARunningFreight(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults string
		state  string
		code   int
	}{
		{"served", "", relay.StateOK, 0},
		{"token refused", "auth=1", relay.StateAuthError, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listen := freePort(t)
			path := writeConfig(t, "http:\n  listen: "+listen+"\n")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			var devOut, devErr bytes.Buffer
			go func() {
				done <- run(ctx, []string{"dev", "--events", "0", "--rate", "200", "--listen", listen, "--faults", tc.faults}, &devOut, &devErr)
			}()
			defer func() {
				cancel()
				if code := <-done; code != 0 {
					t.Errorf("freight dev exit %d\n%s%s", code, devOut.String(), devErr.String())
				}
			}()

			var code int
			var stdout, stderr string
			kafkatest.Eventually(t, 60*time.Second, "a pixel in state "+tc.state, func() bool {
				code, stdout, stderr = runCLI(t, context.Background(), "status", "-c", path)
				return strings.Contains(stdout, " "+tc.state+" ")
			})
			if code != tc.code {
				t.Errorf("exit %d with a pixel %s, want %d\n%s%s", code, tc.state, tc.code, stdout, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if len(lines) < 2 || strings.Join(strings.Fields(lines[0])[:2], " ") != "PIXEL STATE" {
				t.Fatalf("want a header and a row per pixel:\n%s", stdout)
			}
			if tc.state == relay.StateAuthError && !strings.Contains(stdout, "auth code 190") {
				t.Errorf("the row lacks Meta's error:\n%s", stdout)
			}

			code, stdout, _ = runCLI(t, context.Background(), "status", "-c", path, "--json")
			var rep relay.StatusReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Pixels) == 0 {
				t.Fatalf("--json: %v\n%s", err, stdout)
			}
			if code != tc.code {
				t.Errorf("--json: exit %d, want %d", code, tc.code)
			}
		})
	}

	path := writeConfig(t, "http:\n  listen: "+freePort(t)+"\n")
	if code, _, stderr := runCLI(t, context.Background(), "status", "-c", path); code != 1 || !strings.Contains(stderr, "is freight running?") {
		t.Errorf("nothing listening: exit %d, stderr %q; want 1 and a hint", code, stderr)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:9464": "127.0.0.1:9464",
		"0.0.0.0:9464":   "127.0.0.1:9464",
		":9464":          "127.0.0.1:9464",
		"[::]:9464":      "127.0.0.1:9464",
		"10.1.2.3:80":    "10.1.2.3:80",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}
