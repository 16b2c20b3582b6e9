package capitest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

const (
	pixelA = "111111111111111"
	pixelB = "222222222222222"
	tokenA = "EAAtokenA-very-secret"
	tokenB = "EAAtokenB-very-secret"
	// piiEmail is hashed in valid events; a rejection must never echo it.
	piiEmail = "ann@example.com"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func testOptions() Options {
	return Options{
		Tokens: map[string]string{pixelA: tokenA, pixelB: tokenB},
		Now:    func() time.Time { return testNow },
		Seed:   1,
	}
}

func newTestServer(t *testing.T, mods ...func(*Options)) (*Server, string) {
	t.Helper()
	opts := testOptions()
	for _, m := range mods {
		m(&opts)
	}
	return NewHTTPTest(t, opts)
}

// webEvent is a valid website event.
func webEvent(id string) map[string]any {
	return map[string]any{
		"event_name":       "Purchase",
		"event_time":       testNow.Unix() - 60,
		"event_id":         id,
		"action_source":    "website",
		"event_source_url": "https://shop.example/checkout",
		"user_data": map[string]any{
			"em":                []any{sha(piiEmail)},
			"ph":                sha("16505551212"),
			"client_user_agent": "Mozilla/5.0",
			"client_ip_address": "203.0.113.7",
			"fbc":               "fb.1.1700000000000.AbCdEf",
			"fbp":               "fb.1.1700000000000.123456",
		},
		"custom_data": map[string]any{"value": 12.5, "currency": "EUR"},
	}
}

// crmEvent is a valid system_generated event with only an external_id.
func crmEvent(id string) map[string]any {
	return map[string]any{
		"event_name":    "Lead",
		"event_time":    testNow.Unix() - 3600,
		"event_id":      id,
		"action_source": "system_generated",
		"user_data":     map[string]any{"external_id": sha("u-42")},
	}
}

// appData is a valid app_data object: both tracking flags and the 16
// extinfo values.
func appData() map[string]any {
	return map[string]any{"advertiser_tracking_enabled": true, "application_tracking_enabled": false,
		"extinfo": []any{"i2", "com.example", "1.0", "1.0 (7)", "17.5", "iPhone15,2", "en_US", "CET", "", "1179", "2556", "3", "6", "128", "64", "Europe/Berlin"}}
}

func jsonBody(token string, events ...map[string]any) map[string]any {
	data := make([]any, len(events))
	for i, e := range events {
		data[i] = e
	}
	b := map[string]any{"data": data, "partner_agent": "freight"}
	if token != "" {
		b["access_token"] = token
	}
	return b
}

type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (a answer) errFields() map[string]any {
	e, _ := a.body["error"].(map[string]any)
	return e
}

func (a answer) num(key string) int {
	f, _ := a.errFields()[key].(float64)
	return int(f)
}

func (a answer) code() int    { return a.num("code") }
func (a answer) subcode() int { return a.num("error_subcode") }

func eventsURL(base, pixel string) string { return base + "/v25.0/" + pixel + "/events" }

func postJSON(t *testing.T, base, pixel string, body any) answer {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, http.MethodPost, eventsURL(base, pixel), "application/json", b)
}

func do(t *testing.T, method, url, contentType string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return send(t, req)
}

func send(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, raw)
		}
		a.body, _ = v.(map[string]any)
	}
	assertNoSecrets(t, a)
	return a
}

// assertNoSecrets: no answer ever carries a token or unhashed customer data.
func assertNoSecrets(t *testing.T, a answer) {
	t.Helper()
	var all strings.Builder
	all.Write(a.raw)
	for k, vs := range a.header {
		all.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	for _, secret := range []string{tokenA, tokenB, piiEmail, "very-secret"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("answer leaks %q:\n%s", secret, all.String())
		}
	}
}

func wantGraphError(t *testing.T, a answer, status, code, subcode int) {
	t.Helper()
	if a.status != status || a.code() != code || a.subcode() != subcode {
		t.Fatalf("got HTTP %d code %d subcode %d, want HTTP %d code %d subcode %d: %s",
			a.status, a.code(), a.subcode(), status, code, subcode, a.raw)
	}
	e := a.errFields()
	for _, k := range []string{"message", "type", "fbtrace_id"} {
		if s, _ := e[k].(string); s == "" {
			t.Errorf("error.%s is empty: %s", k, a.raw)
		}
	}
	if _, ok := e["is_transient"].(bool); !ok {
		t.Errorf("error.is_transient missing: %s", a.raw)
	}
	if e["fbtrace_id"] != a.header.Get("X-Fb-Trace-Id") {
		t.Errorf("fbtrace_id %v differs from header %q", e["fbtrace_id"], a.header.Get("X-Fb-Trace-Id"))
	}
}

func wantOK(t *testing.T, a answer, events int) {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("got HTTP %d, want 200: %s", a.status, a.raw)
	}
	if got, _ := a.body["events_received"].(float64); int(got) != events {
		t.Fatalf("events_received = %v, want %d", a.body["events_received"], events)
	}
}
