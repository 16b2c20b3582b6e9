package capi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/event"
)

func graphBody(code, subcode int, transient bool) string {
	return graphBodyOfType("OAuthException", code, subcode, transient)
}

func graphBodyOfType(typ string, code, subcode int, transient bool) string {
	return fmt.Sprintf(`{"error":{"message":"m","type":%q,"code":%d,"error_subcode":%d,"is_transient":%t,"error_user_msg":"user message","fbtrace_id":"TRACE"}}`, typ, code, subcode, transient)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		headers map[string]string
		want    Outcome
		after   time.Duration
	}{
		{"success", 200, `{"events_received":3,"messages":[],"fbtrace_id":"T"}`, nil, OK, 0},
		{"5xx with Graph body", 503, graphBody(2, 0, true), nil, Transient, 0},
		{"5xx without body", 502, `<html>bad gateway</html>`, nil, Transient, 0},
		{"code 1 unknown", 500, graphBody(1, 0, false), nil, Transient, 0},
		{"is_transient on a 400", 400, graphBody(999, 0, true), nil, Transient, 0},
		{"app throttle 4 (transient flag set, as Graph does)", 400, graphBody(4, 0, true), nil, Throttled, 0},
		{"user throttle 17", 400, graphBody(17, 0, true), nil, Throttled, 0},
		{"ads throttle 80004 with BUC header", 400, graphBody(80004, 2446079, true),
			map[string]string{"X-Business-Use-Case-Usage": `{"1":[{"type":"ads_management","call_count":100,"estimated_time_to_regain_access":3}]}`},
			Throttled, 3 * time.Minute},
		{"ad account usage reset", 400, graphBody(613, 0, false),
			map[string]string{"X-Ad-Account-Usage": `{"acc_id_util_pct":100,"reset_time_duration":40}`}, Throttled, 40 * time.Second},
		{"HTTP 429 without body", 429, ``, map[string]string{"Retry-After": "7"}, Throttled, 7 * time.Second},
		{"policy block 368", 400, graphBody(368, 1390008, false), nil, Throttled, 0},
		{"expired token 190", 400, graphBody(190, 463, false), nil, Auth, 0},
		{"permission 200", 403, graphBody(200, 0, false), nil, Auth, 0},
		{"permission 10", 403, graphBody(10, 0, false), nil, Auth, 0},
		{"session 102", 400, graphBody(102, 0, false), nil, Auth, 0},
		{"no such pixel 100/33", 400, graphBody(100, 33, false), nil, Auth, 0},
		{"no access token 104", 400, graphBody(104, 0, false), nil, Auth, 0},
		{"app lacks the capability 3", 400, graphBody(3, 0, false), nil, Auth, 0},
		{"invalid appsecret_proof: 100 without subcode, GraphMethodException", 400, graphBodyOfType("GraphMethodException", 100, 0, false), nil, Auth, 0},
		{"event parameter error: 100 without subcode, OAuthException", 400, graphBody(100, 0, false), nil, Rejected, 0},
		{"too old 100/2804003", 400, graphBody(100, 2804003, false), nil, TooOld, 0},
		{"invalid event 100/2804050", 400, graphBody(100, 2804050, false), nil, Rejected, 0},
		{"deprecated version 2635", 400, graphBody(2635, 0, false), nil, Deprecated, 0},
		{"unknown 4xx code", 400, graphBody(12345, 0, false), nil, Rejected, 0},
		{"a proxy's 403 page", 403, `<html><body>Forbidden</body></html>`, nil, Transient, 0},
		{"a proxy's 404 page", 404, `<html>Not Found</html>`, nil, Transient, 0},
		{"a 400 without a body", 400, ``, nil, Transient, 0},
		{"401 JSON that is not Graph's", 401, `{"message":"unauthorized"}`, nil, Transient, 0},
		{"a 200 page that is not Graph's", 200, `<html>Welcome to the hotel wifi</html>`, nil, Transient, 0},
		{"a 200 JSON without events_received", 200, `{"ok":true}`, nil, Transient, 0},
		{"success with zero events received", 200, `{"events_received":0,"fbtrace_id":"T"}`, nil, OK, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			res := Classify(tt.status, h, []byte(tt.body))
			if res.Outcome != tt.want {
				t.Errorf("outcome %v, want %v", res.Outcome, tt.want)
			}
			if res.RetryAfter != tt.after {
				t.Errorf("retry after %v, want %v", res.RetryAfter, tt.after)
			}
			if strings.HasPrefix(tt.body, `{"error"`) && (res.Message != "user message" || res.FBTraceID != "TRACE") {
				t.Errorf("message %q trace %q: want error_user_msg and fbtrace_id", res.Message, res.FBTraceID)
			}
		})
	}
}

