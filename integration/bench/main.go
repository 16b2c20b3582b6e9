// Command bench measures freight end to end on this machine and, in the same
// run, the two ceilings it is judged against: a bare franz-go consumer
// reading the same records, and go-redis pipelining SET NX to the same
// Redis (every event needs a claim and a confirm, so Redis is the natural
// ceiling). `make bench` runs it.
//
// The relay runs as its own process (the real binary), so that its CPU
// time, allocations and peak RSS are its own, not the broker's or the
// stand-in's, which run here.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v3"

	"github.com/freight-relay/freight/pkg/app"
	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/devstack"
	"github.com/freight-relay/freight/pkg/identity"
)

func main() {
	events := flag.Int("events", 300000, "records to relay")
	partitions := flag.Int("partitions", 6, "partitions of the input topic")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	flag.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the relay process (its first seconds) to this file")
	isolation := flag.Bool("isolation", false, "measure ten pixels' throughput with all served, then with one refused by Meta (parking)")
	memory := flag.Bool("memory", false, "the memory test: ten pixels, one whose requests never answer; peak RSS against batch.max_buffered_bytes")
	flag.IntVar(&scaleEvents, "scale-events", 100000, "records of each scaling run (0: no scaling table)")
	flag.Parse()
	f := run
	if *isolation {
		f = runIsolation
	}
	if *memory {
		f = runMemory
	}
	dir, err := os.MkdirTemp("", "freight-bench")
	if err == nil {
		defer os.RemoveAll(dir)
		err = buildRelay(dir)
	}
	if err == nil {
		err = f(*events, int32(*partitions), *redisAddr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
}

// relayBin is the freight binary every run starts, built once.
var relayBin string

func buildRelay(dir string) error {
	relayBin = filepath.Join(dir, "freight")
	if out, err := exec.Command("go", "build", "-o", relayBin, "./cmd/freight").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

var scaleEvents int

// quiet keeps the scaling runs' production to itself.
var quiet bool

const (
	topic    = "web-events"
	crmTopic = "crm-events"
	group    = "freight-bench"
)

var profile string

var pixels = []string{"111111111111111", "222222222222222", "333333333333333"}

func run(n int, partitions int32, redisAddr string) error {
	ctx := context.Background()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic, crmTopic, "freight-dlq", "freight-parking"))
	if err != nil {
		return err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	fmt.Printf("freight bench: %d records, %d partitions, %d CPUs, %s\n", n, partitions, runtime.NumCPU(), runtime.Version())
	if err := produce(ctx, brokers, n, pixels); err != nil {
		return fmt.Errorf("produce: %w", err)
	}

	bare, err := bareConsumer(ctx, brokers, n)
	if err != nil {
		return fmt.Errorf("bare consumer: %w", err)
	}
	setnx, err := redisSetNX(ctx, redisAddr, n)
	if err != nil {
		return fmt.Errorf("redis SET NX: %w", err)
	}
	ident, err := identityStage(ctx, redisAddr, n)
	if err != nil {
		return fmt.Errorf("identity stage: %w", err)
	}
	rel, err := relay(ctx, brokers, redisAddr, n, relayRun{pixels: pixels, group: group})
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}

	fmt.Println()
	fmt.Printf("  %-40s %12s\n", "", "events/s")
	fmt.Printf("  %-40s %12.0f\n", "bare franz-go group consumer", bare)
	fmt.Printf("  %-40s %12.0f\n", "go-redis pipelined SET NX (1 goroutine)", setnx)
	fmt.Printf("  %-40s %12.0f\n", "identity stage alone (polls of 5000)", ident)
	fmt.Printf("  %-40s %12.0f\n", "freight relay, every stage on", rel.rate)
	fmt.Println()
	fmt.Printf("  relay / Redis SET NX ceiling   %6.2f   (target >= 0.33)\n", rel.rate/setnx)
	fmt.Printf("  relay / bare consumer          %6.2f\n", rel.rate/bare)
	fmt.Printf("  relay CPU per event            %6.1f us\n", rel.cpu.Seconds()*1e6/float64(n))
	fmt.Printf("  identity stage per event       %6.1f us (wall, Redis round trips included)\n", 1e6/ident)
	fmt.Printf("  relay allocations per event    %6.1f\n", rel.mallocs/float64(n))
	fmt.Printf("  relay peak RSS                 %6.1f MB   (target < 256 MB)\n", float64(rel.peakRSS)/(1<<20))
	fmt.Printf("  relay peak heap in use         %6.1f MB (sampled), peak buffered events %.0f\n", rel.peakHeap/(1<<20), rel.peakBuffered)
	fmt.Printf("  events accepted by the stand-in %d, dead-lettered %d, deduplicated %d\n", rel.accepted, rel.deadLettered, rel.deduplicated)
	if scaleEvents > 0 {
		return scaling(ctx, redisAddr, setnx)
	}
	return nil
}

// scaling runs the relay at the default config but one dimension, so that
// the cost curve of each is visible: records per poll (Redis pipeline
// size), pixels (batches, requests, metrics series), partitions (offset
// trackers, fetches).
func scaling(ctx context.Context, redisAddr string, setnx float64) error {
	rows := []struct {
		dim        string
		poll       int
		pixels     int
		partitions int32
	}{
		{"records per poll 100", 100, 3, 6}, {"records per poll 1000", 1000, 3, 6}, {"records per poll 5000", 5000, 3, 6},
		{"pixels 1", 5000, 1, 6}, {"pixels 10", 5000, 10, 6}, {"pixels 100", 5000, 100, 6},
		{"partitions 1", 5000, 3, 1}, {"partitions 12", 5000, 3, 12}, {"partitions 48", 5000, 3, 48},
	}
	profile, quiet = "", true // the profile is the main run's
	fmt.Printf("\nscaling: %d records each, the default config but the row's dimension (3 pixels, 6 partitions, polls of 5000)\n", scaleEvents)
	fmt.Printf("  %-24s %10s %8s %12s %14s %10s\n", "", "events/s", "/SET NX", "CPU us/event", "allocs/event", "peak RSS")
	for i, row := range rows {
		ids := make([]string, row.pixels)
		for j := range ids {
			ids[j] = strconv.Itoa(300000000000000 + j)
		}
		res, err := scaleRun(ctx, redisAddr, row.partitions, ids, relayRun{pixels: ids, group: "freight-bench-scale-" + strconv.Itoa(i), poll: row.poll})
		if err != nil {
			return fmt.Errorf("scaling, %s: %w", row.dim, err)
		}
		fmt.Printf("  %-24s %10.0f %8.2f %12.1f %14.1f %7.1f MB\n", row.dim, res.rate, res.rate/setnx,
			res.cpu.Seconds()*1e6/float64(scaleEvents), res.mallocs/float64(scaleEvents), float64(res.peakRSS)/(1<<20))
	}
	return nil
}

// scaleRun is one scaling row: a broker of its own with the row's
// partitions, scaleEvents records over the row's pixels, one relay run.
func scaleRun(ctx context.Context, redisAddr string, partitions int32, pixels []string, run relayRun) (relayResult, error) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic, crmTopic, "freight-dlq", "freight-parking"))
	if err != nil {
		return relayResult{}, err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	if err := produce(ctx, brokers, scaleEvents, pixels); err != nil {
		return relayResult{}, fmt.Errorf("produce: %w", err)
	}
	return relay(ctx, brokers, redisAddr, scaleEvents, run)
}

