package app

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/apptest"
	"github.com/freight-relay/freight/pkg/config"
)

const (
	testPixel = "111111111111111"
	testToken = "EAAB-test-token-0123456789"
	webTopic  = "web-events"
	crmTopic  = "crm-events"
	dlqTopic  = "freight-dlq"
	parkTopic = "freight-parking"
	testWait  = 60 * time.Second // generous: -race slows kfake about tenfold
)

// testConfig is a configuration tuned for fast tests against brokers, a
// Redis URL and a Conversions API stand-in at baseURL.
func testConfig(t *testing.T, brokers []string, redisURL, baseURL string) config.Config {
	cfg := config.Default()
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.Group = "freight-" + strings.ReplaceAll(t.Name(), "/", "-")
	cfg.Kafka.CommitInterval = 100 * time.Millisecond
	cfg.Kafka.SessionTimeout = 6 * time.Second
	cfg.Redis.URL = redisURL
	cfg.Dedup.ClaimLease = 2 * time.Second
	cfg.CAPI.BaseURL = baseURL
	cfg.CAPI.Timeout = 5 * time.Second
	cfg.CAPI.Pixels = []config.Pixel{{ID: testPixel, AccessTokenEnv: "TOKEN"}}
	cfg.Batch.MaxWait = 50 * time.Millisecond
	cfg.Batch.MaxEvents = 10
	cfg.Batch.MaxBufferedEvents = 100
	cfg.Retry.InitialBackoff = 20 * time.Millisecond
	cfg.Retry.MaxBackoff = 200 * time.Millisecond
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.ShutdownTimeout = 10 * time.Second
	return cfg
}

// memRedis is an in-memory Redis for tests that are not about Redis.
func memRedis(t *testing.T) string {
	return "redis://" + miniredis.RunT(t).Addr() + "/0"
}

// appLogLevel is the level of the apps tests start (a test that greps the
// logs for secrets lowers it to debug).
var appLogLevel = slog.LevelInfo

// startApp builds and runs an App until the test ends; env holds the
// environment it sees. A Run error fails the test.
func startApp(t *testing.T, cfg config.Config, env map[string]string, extra ...kgo.Opt) *apptest.Instance {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	reg := prometheus.NewRegistry()
	a, err := New(cfg, Options{
		Logger:    slog.New(slog.NewTextHandler(apptest.LogWriter{T: t}, &slog.HandlerOptions{Level: appLogLevel})),
		Registry:  reg,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		ExtraKafkaOpts: append([]kgo.Opt{kgo.MetadataMinAge(100 * time.Millisecond),
			kgo.HeartbeatInterval(500 * time.Millisecond)}, extra...),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r := apptest.Start(t, a, reg, testWait)
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

// webRecord is a valid web event for testPixel on topic and partition.
func webRecord(id, topic string, partition int32) *kgo.Record {
	b, err := json.Marshal(map[string]any{
		"event_id":         id,
		"event_name":       "Purchase",
		"event_time":       time.Now().Add(-time.Minute).Unix(),
		"pixel_id":         testPixel,
		"event_source_url": "https://shop.example.com/checkout",
		"user": map[string]any{
			"email":             "ann." + id + "@example.com",
			"client_user_agent": "Mozilla/5.0 (test)",
			"client_ip_address": "203.0.113.7",
		},
		"custom": map[string]any{"value": 12.5, "currency": "usd"},
	})
	if err != nil {
		panic(err) // test data
	}
	return &kgo.Record{Topic: topic, Partition: partition, Key: []byte(id), Value: b}
}

func webRecords(prefix, topic string, partition int32, n int) []*kgo.Record {
	var out []*kgo.Record
	for i := range n {
		out = append(out, webRecord(fmt.Sprintf("%s-%d", prefix, i), topic, partition))
	}
	return out
}

// eventually polls cond until it holds or testWait passes; what says what
// was awaited, and last (if not nil) what was seen, in the failure.
func eventually(t *testing.T, what string, cond func() bool, last func() any) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			if last != nil {
				t.Fatalf("timed out after %s waiting for %s; last seen: %v", testWait, what, last())
			}
			t.Fatalf("timed out after %s waiting for %s", testWait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