// The token travels in the POST body, never in the URL; partner_agent,
// test_event_code and appsecret_proof are sent; the token never appears in a
// result, even when an answer echoes it.
func TestClientRequestShape(t *testing.T) {
	const token = "EAAB-secret-token"
	var got struct {
		path, query, ctype string
		body               map[string]any
		length, read       int64
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path, got.query, got.ctype = r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type")
		b, _ := io.ReadAll(r.Body)
		got.length, got.read = r.ContentLength, int64(len(b))
		_ = json.Unmarshal(b, &got.body)
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":{"message":"Invalid OAuth access token - Cannot parse access token %s","code":190,"fbtrace_id":"X"}}`, token)
	}))
	defer srv.Close()
	c := NewClient(ClientConfig{BaseURL: srv.URL + "/", APIVersion: "v25.0", PartnerAgent: "freight", Timeout: time.Second})
	res := c.Send(context.Background(), Request{PixelID: "123", Token: token, AppSecret: "s3cret",
		RequestParams: RequestParams{TestEventCode: "TEST1", NamespaceID: "ns", UploadID: "u1", UploadTag: "store-upload", UploadSource: "crm"},
		Events:        []json.RawMessage{json.RawMessage(`{"event_name":"A"}`), json.RawMessage(`{"event_name":"B"}`)}})
	if got.path != "/v25.0/123/events" || got.query != "" {
		t.Errorf("path %q query %q", got.path, got.query)
	}
	if got.ctype != "application/json" {
		t.Errorf("content type %q", got.ctype)
	}
	if got.length != got.read || got.read == 0 {
		t.Errorf("Content-Length %d for a body of %d bytes", got.length, got.read)
	}
	if got.body["access_token"] != token || got.body["partner_agent"] != "freight" || got.body["test_event_code"] != "TEST1" ||
		got.body["namespace_id"] != "ns" || got.body["upload_id"] != "u1" || got.body["upload_tag"] != "store-upload" || got.body["upload_source"] != "crm" {
		t.Errorf("body fields: %v", got.body)
	}
	if got.body["appsecret_proof"] != AppSecretProof("s3cret", token) {
		t.Errorf("appsecret_proof %v", got.body["appsecret_proof"])
	}
	if n := len(got.body["data"].([]any)); n != 2 {
		t.Errorf("%d events", n)
	}
	if res.Outcome != Auth {
		t.Errorf("outcome %v", res.Outcome)
	}
	if strings.Contains(fmt.Sprintf("%+v", res), token) {
		t.Errorf("the token leaked into the result: %+v", res)
	}
}

func TestAppSecretProofIsHMACSHA256(t *testing.T) {
	// Reference value computed independently: printf %s token | openssl dgst -sha256 -hmac secret
	if got := AppSecretProof("secret", "token"); got != "e941110e3d2bfe82621f0e3e1434730d7305d106c5f68c87165d0b27a4611a4a" {
		t.Fatalf("proof %q", got)
	}
}

func TestClientTimeoutIsTransient(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c := NewClient(ClientConfig{BaseURL: srv.URL, APIVersion: "v25.0", Timeout: 50 * time.Millisecond})
	res := c.Send(context.Background(), Request{PixelID: "1", Token: "t", Events: []json.RawMessage{json.RawMessage(`{}`)}})
	if res.Outcome != Transient || res.Status != 0 {
		t.Errorf("got %v status %d, want transient without status", res.Outcome, res.Status)
	}
}