// runIsolation relays the same records over ten pixels twice: all served,
// then with one whose token Meta refuses. Parking must keep the nine others
// at 80% or more of their throughput.
func runIsolation(n int, partitions int32, redisAddr string) error {
	ctx := context.Background()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic, crmTopic, "freight-dlq", "freight-parking"))
	if err != nil {
		return err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ten := make([]string, 10)
	for i := range ten {
		ten[i] = strconv.Itoa(100000000000000 + i)
	}
	fmt.Printf("freight bench -isolation: %d records over 10 pixels, %d partitions, %d CPUs, %s\n", n, partitions, runtime.NumCPU(), runtime.Version())
	if err := produce(ctx, brokers, n, ten); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	blocked := ten[9]
	// A buffer the refused pixel's events can fill: without parking, the
	// nine others would stop with it.
	buffer := max(n/15, 1000)
	served, err := relay(ctx, brokers, redisAddr, n, relayRun{pixels: ten, group: "freight-bench-served", exclude: blocked, buffer: buffer})
	if err != nil {
		return fmt.Errorf("relay, all served: %w", err)
	}
	healthy := served.healthySent
	refused, err := relay(ctx, brokers, redisAddr, n, relayRun{pixels: ten, group: "freight-bench-refused", exclude: blocked,
		refuse: true, untilHealthySent: healthy, buffer: buffer})
	if err != nil {
		return fmt.Errorf("relay, one pixel refused: %w", err)
	}
	before := healthy / served.elapsed.Seconds()
	after := refused.healthyRate
	fmt.Println()
	fmt.Printf("  %-52s %12s\n", "the nine served pixels' events accepted by Meta", "events/s")
	fmt.Printf("  %-52s %12.0f\n", "all ten pixels served", before)
	fmt.Printf("  %-52s %12.0f\n", "one pixel's token refused (190), its events parked", after)
	fmt.Println()
	fmt.Printf("  ratio                          %6.2f   (target >= 0.80)\n", after/before)
	fmt.Printf("  events parked                  %6.0f, peak buffered events %.0f of %d\n", refused.parked, refused.peakBuffered, buffer)
	return nil
}

