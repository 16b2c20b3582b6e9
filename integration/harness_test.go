// Package integration runs freight end to end over real protocols: the kfake
// broker (the Kafka protocol), the real Redis on 127.0.0.1:6379 (or a private
// redis-server for outage tests), and the Conversions API stand-in over HTTP.
package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/app"
	"github.com/freight-relay/freight/pkg/apptest"
	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/kafkatest"
)

const (
	pixelA  = "111111111111111"
	pixelB  = "222222222222222"
	webT    = "web-events"
	crmT    = "crm-events"
	dlqT    = "freight-dlq"
	parkT   = "freight-parking"
	wait    = 60 * time.Second // generous: -race slows kfake about tenfold
	tokenA  = "EAAB-token-for-pixel-a-0123456789"
	tokenB  = "EAAB-token-for-pixel-b-9876543210"
	redisDB = "127.0.0.1:6379"
)

// env is one test's world: its own broker, its own Redis key prefix, its own
// stand-in.
type env struct {
	t       *testing.T
	kafka   *kafkatest.Cluster
	redis   string // URL
	prefix  string
	meta    *capitest.Server
	metaURL string
	envs    map[string]string
}

func newEnv(t *testing.T, partitions int32) *env {
	t.Helper()
	e := &env{t: t, kafka: kafkatest.New(t, partitions, webT, crmT, dlqT, parkT)}
	e.redis, e.prefix = sharedRedis(t)
	e.meta, e.metaURL = capitest.NewHTTPTest(t, capitest.Options{Tokens: map[string]string{pixelA: tokenA, pixelB: tokenB}})
	e.envs = map[string]string{"TOKEN_A": tokenA, "TOKEN_B": tokenB}
	return e
}

// sharedRedis returns the machine's Redis and a key prefix of this test's
// own, whose keys are deleted at cleanup.
func sharedRedis(t *testing.T) (url, prefix string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisDB})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("no Redis on %s (.ci/run starts one): %v", redisDB, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix = "freight-test:" + t.Name() + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return "redis://" + redisDB + "/0", prefix
}

// config is a configuration for this env, tuned so that tests run fast.
func (e *env) config() config.Config {
	cfg := config.Default()
	cfg.Kafka.Brokers = e.kafka.Brokers()
	cfg.Kafka.Group = "freight-" + strings.ReplaceAll(e.t.Name(), "/", "-")
	cfg.Kafka.CommitInterval = 100 * time.Millisecond
	cfg.Kafka.SessionTimeout = 6 * time.Second
	cfg.Redis.URL = e.redis
	cfg.Redis.KeyPrefix = e.prefix
	cfg.Dedup.ClaimLease = 2 * time.Second
	cfg.CAPI.BaseURL = e.metaURL
	cfg.CAPI.Timeout = 5 * time.Second
	cfg.CAPI.Pixels = []config.Pixel{
		{ID: pixelA, AccessTokenEnv: "TOKEN_A"},
		{ID: pixelB, AccessTokenEnv: "TOKEN_B"},
	}
	cfg.Batch.MaxWait = 50 * time.Millisecond
	cfg.Batch.MaxEvents = 100
	cfg.Retry.InitialBackoff = 20 * time.Millisecond
	cfg.Retry.MaxBackoff = 200 * time.Millisecond
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.ShutdownTimeout = 10 * time.Second
	return cfg
}

func (e *env) lookupEnv(k string) (string, bool) {
	v, ok := e.envs[k]
	return v, ok
}

// instance is one in-process freight.
type instance struct {
	*apptest.Instance
	t    *testing.T
	addr string
}

type startOpt func(*app.Options)

func withClock(now func() time.Time) startOpt { return func(o *app.Options) { o.Now = now } }

