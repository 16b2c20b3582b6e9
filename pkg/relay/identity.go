package relay

import (
	"context"

	"github.com/freight-relay/freight/pkg/identity"
)

// intakeIdentities runs the identity lookup of a poll once, in the intake,
// where the drafts are finished in parallel with the next poll's fetch.
// When Redis fails and on_error is block, the drafts stay unfinished and the
// coordinator retries the lookup (coordinator.retryRedis): the intake never
// holds its poll, and with it rebalances and shutdown, for Redis. While the
// coordinator knows Redis is down, the intake does not try at all.
func (r *Relay) intakeIdentities(ctx context.Context, items []*item) {
	if !r.cfg.FailOpen && r.redisDown.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := r.resolveIdentities(ctx, items); err != nil {
		r.m.redisErrors.WithLabelValues("identity").Inc()
	}
}

// resolveIdentities looks up and links the people of one poll's events in
// the identity graph (a few pipelined round trips for the whole poll), gives
// the events without an external_id the one their person is linked to, and
// finishes their drafts. When Redis fails, redis.on_error decides: with
// block it returns the error and finishes nothing (Resolve leaves nothing
// half-resolved), so that no event is sent without the identity it should
// have had; with fail_open it finishes the drafts without enrichment and
// counts them.
func (r *Relay) resolveIdentities(ctx context.Context, items []*item) error {
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
		st, err := r.deps.Identity.Resolve(ctx, people)
		switch {
		case err != nil && !r.cfg.FailOpen:
			return err
		case err != nil:
			// Resolve left every person unresolved: the events go as they came.
			r.m.identityFailOpen.Add(float64(len(people)))
			r.log.Warn("identity lookup failed; sending without enrichment (on_error: fail_open)", "events", len(people), "err", err)
		default:
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
	}
	// Hashing and encoding: the rest of the relay's CPU, in parallel.
	inParallel(len(items), func(lo, hi int) {
		for _, it := range items[lo:hi] {
			if it.draft != nil {
				r.finish(it, it.draft)
				it.draft = nil
			}
		}
	})
	return nil
}
