// Package identity keeps the identity graph in Redis that gives one person
// the same external_id on web and CRM events (CONTRACT.md, "Identity:
// consistent external_id").
//
// Each identifier of a person (a hashed e-mail, a hashed phone number, a
// hashed CRM id) is one Redis key whose value is the external_id it is
// linked to, as freight sends it. A key belongs to one graph: a pixel's, or
// an identity group's shared by several pixels of one advertiser, so one
// advertiser's customers are never joined with another's.
//
// The first link wins: a link is written with SET NX, so of several events
// (or freight instances) linking one identifier at once, exactly one value
// stays, and everyone reads it afterwards. Every command touches one key,
// so the graph works on Redis Cluster; the keys of one poll are read and
// written in pipelines, a few round trips per poll, never one per event.
// Raw identifiers never reach Redis: the keys hold hashes, and the values
// are external_ids as sent to Meta (hashed unless external_id_hashing is
// none).
package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/freight-relay/freight/pkg/capi"
)

// Kinds of identifier, as named in identity.link_by.
const (
	KindExternalID = "external_id"
	KindEmail      = "email"
	KindPhone      = "phone"
	KindCRMID      = "crm_id"
)

// Key is one identifier of a person.
type Key struct {
	Kind string
	Hash string // hex SHA-256 of the normalized value
}

// Person is one event's person, as the graph sees it.
type Person struct {
	// Graph names the graph: the pixel's identity group, else the pixel.
	Graph string
	// Anchor is the event's own external_id (as sent), "" if it has none.
	// An anchored event is sent with it and links its keys to it.
	Anchor string
	// Keys are the person's other identifiers, in link_by order: an
	// unanchored event takes the external_id of the first linked one.
	Keys []Key

	// ExternalID is set by Resolve: the anchor, or the external_id the
	// person's keys are linked to, or "".
	ExternalID string
	// Linked reports that ExternalID came from the graph.
	Linked bool
}

// Graph is the identity graph in Redis.
type Graph struct {
	rdb    redis.Cmdable
	prefix string
	ttl    time.Duration
}

// New returns a graph storing keys under prefix (redis.key_prefix) that
// expire ttl after their last use.
func New(rdb redis.Cmdable, prefix string, ttl time.Duration) *Graph {
	return &Graph{rdb: rdb, prefix: prefix, ttl: ttl}
}

// Stats is what one Resolve did.
type Stats struct {
	// Linked is how many people got an external_id from the graph.
	Linked int
	// Conflicts is how many identifiers were already linked to another
	// external_id than the one an event would have linked them to; the
	// first link stays.
	Conflicts int
}

// redisKey names an identifier's key. The hash is cut to 128 bits: plenty
// to tell people apart, half the memory.
func (g *Graph) redisKey(graph string, k Key) string {
	h := k.Hash
	if len(h) > 32 {
		h = h[:32]
	}
	return g.prefix + "id:" + graph + ":" + k.Kind + ":" + h
}

// Resolve gives each person its external_id and records the links its
// event makes: anchored events first, then the others, each group in order,
// so that a later event of the same poll sees the links of an earlier one.
// On error nothing is resolved (links may have been written: they are
// correct, and the retry finds them).
func (g *Graph) Resolve(ctx context.Context, people []*Person) (st Stats, err error) {
	defer func() {
		if err != nil { // nothing half-resolved is used
			for _, p := range people {
				p.ExternalID, p.Linked = "", false
			}
			st = Stats{}
		}
	}()
	// The Redis key of each person's each identifier, every person's
	// carved from one backing array: a poll allocates them once.
	n := 0
	for _, p := range people {
		n += len(p.Keys)
	}
	backing := make([]string, n)
	keys := make([][]string, len(people))
	all := make([]string, 0, n)
	seen := make(map[string]bool, n)
	for i, p := range people {
		p.ExternalID, p.Linked = "", false
		keys[i], backing = backing[:len(p.Keys):len(p.Keys)], backing[len(p.Keys):]
		for j, k := range p.Keys {
			rk := g.redisKey(p.Graph, k)
			keys[i][j] = rk
			if !seen[rk] {
				seen[rk] = true
				all = append(all, rk)
			}
		}
	}
	if len(all) == 0 {
		for _, p := range people {
			p.ExternalID = p.Anchor
		}
		return st, nil
	}
	// Round 1: what the graph knows, refreshing the TTL of what is used.
	known, err := g.read(ctx, all, true)
	if err != nil {
		return st, err
	}

	// Phase 1: anchored events link their keys to their anchor. Their own
	// external_id is never in doubt; only the links race.
	var links []link
	for i, p := range people {
		if p.Anchor == "" {
			continue
		}
		p.ExternalID = p.Anchor
		links = g.plan(links, known, keys[i], p.Anchor)
	}
	if err := g.write(ctx, links, known); err != nil {
		return st, err
	}
	for i, p := range people {
		if p.Anchor != "" {
			st.Conflicts += conflicts(known, keys[i], p.Anchor)
		}
	}

	// Phase 2: an unanchored event takes the external_id of its first
	// linked key, now that the anchored links are settled, and links its
	// other keys to it (a CRM event found by e-mail links its CRM id, so
	// that a later event with only the CRM id is found too). A later
	// event of the poll may take its value from such a planned link; if
	// another instance wrote that key first, the event takes the winner's
	// value after the write, so that everyone agrees with the graph.
	links = links[:0]
	chosen := make([]string, len(people)) // the key each linked person took its value from
	for i, p := range people {
		if p.Anchor != "" {
			continue
		}
		for _, rk := range keys[i] {
			if v, ok := known[rk]; ok {
				p.ExternalID, p.Linked, chosen[i] = v, true, rk
				break
			}
		}
		if p.Linked {
			links = g.plan(links, known, keys[i], p.ExternalID)
		}
	}
	if err := g.write(ctx, links, known); err != nil {
		return st, err
	}
	for i, p := range people {
		if p.Linked {
			p.ExternalID = known[chosen[i]]
			st.Linked++
			st.Conflicts += conflicts(known, keys[i], p.ExternalID)
		}
	}
	return st, nil
}

