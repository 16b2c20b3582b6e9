// Package dedup keeps the (pixel, event_name, event_id) keys of events that
// reached Meta, in Redis, so that an event is sent once within the window.
//
// # Delivery guarantees
//
// A "seen" key written before the send would lose the event when the process
// dies before Meta accepts it. So a key has two phases:
//
//   - Claim (SET NX PX lease) before the send: the value is the owner's id and
//     it lives for a short lease, which the owner renews while it keeps
//     retrying. A lease expires only when its owner died.
//   - Confirm (SET "done" PX window) after Meta's 2xx.
//   - Release (delete if still ours) on a permanent failure, so that a replay
//     or a redelivery can try again.
//
// A claim that finds another live claim reports Busy: the caller waits and
// claims again until the key is confirmed (Duplicate) or gone (Claimed). A
// claim that finds "done" reports Duplicate.
//
// Every method takes a slice of keys and sends one pipeline: one round trip
// per call, never one per event. Keys are single-key commands, so Redis
// Cluster works.
//
// The package does not retry: on a Redis error the caller decides (block or
// fail open).
package dedup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Status is the result of claiming one key.
type Status int

const (
	// Claimed: the key is ours; send the event.
	Claimed Status = iota
	// Duplicate: the event was sent already; drop it.
	Duplicate
	// Busy: another sender holds a live claim; wait and claim again.
	Busy
	// Held: this store holds the claim already. Either another copy of the
	// event is on its way here (the caller knows: it holds that claim), or
	// an earlier Claim of this key landed in Redis but its answer was lost
	// (a timeout): then the key is the caller's to send.
	Held
)

func (s Status) String() string {
	return [...]string{"claimed", "duplicate", "busy", "held"}[s]
}

const doneValue = "done"

// Store is the two-phase dedup store.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	owner  string
	lease  time.Duration
	window time.Duration
	// The arguments every claim and confirm repeats, boxed once: each
	// command of a pipeline then allocates for its key and little else.
	ownerArg, leaseMs, windowMs any
}

// Config configures a Store.
type Config struct {
	KeyPrefix string        // e.g. "freight:"
	Window    time.Duration // how long a confirmed key lives
	Lease     time.Duration // how long a claim lives unless renewed
	// Owner identifies this process in claims. Empty: a random id. It must
	// differ between processes, including a restart of the same instance,
	// so that a restarted process never mistakes a dead one's claim for its
	// own.
	Owner string
}

// New returns a store over rdb.
func New(rdb redis.UniversalClient, cfg Config) *Store {
	owner := cfg.Owner
	if owner == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		owner = "o:" + hex.EncodeToString(b[:])
	}
	return &Store{rdb: rdb, prefix: cfg.KeyPrefix, owner: owner, lease: cfg.Lease, window: cfg.Window,
		ownerArg: owner, leaseMs: cfg.Lease.Milliseconds(), windowMs: cfg.Window.Milliseconds()}
}

// Owner is the id this store writes into its claims.
func (s *Store) Owner() string { return s.owner }

// Key is the Redis key of an event. The event's fields are hashed so that the
// key has a bounded length whatever producers put in event_id.
func (s *Store) Key(pixel, eventName, eventID string) string {
	// The name's length goes first, so that no name and id pair can be
	// read as another one.
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(eventName)))])
	h.Write([]byte(eventName))
	h.Write([]byte(eventID))
	var sum [sha256.Size]byte
	return s.prefix + "dedup:" + pixel + ":" + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// Claim claims every key in one pipeline. A key this store already holds is
// Held.
func (s *Store) Claim(ctx context.Context, keys []string) ([]Status, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(keys))
	for i, k := range keys {
		// SET key owner PX lease NX GET: the claim, and what held the key.
		cmds[i] = pipe.Do(ctx, "set", k, s.ownerArg, "px", s.leaseMs, "nx", "get")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("dedup claim: %w", err)
	}
	out := make([]Status, len(keys))
	for i, c := range cmds {
		v, err := c.Text()
		switch {
		case errors.Is(err, redis.Nil):
			out[i] = Claimed
		case err != nil:
			return nil, fmt.Errorf("dedup claim: %w", err)
		case v == doneValue:
			out[i] = Duplicate
		case v == s.owner:
			out[i] = Held
		default:
			out[i] = Busy
		}
	}
	return out, nil
}

// Confirm marks the keys as sent for the whole window.
func (s *Store) Confirm(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	for _, k := range keys {
		pipe.Do(ctx, "set", k, doneValue, "px", s.windowMs)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("dedup confirm: %w", err)
	}
	return nil
}

// releaseScript deletes a claim only while it is still ours: a lease that
// expired may have been claimed by someone else since.
var releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// renewScript extends a claim only while it is still ours.
var renewScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)

// Release gives up the claims, so that the events can be claimed again.
func (s *Store) Release(ctx context.Context, keys []string) error {
	_, err := s.runOwned(ctx, releaseScript, keys)
	if err != nil {
		return fmt.Errorf("dedup release: %w", err)
	}
	return nil
}

// Renew extends the lease of claims still held; it returns how many were no
// longer ours (their lease had expired).
func (s *Store) Renew(ctx context.Context, keys []string) (lost int, err error) {
	held, err := s.runOwned(ctx, renewScript, keys, s.lease.Milliseconds())
	if err != nil {
		return 0, fmt.Errorf("dedup renew: %w", err)
	}
	return len(keys) - held, nil
}

// runOwned runs an owner-checked script on each key in one pipeline and
// counts the keys it applied to. EVALSHA keeps the pipeline small; when Redis
// does not know the script (after a restart) it is loaded and the pipeline
// runs again.
func (s *Store) runOwned(ctx context.Context, script *redis.Script, keys []string, extra ...any) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	args := append([]any{s.owner}, extra...)
	for attempt := 0; ; attempt++ {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(keys))
		for i, k := range keys {
			cmds[i] = script.EvalSha(ctx, pipe, []string{k}, args...)
		}
		_, err := pipe.Exec(ctx)
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") && attempt == 0 {
			if err := script.Load(ctx, s.rdb).Err(); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		n := 0
		for _, c := range cmds {
			if v, _ := c.Int(); v == 1 {
				n++
			}
		}
		return n, nil
	}
}
