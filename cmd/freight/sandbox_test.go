package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/kafkatest"
)

func TestSandboxServesTheStandIn(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() {
		code, _, _ := runCLI(t, ctx, "sandbox", "--listen", addr)
		exit <- code
	}()
	c := capi.NewClient(capi.ClientConfig{BaseURL: "http://" + addr, APIVersion: "v25.0", Timeout: 2 * time.Second})
	var res capi.Result
	kafkatest.Eventually(t, 10*time.Second, "the sandbox to answer", func() bool {
		res = c.Send(context.Background(), capi.Request{PixelID: "123", Token: "any",
			Events: []json.RawMessage{capi.ConnectionTestEvent("e1", time.Now())}})
		return res.Status != 0
	})
	if res.Outcome != capi.OK || res.EventsReceived != 1 {
		t.Fatalf("sandbox answered %+v", res)
	}
	resp, err := http.Get("http://" + addr + "/_sandbox/events")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), capi.ConnectionTestEventName) {
		t.Errorf("/_sandbox/events does not list the event: %s", body)
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Errorf("exit %d after the signal, want 0", code)
	}
	if code, _, stderr := runCLI(t, context.Background(), "sandbox", "--faults", "5xx=2"); code != 2 || !strings.Contains(stderr, "--faults") {
		t.Errorf("bad faults: exit %d, stderr %q", code, stderr)
	}
}