// produce writes n generated records (realistic web and CRM events, with
// the generator's share of duplicates and invalid ones) to the input topic.
// outsideLimit is what a freight process takes besides what Go's soft
// memory limit (max_buffered_bytes + app.MemoryOverhead) covers: its
// executable's pages, and the limit's overshoot while the collector is
// capped at half the CPU (a soft limit). Measured: 26 to 56 MiB.
const outsideLimit = 64 << 20

// runMemory is the memory test (issue 14): ten pixels, one whose requests
// Meta never answers (each times out after capi.timeout), n records, the
// default buffer bounds. The stuck pixel's events fill the buffer and are
// parked; the nine others are delivered meanwhile. Then Meta answers again
// and the parked events are delivered. Peak RSS must stay under
// batch.max_buffered_bytes plus app.MemoryOverhead, and every record must be
// accounted for once: accepted by Meta, dead-lettered or deduplicated.
func runMemory(n int, partitions int32, redisAddr string) error {
	ctx := context.Background()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic, crmTopic, "freight-dlq", "freight-parking"))
	if err != nil {
		return err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ten := make([]string, 10)
	for i := range ten {
		ten[i] = strconv.Itoa(200000000000000 + i)
	}
	fmt.Printf("freight bench -memory: %d records over 10 pixels, one never answered, %d partitions, %d CPUs, %s\n", n, partitions, runtime.NumCPU(), runtime.Version())
	if err := produce(ctx, brokers, n, ten); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	stuck := ten[9]
	// The nine others' share: a tenth of the records go to each pixel,
	// less those dead-lettered and deduplicated, so 85% of nine tenths.
	res, err := relay(ctx, brokers, redisAddr, n, relayRun{pixels: ten, group: "freight-bench-memory", exclude: stuck,
		hang: true, release: true, untilHealthySent: float64(n) * 0.9 * 0.85})
	if err != nil {
		return err
	}
	bound := int64(config.Default().Batch.MaxBufferedBytes)
	limit := bound + app.MemoryOverhead + outsideLimit
	fmt.Println()
	fmt.Printf("  the nine pixels' events accepted    %10.0f  (%.0f/s while the tenth was stuck)\n", res.healthySent, res.healthyRate)
	fmt.Printf("  the stuck pixel's events parked     %10.0f, then sent %.0f once Meta answered again\n", res.parked, res.stuckSent)
	fmt.Printf("  accepted + dead-lettered + deduplicated = %d + %d + %d = %d of %d records\n",
		res.accepted, res.deadLettered, res.deduplicated, res.accepted+res.deadLettered+res.deduplicated, n)
	fmt.Printf("  peak bytes counted (sampled)        %10.1f MiB of batch.max_buffered_bytes %.1f MiB\n", res.peakBufferedBytes/(1<<20), float64(bound)/(1<<20))
	fmt.Printf("  peak RSS while stuck / in all       %7.1f MiB / %.1f MiB   (bound: %.0f MiB = max_buffered_bytes + %d MiB)\n",
		float64(res.peakBeforeRelease)/(1<<20), float64(res.peakRSS)/(1<<20), float64(limit)/(1<<20), (app.MemoryOverhead+outsideLimit)>>20)
	var failed []string
	if res.peakRSS > limit {
		failed = append(failed, "peak RSS over the bound")
	}
	if res.parked == 0 || res.stuckSent == 0 {
		failed = append(failed, "the stuck pixel's events were not parked and then delivered")
	}
	if got := res.accepted + res.deadLettered + res.deduplicated; got != n {
		failed = append(failed, fmt.Sprintf("%d records accounted for, want %d", got, n))
	}
	// A poll near the bound takes what fits at the last poll's bytes per
	// record: it may overshoot by its estimate's error, not by a poll.
	if res.peakBufferedBytes > float64(bound+1<<20) {
		failed = append(failed, "more bytes buffered than the bound")
	}
	if len(failed) > 0 {
		return errors.New("memory test failed: " + strings.Join(failed, "; "))
	}
	fmt.Println("  memory test passed")
	return nil
}

