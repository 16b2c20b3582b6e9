package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/freight-relay/freight/pkg/app"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/dlq"
)

const dlqUsage = `usage:
  freight dlq inspect -c FILE [--since T] [--until T] [--group-by class,pixel,code] [--bucket 1h] [--json]
  freight dlq replay -c FILE [--class C]... [--pixel P]... [--code N]... [--since T] [--until T]
                     [--limit N] [--rate N] [--dry-run] [--to-topic T]
T is RFC 3339 or a duration back from now (2h, 3d). See docs/runbook-dead-letters.md.
`

// cmdDLQ dispatches freight dlq inspect|replay.
func cmdDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, dlqUsage)
		return exitConfig
	}
	switch args[0] {
	case "inspect":
		return cmdDLQInspect(ctx, args[1:], stdout, stderr)
	case "replay":
		return cmdDLQReplay(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, dlqUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "freight dlq: unknown command %q\n\n%s", args[0], dlqUsage)
	return exitConfig
}

// listFlag is a repeatable flag that also takes comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// dlqFlags are the flags inspect and replay share.
type dlqFlags struct {
	path                  string
	since, until          string
	classes, pixels, code listFlag
	timeout               time.Duration
	log                   logFlags
}

func (f *dlqFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.path, "c", "", "configuration file (YAML)")
	fs.StringVar(&f.since, "since", "", "only records that failed at or after T (RFC 3339, or a duration back from now: 2h, 3d)")
	fs.StringVar(&f.until, "until", "", "only records that failed at or before T")
	fs.Var(&f.classes, "class", "only this class (repeatable): "+strings.Join(dlq.ValidClasses, ", "))
	fs.Var(&f.pixels, "pixel", "only this pixel (repeatable)")
	fs.Var(&f.code, "code", "only this Meta error code, N or N/SUBCODE (repeatable)")
	fs.DurationVar(&f.timeout, "timeout", dlq.DefaultTimeout, "how long Kafka may take to answer before giving up")
	f.log.register(fs)
}

// setup loads the configuration and turns the flags into a filter and a
// source. Problems with flags or configuration are a *config.ValidationError
// (exit 2).
func (f *dlqFlags) setup(stderr io.Writer) (config.Config, dlq.Filter, dlq.Source, error) {
	var ps []config.Problem
	problem := func(key string, err error) { ps = append(ps, config.Problem{Key: key, Message: err.Error()}) }
	cfg, err := loadConfig(f.path)
	if err != nil {
		return cfg, dlq.Filter{}, dlq.Source{}, err
	}
	now := time.Now()
	var flt dlq.Filter
	if f.since != "" {
		if flt.Since, err = dlq.ParseTime(f.since, now); err != nil {
			problem("--since", err)
		}
	}
	if f.until != "" {
		if flt.Until, err = dlq.ParseTime(f.until, now); err != nil {
			problem("--until", err)
		}
	}
	if !flt.Since.IsZero() && !flt.Until.IsZero() && flt.Until.Before(flt.Since) {
		ps = append(ps, config.Problem{Key: "--until", Message: "is before --since"})
	}
	if flt.Classes, err = dlq.ParseClasses(f.classes); err != nil {
		problem("--class", err)
	}
	if flt.Codes, err = dlq.ParseCodes(f.code); err != nil {
		problem("--code", err)
	}
	flt.Pixels = f.pixels
	if f.timeout <= 0 {
		ps = append(ps, config.Problem{Key: "--timeout", Message: "must be positive"})
	}
	if len(ps) > 0 {
		return cfg, flt, dlq.Source{}, &config.ValidationError{Problems: ps}
	}
	log, err := f.log.logger(stderr, cfg.Log)
	if err != nil {
		return cfg, flt, dlq.Source{}, err
	}
	kopts, err := app.KafkaOpts(cfg.Kafka, nil)
	if err != nil {
		return cfg, flt, dlq.Source{}, err
	}
	return cfg, flt, dlq.Source{Opts: kopts, Topic: cfg.Kafka.DeadLetterTopic, Timeout: f.timeout, Logger: log}, nil
}

