//go:build docker

package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/app"
	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/config"
)

// The images docker-compose.yml runs too.
const (
	kafkaImage = "apache/kafka:3.9.1"
	redisImage = "redis:7-alpine"
)

var (
	brokers    []string // the Kafka under test
	redisURL   string   // the Redis under test
	skipReason string   // set when there is nothing to test against
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if b := os.Getenv("FREIGHT_IT_KAFKA_BROKERS"); b != "" {
		brokers = strings.Split(b, ",")
		redisURL = cmp(os.Getenv("FREIGHT_IT_REDIS_URL"), "redis://127.0.0.1:6379/0")
		return m.Run()
	}
	if reason := dockerUnavailable(); reason != "" {
		skipReason = reason
		return m.Run()
	}
	ctx := context.Background()
	k, addr, err := startKafka(ctx)
	if k != nil {
		defer func() { _ = testcontainers.TerminateContainer(k) }()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "docker tests: kafka container:", err)
		return 1
	}
	r, err := tcredis.Run(ctx, redisImage)
	if r != nil {
		defer func() { _ = testcontainers.TerminateContainer(r) }()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "docker tests: redis container:", err)
		return 1
	}
	u, err := r.ConnectionString(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "docker tests: redis container:", err)
		return 1
	}
	brokers, redisURL = []string{addr}, u+"/0"
	return m.Run()
}