func (e *env) start(cfg config.Config, opts ...startOpt) *instance {
	e.t.Helper()
	if err := cfg.Validate(); err != nil {
		e.t.Fatalf("test config: %v", err)
	}
	reg := prometheus.NewRegistry()
	o := app.Options{
		Logger:    slog.New(slog.NewTextHandler(apptest.LogWriter{T: e.t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Registry:  reg,
		LookupEnv: e.lookupEnv,
		ExtraKafkaOpts: []kgo.Opt{kgo.MetadataMinAge(100 * time.Millisecond),
			kgo.HeartbeatInterval(500 * time.Millisecond)},
	}
	for _, f := range opts {
		f(&o)
	}
	a, err := app.New(cfg, o)
	if err != nil {
		e.t.Fatalf("app.New: %v", err)
	}
	run := apptest.Start(e.t, a, reg, wait)
	return &instance{Instance: run, t: e.t, addr: run.Addr}
}

// stop drains the instance as SIGTERM would and returns Run's error.
func (in *instance) stop() error { return in.Stop() }

// counter sums a metric over the label values given (name, value pairs).
func (in *instance) counter(name string, labels ...string) float64 {
	return in.Sum(in.t, name, labels...)
}

// ev is a raw web event builder.
type ev map[string]any

func webEvent(id, pixel string) ev {
	return ev{
		"event_id":         id,
		"event_name":       "Purchase",
		"event_time":       time.Now().Add(-time.Minute).Unix(),
		"pixel_id":         pixel,
		"event_source_url": "https://shop.example.com/checkout",
		"user": map[string]any{
			"email":             "Ann." + id + "@Example.com",
			"client_user_agent": "Mozilla/5.0 (test)",
			"client_ip_address": "203.0.113.7",
		},
		"custom": map[string]any{"value": 12.5, "currency": "usd"},
	}
}

func crmEvent(id, pixel string) ev {
	return ev{
		"event_id":          id,
		"event_name":        "Purchase",
		"event_time":        time.Now().Add(-time.Minute).Unix(),
		"pixel_id":          pixel,
		"crm_id":            "C-" + id,
		"lead_event_source": "Acme CRM",
		"user":              map[string]any{"email": "ann." + id + "@example.com", "phone": "+1 650 555 1212"},
		"custom":            map[string]any{"value": 99, "currency": "EUR"},
	}
}

func (x ev) with(k string, v any) ev {
	y := ev{}
	for a, b := range x {
		y[a] = b
	}
	y[k] = v
	return y
}

func (x ev) record(topic string, partition int32) *kgo.Record {
	b, err := json.Marshal(x)
	if err != nil {
		panic(err) // test data
	}
	return &kgo.Record{Topic: topic, Partition: partition, Key: []byte(fmt.Sprint(x["event_id"])), Value: b}
}

// deadLetters reads the dead-letter topic, keyed by freight.event_id (or by
// source offset for records without one).
func (e *env) deadLetters() map[string]*kgo.Record {
	out := map[string]*kgo.Record{}
	for _, r := range e.kafka.ReadAll(dlqT) {
		k := deadletter.Header(r, deadletter.HeaderEventID)
		if k == "" {
			k = "offset:" + deadletter.Header(r, deadletter.HeaderSourceTopic) + "/" +
				deadletter.Header(r, deadletter.HeaderSourcePartition) + "/" + deadletter.Header(r, deadletter.HeaderSourceOffset)
		}
		out[k] = r
	}
	return out
}

// waitCaughtUp waits until the group committed every input record.
func (e *env) waitCaughtUp(cfg config.Config) {
	e.t.Helper()
	kafkatest.Eventually(e.t, wait, "the group to commit every input record", func() bool {
		return e.kafka.CaughtUp(cfg.Kafka.Group, webT, crmT, parkT)
	})
}

// assertOnce checks that every id reached Meta exactly once for pixel.
func (e *env) assertOnce(pixel string, ids ...string) {
	e.t.Helper()
	for _, id := range ids {
		if n := e.meta.Count(pixel, "Purchase", id); n != 1 {
			e.t.Errorf("event %s reached Meta %d times, want once", id, n)
		}
	}
}

// privateRedis runs a redis-server of this test's own, which the test can
// stop (kill -9) and start again on the same port, with its data: every
// write is fsynced to its append-only file, as a production Redis that
// restarts keeps what it had.
type privateRedis struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func newPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed (.ci/run installs it): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &privateRedis{t: t, port: port, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *privateRedis) url() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0" }

func (r *privateRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", r.dir)
	r.cmd.Stdout, r.cmd.Stderr = io.Discard, io.Discard
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(r.port)})
	defer rdb.Close()
	kafkatest.Eventually(r.t, 10*time.Second, "redis-server to answer", func() bool {
		return rdb.Ping(context.Background()).Err() == nil
	})
}

func (r *privateRedis) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func mustJSON(x ev) []byte {
	r := x.record(webT, 0)
	return r.Value
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// Rename, as Kubernetes swaps a mounted secret atomically.
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func cfgFilePixel(id, file string) config.Pixel {
	return config.Pixel{ID: id, AccessTokenFile: file}
}

// confirmedKeys counts this test's dedup keys confirmed as sent.
func (e *env) confirmedKeys() int {
	rdb := redis.NewClient(&redis.Options{Addr: redisDB})
	defer rdb.Close()
	ctx := context.Background()
	n := 0
	iter := rdb.Scan(ctx, 0, e.prefix+"dedup:*", 1000).Iterator()
	for iter.Next(ctx) {
		if v, _ := rdb.Get(ctx, iter.Val()).Result(); v == "done" {
			n++
		}
	}
	return n
}
