package relay

import (
	"context"
	"time"

	"github.com/freight-relay/freight/pkg/identity"
)

// resolveIdentities looks up and links the people of one poll's events in
// the identity graph (a few pipelined round trips for the whole poll), gives
// the events without an external_id the one their person is linked to, and
// finishes their drafts. When Redis fails, redis.on_error decides: block
// retries until Redis answers, so that no event is sent without the
// identity it should have had; fail_open sends the poll without enrichment
// and counts it. It returns false when ctx ended first; the poll is then
// abandoned, and read again after the restart.
func (r *Relay) resolveIdentities(ctx context.Context, items []*item) bool {
	var people []*identity.Person
	var owners []*item
	for _, it := range items {
		if it.draft == nil {
			continue
		}
		px := r.pixels[it.draft.PixelID()]
		if px == nil {
			continue // dead-lettered as config by finish
		}
		graph := "px:" + px.ID
		if px.IdentityGroup != "" {
			graph = "group:" + px.IdentityGroup
		}
		if p := identity.NewPerson(graph, it.draft.Identifiers, r.cfg.LinkBy); p != nil {
			people = append(people, p)
			owners = append(owners, it)
		}
	}
	if len(people) > 0 {
		st, ok := r.resolve(ctx, people)
		if !ok {
			return false
		}
		if st.Conflicts > 0 {
			// Which people, never: the identifiers are customer data.
			r.m.identityConflicts.Add(float64(st.Conflicts))
			r.log.Debug("identity links refused: the identifiers were linked to another external_id first", "conflicts", st.Conflicts)
		}
		linked := map[string]int{} // per pixel: one label lookup per poll, not per event
		for i, p := range people {
			if p.Linked {
				owners[i].draft.SetExternalID(p.ExternalID)
				linked[owners[i].draft.PixelID()]++
			}
		}
		for px, n := range linked {
			r.m.identityLinked.WithLabelValues(px).Add(float64(n))
		}
	}
	for _, it := range items {
		if it.draft != nil {
			r.finish(it, it.draft)
			it.draft = nil
		}
	}
	return true
}

// resolve runs the lookup, retrying while Redis fails unless fail_open.
func (r *Relay) resolve(ctx context.Context, people []*identity.Person) (identity.Stats, bool) {
	backoff := r.cfg.InitialBackoff
	for {
		st, err := r.deps.Identity.Resolve(ctx, people)
		if err == nil {
			return st, true
		}
		if ctx.Err() != nil {
			return st, false
		}
		r.m.redisErrors.WithLabelValues("identity").Inc()
		if r.cfg.FailOpen {
			// Resolve left every person unresolved: the events go as they came.
			r.m.identityFailOpen.Add(float64(len(people)))
			r.log.Warn("identity lookup failed; sending without enrichment (on_error: fail_open)", "events", len(people), "err", err)
			return identity.Stats{}, true
		}
		r.log.Warn("identity lookup failed; retrying (on_error: block)", "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return st, false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, r.cfg.MaxBackoff)
	}
}