// What Map produces passes the stand-in's full validation, which checks it
// the way Meta does (hashed keys as 64 lowercase hex, website requirements,
// fbc shape, custom_data types).
func TestMappedEventsPassTheStandInsValidation(t *testing.T) {
	stand, url := capitest.NewHTTPTest(t, capitest.Options{Tokens: map[string]string{"7": "tok"}, Now: func() time.Time { return now }})
	var events []json.RawMessage
	for _, in := range []struct {
		kind event.Kind
		raw  string
	}{
		{event.KindWeb, `{"event_id":"1","event_name":"Purchase","event_time":` + nowS + `,"pixel_id":"7","event_source_url":"https://x.com","user":{"email":"a@x.com","phone":"650 555 1212","first_name":"Ann","last_name":"Lee","gender":"F","date_of_birth":"1990-01-02","city":"Menlo Park","state":"CA","zip":"94025","country":"US","external_id":"U1","client_user_agent":"UA","client_ip_address":"203.0.113.1","fbp":"fb.1.1.1","fbclid":"abc"},"custom":{"value":1,"currency":"USD","contents":[{"id":"A","quantity":1,"item_price":1}]}}`},
		{event.KindCRM, `{"event_id":"2","event_name":"Lead","event_time":` + nowS + `,"pixel_id":"7","crm_id":"C","lead_event_source":"Acme","user":{"email":"a@x.com","lead_id":123456789012345}}`},
		{event.KindCRM, `{"event_id":"3","event_name":"Purchase","event_time":` + nowS + `,"pixel_id":"7","customer_segmentation":"existing_customer","user":{"email":"a@x.com","client_ip_address":"203.0.113.9, 10.0.0.1"},"custom":{"value":"50","currency":"EUR","properties":{"tier":"gold","score":42,"ratio":0.5,"vip":true}}}`},
		{event.KindWeb, `{"event_id":"4","event_name":"Purchase","event_time":` + nowS + `,"pixel_id":"7","action_source":"app","user":{"email":"a@x.com","madid":"38400000-8cf0-11bd-b23e-10b96e40000d"},` +
			`"app_data":{"advertiser_tracking_enabled":true,"extinfo":["a2","com.example","1","1.0","14","Pixel","en_US","CET","","1080","2400","2.6","8","128","64","Europe/Berlin"]},` +
			`"attribution_data":{"scope":"click","visit_time":1795867000,"ad_id":"123","attribution_share":0.5,"attribution_model":"last_click","attr_window":7,"attribution_setting":{"inactivity_window_hours":24}},` +
			`"custom":{"value":20,"currency":"EUR","net_revenue":"7.5","contents":[{"id":"A","quantity":2,"item_price":10,"title":"Boot","description":"Waterproof","brand":"Acme","category":"Shoes"}]}}`},
	} {
		e := decode(t, in.raw)
		ev, err := Map(&e, in.kind, Options{}, now)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev.JSON)
	}
	c := NewClient(ClientConfig{BaseURL: url, APIVersion: "v25.0", PartnerAgent: "freight", Timeout: 5 * time.Second})
	res := c.Send(context.Background(), Request{PixelID: "7", Token: "tok", Events: events})
	if res.Outcome != OK || res.EventsReceived != len(events) {
		t.Fatalf("stand-in answered %v (%d %d: %s)", res.Outcome, res.Code, res.Subcode, res.Message)
	}
	if stand.Count("7", "Lead", "2") != 1 {
		t.Error("the CRM event was not recorded")
	}
	if stand.Count("7", "Purchase", "3") != 1 {
		t.Error("the event with a string value, literal properties and a forwarded-for list was not recorded")
	}
	if stand.Count("7", "Purchase", "4") != 1 {
		t.Error("the app event without application_tracking_enabled, with net_revenue and full contents, was not recorded")
	}
	for _, r := range stand.Events() {
		if r.EventID == "3" && r.Fields()["customer_segmentation"] != "existing_customer" {
			t.Errorf("customer_segmentation sent as %v, want the string given", r.Fields()["customer_segmentation"])
		}
		if r.EventID != "4" {
			continue
		}
		cd, _ := r.Fields()["custom_data"].(map[string]any)
		item, _ := cd["contents"].([]any)[0].(map[string]any)
		ad, _ := r.Fields()["attribution_data"].(map[string]any)
		if ad["attribution_model"] != "last_click" || ad["attribution_share"] != 0.5 || ad["attr_window"] != 7.0 ||
			ad["attribution_setting"].(map[string]any)["inactivity_window_hours"] != 24.0 {
			t.Errorf("attribution_data sent %v", ad)
		}
		if cd["net_revenue"] == nil || item["title"] != "Boot" || item["brand"] != "Acme" || item["category"] != "Shoes" || item["description"] != "Waterproof" {
			t.Errorf("custom_data sent %v: net_revenue or a contents field is missing", cd)
		}
	}
}

func TestUsageHeaders(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		wait    time.Duration
		usage   float64
	}{
		{"none", nil, 0, 0},
		{"business use case, near the limit", map[string]string{"X-Business-Use-Case-Usage": `{"1":[{"type":"ads_management","call_count":28,"total_cputime":91,"total_time":12,"estimated_time_to_regain_access":0}],"2":[{"call_count":5}]}`}, 0, 91},
		{"business use case, blocked", map[string]string{"X-Business-Use-Case-Usage": `{"1":[{"call_count":100,"estimated_time_to_regain_access":12}]}`}, 12 * time.Minute, 100},
		{"app usage", map[string]string{"X-App-Usage": `{"call_count":77,"total_cputime":3,"total_time":9}`}, 0, 77},
		{"ad account under its limit: reset is not a wait", map[string]string{"X-Ad-Account-Usage": `{"acc_id_util_pct":40,"reset_time_duration":300}`}, 0, 40},
		{"ad account at its limit", map[string]string{"X-Ad-Account-Usage": `{"acc_id_util_pct":100,"reset_time_duration":300}`}, 5 * time.Minute, 100},
		{"the highest of all", map[string]string{"X-App-Usage": `{"call_count":50}`, "X-Ad-Account-Usage": `{"acc_id_util_pct":60}`,
			"X-Business-Use-Case-Usage": `{"1":[{"total_time":85}]}`}, 0, 85},
		{"garbage is ignored", map[string]string{"X-App-Usage": `{call_count:`, "X-Business-Use-Case-Usage": `[]`}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			wait, usage := usageHeaders(h)
			if wait != tt.wait || usage != tt.usage {
				t.Errorf("got wait %v usage %v, want %v and %v", wait, usage, tt.wait, tt.usage)
			}
		})
	}
}
