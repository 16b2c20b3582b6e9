//go:build docker

package docker

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/freight-relay/freight/pkg/capi/capitest"
)

// The docker-compose stack's own services, when `make integration-compose`
// runs against it (FREIGHT_IT_COMPOSE=1): freight is ready, the sample
// producer's events went through it to the sandbox, and /metrics carries
// the metrics the Grafana dashboard and the alert rules use.
func TestComposeStack(t *testing.T) {
	if os.Getenv("FREIGHT_IT_COMPOSE") != "1" {
		t.Skip("not against a docker-compose stack (make integration-compose sets FREIGHT_IT_COMPOSE=1)")
	}
	freight := cmp(os.Getenv("FREIGHT_IT_FREIGHT_URL"), "http://127.0.0.1:9464")
	sandbox := cmp(os.Getenv("FREIGHT_IT_SANDBOX_URL"), "http://127.0.0.1:8085")

	if code, body := get(t, freight+"/readyz"); code != http.StatusOK {
		t.Fatalf("freight /readyz: %d %s", code, body)
	}
	// The producer wrote its samples before freight started; wait for them
	// to arrive at the sandbox.
	eventually(t, "the sample events to reach the sandbox", func() bool {
		code, body := get(t, sandbox+"/_sandbox/stats")
		if code != http.StatusOK {
			return false
		}
		var stats capitest.SandboxStats
		return json.Unmarshal([]byte(body), &stats) == nil && stats.EventsTotal > 0
	})
	_, metrics := get(t, freight+"/metrics")
	for _, name := range []string{
		"freight_records_consumed_total", "freight_events_sent_total", "freight_capi_requests_total",
		"freight_capi_request_duration_seconds", "freight_batch_events", "freight_consumer_lag",
		"freight_events_dead_lettered_total", "freight_kafka_connects_total",
	} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
