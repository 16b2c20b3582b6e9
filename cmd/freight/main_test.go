package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freight-relay/freight/pkg/kafkatest"
)

func runCLI(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "freight.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigValidateExitCodes(t *testing.T) {
	t.Setenv("CLI_TEST_TOKEN", "tok")
	tests := []struct {
		name     string
		yaml     string
		code     int
		contains []string
	}{
		{"valid", "capi:\n  pixels:\n    - id: \"123\"\n      access_token_env: CLI_TEST_TOKEN\n", 0, nil},
		{"one line per problem, naming the key", "kafka:\n  topcs: []\nbatch:\n  max_events: 5000\n", 2,
			[]string{"kafka.topcs", "batch.max_events"}},
		{"a token that cannot be resolved", "capi:\n  pixels:\n    - id: \"123\"\n      access_token_env: CLI_TEST_NOT_SET\n", 2,
			[]string{"capi.pixels[0].access_token_env"}},
		{"a type error names its key", "retry:\n  max_backoff: soon\n", 2, []string{"retry.max_backoff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, context.Background(), "config", "validate", "-c", writeConfig(t, tt.yaml))
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			for _, want := range tt.contains {
				found := false
				for _, l := range lines {
					if strings.HasPrefix(l, want+":") {
						found = true
					}
				}
				if !found {
					t.Errorf("no line starting with %q in:\n%s", want+":", stderr)
				}
			}
			if strings.Contains(stderr, "tok\n") {
				t.Error("a secret value was printed")
			}
		})
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{}, {"bogus"}, {"run", "--nope"}, {"config"}, {"run", "-c", "/does/not/exist.yaml"}} {
		if code, _, _ := runCLI(t, context.Background(), args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestRunExits1NamingAMissingTopic(t *testing.T) {
	k := kafkatest.New(t, 1, "web-events", "freight-dlq") // no crm-events
	path := writeConfig(t, "kafka:\n  brokers: [\""+k.Brokers()[0]+"\"]\nhttp:\n  listen: 127.0.0.1:0\n")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code, _, stderr := runCLI(t, ctx, "run", "-c", path)
	if code != 1 || !strings.Contains(stderr, "crm-events") {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 naming crm-events", code, stderr)
	}
}

// The README's first command: freight dev runs the whole pipeline and ends
// with the summary table, every generated record accounted for.
func TestDevRunsThePipelineAndPrintsTheSummary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	code, stdout, stderr := runCLI(t, ctx, "dev", "--events", "400", "--rate", "0")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"summary", "records produced", "deduplicated", "sent to the Conversions API", "dead-lettered", "sent by pixel", "match keys"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	n := func(label string) int {
		for _, l := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), label) {
				f := strings.Fields(l)
				var v int
				_, _ = fmt.Sscan(f[len(f)-1], &v)
				return v
			}
		}
		t.Fatalf("no %q row", label)
		return 0
	}
	produced, sent, dup, dl := n("records produced"), n("sent to the Conversions API"), n("deduplicated"), n("dead-lettered")
	if produced != 400 || sent+dup+dl != produced {
		t.Errorf("produced %d, sent %d + deduplicated %d + dead-lettered %d: every record must be accounted for", produced, sent, dup, dl)
	}
	if accepted := n("events the stand-in accepted"); accepted != sent {
		t.Errorf("the stand-in accepted %d, freight counted %d sent", accepted, sent)
	}
}
