package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/redistest"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

var linkBy = []string{KindExternalID, KindEmail, KindPhone, KindCRMID}

// person builds the person of an event as the relay does: ids as capi
// computes them (normalized, hashed).
func person(graph, externalID, email, crmID string) *Person {
	ids := capi.Identifiers{}
	if externalID != "" {
		ids.ExternalID = sha(externalID)
	}
	if email != "" {
		ids.Emails = []string{sha(email)}
	}
	if crmID != "" {
		ids.CRMID = sha(crmID)
	}
	return NewPerson(graph, ids, linkBy)
}

func newGraph(t *testing.T) (*Graph, *redis.Client, string) {
	rdb, prefix := redistest.New(t)
	return New(rdb, prefix, time.Hour), rdb, prefix
}

func resolve(t *testing.T, g *Graph, people ...*Person) Stats {
	t.Helper()
	st, err := g.Resolve(context.Background(), people)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The contract's example: a web event {external_id U-42, email}, a CRM event
// {email, crm_id C9}, a CRM event {crm_id C9} all carry U-42's external_id,
// whether they come in three polls or one.
func TestContractExample(t *testing.T) {
	for _, onePoll := range []bool{false, true} {
		t.Run(fmt.Sprintf("one poll %v", onePoll), func(t *testing.T) {
			g, _, _ := newGraph(t)
			people := []*Person{
				person("px1", "u-42", "ann@x.com", ""),
				person("px1", "", "ann@x.com", "C9"),
				person("px1", "", "", "C9"),
			}
			if onePoll {
				st := resolve(t, g, people...)
				if st.Linked != 2 || st.Conflicts != 0 {
					t.Errorf("stats %+v, want 2 linked, no conflict", st)
				}
			} else {
				for _, p := range people {
					resolve(t, g, p)
				}
			}
			for i, p := range people {
				if p.ExternalID != sha("u-42") {
					t.Errorf("event %d: external_id %q, want sha256(u-42)", i, p.ExternalID)
				}
				if p.Linked != (i > 0) {
					t.Errorf("event %d: Linked = %v", i, p.Linked)
				}
			}
		})
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name          string
		polls         [][]*Person
		want          []string // external_id of each person, in order over all polls
		wantConflicts int
	}{
		{name: "unlinked people get none",
			polls: [][]*Person{{person("px1", "", "bo@x.com", "C1")}, {person("px1", "", "", "C1")}},
			want:  []string{"", ""}},
		{name: "an event's own external_id is never replaced",
			polls: [][]*Person{{person("px1", "u-1", "ann@x.com", "")}, {person("px1", "u-2", "ann@x.com", "")}},
			want:  []string{sha("u-1"), sha("u-2")}, wantConflicts: 1},
		{name: "the first link wins over a later conflicting one",
			polls: [][]*Person{{person("px1", "u-1", "ann@x.com", "")}, {person("px1", "u-2", "ann@x.com", "")}, {person("px1", "", "ann@x.com", "")}},
			want:  []string{sha("u-1"), sha("u-2"), sha("u-1")}, wantConflicts: 1},
		{name: "the first link wins within a poll",
			polls: [][]*Person{{person("px1", "u-1", "ann@x.com", ""), person("px1", "u-2", "ann@x.com", ""), person("px1", "", "ann@x.com", "")}},
			want:  []string{sha("u-1"), sha("u-2"), sha("u-1")}, wantConflicts: 1},
		{name: "graphs are never joined",
			polls: [][]*Person{{person("px1", "u-1", "ann@x.com", "")}, {person("px2", "", "ann@x.com", "")}, {person("group-a", "", "ann@x.com", "")}},
			want:  []string{sha("u-1"), "", ""}},
		{name: "a person linked two ways takes its first key's link",
			polls: [][]*Person{
				{person("px1", "u-1", "ann@x.com", ""), person("px1", "u-2", "", "C7")},
				{person("px1", "", "ann@x.com", "C7")}},
			want: []string{sha("u-1"), sha("u-2"), sha("u-1")}, wantConflicts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _, _ := newGraph(t)
			var got []string
			conflicts := 0
			for _, poll := range tt.polls {
				conflicts += resolve(t, g, poll...).Conflicts
				for _, p := range poll {
					got = append(got, p.ExternalID)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("external_ids\n got %q\nwant %q", got, tt.want)
			}
			if conflicts != tt.wantConflicts {
				t.Errorf("%d conflicts, want %d", conflicts, tt.wantConflicts)
			}
		})
	}
}

func TestNewPerson(t *testing.T) {
	ids := capi.Identifiers{ExternalID: sha("u-1"), Emails: []string{sha("a@x.com"), sha("b@x.com")}, Phones: []string{sha("16505551212")}, CRMID: sha("C1")}
	tests := []struct {
		name   string
		ids    capi.Identifiers
		linkBy []string
		want   *Person
	}{
		{"every kind, in link_by order", ids, []string{KindCRMID, KindExternalID, KindPhone, KindEmail},
			&Person{Graph: "g", Anchor: sha("u-1"), Keys: []Key{{KindCRMID, sha("C1")}, {KindPhone, sha("16505551212")}, {KindEmail, sha("a@x.com")}, {KindEmail, sha("b@x.com")}}}},
		{"only the kinds named", ids, []string{KindExternalID, KindCRMID},
			&Person{Graph: "g", Anchor: sha("u-1"), Keys: []Key{{KindCRMID, sha("C1")}}}},
		{"own external_id not linked by: left alone", ids, []string{KindEmail}, nil},
		{"nothing to link by", capi.Identifiers{ExternalID: sha("u-1")}, linkBy, nil},
		{"no external_id: looked up", capi.Identifiers{CRMID: sha("C1")}, []string{KindEmail, KindCRMID},
			&Person{Graph: "g", Keys: []Key{{KindCRMID, sha("C1")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewPerson("g", tt.ids, tt.linkBy)
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("NewPerson =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// Keys expire ttl after their last use: a lookup refreshes them.
func TestLookupRefreshesTTL(t *testing.T) {
	g, rdb, prefix := newGraph(t)
	resolve(t, g, person("px1", "u-1", "ann@x.com", ""))
	key := prefix + "id:px1:email:" + sha("ann@x.com")[:32]
	ctx := context.Background()
	if err := rdb.Expire(ctx, key, 10*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	p := person("px1", "", "ann@x.com", "")
	resolve(t, g, p)
	if p.ExternalID != sha("u-1") {
		t.Fatalf("external_id %q", p.ExternalID)
	}
	if ttl := rdb.TTL(ctx, key).Val(); ttl < 59*time.Minute {
		t.Errorf("TTL after a lookup = %v, want it refreshed to an hour", ttl)
	}
}

// Redis holds hashes and external_ids as sent, never a raw identifier.
func TestNoRawIdentifierInRedis(t *testing.T) {
	g, rdb, prefix := newGraph(t)
	resolve(t, g, person("px1", "u-42", "ann.secret@example.com", "CRM-778899"), person("px1", "", "", "CRM-778899"))
	ctx := context.Background()
	keys := rdb.Keys(ctx, prefix+"*").Val()
	if len(keys) != 2 {
		t.Fatalf("keys %v, want the e-mail's and the CRM id's", keys)
	}
	for _, k := range keys {
		v := rdb.Get(ctx, k).Val()
		for _, raw := range []string{"ann.secret", "example.com", "778899", "u-42"} {
			if strings.Contains(k, raw) || strings.Contains(v, raw) {
				t.Errorf("Redis holds %q in clear: %s = %s", raw, k, v)
			}
		}
	}
}

// Two instances linking the same people at once end with one external_id
// per identifier, and every event looked up by an identifier gets that one.
func TestConcurrentInstancesAgree(t *testing.T) {
	_, _, prefix := newGraph(t)
	const instances, rounds, people = 4, 20, 10
	var wg sync.WaitGroup
	results := make([][]*Person, instances)
	for inst := range instances {
		// Each instance has its own connection, as separate processes do.
		rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr})
		t.Cleanup(func() { rdb.Close() })
		g := New(rdb, prefix, time.Hour)
		wg.Go(func() {
			for r := range rounds {
				var poll []*Person
				for n := range people {
					email := fmt.Sprintf("p%d@x.com", n)
					// Instances disagree on who the person is: only one link may stay.
					poll = append(poll, person("px1", fmt.Sprintf("u-%d-%d", n, inst), email, ""),
						person("px1", "", email, fmt.Sprintf("C%d-%d-%d", n, inst, r)))
				}
				if _, err := g.Resolve(context.Background(), poll); err != nil {
					t.Error(err)
					return
				}
				results[inst] = append(results[inst], poll...)
			}
		})
	}
	wg.Wait()
	rdb, _ := redistest.New(t)
	final := map[string]string{}
	for n := range people {
		final[sha(fmt.Sprintf("p%d@x.com", n))] = rdb.Get(context.Background(), prefix+"id:px1:email:"+sha(fmt.Sprintf("p%d@x.com", n))[:32]).Val()
	}
	for _, rs := range results {
		for _, p := range rs {
			if p.Anchor != "" {
				continue
			}
			want := final[p.Keys[0].Hash]
			if want == "" || p.ExternalID != want {
				t.Fatalf("an unanchored event got %q, the graph says %q", p.ExternalID, want)
			}
		}
	}
	// Every CRM id was linked to the e-mail's one external_id.
	for _, rs := range results {
		for _, p := range rs {
			if p.Anchor != "" {
				continue
			}
			crm := p.Keys[1]
			got := rdb.Get(context.Background(), prefix+"id:px1:crm_id:"+crm.Hash[:32]).Val()
			if got != final[p.Keys[0].Hash] {
				t.Fatalf("a CRM id is linked to %q, its e-mail to %q", got, final[p.Keys[0].Hash])
			}
		}
	}
}

func TestRedisErrorResolvesNothing(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	g := New(rdb, "x:", time.Hour)
	p := person("px1", "", "ann@x.com", "")
	if _, err := g.Resolve(context.Background(), []*Person{p}); err == nil {
		t.Fatal("Resolve with Redis away returned no error")
	}
	if p.ExternalID != "" || p.Linked {
		t.Errorf("a failed Resolve resolved: %+v", p)
	}
}

// BenchmarkResolve: the identity stage's cost per event, a poll of 1000
// events (half web with an external_id, half CRM looked up by e-mail),
// against the real Redis.
func BenchmarkResolve(b *testing.B) {
	rdb, prefix := redistest.New(b)
	g := New(rdb, prefix, time.Hour)
	const poll = 1000
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		people := make([]*Person, 0, poll)
		for i := range poll / 2 {
			email := fmt.Sprintf("p%d-%d@x.com", round, i)
			people = append(people, person("px1", fmt.Sprintf("u-%d-%d", round, i), email, ""),
				person("px1", "", email, fmt.Sprintf("C%d-%d", round, i)))
		}
		round++
		if _, err := g.Resolve(context.Background(), people); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*poll), "ns/event")
}
