package relay

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Lag is measured at scrape time, for the partitions this member owns:
// the partition's end offset minus the next offset this member has to
// finish. "Finish" is the done watermark the coordinator marks (the offset
// that will be committed), not what was fetched: records held in the buffer
// while a pixel is blocked are lag, which is what an operator alerting on
// lag wants to see.
//
// End offsets come from the fetches as they arrive (free) and, at a scrape
// whose end offsets are older than lagRefresh, from one ListOffsets request
// per broker: while the intake is paused (buffer full) nothing is fetched,
// and the lag must still grow as producers write.
const (
	lagRefresh = time.Second
	lagTimeout = 2 * time.Second
)

type lagKey struct {
	topic     string
	partition int32
}

// lagPart is what the tracker knows of one owned partition; -1 is unknown.
type lagPart struct {
	end       int64 // high watermark
	firstSeen int64 // first offset fetched since the partition was assigned
	logStart  int64 // only asked for when nothing else tells where consuming starts
}

// lagTracker is a prometheus.Collector for freight_consumer_lag. Series
// exist only for owned partitions, so after a rebalance no member reports a
// partition it gave away and a sum over members counts each partition once.
type lagTracker struct {
	desc *prometheus.Desc
	cl   atomic.Pointer[kgo.Client]

	mu    sync.Mutex
	parts map[lagKey]*lagPart

	refreshMu   sync.Mutex // one broker round trip at a time; concurrent scrapes use the last answer
	lastRefresh time.Time  // under refreshMu
}

func newLagTracker() *lagTracker {
	return &lagTracker{
		desc: prometheus.NewDesc("freight_consumer_lag",
			"Records of the partition not yet done (sent, dropped as duplicates or dead-lettered): its end offset minus the next offset to commit. Reported by the member that owns the partition.",
			[]string{"topic", "partition"}, nil),
		parts: map[lagKey]*lagPart{},
	}
}

// assign starts tracking newly assigned partitions.
func (l *lagTracker) assign(assigned map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for topic, ps := range assigned {
		for _, p := range ps {
			k := lagKey{topic, p}
			if l.parts[k] == nil {
				l.parts[k] = &lagPart{end: -1, firstSeen: -1, logStart: -1}
			}
		}
	}
}

// drop forgets revoked or lost partitions: their lag is the new owner's to
// report.
func (l *lagTracker) drop(parts map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			delete(l.parts, lagKey{topic, p})
		}
	}
}

// observe records what a fetch said of a partition: its high watermark and
// the first offset it returned (first < 0 when it returned none).
func (l *lagTracker) observe(topic string, partition int32, first, hwm int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lp := l.parts[lagKey{topic, partition}]
	if lp == nil {
		return // not (or no longer) ours
	}
	if hwm >= 0 {
		lp.end = hwm
	}
	if lp.firstSeen < 0 && first >= 0 {
		lp.firstSeen = first
	}
}

// Describe implements prometheus.Collector.
func (l *lagTracker) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

// Collect implements prometheus.Collector.
func (l *lagTracker) Collect(ch chan<- prometheus.Metric) {
	cl := l.cl.Load()
	if cl == nil {
		return // not running
	}
	l.refresh(cl)
	for k, lag := range l.lags(cl) {
		ch <- prometheus.MustNewConstMetric(l.desc, prometheus.GaugeValue, float64(lag),
			k.topic, strconv.Itoa(int(k.partition)))
	}
}

// lags computes the lag of each owned partition whose end offset and next
// offset to finish are known.
func (l *lagTracker) lags(cl *kgo.Client) map[lagKey]int64 {
	// Both maps come from franz-go's group state: the marked offsets are
	// our done watermarks not yet committed, the committed ones were
	// committed by us or fetched when the partition was assigned. A
	// partition appears in MarkedOffsets only while its mark is ahead of
	// its commit.
	marked, committed := cl.MarkedOffsets(), cl.CommittedOffsets()
	fromStart := true
	if o, ok := cl.OptValue(kgo.ConsumeResetOffset).(kgo.Offset); ok {
		fromStart = o.EpochOffset().Offset != -1 // -1 is AtEnd
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[lagKey]int64, len(l.parts))
	for k, lp := range l.parts {
		if lp.end < 0 {
			continue
		}
		next, ok := nextOffset(lp, marked[k.topic][k.partition], committed[k.topic][k.partition],
			hasOffset(marked, k), hasOffset(committed, k), fromStart)
		if !ok {
			continue
		}
		out[k] = max(lp.end-next, 0)
	}
	return out
}

func hasOffset(m map[string]map[int32]kgo.EpochOffset, k lagKey) bool {
	_, ok := m[k.topic][k.partition]
	return ok
}

// nextOffset is the next offset of a partition this member has to finish:
// the furthest of its mark, its commit and the first offset fetched (a
// group without a commit starts where the first fetch starts). Before any
// of those is known, a group that starts at the earliest offset has the
// whole log ahead of it; one that starts at the latest has nothing to
// report yet.
func nextOffset(lp *lagPart, marked, committed kgo.EpochOffset, hasMarked, hasCommitted, fromStart bool) (int64, bool) {
	next, known := int64(-1), false
	for _, c := range []struct {
		at int64
		ok bool
	}{{marked.Offset, hasMarked}, {committed.Offset, hasCommitted}, {lp.firstSeen, lp.firstSeen >= 0}} {
		if c.ok && c.at >= 0 && (!known || c.at > next) {
			next, known = c.at, true
		}
	}
	if !known && fromStart && lp.logStart >= 0 {
		return lp.logStart, true
	}
	return next, known
}

// refresh asks the brokers for the owned partitions' end offsets when the
// last answer is older than lagRefresh. It runs in the scrape, bounded by
// lagTimeout: a scrape while a broker is down shows the last known values.
func (l *lagTracker) refresh(cl *kgo.Client) {
	if !l.refreshMu.TryLock() {
		return // another scrape is asking
	}
	defer l.refreshMu.Unlock()
	// The wall clock, not the relay's (tests freeze that one).
	now := time.Now()
	if now.Sub(l.lastRefresh) < lagRefresh {
		return
	}
	l.lastRefresh = now

	l.mu.Lock()
	topicSet := map[string]bool{}
	needStart := false
	for k, lp := range l.parts {
		topicSet[k.topic] = true
		needStart = needStart || lp.firstSeen < 0
	}
	l.mu.Unlock()
	if len(topicSet) == 0 {
		return
	}
	topics := make([]string, 0, len(topicSet))
	for t := range topicSet {
		topics = append(topics, t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	adm := kadm.NewClient(cl)
	// Errors leave the last known values: a partial answer (one broker
	// down) still updates the partitions it covers.
	ends, _ := adm.ListEndOffsets(ctx, topics...)
	var starts kadm.ListedOffsets
	if needStart {
		starts, _ = adm.ListStartOffsets(ctx, topics...)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ends.Each(func(o kadm.ListedOffset) {
		if lp := l.parts[lagKey{o.Topic, o.Partition}]; lp != nil && o.Err == nil && o.Offset >= 0 {
			lp.end = o.Offset
		}
	})
	starts.Each(func(o kadm.ListedOffset) {
		if lp := l.parts[lagKey{o.Topic, o.Partition}]; lp != nil && o.Err == nil && o.Offset >= 0 {
			lp.logStart = o.Offset
		}
	})
}
