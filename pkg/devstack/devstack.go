// Package devstack is what `freight dev` starts: an embedded Kafka broker
// (kfake), Redis (in memory, or one the user names), the Conversions API
// stand-in, a schema registry (srfake: the CRM topic carries Confluent Avro,
// the web topic JSON), and a generator of realistic events, all over real
// sockets, with the real pipeline in between. It prints a live line of
// counts and, at the end, a summary table.
package devstack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/freight-relay/freight/pkg/app"
	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/schemas"
)

// Options configure a dev run.
type Options struct {
	Events   int    // how many records to generate; 0: until ctx ends
	Rate     int    // records per second; 0: as fast as the pipeline takes them
	RedisURL string // "": an in-memory Redis
	Seed     uint64 // generator seed
	Faults   string // stand-in faults, as for freight sandbox
	Listen   string // HTTP endpoints; "": a free port
	// Real Graph API instead of the stand-in.
	PixelID       string
	TokenEnv      string
	TestEventCode string

	Out    io.Writer // live line and table
	IsTTY  bool      // redraw the live line in place
	Logger *slog.Logger
}

// devPixels are the stand-in's pixels and their tokens.
var devPixels = []string{"111111111111111", "222222222222222", "333333333333333"}

const (
	webTopic = "web-events"
	crmTopic = "crm-events"
)

// Run starts the stack, generates events, waits until every generated
// record is committed (or ctx ends), and prints the summary.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, webTopic, crmTopic, "freight-dlq", "freight-parking"))
	if err != nil {
		return fmt.Errorf("start kfake: %w", err)
	}
	defer cluster.Close()

	redisURL := o.RedisURL
	if redisURL == "" {
		mr, err := miniredis.Run()
		if err != nil {
			return fmt.Errorf("start in-memory redis: %w", err)
		}
		defer mr.Close()
		redisURL = "redis://" + mr.Addr()
	}

	// The CRM topic carries Confluent Avro (the web topic JSON), so that
	// both decoders and the schema registry path run in the demo.
	registryURL, crmSchemaID, stopRegistry, err := startRegistry()
	if err != nil {
		return err
	}
	defer stopRegistry()

	cfg := config.Default()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Kafka.Topics[1].Format = config.FormatConfluentAvro
	cfg.Kafka.SchemaRegistry.URL = registryURL
	cfg.Redis.URL = redisURL
	cfg.Redis.KeyPrefix = fmt.Sprintf("freight-dev:%d:", time.Now().UnixNano())
	cfg.Batch.MaxWait = 200 * time.Millisecond
	cfg.Retry.InitialBackoff = 100 * time.Millisecond
	cfg.Retry.MaxBackoff = 2 * time.Second
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.HTTP.Listen = o.Listen
	if cfg.HTTP.Listen == "" {
		cfg.HTTP.Listen = "127.0.0.1:0"
	}
	env := map[string]string{}
	pixels := devPixels
	var stand *capitest.Server
	if o.PixelID != "" {
		pixels = []string{o.PixelID}
		cfg.CAPI.Pixels = []config.Pixel{{ID: o.PixelID, AccessTokenEnv: o.TokenEnv, TestEventCode: o.TestEventCode}}
	} else {
		faults, err := capitest.ParseFaults(o.Faults)
		if err != nil {
			return &config.ValidationError{Problems: []config.Problem{{Key: "--faults", Message: err.Error()}}}
		}
		tokens := map[string]string{}
		for i, p := range devPixels {
			tokens[p] = fmt.Sprintf("dev-token-%d", i)
			env["FREIGHT_DEV_TOKEN_"+p] = tokens[p]
			cfg.CAPI.Pixels = append(cfg.CAPI.Pixels, config.Pixel{ID: p, AccessTokenEnv: "FREIGHT_DEV_TOKEN_" + p})
		}
		stand = capitest.New(capitest.Options{Tokens: tokens, Faults: faults, Seed: int64(o.Seed), MaxRecorded: 1})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("stand-in: %w", err)
		}
		srv := &http.Server{Handler: stand, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(l) }()
		defer srv.Close()
		cfg.CAPI.BaseURL = "http://" + l.Addr().String()
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	lookup := func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}
	reg := prometheus.NewRegistry()
	a, err := app.New(cfg, app.Options{Logger: o.Logger, Registry: reg, LookupEnv: lookup})
	if err != nil {
		return err
	}
	addr, err := a.Listen()
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(runCtx) }()

	target := "the stand-in at " + cfg.CAPI.BaseURL
	if stand == nil {
		target = "the real Graph API (pixel " + o.PixelID + ")"
	}
	fmt.Fprintf(o.Out, "freight dev: kafka %s, redis %s, sending to %s\n", cfg.Kafka.Brokers[0], redactURL(redisURL), target)
	fmt.Fprintf(o.Out, "topics: %s (json), %s (confluent-avro, schema registry %s, schema id %d)\n",
		webTopic, crmTopic, registryURL, crmSchemaID)
	fmt.Fprintf(o.Out, "metrics http://%s/metrics  ready http://%s/readyz  (Ctrl-C to stop)\n\n", addr, addr)

	prod, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer prod.Close()
	gen := NewGenerator(o.Seed, pixels, webTopic, crmTopic, time.Now)
	if err := gen.CRMAsConfluentAvro(crmSchemaID); err != nil {
		return err
	}
	produced := make(chan int, 1)
	go func() { produced <- produce(ctx, prod, gen, o.Events, o.Rate) }()

	adm := kadm.NewClient(prod)
	live := newLiveLine(o.Out, o.IsTTY)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	total := -1
	var err2 error