func cmp(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// dockerUnavailable returns why no container can be started, in one line,
// or "" when a Docker engine answers.
func dockerUnavailable() (reason string) {
	const prefix = "no Docker engine answers, so the docker-tagged tests skip: "
	defer func() {
		// testcontainers panics on some broken setups; that is a skip too.
		if r := recover(); r != nil {
			reason = prefix + firstLine(fmt.Sprint(r))
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return prefix + firstLine(err.Error())
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Health(ctx); err != nil {
		return prefix + firstLine(err.Error())
	}
	return ""
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// startKafka runs a single-node KRaft broker from the official image. Its
// advertised address must be the port Docker mapped on the host, which is
// known only once the container runs: the container waits for a start
// script, which a post-start hook writes with that port, as
// testcontainers' own Kafka module does for its image.
func startKafka(ctx context.Context) (testcontainers.Container, string, error) {
	const script = "/tmp/freight-kafka-start.sh"
	c, err := testcontainers.Run(ctx, kafkaImage,
		testcontainers.WithExposedPorts("9092/tcp"),
		testcontainers.WithEnv(map[string]string{
			"KAFKA_NODE_ID":                                  "1",
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_LISTENERS":                                "PLAINTEXT://:9092,BROKER://:9093,CONTROLLER://:9094",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"KAFKA_INTER_BROKER_LISTENER_NAME":               "BROKER",
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@localhost:9094",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
			"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                "false",
		}),
		testcontainers.WithEntrypoint("sh", "-c"),
		testcontainers.WithCmd("while [ ! -f "+script+" ]; do sleep 0.1; done; exec sh "+script),
		testcontainers.WithAdditionalLifecycleHooks(testcontainers.ContainerLifecycleHooks{
			PostStarts: []testcontainers.ContainerHook{func(ctx context.Context, c testcontainers.Container) error {
				host, err := c.Host(ctx)
				if err != nil {
					return err
				}
				port, err := c.MappedPort(ctx, "9092/tcp")
				if err != nil {
					return err
				}
				s := fmt.Sprintf("export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://%s:%d,BROKER://localhost:9093\nexec /etc/kafka/docker/run\n",
					host, port.Num())
				return c.CopyToContainer(ctx, []byte(s), script, 0o755)
			}},
		}),
		testcontainers.WithWaitStrategy(wait.ForLog("Kafka Server started").WithStartupTimeout(3*time.Minute)),
	)
	if err != nil {
		return c, "", err
	}
	host, err := c.Host(ctx)
	if err != nil {
		return c, "", err
	}
	port, err := c.MappedPort(ctx, "9092/tcp")
	if err != nil {
		return c, "", err
	}
	return c, fmt.Sprintf("%s:%d", host, port.Num()), nil
}

// need skips the test when there is nothing to test against.
func need(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

const (
	pixel = "111111111111111"
	token = "EAAB-docker-test-token-0123456789"
	wait_ = 2 * time.Minute
)

// world is one test's topics, consumer group, Redis key prefix and
// Conversions API stand-in, on the shared servers.
type world struct {
	t                   *testing.T
	web, crm, dlq, park string
	grp                 string
	prefix              string
	meta                *capitest.Server
	metaURL             string
	admin               *kadm.Client
	prod                *kgo.Client
}

func newWorld(t *testing.T, partitions int32) *world {
	t.Helper()
	need(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + "-" + hex.EncodeToString(b[:])
	w := &world{t: t, web: id + "-web", crm: id + "-crm", dlq: id + "-dlq", park: id + "-park", grp: id,
		prefix: "freight-it:" + id + ":"}
	w.meta, w.metaURL = capitest.NewHTTPTest(t, capitest.Options{Tokens: map[string]string{pixel: token}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	w.prod, w.admin = cl, kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := w.admin.CreateTopics(ctx, partitions, 1, nil, w.web, w.crm, w.dlq, w.park)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = w.admin.DeleteTopics(ctx, w.web, w.crm, w.dlq, w.park)
		_, _ = w.admin.DeleteGroup(ctx, w.grp)
		cl.Close()
		w.deleteKeys()
	})
	return w
}

func (w *world) deleteKeys() {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, w.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}

func (w *world) config() config.Config {
	cfg := config.Default()
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.Group = w.grp
	cfg.Kafka.CommitInterval = 200 * time.Millisecond
	cfg.Kafka.SessionTimeout = 10 * time.Second
	cfg.Kafka.Topics = []config.Topic{{Name: w.web, Kind: "web", Format: "json"}, {Name: w.crm, Kind: "crm", Format: "json"}}
	cfg.Kafka.DeadLetterTopic = w.dlq
	cfg.Kafka.ParkingTopic = w.park
	cfg.Redis.URL = redisURL
	cfg.Redis.KeyPrefix = w.prefix
	cfg.Dedup.ClaimLease = 3 * time.Second
	cfg.CAPI.BaseURL = w.metaURL
	cfg.CAPI.Pixels = []config.Pixel{{ID: pixel, AccessTokenEnv: "TOKEN"}}
	cfg.Batch.MaxWait = 50 * time.Millisecond
	cfg.Batch.MaxEvents = 50
	cfg.Retry.InitialBackoff = 20 * time.Millisecond
	cfg.Retry.MaxBackoff = 200 * time.Millisecond
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.ShutdownTimeout = 10 * time.Second
	return cfg
}

// instance is one in-process freight.
type instance struct {
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func (w *world) start(cfg config.Config) *instance {
	w.t.Helper()
	if err := cfg.Validate(); err != nil {
		w.t.Fatalf("config: %v", err)
	}
	in := &instance{reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	a, err := app.New(cfg, app.Options{
		Logger:    slog.New(slog.NewTextHandler(testLog{w.t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Registry:  in.reg,
		LookupEnv: func(k string) (string, bool) { return token, k == "TOKEN" },
	})
	if err != nil {
		w.t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() { in.done <- a.Run(ctx) }()
	w.t.Cleanup(func() { _ = in.stop() })
	return in
}

// stop drains as SIGTERM would.
func (in *instance) stop() error {
	in.once.Do(func() {
		in.cancel()
		select {
		case in.err = <-in.done:
		case <-time.After(wait_):
			in.err = errors.New("did not stop in time")
		}
	})
	return in.err
}

// gauges returns a metric's values by topic/partition.
func (in *instance) gauges(name string) map[string]float64 {
	out := map[string]float64{}
	mfs, _ := in.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			var k []string
			for _, l := range m.Label {
				k = append(k, l.GetValue())
			}
			out[strings.Join(k, "/")] = m.GetGauge().GetValue()
		}
	}
	return out
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// event is a valid web or CRM event of the test pixel.
func event(id string) []byte {
	b, _ := json.Marshal(map[string]any{
		"event_id":         id,
		"event_name":       "Purchase",
		"event_time":       time.Now().Add(-time.Minute).Unix(),
		"pixel_id":         pixel,
		"event_source_url": "https://shop.example.com/checkout",
		"user":             map[string]any{"email": "ann." + id + "@example.com", "client_ip_address": "203.0.113.7", "client_user_agent": "Mozilla/5.0"},
		"custom":           map[string]any{"value": 12.5, "currency": "usd"},
	})
	return b
}

func (w *world) produce(recs ...*kgo.Record) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		w.t.Fatalf("produce: %v", err)
	}
}

// caughtUp reports whether the group committed the end offset of every
// non-empty partition of the input topics.
func (w *world) caughtUp() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := w.admin.ListEndOffsets(ctx, w.web, w.crm)
	if err != nil {
		return false
	}
	committed, err := w.admin.FetchOffsets(ctx, w.grp)
	if err != nil {
		return false
	}
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		c, found := committed.Lookup(o.Topic, o.Partition)
		if o.Offset > 0 && (!found || c.At < o.Offset) {
			ok = false
		}
	})
	return ok
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait_)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", wait_, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// counter sums a counter over the series whose label name has value.
func (in *instance) counter(name, label, value string) float64 {
	var sum float64
	mfs, _ := in.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
