// Package app builds a running freight from a configuration: the Kafka
// client options, Redis, the Graph API client, the relay and the HTTP
// endpoints, and runs them with an ordered shutdown. cmd/freight and
// freight dev both start the service through it.
package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/freight-relay/freight/pkg/batch"
	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/dedup"
	"github.com/freight-relay/freight/pkg/event"
	"github.com/freight-relay/freight/pkg/identity"
	"github.com/freight-relay/freight/pkg/relay"
)

// ErrMissingTopic is returned by Run when a topic freight needs does not
// exist.
var ErrMissingTopic = errors.New("topic does not exist")

// Options are what the caller provides besides the configuration.
type Options struct {
	Logger    *slog.Logger
	Registry  *prometheus.Registry // nil: a new one with Go and process collectors
	LookupEnv func(string) (string, bool)
	// ExtraKafkaOpts are appended to the client options (tests lower
	// timeouts with them).
	ExtraKafkaOpts []kgo.Opt
	// HTTPClient for the Graph API; nil: a default one.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// App is a built, not yet running, freight.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	registry *prometheus.Registry
	redis    redis.UniversalClient
	relay    *relay.Relay
	http     *http.Server
	listener net.Listener
	kopts    []kgo.Opt // connection options, for the topic check
}

// MemoryOverhead is what freight needs besides the records it holds
// (batch.max_buffered_bytes): the runtime and its code, franz-go's fetch
// buffers (kafka fetches of at most 4 MiB) and producer, requests in
// flight to Meta, Redis pipelines, and the garbage collector's slack.
// `freight run` sets Go's soft memory limit to the two together.
const MemoryOverhead = 96 << 20

