// Package dlq is what SREs run against the dead-letter topic: Inspect counts
// its records by class, pixel and code with the newest example of each group,
// and Replay puts records back on their source topic once the cause is fixed.
//
// Both read a snapshot: the end offsets listed when they start. Records
// written later (new dead letters, or the replay's own output when it is sent
// back to the dead-letter topic) are left for the next run, so both always
// terminate.
//
// Inspect never joins a group and never commits. Replay keeps its place in a
// consumer group of its own and commits a record's offset only after the
// record was skipped for good or its copy was acknowledged by all in-sync
// replicas, so an interrupted replay resumes where it stopped. Replay does
// not deduplicate: a replayed event passes through the relay again, and the
// relay's dedup keeps an event that had reached Meta from being sent twice.
//
// Nothing here prints a header value as is except the ids SREs search for
// (pixel, event id, event name): messages are sanitized (see Sanitize) and
// record values are never printed.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/deadletter"
)

// Errors the command line branches on (all exit 1, with the error's line).
var (
	// ErrTopicMissing: the dead-letter topic, or a topic a replay would
	// write to, does not exist.
	ErrTopicMissing = errors.New("topic does not exist")
	// ErrUnreachable: the brokers did not answer within Source.Timeout.
	ErrUnreachable = errors.New("cannot reach the brokers")
	// ErrStalled: no record arrived within the timeout although the end
	// offsets listed at the start were not reached.
	ErrStalled = errors.New("reading the dead-letter topic stalled")
)

// ClassForeign is how a record without freight's headers is counted: some
// other program wrote it to the dead-letter topic.
const ClassForeign = "foreign"

// DefaultTimeout bounds each metadata request and each wait for records.
const DefaultTimeout = 15 * time.Second

// Source says where the dead letters are and how to reach them.
type Source struct {
	// Opts connect to the brokers (app.KafkaOpts: seeds, TLS, SASL); tests
	// append theirs.
	Opts  []kgo.Opt
	Topic string // the dead-letter topic
	// Timeout bounds each metadata request, and each wait for the next
	// records while the end is not reached; 0 means DefaultTimeout. An
	// unreachable broker or a missing topic is an error after it, not a hang.
	Timeout time.Duration
	Logger  *slog.Logger
}

func (s Source) timeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultTimeout
	}
	return s.Timeout
}

func (s Source) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// span is the part of a partition a run reads: [from, end).
type span struct{ from, end int64 }

// metadata checks that the topics exist, naming the first one missing. An
// error that is not about a topic means the brokers did not answer.
func (s Source) metadata(ctx context.Context, adm *kadm.Client, topics ...string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return s.unreachable(err)
	}
	for _, t := range topics {
		if d, ok := details[t]; !ok || d.Err != nil {
			return fmt.Errorf("%w: %s", ErrTopicMissing, t)
		}
	}
	return nil
}

func (s Source) unreachable(err error) error {
	if ke := (*kerr.Error)(nil); errors.As(err, &ke) {
		return err // the broker answered, with an error
	}
	if errors.Is(err, context.Canceled) {
		return err // interrupted
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w within %s", ErrUnreachable, s.timeout())
	}
	return fmt.Errorf("%w: %s", ErrUnreachable, oneLine(err))
}

// spans lists the partitions of the dead-letter topic with their start and
// end offsets; with a group, a partition starts at the group's committed
// offset when it has one within the log (else at the log start, as the
// consumer will).
func (s Source) spans(ctx context.Context, adm *kadm.Client, group string) (map[int32]span, error) {
	if err := s.metadata(ctx, adm, s.Topic); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	starts, err := adm.ListStartOffsets(ctx, s.Topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", s.Topic, s.unreachable(err))
	}
	ends, err := adm.ListEndOffsets(ctx, s.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", s.Topic, s.unreachable(err))
	}
	var committed kadm.OffsetResponses
	if group != "" {
		committed, err = adm.FetchOffsets(ctx, group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			// A group that never committed (kfake says so; Kafka answers
			// with no offsets): the replay starts at the log start.
			err = nil
		}
		if err != nil {
			return nil, fmt.Errorf("fetch offsets of group %s: %w", group, s.unreachable(err))
		}
	}
	out := map[int32]span{}
	ends.Each(func(o kadm.ListedOffset) {
		sp := span{end: o.Offset}
		if st, ok := starts.Lookup(s.Topic, o.Partition); ok {
			sp.from = st.Offset
		}
		if c, ok := committed.Lookup(s.Topic, o.Partition); ok && c.Err == nil && c.At >= sp.from {
			sp.from = min(c.At, sp.end)
		}
		out[o.Partition] = sp
	})
	return out, nil
}

// remaining is how many records the spans hold (offsets, so an upper bound
// when the log has gaps).
func remaining(spans map[int32]span) int64 {
	var n int64
	for _, sp := range spans {
		n += max(sp.end-sp.from, 0)
	}
	return n
}

// letter is what inspect and replay read from a dead-letter record.
type letter struct {
	rec                                *kgo.Record
	class                              string // ClassForeign for a record without freight's headers
	pixel, eventID, eventName, message string
	code                               string // "100", or "100/2804003" with a subcode
	sourceTopic                        string
	failedAt                           time.Time // freight.failed_at, else the record's timestamp
	replays                            int       // freight.replay.count
	badReplayCount                     bool      // the header is there but is not a count
	foreign                            bool
}

// read takes a dead-letter record apart. A record is foreign when it lacks
// the class or the source topic, which freight always writes (CONTRACT.md
// section 4): then nobody can say why it failed or where it belongs.
func read(r *kgo.Record) letter {
	l := letter{rec: r, failedAt: r.Timestamp}
	var subcode string
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case deadletter.HeaderClass:
			l.class = v
		case deadletter.HeaderMessage:
			l.message = v
		case deadletter.HeaderCode:
			l.code = v
		case deadletter.HeaderSubcode:
			subcode = v
		case deadletter.HeaderPixelID:
			l.pixel = v
		case deadletter.HeaderEventID:
			l.eventID = v
		case deadletter.HeaderEventName:
			l.eventName = v
		case deadletter.HeaderSourceTopic:
			l.sourceTopic = v
		case deadletter.HeaderFailedAt:
			if t, err := time.Parse(time.RFC3339, v); err == nil {
				l.failedAt = t
			}
		case deadletter.HeaderReplayCount:
			n, err := strconv.Atoi(strings.TrimSpace(v))
			l.replays, l.badReplayCount = n, err != nil || n < 0
		}
	}
	if l.code != "" && subcode != "" {
		l.code += "/" + subcode
	}
	if l.class == "" || l.sourceTopic == "" {
		l.foreign = true
		l.class = ClassForeign
	}
	return l
}

// oneLine keeps an error on one line: the command line prints one line per
// error.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