type link struct{ key, value string }

// plan links the keys not known yet to value, and records them as known so
// that later events of the poll see them.
func (g *Graph) plan(links []link, known map[string]string, keys []string, value string) []link {
	for _, rk := range keys {
		if _, ok := known[rk]; !ok {
			known[rk] = value
			links = append(links, link{rk, value})
		}
	}
	return links
}

func conflicts(known map[string]string, keys []string, value string) int {
	n := 0
	for _, rk := range keys {
		if v, ok := known[rk]; ok && v != value {
			n++
		}
	}
	return n
}

// write stores links with SET NX. A link that another writer made first
// (another instance, at the same moment) is lost: its key's value is read
// back into known, so everything decided afterwards agrees with the graph.
func (g *Graph) write(ctx context.Context, links []link, known map[string]string) error {
	if len(links) == 0 {
		return nil
	}
	pipe := g.rdb.Pipeline()
	cmds := make([]*redis.BoolCmd, len(links))
	for i, l := range links {
		cmds[i] = pipe.SetNX(ctx, l.key, l.value, g.ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("identity: link: %w", err)
	}
	var lost []string
	for i, c := range cmds {
		if !c.Val() {
			lost = append(lost, links[i].key)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	winners, err := g.read(ctx, lost, false)
	if err != nil {
		return err
	}
	for _, k := range lost {
		if v, ok := winners[k]; ok {
			known[k] = v
		}
		// Gone again already (it expired): ours was refused all the same;
		// the next event links it.
	}
	return nil
}

// read returns the values of the keys that exist, refreshing their TTL when
// refresh is set.
func (g *Graph) read(ctx context.Context, keys []string, refresh bool) (map[string]string, error) {
	pipe := g.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		if refresh {
			cmds[i] = pipe.GetEx(ctx, k, g.ttl)
		} else {
			cmds[i] = pipe.Get(ctx, k)
		}
	}
	_, _ = pipe.Exec(ctx) // each command's own error is read below
	out := make(map[string]string, len(keys))
	for i, c := range cmds {
		v, err := c.Result()
		switch {
		case err == nil:
			out[keys[i]] = v
		case !errors.Is(err, redis.Nil): // a missing key is no error
			return nil, fmt.Errorf("identity: look up: %w", err)
		}
	}
	return out, nil
}

// NewPerson is the person of an event with the identifiers ids, in the
// graph named graph, joined by the kinds linkBy names (identity.link_by).
// It returns nil when the graph has nothing to do for the event: it has no
// identifier to link by, or its own external_id is not a kind to link by
// (it is sent as it is, and nothing may replace it).
func NewPerson(graph string, ids capi.Identifiers, linkBy []string) *Person {
	if len(ids.Emails) == 0 && len(ids.Phones) == 0 && ids.CRMID == "" {
		return nil // no identifier to link by
	}
	p := &Person{Graph: graph, Keys: make([]Key, 0, len(ids.Emails)+len(ids.Phones)+1)}
	for _, kind := range linkBy {
		switch kind {
		case KindExternalID:
			p.Anchor = ids.ExternalID
		case KindEmail:
			p.Keys = appendKeys(p.Keys, kind, ids.Emails...)
		case KindPhone:
			p.Keys = appendKeys(p.Keys, kind, ids.Phones...)
		case KindCRMID:
			p.Keys = appendKeys(p.Keys, kind, ids.CRMID)
		}
	}
	if len(p.Keys) == 0 || ids.ExternalID != "" && p.Anchor == "" {
		return nil
	}
	return p
}

func appendKeys(keys []Key, kind string, hashes ...string) []Key {
	for _, h := range hashes {
		if h != "" {
			keys = append(keys, Key{Kind: kind, Hash: h})
		}
	}
	return keys
}