// New builds the service. A configuration this build cannot run returns a
// *config.ValidationError naming the key; other errors are fatal.
func New(cfg config.Config, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	// go-redis's logger is process-wide.
	redis.SetLogger(redisLogger{o.Logger})
	topics, err := inputTopics(cfg.Kafka, o.LookupEnv, o.Registry)
	if err != nil {
		return nil, err
	}
	kopts, err := KafkaOpts(cfg.Kafka, o.LookupEnv)
	if err != nil {
		return nil, err
	}
	// franz-go's own warnings (broker connections, SASL and TLS handshakes,
	// group errors) go to our log: a wrong password shows up there first.
	kopts = append(kopts, kgo.WithLogger(kafkaLogger{o.Logger}))
	relayOpts := append(append(slices.Clone(kopts), ConsumerOpts(cfg.Kafka)...), o.ExtraKafkaOpts...)
	// The relay's client reports franz-go's metrics (connections, bytes and
	// records fetched and produced, request latency, broker throttling) on
	// the registry /metrics serves, as freight_kafka_*. Only the relay's
	// client: kprom registers its collectors per client and would refuse a
	// second one on the same registry.
	relayOpts = append(relayOpts, kgo.WithHooks(kprom.NewMetrics("freight", kprom.Subsystem("kafka"),
		kprom.Registry(o.Registry),
		kprom.FetchAndProduceDetail(kprom.ByNode, kprom.ByTopic, kprom.Records, kprom.UncompressedBytes, kprom.ConsistentNaming),
		kprom.Histograms(kprom.RequestDurationE2E, kprom.RequestThrottled))))
	rdb, err := RedisClient(cfg.Redis.URL)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: o.Logger, registry: o.Registry, redis: rdb, kopts: kopts}
	store := dedup.New(rdb, dedup.Config{KeyPrefix: cfg.Redis.KeyPrefix, Window: cfg.Dedup.Window, Lease: cfg.Dedup.ClaimLease})
	client := capi.NewClient(capi.ClientConfig{BaseURL: cfg.CAPI.BaseURL, APIVersion: cfg.CAPI.APIVersion,
		PartnerAgent: cfg.CAPI.PartnerAgent, Timeout: cfg.CAPI.Timeout, HTTPClient: o.HTTPClient})

	rc := relay.Config{
		Topics:              topics,
		DeadLetterTopic:     cfg.Kafka.DeadLetterTopic,
		Batch:               batch.Policy{MaxEvents: cfg.Batch.MaxEvents, MaxWait: cfg.Batch.MaxWait},
		MaxInFlightRequests: cfg.Batch.MaxInFlightRequests,
		MaxBufferedEvents:   cfg.Batch.MaxBufferedEvents,
		MaxBufferedBytes:    int64(cfg.Batch.MaxBufferedBytes),
		InitialBackoff:      cfg.Retry.InitialBackoff,
		MaxBackoff:          cfg.Retry.MaxBackoff,
		GiveUpAfter:         cfg.Retry.GiveUpAfter,
		FailOpen:            cfg.Redis.OnError == config.OnErrorFailOpen,
		ClaimLease:          cfg.Dedup.ClaimLease,
		ShutdownGrace:       cfg.ShutdownTimeout,
		PlainExternalID:     cfg.Identity.ExternalIDHashing == config.HashingNone,
		Normalization:       capi.Normalization(cfg.CAPI.Normalization),
		LinkBy:              cfg.Identity.LinkBy,
		StartAtEnd:          cfg.Kafka.StartOffset == config.StartOffsetLatest,
		MaxRecordBytes:      cfg.Kafka.MaxRecordBytes,
		MaxPollRecords:      cfg.Kafka.MaxPollRecords,
		ParkingTopic:        cfg.Kafka.ParkingTopic,
		ParkAfter:           cfg.Retry.ParkAfter,
	}
	for _, p := range cfg.CAPI.Pixels {
		ts := config.NewTokenSource(p, o.LookupEnv)
		token := func() (string, error) {
			s, err := ts.Token()
			return s.Reveal(), err
		}
		if _, err := ts.Token(); err != nil {
			// Not fatal: the token may be mounted later. Until then the
			// pixel's events are dead-lettered with class config.
			o.Logger.Warn("pixel has no access token yet", "pixel", p.ID, "err", err)
		}
		rc.Pixels = append(rc.Pixels, relay.Pixel{ID: p.ID, IdentityGroup: p.IdentityGroup, Token: token, TestEventCode: p.TestEventCode})
	}
	if cfg.CAPI.AppSecretEnv != "" {
		name := cfg.CAPI.AppSecretEnv
		rc.AppSecret = func() (string, error) {
			s, err := config.LookupSecret(name, o.LookupEnv)
			return s.Reveal(), err
		}
	}
	deps := relay.Deps{Dedup: store, Redis: rdb, CAPI: client, Logger: o.Logger, Registry: o.Registry, Now: o.Now}
	if cfg.Identity.Enabled {
		deps.Identity = identity.New(rdb, cfg.Redis.KeyPrefix, cfg.Identity.TTL)
		if !slices.Contains(cfg.Identity.LinkBy, identity.KindExternalID) {
			// Only an event's own external_id starts a link: without it
			// the graph stays empty.
			o.Logger.Warn("identity.link_by does not name external_id: no event links its identifiers, so no event gets an external_id from the graph")
		}
	}
	r, err := relay.New(rc, relayOpts, deps)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	a.relay = r
	// /readyz as a metric, so that alert rules can see what the kubelet
	// sees: 1 once the consumer joined its group and Redis answers.
	if err := o.Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "freight_ready", Help: "1 when /readyz answers 200 (the consumer joined its group and Redis answers), else 0.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if r.Ready(ctx) != nil {
			return 0
		}
		return 1
	})); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("register metrics: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		if err := r.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	// The connection status of each pixel (freight status reads it).
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r.Status())
	})
	// Profiles, for an operator chasing CPU or memory, only when asked for
	// (http.pprof): a heap profile holds buffered events, customer data,
	// and the endpoints have no authentication of their own.
	if cfg.HTTP.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	a.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return a, nil
}

// inputTopics gives each input topic the decoder of its format. Topics of
// format confluent-avro share one schema registry client and its cache.
func inputTopics(k config.Kafka, lookupEnv func(string) (string, bool), reg prometheus.Registerer) ([]relay.Topic, error) {
	var registry *event.Registry
	out := make([]relay.Topic, 0, len(k.Topics))
	for _, t := range k.Topics {
		kind := event.Kind(t.Kind)
		var dec event.Decoder
		var err error
		switch t.Format {
		case config.FormatAvro:
			dec, err = event.NewAvro(kind)
		case config.FormatConfluentAvro:
			if registry == nil {
				if registry, err = schemaRegistry(k.SchemaRegistry, lookupEnv, reg); err != nil {
					return nil, err
				}
			}
			dec, err = event.NewConfluentAvro(kind, registry)
		default: // json: Validate admits no other format
			dec = event.JSON{}
		}
		if err != nil {
			return nil, fmt.Errorf("topic %s: %w", t.Name, err)
		}
		out = append(out, relay.Topic{Name: t.Name, Kind: kind, Decoder: dec, DefaultPixel: t.DefaultPixelID})
	}
	return out, nil
}

