package capitest

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

func TestSandboxEvents(t *testing.T) {
	s, base := newTestServer(t)
	wantOK(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("a1"), webEvent("a2"))), 2)
	wantOK(t, postJSON(t, base, pixelB, jsonBody(tokenB, crmEvent("b1"))), 1)
	wantOK(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("a3"))), 1)
	wantGraphError(t, postJSON(t, base, pixelA, jsonBody("EAAwrong", crmEvent("x"))), 400, 190, 0)

	list := func(query string) (int, []Received) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/_sandbox/events"+query, nil)
		a := send(t, req) // also asserts that no token appears
		var evs []Received
		if a.status == http.StatusOK {
			if err := json.Unmarshal(a.raw, &evs); err != nil {
				t.Fatalf("%s: %v", a.raw, err)
			}
		}
		return a.status, evs
	}
	ids := func(evs []Received) []string {
		out := []string{}
		for _, ev := range evs {
			out = append(out, ev.EventID)
		}
		return out
	}

	tests := []struct {
		name   string
		query  string
		status int
		want   []string
	}{
		{"all, newest last", "", 200, []string{"a1", "a2", "b1", "a3"}},
		{"pixel filter", "?pixel=" + pixelA, 200, []string{"a1", "a2", "a3"}},
		{"other pixel", "?pixel=" + pixelB, 200, []string{"b1"}},
		{"unknown pixel", "?pixel=999", 200, []string{}},
		{"limit keeps the newest", "?limit=2", 200, []string{"b1", "a3"}},
		{"pixel and limit", "?pixel=" + pixelA + "&limit=2", 200, []string{"a2", "a3"}},
		{"event_name filter", "?event_name=Purchase", 200, []string{"a2"}},
		{"limit 0", "?limit=0", 200, []string{}},
		{"bad limit", "?limit=ten", 400, nil},
		{"negative limit", "?limit=-1", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, evs := list(tt.query)
			if status != tt.status {
				t.Fatalf("HTTP %d, want %d", status, tt.status)
			}
			if tt.status == 200 && !slices.Equal(ids(evs), tt.want) {
				t.Errorf("events %v, want %v", ids(evs), tt.want)
			}
		})
	}

	_, evs := list("?limit=1")
	if ev := evs[0]; ev.PixelID != pixelA || ev.EventName != "Lead" || ev.PartnerAgent != "freight" || ev.Fields()["event_id"] != "a3" {
		t.Errorf("listed event %+v", ev)
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/_sandbox/stats", nil)
	a := send(t, req)
	var st SandboxStats
	if err := json.Unmarshal(a.raw, &st); err != nil || a.status != 200 {
		t.Fatalf("stats HTTP %d %s: %v", a.status, a.raw, err)
	}
	if st.EventsTotal != 4 || st.EventsRecorded != 4 || st.Requests.OK != 3 || st.Requests.Auth != 1 ||
		!slices.Equal(st.Pixels, []string{pixelA, pixelB}) {
		t.Errorf("stats %+v", st)
	}

	req, _ = http.NewRequest(http.MethodDelete, base+"/_sandbox/events", nil)
	if a := send(t, req); a.status != http.StatusNoContent {
		t.Fatalf("DELETE: HTTP %d", a.status)
	}
	if _, evs := list(""); len(evs) != 0 || s.Total() != 0 {
		t.Errorf("after DELETE: %v, Total %d", ids(evs), s.Total())
	}

	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPost, "/_sandbox/events", 405},
		{http.MethodPut, "/_sandbox/stats", 405},
		{http.MethodGet, "/_sandbox/nothing", 404},
	} {
		req, _ := http.NewRequest(tt.method, base+tt.path, nil)
		if a := send(t, req); a.status != tt.status {
			t.Errorf("%s %s: HTTP %d, want %d", tt.method, tt.path, a.status, tt.status)
		}
	}
	if s.Requests().Total != 0 {
		t.Error("sandbox requests counted as events requests")
	}
}
