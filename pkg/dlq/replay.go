package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/deadletter"
)

// ReplayOptions say what to replay, where, and how fast.
type ReplayOptions struct {
	// Group keeps the replay's place: <kafka.group>-replay. A dry run reads
	// from the group's place too (so it shows what the next run would do)
	// but never joins it.
	Group  string
	Filter Filter
	// Limit stops the replay after this many records were replayed; 0 means
	// no limit. Records after it stay for the next run.
	Limit int
	// Pacer paces the replayed records (NewRate); nil means as fast as the
	// brokers take them.
	Pacer Pacer
	// DryRun reads and counts, but produces and commits nothing.
	DryRun bool
	// ToTopic, when set, receives every replayed record instead of the
	// topic named by freight.source.topic. Only then are foreign records
	// replayed: nobody knows where else they would belong.
	ToTopic string
	// MaxCount is replay.max_count: a record already replayed this often is
	// skipped and counted, so that an event that keeps failing cannot loop.
	MaxCount int
	// KnownTopics are the configured input topics; a record bound elsewhere
	// is replayed but logged, since no relay of this configuration reads it.
	KnownTopics []string
	// SessionTimeout is the replay group's; joining may take this long when
	// a killed replay's member is still registered. 0: franz-go's default.
	SessionTimeout time.Duration
	// Now is the clock of the too-old check; nil means time.Now.
	Now func() time.Time
	// Progress, when set, is updated as records are decided.
	Progress *Progress
	// CommitEvery and CommitInterval bound the work a crash redoes: the
	// position is committed after this many records or this long, whichever
	// comes first (defaults 500 and 1s).
	CommitEvery    int
	CommitInterval time.Duration
}

// Result counts what a replay did with each record it read.
type Result struct {
	DryRun bool `json:"dry_run"`
	Read   int  `json:"read"`
	// Replayed were produced and acknowledged (in a dry run: would be).
	Replayed        int            `json:"replayed"`
	ByTopic         map[string]int `json:"replayed_by_topic"`
	SkippedFilter   int            `json:"skipped_filter"`
	SkippedMaxCount int            `json:"skipped_max_count"` // at replay.max_count
	SkippedTooOld   int            `json:"skipped_too_old"`   // Meta would refuse them now
	SkippedForeign  int            `json:"skipped_foreign"`   // no freight headers and no --to-topic
	// SkippedTruncated are dead letters written without their value (too
	// large for the topic): replaying them would produce an empty record;
	// the original is at its freight.source.* place while retention lasts.
	SkippedTruncated int  `json:"skipped_truncated"`
	StoppedAtLimit   bool `json:"stopped_at_limit"`
	Interrupted      bool `json:"interrupted"`
	MaxCount         int  `json:"max_count"`
}

// replayHeaders are the headers of a replayed record: the source record's
// own headers, and freight.source.*, which deadletter.Record keeps when the
// record fails again, so that its next dead letter still names where the
// event first came from. Everything else freight wrote (the error, pixel,
// event, attempts, failed_at, and freight.park.*, a wait that is over)
// describes the last failure, not the event, and is dropped. The replay
// count is set to count.
func replayHeaders(hs []kgo.RecordHeader, count int) []kgo.RecordHeader {
	out := make([]kgo.RecordHeader, 0, len(hs)+1)
	for _, h := range hs {
		if strings.HasPrefix(h.Key, "freight.") && !strings.HasPrefix(h.Key, "freight.source.") {
			continue
		}
		out = append(out, h)
	}
	return append(out, kgo.RecordHeader{Key: deadletter.HeaderReplayCount, Value: []byte(strconv.Itoa(count))})
}