// kafkaErr names the brokers in an error, so that a wrong address shows.
func kafkaErr(cfg config.Config, err error) error {
	return fmt.Errorf("kafka %s: %w", strings.Join(cfg.Kafka.Brokers, ","), err)
}

func cmdDLQInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("freight dlq inspect", flag.ContinueOnError)
	var f dlqFlags
	f.register(fs)
	groupBy := fs.String("group-by", strings.Join(dlq.DefaultGroupBy, ","), "group by these, comma-separated: "+strings.Join(dlq.GroupKeys, ","))
	bucket := fs.Duration("bucket", 0, "also group by failure time in buckets of this size (e.g. 1h)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if !parseFlags(fs, args, stderr) {
		return exitConfig
	}
	keys, gerr := dlq.ParseGroupBy(*groupBy)
	cfg, flt, src, err := f.setup(stderr)
	if err == nil && gerr != nil {
		err = &config.ValidationError{Problems: []config.Problem{{Key: "--group-by", Message: gerr.Error()}}}
	}
	if err == nil && *bucket < 0 {
		err = &config.ValidationError{Problems: []config.Problem{{Key: "--bucket", Message: "cannot be negative"}}}
	}
	if err != nil {
		return exitCode(err, stderr)
	}
	rep, err := dlq.Inspect(ctx, src, dlq.InspectOptions{Filter: flt, GroupBy: keys, Bucket: *bucket})
	if err != nil {
		return exitCode(kafkaErr(cfg, err), stderr)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteTable(stdout)
	}
	return exitCode(err, stderr)
}

func cmdDLQReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("freight dlq replay", flag.ContinueOnError)
	var f dlqFlags
	f.register(fs)
	limit := fs.Int("limit", 0, "replay at most N records, then stop (the rest stays for the next run); 0: no limit")
	rate := fs.Float64("rate", 0, "replay at most N records per second; 0: as fast as Kafka takes them")
	dryRun := fs.Bool("dry-run", false, "read and count what would be replayed; produce and commit nothing")
	toTopic := fs.String("to-topic", "", "replay every record to this topic instead of its freight.source.topic")
	if !parseFlags(fs, args, stderr) {
		return exitConfig
	}
	cfg, flt, src, err := f.setup(stderr)
	if err == nil && (*limit < 0 || *rate < 0) {
		err = &config.ValidationError{Problems: []config.Problem{{Key: "--limit/--rate", Message: "cannot be negative"}}}
	}
	if err != nil {
		return exitCode(err, stderr)
	}
	var known []string
	for _, t := range cfg.Kafka.Topics {
		known = append(known, t.Name)
	}
	progress := &dlq.Progress{}
	o := dlq.ReplayOptions{
		Group: cfg.Kafka.Group + "-replay", Filter: flt, Limit: *limit, Pacer: dlq.NewRate(*rate, nil),
		DryRun: *dryRun, ToTopic: *toTopic, MaxCount: cfg.Replay.MaxCount, KnownTopics: known,
		SessionTimeout: cfg.Kafka.SessionTimeout, Progress: progress,
	}

	// The progress display goes to stderr, so that stdout holds only the
	// final counts (for scripts); a bar on a terminal (isTerminal, dev.go),
	// plain lines otherwise.
	dctx, stopDisplay := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { dlq.Display(dctx, stderr, progress, isTerminal(stderr), 10*time.Second) })
	res, err := dlq.Replay(ctx, src, o)
	stopDisplay()
	wg.Wait()

	if werr := res.WriteTable(stdout); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return exitCode(kafkaErr(cfg, err), stderr)
	}
	if res.Interrupted {
		// Not done: a script must not take this run for a finished one.
		return exitFatal
	}
	return exitOK
}
