package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/kafkatest"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// externalIDs returns the external_ids Meta received with each event id of
// the pixel, "" for an event sent without one.
func (e *env) externalIDs(pixel string) map[string]string {
	out := map[string]string{}
	for _, r := range e.meta.Events() {
		if r.PixelID != pixel {
			continue
		}
		id := ""
		if ids, ok := r.Fields()["user_data"].(map[string]any)["external_id"].([]any); ok && len(ids) > 0 {
			id, _ = ids[0].(string)
		}
		out[r.EventID] = id
	}
	return out
}

// sendAndWait produces one record and waits until Meta has its event.
func (e *env) sendAndWait(pixel, name, id string, rec *kgo.Record) {
	e.t.Helper()
	e.kafka.Produce(rec)
	kafkatest.Eventually(e.t, wait, "event "+id+" at Meta", func() bool { return e.meta.Count(pixel, name, id) == 1 })
}

// The contract's example, through Kafka: a web event {external_id U-42,
// email}, then a CRM event {email, crm_id C9}, then a CRM event with only
// crm_id C9 all reach Meta with external_id sha256("u-42"); a person the
// graph does not know is sent without one.
func TestIdentityContractExample(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	in := e.start(cfg)

	web := webEvent("web-1", pixelA)
	web["user"].(map[string]any)["external_id"] = "U-42"
	web["user"].(map[string]any)["email"] = "Ann@x.com"
	e.sendAndWait(pixelA, "Purchase", "web-1", web.record(webT, 0))

	crm1 := crmEvent("crm-1", pixelA).with("crm_id", "C9").with("user", map[string]any{"email": " ann@x.com"})
	e.sendAndWait(pixelA, "Purchase", "crm-1", crm1.record(crmT, 0))

	crm2 := crmEvent("crm-2", pixelA).with("crm_id", "C9")
	delete(crm2, "user")
	e.sendAndWait(pixelA, "Purchase", "crm-2", crm2.record(crmT, 0))

	stranger := crmEvent("crm-3", pixelA).with("crm_id", "C10").with("user", map[string]any{"email": "bo@x.com"})
	e.sendAndWait(pixelA, "Purchase", "crm-3", stranger.record(crmT, 0))

	got := e.externalIDs(pixelA)
	for _, id := range []string{"web-1", "crm-1", "crm-2"} {
		if got[id] != sha("u-42") {
			t.Errorf("%s was sent with external_id %q, want sha256(u-42)", id, got[id])
		}
	}
	if got["crm-3"] != "" {
		t.Errorf("an unlinked person was sent with external_id %q", got["crm-3"])
	}
	if n := in.counter("freight_identity_linked_events_total", "pixel", pixelA); n != 2 {
		t.Errorf("freight_identity_linked_events_total = %v, want 2", n)
	}
}

// Each pixel has a graph of its own, unless pixels name the same
// identity_group: one advertiser's customers are never joined with
// another's.
func TestIdentityGraphsPerPixelOrGroup(t *testing.T) {
	for _, tt := range []struct {
		name   string
		groups [2]string
		shared bool
	}{
		{"a graph per pixel", [2]string{"", ""}, false},
		{"one group", [2]string{"acme", "acme"}, true},
		{"two groups", [2]string{"acme", "globex"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 1)
			cfg := e.config()
			cfg.CAPI.Pixels[0].IdentityGroup = tt.groups[0]
			cfg.CAPI.Pixels[1].IdentityGroup = tt.groups[1]
			e.start(cfg)
			web := webEvent("web-1", pixelA)
			web["user"].(map[string]any)["external_id"] = "U-42"
			web["user"].(map[string]any)["email"] = "ann@x.com"
			e.sendAndWait(pixelA, "Purchase", "web-1", web.record(webT, 0))
			other := crmEvent("crm-b", pixelB).with("user", map[string]any{"email": "ann@x.com"})
			e.sendAndWait(pixelB, "Purchase", "crm-b", other.record(crmT, 0))
			want := ""
			if tt.shared {
				want = sha("u-42")
			}
			if got := e.externalIDs(pixelB)["crm-b"]; got != want {
				t.Errorf("pixel B's event got external_id %q, want %q", got, want)
			}
		})
	}
}