// schemaRegistry builds the client of kafka.schema_registry and registers
// freight_schema_registry_errors_total, which counts its failed lookups.
func schemaRegistry(c config.SchemaRegistry, lookupEnv func(string) (string, bool), reg prometheus.Registerer) (*event.Registry, error) {
	rc := event.RegistryConfig{URL: c.URL, Username: c.Username}
	if c.PasswordEnv != "" {
		pw, err := config.LookupSecret(c.PasswordEnv, lookupEnv)
		if err != nil {
			return nil, fmt.Errorf("kafka.schema_registry.password_env: %w", err)
		}
		rc.Password = pw.Reveal()
	}
	if c.TLS != (config.RegistryTLS{}) {
		tc, err := registryTLS(c.TLS)
		if err != nil {
			return nil, err
		}
		rc.TLS = tc
	}
	r, err := event.NewRegistry(rc)
	if err != nil {
		return nil, err
	}
	if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "freight_schema_registry_errors_total",
		Help: "Schema lookups that failed because the schema registry did not answer; their records wait and are retried.",
	}, func() float64 { return float64(r.Unavailable()) })); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return r, nil
}

// registryTLS is the TLS configuration of kafka.schema_registry.tls. (The
// brokers' is tlsConfig; the keys in the messages differ.)
func registryTLS(t config.RegistryTLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.schema_registry.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.schema_registry.tls.ca_file: no PEM certificate in %s", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.schema_registry.tls.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Registry is where the app's metrics are registered.
func (a *App) Registry() *prometheus.Registry { return a.registry }

// Listen binds the HTTP endpoints' address; Run calls it when the caller did
// not. It returns the bound address.
func (a *App) Listen() (string, error) {
	if a.listener == nil {
		l, err := net.Listen("tcp", a.cfg.HTTP.Listen)
		if err != nil {
			return "", fmt.Errorf("http.listen: %w", err)
		}
		a.listener = l
	}
	return a.listener.Addr().String(), nil
}

// Run checks the topics, serves the endpoints and runs the relay until ctx
// ends, then shuts down in order: the relay drains and commits, Redis
// closes, the HTTP server stops last (so /metrics answers while draining).
func (a *App) Run(ctx context.Context) error {
	defer a.redis.Close()
	if _, err := a.Listen(); err != nil {
		return err
	}
	if err := a.checkTopics(ctx); err != nil {
		a.listener.Close()
		return err
	}
	if err := checkRedisVersion(ctx, a.redis, a.log); err != nil {
		a.listener.Close()
		return err
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- a.http.Serve(a.listener) }()
	a.log.Info("freight running", "http", a.listener.Addr().String(), "topics", len(a.cfg.Kafka.Topics),
		"pixels", len(a.cfg.CAPI.Pixels))

	err := a.relay.Run(ctx)

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = a.http.Shutdown(shutdownCtx)
	if herr := <-httpErr; herr != nil && !errors.Is(herr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("http: %w", herr)
	}
	return err
}

// checkTopics makes sure the input and dead-letter topics exist: a relay
// that consumed a missing topic would sit idle without saying why.
func (a *App) checkTopics(ctx context.Context) error {
	cl, err := kgo.NewClient(a.kopts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var names []string
	for _, t := range a.cfg.Kafka.Topics {
		names = append(names, t.Name)
	}
	names = append(names, a.cfg.Kafka.DeadLetterTopic)
	if a.cfg.Kafka.ParkingTopic != "" {
		names = append(names, a.cfg.Kafka.ParkingTopic)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("listing topics on %v: %w", a.cfg.Kafka.Brokers, err)
	}
	var missing []string
	for _, n := range names {
		if d, ok := details[n]; !ok || d.Err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissingTopic, strings.Join(missing, ", "))
	}
	return nil
}