// Replay re-produces the dead letters that o selects, from the group's place
// to the end offsets listed at the start. It returns what it did; on an
// error the result counts what was done before it. An interrupted replay
// (ctx canceled) is not an error: it finishes producing what it decided,
// commits, and returns with Interrupted set.
func Replay(ctx context.Context, src Source, o ReplayOptions) (Result, error) {
	res := Result{DryRun: o.DryRun, ByTopic: map[string]int{}, MaxCount: o.MaxCount}
	if o.Group == "" {
		return res, errors.New("replay: no consumer group")
	}
	if o.MaxCount < 1 {
		return res, errors.New("replay: max count must be at least 1")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CommitEvery <= 0 {
		o.CommitEvery = 500
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = time.Second
	}
	admCl, err := kgo.NewClient(src.Opts...)
	if err != nil {
		return res, fmt.Errorf("kafka client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	spans, err := src.spans(ctx, adm, o.Group)
	if err != nil {
		return res, err
	}
	if o.ToTopic != "" {
		if err := src.metadata(ctx, adm, o.ToTopic); err != nil {
			return res, fmt.Errorf("--to-topic: %w", err)
		}
	}
	if o.Progress != nil {
		o.Progress.total.Store(remaining(spans))
	}
	r := &replayer{src: src, o: o, res: &res, adm: adm, log: src.log(),
		ends: map[int32]int64{}, pos: map[int32]int64{}, assigned: map[int32]bool{}, checked: map[string]bool{}}
	work := map[int32]kgo.Offset{}
	for p, sp := range spans {
		r.ends[p], r.pos[p] = sp.end, sp.from
		if sp.from < sp.end {
			work[p] = kgo.NewOffset().At(sp.from)
		}
	}
	if len(work) == 0 {
		return res, nil // nothing new since the last run
	}
	if err := r.open(work); err != nil {
		return res, err
	}
	err = r.run(ctx)
	r.cl.CloseAllowingRebalance()
	if !o.DryRun && err == nil && !res.Interrupted && !res.StoppedAtLimit {
		// A partition with work that never came our way was read by
		// someone else in the group.
		r.mu.Lock()
		for p := range work {
			if !r.ever[p] {
				r.log.Warn("partition was not assigned to this replay: is another replay of the group running?",
					"group", o.Group, "partition", p)
			}
		}
		r.mu.Unlock()
	}
	return res, err
}

type replayer struct {
	src Source
	o   ReplayOptions
	res *Result
	adm *kadm.Client
	cl  *kgo.Client
	log *slog.Logger

	ends, pos map[int32]int64

	mu       sync.Mutex // the group's callbacks run on franz-go's goroutine
	joined   bool
	assigned map[int32]bool
	ever     map[int32]bool

	checked  map[string]bool // target topics known to exist
	decided  int             // records decided to replay, for Limit
	chunk    []*entry        // records since the last commit, in order
	inflight sync.WaitGroup
	since    time.Time // when the chunk started
}

// entry is a record read since the last commit. Its copy, if it has one,
// may still be on its way to the brokers until inflight is done.
type entry struct {
	src    *kgo.Record
	target string // "" when skipped
	err    error  // the produce verdict, set before inflight.Done
}

// open makes the client: a group member that commits by hand, or for a dry
// run a plain consumer of the same offsets, which joins nothing.
func (r *replayer) open(work map[int32]kgo.Offset) error {
	opts := slices.Clone(r.src.Opts)
	if r.o.DryRun {
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.src.Topic: work}))
		r.joined = true
		for p := range work {
			r.assigned[p] = true
		}
	} else {
		r.ever = map[int32]bool{}
		opts = append(opts,
			kgo.ConsumerGroup(r.o.Group),
			kgo.ConsumeTopics(r.src.Topic),
			// Every dead letter, whatever kafka.start_offset says: a replay
			// that started at the end would skip what it is for.
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			// We commit a record only after its copy is acknowledged.
			kgo.DisableAutoCommit(),
			// A rebalance waits until what a poll returned is produced and
			// committed, so a partition never moves with work half done.
			kgo.BlockRebalanceOnPoll(),
			// acks=all is franz-go's default; bound how long a copy may take
			// so that a broker gone mid-run is an error, not a hang.
			kgo.RecordDeliveryTimeout(2*r.src.timeout()),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				r.mu.Lock()
				defer r.mu.Unlock()
				r.joined = true
				for _, p := range m[r.src.Topic] {
					r.assigned[p], r.ever[p] = true, true
				}
			}),
			kgo.OnPartitionsRevoked(r.drop),
			kgo.OnPartitionsLost(r.drop),
		)
		if r.o.SessionTimeout > 0 {
			opts = append(opts, kgo.SessionTimeout(r.o.SessionTimeout))
		}
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	r.cl = cl
	return nil
}

func (r *replayer) drop(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range m[r.src.Topic] {
		delete(r.assigned, p)
	}
}

// finished: every partition we hold is read up to the end listed at the
// start.
func (r *replayer) finished() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.joined || len(r.assigned) == 0 {
		return false
	}
	for p := range r.assigned {
		if r.pos[p] < r.ends[p] {
			return false
		}
	}
	return true
}

func (r *replayer) run(ctx context.Context) (err error) {
	r.since = time.Now()
	// Whatever ends the run, what was decided is produced and committed:
	// the next run starts right after it.
	defer func() {
		if serr := r.settle(ctx); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	var lastFetchErr error
	for !r.finished() {
		if ctx.Err() != nil {
			r.res.Interrupted = true
			return nil
		}
		wait := r.src.timeout()
		r.mu.Lock()
		if !r.joined {
			// Joining waits for a killed replay's member to time out.
			wait += max(r.o.SessionTimeout, 45*time.Second)
		}
		r.mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, wait)
		fs := r.cl.PollRecords(pctx, 1000)
		cancel()
		if fs.IsClientClosed() {
			return errors.New("kafka client closed")
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				if lastFetchErr == nil || lastFetchErr.Error() != err.Error() {
					r.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
				}
				lastFetchErr = err
			}
		})
		recs := fs.Records()
		if len(recs) == 0 {
			r.cl.AllowRebalance()
			if ctx.Err() != nil {
				r.res.Interrupted = true
				return nil
			}
			if pctx.Err() != nil {
				return r.stalled(wait, lastFetchErr)
			}
			continue
		}
		stop, err := r.handleAll(ctx, recs)
		if err == nil {
			err = r.settle(ctx)
		}
		r.cl.AllowRebalance()
		if err != nil || stop {
			return err
		}
	}
	return nil
}