func produce(ctx context.Context, brokers []string, n int, pixels []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100000))
	if err != nil {
		return err
	}
	defer cl.Close()
	g := devstack.NewGenerator(7, pixels, topic, crmTopic, time.Now)
	start := time.Now()
	var firstErr error
	for range n {
		cl.Produce(ctx, g.Next(), func(_ *kgo.Record, err error) {
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if !quiet {
		fmt.Printf("produced in %s\n", time.Since(start).Round(time.Millisecond))
	}
	return firstErr
}

func bareConsumer(ctx context.Context, brokers []string, n int) (float64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup("bare-"+group),
		kgo.ConsumeTopics(topic, crmTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	got := 0
	var start time.Time
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for got < n {
		fs := cl.PollRecords(ctx, 10000)
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if start.IsZero() && fs.NumRecords() > 0 {
			start = time.Now()
		}
		got += fs.NumRecords()
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// redisSetNX pipelines SET NX PX of n fresh keys from one goroutine, in
// pipelines of the size of a typical poll, as the relay's claims do.
func redisSetNX(ctx context.Context, addr string, n int) (float64, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	prefix := "freight-bench:" + randomHex() + ":"
	defer deleteKeys(ctx, rdb, prefix)
	const pipeline = 1000
	start := time.Now()
	for i := 0; i < n; i += pipeline {
		p := rdb.Pipeline()
		for j := i; j < min(i+pipeline, n); j++ {
			p.SetNX(ctx, prefix+strconv.Itoa(j), "o", 30*time.Second)
		}
		if _, err := p.Exec(ctx); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// identityStage measures the identity graph alone: Resolve over polls of
// 5000 people (as many as the relay maps per poll), half of them web events
// with an external_id and an e-mail, half CRM events looked up by that
// e-mail and linking their CRM id.
func identityStage(ctx context.Context, addr string, n int) (float64, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	prefix := "freight-bench:" + randomHex() + ":"
	defer deleteKeys(ctx, rdb, prefix)
	g := identity.New(rdb, prefix, time.Hour)
	linkBy := []string{identity.KindExternalID, identity.KindEmail, identity.KindPhone, identity.KindCRMID}
	const poll = 5000
	var spent time.Duration
	for i := 0; i < n; i += poll {
		people := make([]*identity.Person, 0, poll)
		for j := i; j < min(i+poll, n); j += 2 {
			email := hashHex("p" + strconv.Itoa(j) + "@x.com")
			people = append(people,
				identity.NewPerson("px:1", capi.Identifiers{ExternalID: hashHex("u-" + strconv.Itoa(j)), Emails: []string{email}}, linkBy),
				identity.NewPerson("px:1", capi.Identifiers{Emails: []string{email}, CRMID: hashHex("c" + strconv.Itoa(j))}, linkBy))
		}
		start := time.Now()
		if _, err := g.Resolve(ctx, people); err != nil {
			return 0, err
		}
		spent += time.Since(start)
	}
	return float64(n) / spent.Seconds(), nil
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

type relayResult struct {
	rate                                 float64
	cpu                                  time.Duration
	mallocs                              float64
	peakRSS                              int64
	accepted, deadLettered, deduplicated int
	peakBuffered, peakHeap               float64
	healthySent, healthyRate, parked     float64
	elapsed                              time.Duration
	// The memory test's: the stuck pixel's events sent, the peak of the
	// bytes counted, when the stuck pixel was released and the peak RSS
	// until then.
	stuckSent, peakBufferedBytes float64
	released                     time.Time
	peakBeforeRelease            int64
}

// relayRun says how to run the relay: over which pixels, in which group,
// with which pixel refused by Meta, until when.
type relayRun struct {
	pixels []string
	group  string
	// exclude is a pixel left out of the healthy count; refuse makes Meta
	// refuse its token.
	exclude string
	refuse  bool
	// untilHealthySent ends the run once the pixels other than exclude
	// have had this many events accepted; 0 runs until the group has
	// committed every record.
	untilHealthySent float64
	// buffer overrides batch.max_buffered_events when not 0.
	buffer int
	// poll overrides kafka.max_poll_records when not 0.
	poll int
	// hang makes Meta never answer exclude's requests (they time out)
	// instead of refusing its token; release ends that once
	// untilHealthySent is reached, and the run goes on until the group has
	// committed every record and no parked event waits.
	hang, release bool
}

func relay(ctx context.Context, brokers []string, redisAddr string, n int, run relayRun) (relayResult, error) {
	var res relayResult
	tokens := map[string]string{}
	env := os.Environ()
	cfg := config.Default()
	for i, p := range run.pixels {
		tokens[p] = "bench-token-" + strconv.Itoa(i)
		env = append(env, "BENCH_TOKEN_"+strconv.Itoa(i)+"="+tokens[p])
		cfg.CAPI.Pixels = append(cfg.CAPI.Pixels, config.Pixel{ID: p, AccessTokenEnv: "BENCH_TOKEN_" + strconv.Itoa(i)})
	}
	stand := capitest.New(capitest.Options{Tokens: tokens, MaxRecorded: 1})
	switch {
	case run.hang:
		stand.SetPixelFault(run.exclude, capitest.FaultTimeout)
	case run.refuse:
		stand.SetPixelFault(run.exclude, capitest.FaultAuth)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	srv := &http.Server{Handler: stand, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	prefix := "freight-bench:" + randomHex() + ":"
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	defer deleteKeys(ctx, rdb, prefix)

	cfg.Kafka.Brokers = brokers
	cfg.Kafka.Group = run.group
	cfg.Retry.ParkAfter = 2 * time.Second // the default 30 s is longer than the run
	cfg.Redis.URL = "redis://" + redisAddr + "/0"
	cfg.Redis.KeyPrefix = prefix
	cfg.CAPI.BaseURL = "http://" + l.Addr().String()
	httpAddr, err := freeAddr()
	if err != nil {
		return res, err
	}
	cfg.HTTP.Listen = httpAddr
	cfg.HTTP.Pprof = profile != ""
	cfg.Log.Level = "warn"
	if run.poll > 0 {
		cfg.Kafka.MaxPollRecords = run.poll
	}
	if run.buffer > 0 {
		cfg.Batch.MaxBufferedEvents = run.buffer
	}
	if run.buffer > 0 || run.hang {
		cfg.Log.Level = "error" // not a warning per refused request
	}
	if run.hang {
		// Parked events come back within the run: after 2, 4, 8, 10, 10... s.
		cfg.Retry.MaxBackoff = 10 * time.Second
	}

	dir, err := os.MkdirTemp("", "freight-bench")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return res, err
	}
	cfgPath := filepath.Join(dir, "freight.yaml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return res, err
	}
	cmd := exec.Command(relayBin, "run", "-c", cfgPath)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()

	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return res, err
	}
	defer adm.Close()
	admin := kadm.NewClient(adm)
	deadline := time.Now().Add(10 * time.Minute)
	var start, resolved, lastReport time.Time
	heapSaved := false
	begin := time.Now()
	for {
		if time.Now().After(deadline) {
			return res, errors.New("the relay did not finish within 10 minutes")
		}
		m := scrape(httpAddr)
		res.peakBuffered = max(res.peakBuffered, m["freight_buffered_events"])
		res.peakHeap = max(res.peakHeap, m["go_memstats_heap_inuse_bytes"])
		res.peakBufferedBytes = max(res.peakBufferedBytes, m["freight_buffered_bytes"])
		res.peakRSS = max(res.peakRSS, peakRSS(cmd.Process.Pid))
		if start.IsZero() && m["freight_records_consumed_total"] > 0 {
			start = time.Now()
			if profile != "" {
				time.AfterFunc(time.Second, func() { saveProfile(httpAddr, profile) })
				// And this process's own (broker, stand-in), to see who
				// else takes the machine.
				if f, err := os.Create(profile + ".bench"); err == nil {
					_ = pprof.StartCPUProfile(f)
					time.AfterFunc(4*time.Second, func() { pprof.StopCPUProfile(); f.Close() })
				}
			}
		}
		healthy := m["freight_events_sent_total"] - m[`freight_events_sent_total{pixel="`+run.exclude+`"}`]
		if run.hang && profile != "" && !heapSaved && m["freight_buffered_bytes"] > 0.9*float64(cfg.Batch.MaxBufferedBytes) {
			heapSaved = true // the heap when the buffer is nearly full: what it holds besides the records
			saveHeap(httpAddr, profile+".heap")
		}
		if run.hang && time.Since(lastReport) >= 5*time.Second {
			lastReport = time.Now()
			fmt.Printf("  %5.0fs: nine pixels sent %.0f, stuck pixel sent %.0f, parked %.0f (waiting %.0f), buffered %.0f events %.1f MiB, heap %.1f MiB, RSS %.1f MiB (Go limit %.0f MiB)\n",
				time.Since(begin).Seconds(), healthy, m[`freight_events_sent_total{pixel="`+run.exclude+`"}`], m["freight_events_parked_total"],
				m["freight_parked_events"], m["freight_buffered_events"], m["freight_buffered_bytes"]/(1<<20),
				m["go_memstats_heap_inuse_bytes"]/(1<<20), float64(peakRSS(cmd.Process.Pid))/(1<<20), m["go_gc_gomemlimit_bytes"]/(1<<20))
		}
		if run.untilHealthySent > 0 && healthy >= run.untilHealthySent {
			if !run.release {
				break
			}
			if res.released.IsZero() {
				stand.ClearPixelFault(run.exclude)
				res.released = time.Now()
				res.healthyRate = healthy / time.Since(start).Seconds()
				res.parked = m["freight_events_parked_total"]
				res.peakBeforeRelease = res.peakRSS
			}
			if m["freight_parked_events"] == 0 && m["freight_buffered_events"] == 0 &&
				devstack.CaughtUp(ctx, admin, run.group, topic, crmTopic, cfg.Kafka.ParkingTopic) {
				break
			}
		}
		// The run's time ends when every record is resolved (accepted by
		// Meta, dead-lettered or deduplicated); it ends when the group has
		// committed them all, which follows within kafka.commit_interval.
		if resolved.IsZero() && m["freight_events_sent_total"]+m["freight_events_dead_lettered_total"]+m["freight_events_deduplicated_total"] >= float64(n) {
			resolved = time.Now()
		}
		if !start.IsZero() && run.untilHealthySent == 0 && devstack.CaughtUp(ctx, admin, run.group, topic, crmTopic) {
			break
		}
		// The measurement's polling interval: often enough to end within 1%
		// of a run, rarely enough that scraping costs the relay little.
		time.Sleep(50 * time.Millisecond)
	}
	if resolved.IsZero() || run.untilHealthySent > 0 {
		resolved = time.Now()
	}
	elapsed := resolved.Sub(start)
	m := scrape(httpAddr)
	res.rate = float64(n) / elapsed.Seconds()
	res.elapsed = elapsed
	res.healthySent = m["freight_events_sent_total"] - m[`freight_events_sent_total{pixel="`+run.exclude+`"}`]
	if res.released.IsZero() {
		res.healthyRate = res.healthySent / elapsed.Seconds()
		res.parked = m["freight_events_parked_total"]
	}
	res.stuckSent = m[`freight_events_sent_total{pixel="`+run.exclude+`"}`]
	res.cpu = time.Duration(m["process_cpu_seconds_total"] * float64(time.Second))
	res.mallocs = m["go_memstats_mallocs_total"]
	res.peakRSS = max(res.peakRSS, peakRSS(cmd.Process.Pid))
	res.accepted = stand.Total()
	res.deadLettered = int(m["freight_events_dead_lettered_total"])
	res.deduplicated = int(m["freight_events_deduplicated_total"])
	return res, nil
}

// scrape reads the relay's metrics: each name's sum over its labels, and
// each labeled series under its full name.
func scrape(addr string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := f[0]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			out[name] += v
			if name != f[0] {
				out[f[0]] = v // one labeled series, e.g. freight_events_sent_total{pixel="1"}
			}
		}
	}
	return out
}

// peakRSS is VmHWM of a process, in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func deleteKeys(ctx context.Context, rdb *redis.Client, prefix string) {
	iter := rdb.Scan(ctx, 0, prefix+"*", 5000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 5000 {
			rdb.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		rdb.Unlink(ctx, batch...)
	}
}

func saveHeap(addr, path string) {
	if h, err := http.Get("http://" + addr + "/debug/pprof/heap"); err == nil {
		b, _ := io.ReadAll(h.Body)
		h.Body.Close()
		_ = os.WriteFile(path, b, 0o644)
	}
}

func saveProfile(addr, path string) {
	saveHeap(addr, path+".heap")
	resp, err := http.Get("http://" + addr + "/debug/pprof/profile?seconds=3")
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
	}
}
