package devstack

import (
	"context"
	"encoding/json"
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
		ev, err := capi.Map(&e, kind, "", now)
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
