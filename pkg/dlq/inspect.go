package dlq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// GroupKeys are what inspect can group by: the failure's class, the pixel,
// Meta's code (with its subcode), the source topic, and the event name.
var GroupKeys = []string{"class", "pixel", "code", "topic", "event"}

// DefaultGroupBy is what inspect groups by unless told otherwise.
var DefaultGroupBy = []string{"class", "pixel", "code"}

// ParseGroupBy reads --group-by: comma-separated GroupKeys, in the order the
// columns should appear.
func ParseGroupBy(s string) ([]string, error) {
	var out []string
	for k := range strings.SplitSeq(s, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !slices.Contains(GroupKeys, k) {
			return nil, fmt.Errorf("cannot group by %q; choose from %s", k, strings.Join(GroupKeys, ","))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nothing to group by; choose from %s", strings.Join(GroupKeys, ","))
	}
	return out, nil
}

// InspectOptions say what to count and how to group it.
type InspectOptions struct {
	Filter  Filter
	GroupBy []string // GroupKeys; DefaultGroupBy when empty
	// Bucket, when set, also groups by failed_at truncated to it (UTC).
	Bucket time.Duration
}

// Report is what Inspect found.
type Report struct {
	Topic   string   `json:"topic"`
	Read    int      `json:"read"`    // every record read
	Matched int      `json:"matched"` // those the filter selected
	Foreign int      `json:"foreign"` // matched records without freight's headers
	GroupBy []string `json:"group_by"`
	Bucket  string   `json:"bucket,omitempty"`
	// Oldest and Newest are the failure times of the matched records.
	Oldest *time.Time `json:"oldest_failure,omitempty"`
	Newest *time.Time `json:"newest_failure,omitempty"`
	Groups []*Group   `json:"groups"` // most records first
}

// Group is one line of the report.
type Group struct {
	// Keys are the group's values by GroupKeys name, and "bucket" (RFC 3339)
	// with Bucket; "" when the record did not say.
	Keys   map[string]string `json:"keys"`
	Count  int               `json:"count"`
	First  time.Time         `json:"first_failure"`
	Last   time.Time         `json:"last_failure"`
	Newest Example           `json:"newest"`
}

// Example is the newest record of a group, enough to find it and see why it
// failed. Message and EventID are sanitized; the record's value is never
// shown.
type Example struct {
	EventID   string    `json:"event_id,omitempty"`
	EventName string    `json:"event_name,omitempty"`
	Message   string    `json:"message"`
	FailedAt  time.Time `json:"failed_at"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
}

// tally groups letters; it does no I/O, so it is tested on its own.
type tally struct {
	o      InspectOptions
	rep    *Report
	groups map[string]*Group
}

func newTally(topic string, o InspectOptions) *tally {
	if len(o.GroupBy) == 0 {
		o.GroupBy = DefaultGroupBy
	}
	rep := &Report{Topic: topic, GroupBy: o.GroupBy, Groups: []*Group{}}
	if o.Bucket > 0 {
		rep.Bucket = o.Bucket.String()
	}
	return &tally{o: o, rep: rep, groups: map[string]*Group{}}
}

func (t *tally) add(l letter) {
	t.rep.Read++
	if !t.o.Filter.Match(l) {
		return
	}
	t.rep.Matched++
	if l.foreign {
		t.rep.Foreign++
	}
	at := l.failedAt.UTC()
	if t.rep.Oldest == nil || at.Before(*t.rep.Oldest) {
		t.rep.Oldest = &at
	}
	if t.rep.Newest == nil || at.After(*t.rep.Newest) {
		t.rep.Newest = &at
	}
	keys := make(map[string]string, len(t.o.GroupBy)+1)
	var id strings.Builder
	for _, k := range t.o.GroupBy {
		v := l.key(k)
		keys[k] = v
		id.WriteString(v)
		id.WriteByte(0)
	}
	if t.o.Bucket > 0 {
		b := at.Truncate(t.o.Bucket).Format(time.RFC3339)
		keys["bucket"] = b
		id.WriteString(b)
	}
	g := t.groups[id.String()]
	if g == nil {
		g = &Group{Keys: keys, First: at, Last: at}
		t.groups[id.String()] = g
		t.rep.Groups = append(t.rep.Groups, g)
	}
	g.Count++
	if at.Before(g.First) {
		g.First = at
	}
	// >=: records come in offset order, so of equal times the later wins.
	if g.Count == 1 || !at.Before(g.Last) {
		g.Last = at
		g.Newest = Example{EventID: Sanitize(l.eventID), EventName: Sanitize(l.eventName), Message: Sanitize(l.message),
			FailedAt: at, Partition: l.rec.Partition, Offset: l.rec.Offset}
	}
}

func (l letter) key(k string) string {
	switch k {
	case "class":
		return l.class
	case "pixel":
		return l.pixel
	case "code":
		return l.code
	case "topic":
		return l.sourceTopic
	case "event":
		return l.eventName
	}
	return ""
}

// report sorts the groups: most records first, then by their keys.
func (t *tally) report() *Report {
	slices.SortStableFunc(t.rep.Groups, func(a, b *Group) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		for _, k := range append(slices.Clone(t.o.GroupBy), "bucket") {
			if c := cmp.Compare(a.Keys[k], b.Keys[k]); c != 0 {
				return c
			}
		}
		return 0
	})
	return t.rep
}

// Inspect reads the dead-letter topic from its start to the end offsets
// listed now, with a plain consumer: it joins no group and commits nothing,
// so it can run at any time, also during a replay.
func Inspect(ctx context.Context, src Source, o InspectOptions) (*Report, error) {
	t := newTally(src.Topic, o)
	admCl, err := kgo.NewClient(src.Opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer admCl.Close()
	spans, err := src.spans(ctx, kadm.NewClient(admCl), "")
	if err != nil {
		return nil, err
	}
	work := map[int32]kgo.Offset{}
	pos := map[int32]int64{}
	for p, sp := range spans {
		if sp.from < sp.end {
			work[p] = kgo.NewOffset().At(sp.from)
			pos[p] = sp.from
		}
	}
	if len(work) == 0 {
		return t.report(), nil
	}
	cl, err := kgo.NewClient(append(slices.Clone(src.Opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{src.Topic: work}))...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	var lastFetchErr error
	for p := range pos {
		for pos[p] < spans[p].end {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			pctx, cancel := context.WithTimeout(ctx, src.timeout())
			fs := cl.PollFetches(pctx)
			cancel()
			fs.EachError(func(_ string, _ int32, err error) {
				if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					lastFetchErr = err
				}
			})
			n := 0
			fs.EachRecord(func(r *kgo.Record) {
				n++
				if end := spans[r.Partition].end; r.Offset >= end {
					pos[r.Partition] = end // written after we started
					return
				}
				pos[r.Partition] = r.Offset + 1
				t.add(read(r))
			})
			if n == 0 && ctx.Err() == nil {
				msg := fmt.Sprintf("no record within %s (partition %d at %d of %d)", src.timeout(), p, pos[p], spans[p].end)
				if lastFetchErr != nil {
					msg += "; last fetch error: " + oneLine(lastFetchErr)
				}
				return nil, fmt.Errorf("%w: %s", ErrStalled, msg)
			}
		}
	}
	return t.report(), nil
}

// WriteTable prints the report for a terminal: one row per group with its
// newest example, then a summary line.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var head []string
	for _, k := range r.GroupBy {
		head = append(head, strings.ToUpper(k))
	}
	if r.Bucket != "" {
		head = append(head, "BUCKET")
	}
	head = append(head, "COUNT", "LAST FAILED", "EVENT ID", "MESSAGE (newest)")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, g := range r.Groups {
		var row []string
		for _, k := range r.GroupBy {
			row = append(row, dash(g.Keys[k]))
		}
		if r.Bucket != "" {
			row = append(row, g.Keys["bucket"])
		}
		row = append(row, fmt.Sprint(g.Count), g.Last.Format(time.RFC3339), dash(g.Newest.EventID),
			dash(truncate(oneLineString(g.Newest.Message), 100)))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	summary := fmt.Sprintf("%s: %d records read, %d matched", r.Topic, r.Read, r.Matched)
	if r.Foreign > 0 {
		summary += fmt.Sprintf(", %d foreign (no freight headers; replayed only with --to-topic)", r.Foreign)
	}
	if r.Oldest != nil {
		summary += fmt.Sprintf("; failed from %s to %s", r.Oldest.Format(time.RFC3339), r.Newest.Format(time.RFC3339))
	}
	_, err := fmt.Fprintln(w, summary)
	return err
}

func oneLineString(s string) string { return strings.Join(strings.Fields(s), " ") }

// truncate shortens s to n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