// A lookup refreshes the TTL of the identifiers it uses.
func TestIdentityLookupRefreshesTTL(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	cfg.Identity.TTL = time.Hour
	e.start(cfg)
	web := webEvent("web-1", pixelA)
	web["user"].(map[string]any)["external_id"] = "U-42"
	web["user"].(map[string]any)["email"] = "ann@x.com"
	e.sendAndWait(pixelA, "Purchase", "web-1", web.record(webT, 0))

	rdb := redis.NewClient(&redis.Options{Addr: redisDB})
	defer rdb.Close()
	ctx := context.Background()
	key := e.prefix + "id:px:" + pixelA + ":email:" + sha("ann@x.com")[:32]
	if ttl := rdb.TTL(ctx, key).Val(); ttl < 59*time.Minute {
		t.Fatalf("TTL of the e-mail's link = %v, want about identity.ttl (key %s)", ttl, key)
	}
	if err := rdb.Expire(ctx, key, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	crm := crmEvent("crm-1", pixelA).with("user", map[string]any{"email": "ann@x.com"})
	e.sendAndWait(pixelA, "Purchase", "crm-1", crm.record(crmT, 0))
	if ttl := rdb.TTL(ctx, key).Val(); ttl < 59*time.Minute {
		t.Errorf("TTL after a lookup = %v, want it refreshed to identity.ttl", ttl)
	}
}

// Two relay instances seeing the same people at once end with one
// external_id per person: each person's two web events name different
// external_ids, on different partitions owned by different instances, and
// only one link stays; every CRM event that comes afterwards gets that one,
// whichever instance reads it.
func TestIdentityTwoInstancesAgree(t *testing.T) {
	e := newEnv(t, 2)
	cfg := e.config()
	a := e.start(cfg)
	b := e.start(cfg)
	kafkatest.Eventually(t, wait, "each instance to own a partition of the web topic", func() bool {
		as := e.kafka.Assignments(cfg.Kafka.Group)
		return len(as) == 2 && as[0][webT] == 1 && as[1][webT] == 1
	})
	const people = 40
	var web, crm []*kgo.Record
	for n := range people {
		email := fmt.Sprintf("p%d@x.com", n)
		for part := range int32(2) {
			w := webEvent(fmt.Sprintf("w-%d-%d", n, part), pixelA)
			w["user"].(map[string]any)["external_id"] = fmt.Sprintf("U-%d-%d", n, part)
			w["user"].(map[string]any)["email"] = email
			web = append(web, w.record(webT, part))
			crm = append(crm, crmEvent(fmt.Sprintf("c-%d-%d", n, part), pixelA).
				with("user", map[string]any{"email": email}).record(crmT, part))
		}
	}
	e.kafka.Produce(web...)
	e.waitCaughtUp(cfg)
	e.kafka.Produce(crm...)
	e.waitCaughtUp(cfg)

	rdb := redis.NewClient(&redis.Options{Addr: redisDB})
	defer rdb.Close()
	got := e.externalIDs(pixelA)
	for n := range people {
		email := fmt.Sprintf("p%d@x.com", n)
		linked := rdb.Get(context.Background(), e.prefix+"id:px:"+pixelA+":email:"+sha(email)[:32]).Val()
		if linked != sha(fmt.Sprintf("u-%d-0", n)) && linked != sha(fmt.Sprintf("u-%d-1", n)) {
			t.Fatalf("person %d is linked to %q, want one of its two external_ids", n, linked)
		}
		for part := range 2 {
			if x := got[fmt.Sprintf("c-%d-%d", n, part)]; x != linked {
				t.Errorf("person %d: a CRM event got %q, the graph says %q", n, x, linked)
			}
		}
	}
	conflicts := a.counter("freight_identity_conflicts_total") + b.counter("freight_identity_conflicts_total")
	if conflicts != people {
		t.Errorf("%v conflicts, want %d: one of each person's two links loses", conflicts, people)
	}
}

// on_error block: while Redis is away, no event is sent without the
// identity it should have had; once it is back, the event goes with it.
// on_error fail_open: the event goes at once, without enrichment, counted.
func TestIdentityRedisOutage(t *testing.T) {
	for _, mode := range []string{config.OnErrorBlock, config.OnErrorFailOpen} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, 1)
			rs := newPrivateRedis(t)
			cfg := e.config()
			cfg.Redis.URL = rs.url()
			cfg.Redis.OnError = mode
			in := e.start(cfg)
			web := webEvent("web-1", pixelA)
			web["user"].(map[string]any)["external_id"] = "U-42"
			web["user"].(map[string]any)["email"] = "ann@x.com"
			e.sendAndWait(pixelA, "Purchase", "web-1", web.record(webT, 0))

			rs.stop()
			crm := crmEvent("crm-1", pixelA).with("user", map[string]any{"email": "ann@x.com"})
			e.kafka.Produce(crm.record(crmT, 0))
			if mode == config.OnErrorFailOpen {
				kafkatest.Eventually(t, wait, "the event at Meta", func() bool { return e.meta.Count(pixelA, "Purchase", "crm-1") == 1 })
				if got := e.externalIDs(pixelA)["crm-1"]; got != "" {
					t.Errorf("sent with external_id %q while Redis was away", got)
				}
				if n := in.counter("freight_identity_fail_open_total"); n != 1 {
					t.Errorf("freight_identity_fail_open_total = %v, want 1", n)
				}
				return
			}
			kafkatest.Eventually(t, wait, "the relay to hit the outage", func() bool {
				return in.counter("freight_redis_errors_total", "op", "identity") > 0
			})
			if n := e.meta.Count(pixelA, "Purchase", "crm-1"); n != 0 {
				t.Fatalf("the event was sent %d times while its identity could not be looked up", n)
			}
			rs.start()
			kafkatest.Eventually(t, wait, "the event at Meta", func() bool { return e.meta.Count(pixelA, "Purchase", "crm-1") == 1 })
			if got := e.externalIDs(pixelA)["crm-1"]; got != sha("u-42") {
				t.Errorf("sent with external_id %q after the outage, want sha256(u-42)", got)
			}
		})
	}
}
