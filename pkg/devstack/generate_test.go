package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/event"
)

// TestGeneratedEventsPassTheStandIn maps every generated event as the relay
// does and sends it to the stand-in, which validates like Meta: every valid
// event of every kind must be accepted, and every event generated as
// invalid must be refused before it is sent.
func TestGeneratedEventsPassTheStandIn(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	pixels := []string{"111111111111111", "222222222222222"}
	tokens := map[string]string{pixels[0]: "tok-1", pixels[1]: "tok-2"}
	stand, url := capitest.NewHTTPTest(t, capitest.Options{Tokens: tokens, Now: func() time.Time { return now }})
	client := capi.NewClient(capi.ClientConfig{BaseURL: url, APIVersion: "v25.0", PartnerAgent: "freight-test", Timeout: 5 * time.Second})
	g := NewGenerator(7, pixels, "web", "crm", func() time.Time { return now })

	sent := map[string]int{}    // by kind, the event id's prefix
	refused := map[string]int{} // invalid by design, by reason
	for range 3000 {
		rec := g.Next()
		kind := event.KindWeb
		if rec.Topic == "crm" {
			kind = event.KindCRM
		}
		e, err := event.JSON{}.Decode(rec.Value)
		if err != nil {
			refused["decode"]++
			continue
		}
		ev, err := capi.Map(&e, kind, capi.Options{}, now)
		prefix, _, _ := strings.Cut(e.EventID, "-")
		if prefix == "bad" || e.EventID == "" {
			if err == nil && tokens[ev.PixelID] != "" {
				t.Fatalf("an event generated as invalid maps without error: %s", rec.Value)
			}
			refused["invalid"]++
			continue
		}
		if err != nil {
			t.Fatalf("a valid %s event is refused: %v\n%s", prefix, err, rec.Value)
		}
		res := client.Send(context.Background(), capi.Request{PixelID: ev.PixelID, Token: tokens[ev.PixelID],
			Events: []json.RawMessage{ev.JSON}})
		if res.Outcome != capi.OK {
			t.Fatalf("the stand-in refused a %s event: %d %d/%d %s\n%s", prefix, res.Status, res.Code, res.Subcode, res.Message, ev.JSON)
		}
		sent[prefix]++
	}
	for _, kind := range []string{"web", "crm", "app", "msg", "store"} {
		if sent[kind] == 0 {
			t.Errorf("no %s event was generated and sent (sent: %v)", kind, sent)
		}
	}
	if refused["decode"] == 0 || refused["invalid"] == 0 {
		t.Errorf("the generator made no invalid events of some kind: %v", refused)
	}
	total := 0
	for _, n := range sent {
		total += n
	}
	if stand.Total() != total {
		t.Errorf("the stand-in holds %d events, %d were sent", stand.Total(), total)
	}
	t.Logf("sent %v, refused %v", sent, refused)
}

// TestGeneratedCRMEventsAsConfluentAvro: in freight dev the CRM topic
// carries Confluent Avro; its records decode, through the schema registry,
// to the very events the JSON generator of the same seed makes.
func TestGeneratedCRMEventsAsConfluentAvro(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) }
	url, id, stop, err := startRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	reg, err := event.NewRegistry(event.RegistryConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := event.NewConfluentAvro(event.KindCRM, reg)
	if err != nil {
		t.Fatal(err)
	}
	pixels := []string{"111111111111111"}
	plain := NewGenerator(3, pixels, "web", "crm", now)
	avro := NewGenerator(3, pixels, "web", "crm", now)
	if err := avro.CRMAsConfluentAvro(id); err != nil {
		t.Fatal(err)
	}
	crm := 0
	for range 2000 {
		j, a := plain.Next(), avro.Next()
		if j.Topic != "crm" {
			if !bytes.Equal(j.Value, a.Value) {
				t.Fatalf("a web record differs between the generators")
			}
			continue
		}
		crm++
		want, err := event.JSON{}.Decode(j.Value)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dec.Decode(a.Value)
		if err != nil {
			t.Fatalf("a generated CRM record does not decode: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Avro gives\n%+v\nJSON gives\n%+v", got, want)
		}
	}
	if crm < 100 {
		t.Errorf("only %d CRM records in 2000", crm)
	}
}