func (r *replayer) stalled(wait time.Duration, fetchErr error) error {
	var behind []string
	r.mu.Lock()
	for p := range r.assigned {
		if r.pos[p] < r.ends[p] {
			behind = append(behind, fmt.Sprintf("%d at %d of %d", p, r.pos[p], r.ends[p]))
		}
	}
	joined := r.joined
	r.mu.Unlock()
	sort.Strings(behind)
	switch {
	case !joined:
		return fmt.Errorf("%w: group %s was not joined within %s", ErrStalled, r.o.Group, wait)
	case fetchErr != nil:
		return fmt.Errorf("%w: no record within %s (partitions %s; last fetch error: %s)", ErrStalled, wait,
			strings.Join(behind, ", "), oneLine(fetchErr))
	}
	return fmt.Errorf("%w: no record within %s (partitions %s)", ErrStalled, wait, strings.Join(behind, ", "))
}

// handleAll decides the records of one poll; stop means the run is over
// (limit, interruption).
func (r *replayer) handleAll(ctx context.Context, recs []*kgo.Record) (stop bool, err error) {
	for _, rec := range recs {
		end, ok := r.ends[rec.Partition]
		if !ok || rec.Offset >= end {
			// Written after the start (perhaps by this very replay): the
			// partition is read to its end.
			r.pos[rec.Partition] = max(r.pos[rec.Partition], end)
			continue
		}
		if ctx.Err() != nil {
			r.res.Interrupted = true
			return true, nil
		}
		stop, err := r.handle(ctx, rec)
		if err != nil || stop {
			return true, err
		}
		if len(r.chunk) >= r.o.CommitEvery || time.Since(r.since) >= r.o.CommitInterval {
			if err := r.settle(ctx); err != nil {
				return true, err
			}
		}
	}
	return false, nil
}

// handle decides one record. The checks go from what the SRE asked for to
// what the record allows, so that each record counts under one outcome.
func (r *replayer) handle(ctx context.Context, rec *kgo.Record) (stop bool, err error) {
	l := read(rec)
	var target string
	switch {
	case !r.o.Filter.Match(l):
		r.res.SkippedFilter++
	case l.foreign && r.o.ToTopic == "":
		r.res.SkippedForeign++
	case deadletter.Header(rec, deadletter.HeaderTruncated) != "":
		r.res.SkippedTruncated++
	case l.badReplayCount || l.replays >= r.o.MaxCount:
		// A count we cannot read is taken as spent: better an event left
		// for an SRE than one that loops.
		r.res.SkippedMaxCount++
	case tooOld(rec, r.o.Now()):
		r.res.SkippedTooOld++
	default:
		target = r.o.ToTopic
		if target == "" {
			target = l.sourceTopic
		}
		if err := r.checkTarget(ctx, target, rec); err != nil {
			return true, err
		}
		if r.o.Pacer != nil && !r.o.DryRun {
			if err := r.o.Pacer.Wait(ctx); err != nil {
				// Interrupted before this record: it stays for the next run.
				r.res.Interrupted = true
				return true, nil
			}
		}
	}
	r.res.Read++
	r.pos[rec.Partition] = rec.Offset + 1
	e := &entry{src: rec, target: target}
	r.chunk = append(r.chunk, e)
	if p := r.o.Progress; p != nil {
		p.done.Add(1)
	}
	if target == "" {
		return false, nil
	}
	r.decided++
	if !r.o.DryRun {
		out := &kgo.Record{Topic: target, Key: rec.Key, Value: rec.Value, Headers: replayHeaders(rec.Headers, l.replays+1)}
		r.inflight.Add(1)
		// Not ctx: a copy decided before an interruption is still produced,
		// so that its offset can be committed (RecordDeliveryTimeout bounds it).
		r.cl.Produce(context.WithoutCancel(ctx), out, func(_ *kgo.Record, err error) {
			e.err = err
			r.inflight.Done()
		})
	}
	if r.o.Limit > 0 && r.decided >= r.o.Limit {
		r.res.StoppedAtLimit = true
		return true, nil
	}
	return false, nil
}