loop:
	for {
		select {
		case n := <-produced:
			total = n
		case err2 = <-runErr:
			break loop
		case <-ctx.Done():
			break loop
		case <-tick.C:
			s := readStats(reg)
			live.print(s)
			if total >= 0 && CaughtUp(ctx, adm, cfg.Kafka.Group, webTopic, crmTopic) {
				break loop
			}
		}
	}
	live.done()
	stop()
	if err2 == nil {
		err2 = <-runErr
	}
	s := readStats(reg)
	if total < 0 {
		total = int(s.consumed)
	}
	printSummary(o.Out, s, total, stand)
	return err2
}

// startRegistry serves an in-memory schema registry (franz-go's srfake) on
// a free local port, with freight's CRM schema registered as a producer
// would, under the subject <topic>-value.
func startRegistry() (url string, crmSchemaID uint32, stop func(), err error) {
	reg := srfake.NewRegistry()
	id, _, err := reg.RegisterSchema(crmTopic+"-value", sr.Schema{Schema: schemas.CRMEvent, Type: sr.TypeAvro})
	if err != nil {
		return "", 0, nil, fmt.Errorf("schema registry: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, fmt.Errorf("schema registry: %w", err)
	}
	srv := &http.Server{Handler: reg.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), uint32(id), func() { _ = srv.Close() }, nil
}

// produce writes n records (0: until ctx ends) at rate per second (0: as
// fast as acknowledged) and returns how many were acknowledged.
func produce(ctx context.Context, cl *kgo.Client, g *Generator, n, rate int) int {
	var interval time.Duration
	if rate > 0 {
		interval = time.Second / time.Duration(rate)
	}
	start := time.Now()
	sent := 0
	for i := 0; n == 0 || i < n; i++ {
		if ctx.Err() != nil {
			break
		}
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
		}
		cl.Produce(ctx, g.Next(), nil)
		sent++
	}
	if err := cl.Flush(context.WithoutCancel(ctx)); err != nil {
		return sent
	}
	return sent
}

// CaughtUp reports whether the group's committed offsets reached the end
// of every non-empty partition of the topics.
func CaughtUp(ctx context.Context, adm *kadm.Client, group string, topics ...string) bool {
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return false
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false
	}
	ok := true
	ends.Each(func(e kadm.ListedOffset) {
		if c, found := committed.Lookup(e.Topic, e.Partition); e.Offset > 0 && (!found || c.At < e.Offset) {
			ok = false
		}
	})
	return ok
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "…" + u[i:]
		}
	}
	return u
}

// stats are the counts read from the metrics registry.
type stats struct {
	consumed, deduplicated, sent, deadLettered, buffered float64
	byClass                                              map[string]float64
	byPixel                                              map[string]float64
	requests                                             map[string]float64
	fields                                               map[string]map[string]float64 // pixel -> match key -> events
}

