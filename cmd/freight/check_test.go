package main

import (
	"context"
	"strings"
	"testing"

	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/capi/capitest"
)

func TestCheckSendsOneTestEventPerPixelAndReportsMetasAnswer(t *testing.T) {
	stand, url := capitest.NewHTTPTest(t, capitest.Options{Tokens: map[string]string{
		"111111111111111": "good-token-a", "222222222222222": "good-token-b"}})
	t.Setenv("CHECK_TOKEN_A", "good-token-a")
	t.Setenv("CHECK_TOKEN_B", "revoked-token-b")
	path := writeConfig(t, `capi:
  base_url: `+url+`
  pixels:
    - id: "111111111111111"
      access_token_env: CHECK_TOKEN_A
      test_event_code: TEST123
    - id: "222222222222222"
      access_token_env: CHECK_TOKEN_B
`)
	code, stdout, stderr := runCLI(t, context.Background(), "check", "-c", path)
	if code != 1 {
		t.Fatalf("exit %d with a revoked token, want 1\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "PIXEL") {
		t.Fatalf("want a header and a row per pixel:\n%s", stdout)
	}
	if f := strings.Fields(lines[1]); f[0] != "111111111111111" || f[1] != "200" || f[2] != "1" || f[4] != "ok" {
		t.Errorf("pixel A row: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "222222222222222" || f[1] != "400" || !strings.Contains(lines[2], "auth: code 190") {
		t.Errorf("pixel B row: %q", lines[2])
	}
	for _, secret := range []string{"good-token-a", "revoked-token-b"} {
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("a token was printed")
		}
	}
	evs := stand.Events()
	if len(evs) != 1 || evs[0].EventName != capi.ConnectionTestEventName || evs[0].TestEventCode != "TEST123" ||
		evs[0].PixelID != "111111111111111" {
		t.Fatalf("the stand-in received %+v, want one FreightConnectionTest with TEST123 for pixel A", evs)
	}

	// One pixel, with the code given on the command line.
	code, stdout, _ = runCLI(t, context.Background(), "check", "-c", path, "--pixel", "111111111111111", "--test-event-code", "OTHER")
	if code != 0 || strings.Count(stdout, "\n") != 2 {
		t.Fatalf("exit %d, output:\n%s", code, stdout)
	}
	if evs := stand.Events(); evs[len(evs)-1].TestEventCode != "OTHER" {
		t.Errorf("test_event_code %q, want OTHER", evs[len(evs)-1].TestEventCode)
	}
	if code, _, stderr := runCLI(t, context.Background(), "check", "-c", path, "--pixel", "999"); code != 2 ||
		!strings.Contains(stderr, "--pixel") {
		t.Errorf("unknown pixel: exit %d, stderr %q; want 2 naming --pixel", code, stderr)
	}
}