// checkTarget makes sure a target topic exists before the first copy goes
// there: producing to a missing topic would only fail after retries, with a
// less useful message.
func (r *replayer) checkTarget(ctx context.Context, topic string, rec *kgo.Record) error {
	if r.checked[topic] {
		return nil
	}
	if err := r.src.metadata(ctx, r.adm, topic); err != nil {
		if errors.Is(err, ErrTopicMissing) && r.o.ToTopic == "" {
			return fmt.Errorf("%w (named by freight.source.topic of %s/%d@%d; --to-topic replays elsewhere)",
				err, rec.Topic, rec.Partition, rec.Offset)
		}
		return err
	}
	if r.o.ToTopic == "" && len(r.o.KnownTopics) > 0 && !slices.Contains(r.o.KnownTopics, topic) {
		r.log.Warn("replaying to a topic that is not in kafka.topics", "topic", topic)
	}
	r.checked[topic] = true
	return nil
}

// settle waits for the chunk's copies and commits, per partition, the
// offset after the last record that is done: skipped, or copied and
// acknowledged. A copy that failed holds its partition's commit back, so
// the record is replayed again next time rather than lost.
func (r *replayer) settle(ctx context.Context) error {
	defer func() {
		r.chunk = r.chunk[:0]
		r.since = time.Now()
	}()
	if len(r.chunk) == 0 {
		return nil
	}
	r.inflight.Wait()
	commit := map[int32]*kgo.Record{}
	held := map[int32]bool{}
	var firstErr error
	failed := 0
	for _, e := range r.chunk {
		p := e.src.Partition
		if e.err != nil {
			held[p] = true
			failed++
			if firstErr == nil {
				firstErr = fmt.Errorf("replay %s/%d@%d to %s: %w", e.src.Topic, p, e.src.Offset, e.target, e.err)
			}
			continue
		}
		if e.target != "" {
			r.res.Replayed++
			r.res.ByTopic[e.target]++
			if pr := r.o.Progress; pr != nil {
				pr.replayed.Add(1)
			}
		}
		if !held[p] {
			commit[p] = e.src
		}
	}
	if failed > 1 {
		firstErr = fmt.Errorf("%w (and %d more)", firstErr, failed-1)
	}
	if r.o.DryRun || len(commit) == 0 {
		return firstErr
	}
	recs := make([]*kgo.Record, 0, len(commit))
	for _, rec := range commit {
		recs = append(recs, rec)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.src.timeout())
	defer cancel()
	if err := r.cl.CommitRecords(cctx, recs...); err != nil {
		return errors.Join(firstErr, fmt.Errorf("commit the replay's place in group %s: %w", r.o.Group, err))
	}
	return firstErr
}

// WriteTable prints the final count by outcome: labels left, counts right.
func (res Result) WriteTable(w io.Writer) error {
	type row struct {
		label string
		n     int
	}
	verb := "replayed"
	if res.DryRun {
		verb = "would replay"
	}
	rows := []row{{verb, res.Replayed}}
	topics := make([]string, 0, len(res.ByTopic))
	for t := range res.ByTopic {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		rows = append(rows, row{"  to " + t, res.ByTopic[t]})
	}
	rows = append(rows,
		row{"skipped by filter", res.SkippedFilter},
		row{fmt.Sprintf("skipped at replay.max_count (%d)", res.MaxCount), res.SkippedMaxCount},
		row{"skipped as too old to send", res.SkippedTooOld},
		row{"skipped as foreign (no freight headers)", res.SkippedForeign},
		row{"skipped as truncated (read the original at its source offset)", res.SkippedTruncated},
		row{"records read", res.Read})
	width := 0
	for _, r := range rows {
		width = max(width, len(r.label))
	}
	for _, r := range rows {
		if _, err := fmt.Fprintf(w, "%-*s %8d\n", width, r.label, r.n); err != nil {
			return err
		}
	}
	var notes []string
	if res.DryRun {
		notes = append(notes, "dry run: nothing was produced or committed")
	}
	if res.SkippedFilter > 0 {
		// The group's place moves past them: say so, since a later run with
		// another filter will not see them without a reset.
		verb := "were passed"
		if res.DryRun {
			verb = "would be passed"
		}
		notes = append(notes, fmt.Sprintf("the %d records skipped by filter %s for good by this replay group "+
			"(docs/runbook-dead-letters.md, \"Starting over\")", res.SkippedFilter, verb))
	}
	if res.StoppedAtLimit {
		notes = append(notes, "stopped at --limit: run again to continue")
	}
	if res.Interrupted && !res.DryRun {
		notes = append(notes, "interrupted: the place is saved, run the same command again to continue")
	}
	for _, n := range notes {
		if _, err := fmt.Fprintln(w, n); err != nil {
			return err
		}
	}
	return nil
}