func readStats(g prometheus.Gatherer) stats {
	s := stats{byClass: map[string]float64{}, byPixel: map[string]float64{}, requests: map[string]float64{},
		fields: map[string]map[string]float64{}}
	mfs, err := g.Gather()
	if err != nil {
		return s
	}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			v := value(m)
			switch mf.GetName() {
			case "freight_records_consumed_total":
				s.consumed += v
			case "freight_events_deduplicated_total":
				s.deduplicated += v
			case "freight_events_sent_total":
				s.sent += v
				s.byPixel[label(m, "pixel")] += v
			case "freight_events_dead_lettered_total":
				s.deadLettered += v
				s.byClass[label(m, "class")] += v
			case "freight_buffered_events":
				s.buffered = v
			case "freight_user_data_field_events_total":
				px := label(m, "pixel")
				if s.fields[px] == nil {
					s.fields[px] = map[string]float64{}
				}
				s.fields[px][label(m, "field")] += v
			case "freight_capi_requests_total":
				s.requests[label(m, "outcome")] += v
			}
		}
	}
	return s
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

type liveLine struct {
	w     io.Writer
	tty   bool
	start time.Time
	last  time.Time
}

func newLiveLine(w io.Writer, tty bool) *liveLine {
	return &liveLine{w: w, tty: tty, start: time.Now()}
}

func (l *liveLine) print(s stats) {
	line := fmt.Sprintf("%5.1fs  consumed %d  sent %d  deduplicated %d  dead-lettered %d  buffered %d",
		time.Since(l.start).Seconds(), int(s.consumed), int(s.sent), int(s.deduplicated), int(s.deadLettered), int(s.buffered))
	if l.tty {
		fmt.Fprintf(l.w, "\r\033[K%s", line)
		return
	}
	// Not a terminal: a plain line every few seconds.
	if time.Since(l.last) >= 2*time.Second {
		fmt.Fprintln(l.w, line)
		l.last = time.Now()
	}
}

func (l *liveLine) done() {
	if l.tty {
		fmt.Fprintln(l.w)
	}
}

func printSummary(w io.Writer, s stats, produced int, stand *capitest.Server) {
	row := func(name string, v float64) { fmt.Fprintf(w, "  %-34s %10d\n", name, int(v)) }
	fmt.Fprintln(w, "\nsummary")
	row("records produced", float64(produced))
	row("consumed", s.consumed)
	row("deduplicated", s.deduplicated)
	row("sent to the Conversions API", s.sent)
	row("dead-lettered", s.deadLettered)
	for _, k := range sortedKeys(s.byClass) {
		row("  "+k, s.byClass[k])
	}
	fmt.Fprintln(w, "sent by pixel")
	for _, k := range sortedKeys(s.byPixel) {
		row("  "+k, s.byPixel[k])
	}
	printMatchKeys(w, s)
	fmt.Fprintln(w, "requests by outcome")
	for _, k := range sortedKeys(s.requests) {
		row("  "+k, s.requests[k])
	}
	if stand != nil {
		row("events the stand-in accepted", float64(stand.Total()))
	}
}

// matchKeys are the user_data keys shown in the match-key table: the ones
// Event Match Quality weighs most.
var matchKeys = []string{"em", "ph", "fn", "ln", "external_id", "client_ip_address", "client_user_agent", "fbp", "fbc"}

// printMatchKeys prints, per pixel, the share of sent events that carried
// each match key: what an operator checks before Meta's match quality drops.
func printMatchKeys(w io.Writer, s stats) {
	if len(s.fields) == 0 {
		return
	}
	fmt.Fprintln(w, "match keys: share of sent events carrying each")
	fmt.Fprintf(w, "  %-16s", "pixel")
	for _, k := range matchKeys {
		fmt.Fprintf(w, " %6s", shortKey(k))
	}
	fmt.Fprintln(w)
	for _, px := range sortedKeys(s.byPixel) {
		fmt.Fprintf(w, "  %-16s", px)
		for _, k := range matchKeys {
			share := 0.0
			if sent := s.byPixel[px]; sent > 0 {
				share = 100 * s.fields[px][k] / sent
			}
			fmt.Fprintf(w, " %5.0f%%", share)
		}
		fmt.Fprintln(w)
	}
}

func shortKey(k string) string {
	switch k {
	case "external_id":
		return "ext_id"
	case "client_ip_address":
		return "ip"
	case "client_user_agent":
		return "ua"
	}
	return k
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
