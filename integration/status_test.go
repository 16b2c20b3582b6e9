package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/kafkatest"
	"github.com/freight-relay/freight/pkg/relay"
)

// GET /status shows each pixel's connection as Meta asks platforms to show
// it to advertisers: a served pixel with its last hour's counts and match
// keys, one whose token Meta refuses with Meta's error, one without events
// idle; no token anywhere.
func TestStatusShowsEachPixelsConnection(t *testing.T) {
	const pixelC = "333333333333333"
	e := newEnv(t, 1)
	e.meta.SetPixelFault(pixelB, capitest.FaultAuth)
	cfg := e.config()
	cfg.CAPI.Pixels = append(cfg.CAPI.Pixels, config.Pixel{ID: pixelC, AccessTokenEnv: "TOKEN_A"})
	in := e.start(cfg)

	var recs []*kgo.Record
	for i := range 10 {
		x := webEvent("s-"+strconv.Itoa(i), pixelA)
		if i < 4 {
			x = x.with("user", map[string]any{"email": "ann" + strconv.Itoa(i) + "@example.com", "phone": "+1 650 555 12" + strconv.Itoa(10+i),
				"client_user_agent": "Mozilla/5.0 (test)", "client_ip_address": "203.0.113.7"})
		}
		recs = append(recs, x.record(webT, 0))
	}
	recs = append(recs,
		webEvent("s-0", pixelA).record(webT, 0),                                // a duplicate
		webEvent("s-bad", pixelA).with("event_source_url", "").record(webT, 0), // dead-lettered
		webEvent("s-b1", pixelB).record(webT, 0),
		webEvent("s-b2", pixelB).record(webT, 0))
	e.kafka.Produce(recs...)

	var rep relay.StatusReport
	var body string
	kafkatest.Eventually(t, wait, "pixel A's events sent, deduplicated and dead-lettered, and pixel B in auth_error", func() bool {
		body, rep = getStatus(t, in.addr)
		return len(rep.Pixels) == 3 && rep.Pixels[0].LastHour.Sent == 10 && rep.Pixels[0].LastHour.DeadLettered == 1 && rep.Pixels[0].LastHour.Deduplicated == 1 &&
			rep.Pixels[1].State == relay.StateAuthError
	})
	for _, tok := range []string{tokenA, tokenB} {
		if strings.Contains(body, tok) {
			t.Fatal("GET /status shows an access token")
		}
	}

	a, b, c := rep.Pixels[0], rep.Pixels[1], rep.Pixels[2]
	if a.Pixel != pixelA || b.Pixel != pixelB || c.Pixel != pixelC {
		t.Fatalf("pixels %s %s %s, want the configuration's order", a.Pixel, b.Pixel, c.Pixel)
	}
	if a.State != relay.StateOK || a.LastAccepted == nil {
		t.Errorf("pixel A: state %s, last accepted %v; want ok and a time", a.State, a.LastAccepted)
	}
	if a.LastHour != (relay.HourCounts{Sent: 10, Deduplicated: 1, DeadLettered: 1}) {
		t.Errorf("pixel A's last hour: %+v, want 10 sent, 1 deduplicated, 1 dead-lettered", a.LastHour)
	}
	if a.MatchKeys["em"] != 1 || a.MatchKeys["ph"] != 0.4 || a.MatchKeys["client_user_agent"] != 1 {
		t.Errorf("pixel A's match keys %v, want em 1, ph 0.4, client_user_agent 1", a.MatchKeys)
	}
	if b.LastError == nil || b.LastError.Code != 190 || b.LastError.Reason != relay.ReasonAuth || b.LastError.FBTraceID == "" {
		t.Errorf("pixel B's last error %+v, want Meta's code 190 (auth) with its fbtrace_id", b.LastError)
	}
	if b.LastAccepted != nil || b.LastHour.Sent != 0 {
		t.Errorf("pixel B: last accepted %v, %d sent; Meta accepted nothing", b.LastAccepted, b.LastHour.Sent)
	}
	if c.State != relay.StateIdle || c.LastError != nil {
		t.Errorf("pixel C (no events): state %s, last error %+v; want idle, none", c.State, c.LastError)
	}
	for _, s := range []struct{ px, state string }{{pixelA, relay.StateOK}, {pixelB, relay.StateAuthError}, {pixelC, relay.StateIdle}} {
		if n := in.counter("freight_pixel_state", "pixel", s.px, "state", s.state); n != 1 {
			t.Errorf("freight_pixel_state{pixel=%s,state=%s} = %v, want 1", s.px, s.state, n)
		}
	}
}

func getStatus(t *testing.T, addr string) (string, relay.StatusReport) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatalf("GET /status: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /status: %s %v", resp.Status, err)
	}
	var rep relay.StatusReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("GET /status: %v\n%s", err, b)
	}
	return string(b), rep
}
