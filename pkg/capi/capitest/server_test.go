package capitest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSuccessShape(t *testing.T) {
	s, base := newTestServer(t)
	body := jsonBody(tokenA, webEvent("e1"), crmEvent("e2"))
	body["test_event_code"] = "TEST123"
	a := postJSON(t, base, pixelA, body)
	wantOK(t, a, 2)

	keys := slices.Sorted(maps.Keys(a.body))
	if !slices.Equal(keys, []string{"events_received", "fbtrace_id", "messages"}) {
		t.Errorf("success keys = %v", keys)
	}
	if msgs, ok := a.body["messages"].([]any); !ok || len(msgs) != 0 {
		t.Errorf("messages = %#v, want []", a.body["messages"])
	}
	trace, _ := a.body["fbtrace_id"].(string)
	if trace == "" || trace != a.header.Get("X-Fb-Trace-Id") {
		t.Errorf("fbtrace_id %q, header %q", trace, a.header.Get("X-Fb-Trace-Id"))
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}

	var usage map[string][]map[string]any
	if err := json.Unmarshal([]byte(a.header.Get("X-Business-Use-Case-Usage")), &usage); err != nil || len(usage) != 1 {
		t.Fatalf("X-Business-Use-Case-Usage %q: %v", a.header.Get("X-Business-Use-Case-Usage"), err)
	}
	for id, entries := range usage {
		if id == pixelA || len(entries) != 1 || entries[0]["type"] != "ads_management" ||
			entries[0]["estimated_time_to_regain_access"] != 0.0 || entries[0]["call_count"].(float64) > 10 {
			t.Errorf("usage entry %s: %v", id, entries)
		}
	}

	evs := s.Events()
	if len(evs) != 2 || s.Total() != 2 {
		t.Fatalf("recorded %d events, Total %d, want 2", len(evs), s.Total())
	}
	ev := evs[0]
	if ev.Seq != 1 || ev.PixelID != pixelA || ev.APIVersion != "v25.0" || ev.EventName != "Purchase" || ev.EventID != "e1" ||
		ev.TestEventCode != "TEST123" || ev.PartnerAgent != "freight" || ev.FBTraceID != trace || !ev.ReceivedAt.Equal(testNow) {
		t.Errorf("recorded %+v", ev)
	}
	want, _ := json.Marshal(webEvent("e1"))
	if !bytes.Equal(ev.Raw, want) {
		t.Errorf("raw event\n got %s\nwant %s", ev.Raw, want)
	}
	if ud, _ := ev.Fields()["user_data"].(map[string]any); ud["client_user_agent"] != "Mozilla/5.0" {
		t.Errorf("Fields() user_data = %v", ud)
	}
	if evs[1].EventID != "e2" || evs[1].Seq != 2 {
		t.Errorf("second event %+v", evs[1])
	}
	if got := s.Requests(); got != (RequestStats{Total: 1, OK: 1}) {
		t.Errorf("Requests() = %+v", got)
	}
}

func TestAcceptedVariants(t *testing.T) {
	tests := []struct {
		name  string
		event func() map[string]any
	}{
		{"exactly 7 days old", func() map[string]any {
			e := webEvent("x")
			e["event_time"] = testNow.Unix() - 7*24*3600
			return e
		}},
		{"physical_store 61 days old", func() map[string]any {
			e := crmEvent("x")
			e["action_source"] = "physical_store"
			e["event_time"] = testNow.Unix() - 61*24*3600
			return e
		}},
		{"9 minutes in the future", func() map[string]any {
			e := webEvent("x")
			e["event_time"] = testNow.Unix() + 9*60
			return e
		}},
		{"hashes with the parameter builder's appendix", func() map[string]any {
			e := crmEvent("x")
			ud := e["user_data"].(map[string]any)
			ud["em"] = sha(piiEmail) + ".AQQCAQMC"
			ud["fn"] = []any{sha("jane") + ".BA"}
			return e
		}},
		{"no event_id, no custom_data", func() map[string]any {
			e := crmEvent("")
			delete(e, "event_id")
			return e
		}},
		{"unhashed external_id", func() map[string]any {
			e := crmEvent("x")
			e["user_data"] = map[string]any{"external_id": []any{"U-42", "crm:9"}}
			return e
		}},
		{"fn+ln is enough", func() map[string]any {
			e := crmEvent("x")
			e["user_data"] = map[string]any{"fn": sha("ann"), "ln": sha("lee")}
			return e
		}},
		{"ip+user agent is enough", func() map[string]any {
			e := webEvent("x")
			e["user_data"] = map[string]any{"client_ip_address": "203.0.113.7", "client_user_agent": "UA"}
			return e
		}},
		{"lead_id with ct is enough", func() map[string]any {
			e := crmEvent("x")
			e["user_data"] = map[string]any{"ct": sha("paris"), "lead_id": 123456789012345}
			return e
		}},
		{"null keys ignored", func() map[string]any {
			e := crmEvent("x")
			e["custom_data"] = nil
			e["user_data"].(map[string]any)["em"] = nil
			return e
		}},
		{"unknown keys and CRM fields", func() map[string]any {
			e := crmEvent("x")
			e["some_future_field"] = map[string]any{"a": 1}
			e["custom_data"] = map[string]any{"event_source": "crm", "lead_event_source": "Salesforce", "value": 0, "currency": "usd"}
			e["opt_out"] = false
			e["data_processing_options"] = []any{"LDU"}
			e["data_processing_options_country"] = 1
			e["data_processing_options_state"] = 1000
			return e
		}},
		{"fbc cookie on a subdomain", func() map[string]any {
			e := webEvent("x")
			e["user_data"].(map[string]any)["fbc"] = "fb.2.1700000000000.IwAR.x-y"
			return e
		}},
		{"app event with device ids", func() map[string]any {
			e := crmEvent("x")
			e["action_source"] = "app"
			e["app_data"] = appData()
			e["user_data"] = map[string]any{"madid": "38400000-8cf0-11bd-b23e-10b96e40000d", "anon_id": "XZ1"}
			return e
		}},
		{"messenger and instagram ids", func() map[string]any {
			e := crmEvent("x")
			e["action_source"] = "business_messaging"
			e["messaging_channel"] = "instagram"
			e["user_data"] = map[string]any{"ig_account_id": "17841400000000001", "ig_sid": "9", "page_id": "1", "page_scoped_user_id": "2"}
			return e
		}},
		{"instagram with ig_sid alone", func() map[string]any {
			e := crmEvent("x")
			e["action_source"] = "business_messaging"
			e["messaging_channel"] = "instagram"
			e["user_data"] = map[string]any{"ig_sid": "9"}
			return e
		}},
		{"original event, segmentation, explicit no LDU", func() map[string]any {
			e := crmEvent("x")
			e["original_event_data"] = map[string]any{"event_name": "Purchase", "event_time": testNow.Unix() - 60, "order_id": "o"}
			e["customer_segmentation"] = map[string]any{"priority_segment": "high"}
			e["data_processing_options"] = []any{}
			return e
		}},
		{"purchase with value and currency in any case", func() map[string]any {
			e := webEvent("x")
			e["event_name"] = "Purchase"
			e["custom_data"] = map[string]any{"value": 0, "currency": "jpy", "contents": []any{map[string]any{"id": "A", "quantity": 1}}}
			return e
		}},
		{"every action_source", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, base := newTestServer(t)
			var events []map[string]any
			if tt.event != nil {
				events = append(events, tt.event())
			} else {
				for src := range actionSources {
					e := crmEvent(src)
					e["action_source"] = src
					e["event_source_url"] = "https://x.example/"
					e["user_data"] = map[string]any{"em": sha("a@b.c"), "client_user_agent": "UA"}
					switch src {
					case "app":
						e["app_data"] = appData()
					case "business_messaging":
						e["messaging_channel"] = "whatsapp"
						e["user_data"].(map[string]any)["ctwa_clid"] = "ARAk"
					}
					events = append(events, e)
				}
			}
			wantOK(t, postJSON(t, base, pixelA, jsonBody(tokenA, events...)), len(events))
			if s.Total() != len(events) {
				t.Errorf("Total() = %d", s.Total())
			}
		})
	}
}

func TestEventValidation(t *testing.T) {
	type mutate func(e map[string]any)
	ud := func(e map[string]any) map[string]any { return e["user_data"].(map[string]any) }
	setUD := func(m map[string]any) mutate { return func(e map[string]any) { e["user_data"] = m } }
	tests := []struct {
		name    string
		base    func(string) map[string]any // default webEvent
		mutate  mutate
		subcode int
		field   string // named in the error when set
	}{
		{name: "missing event_name", mutate: func(e map[string]any) { delete(e, "event_name") }},
		{name: "empty event_name", mutate: func(e map[string]any) { e["event_name"] = " " }},
		{name: "event_name not a string", mutate: func(e map[string]any) { e["event_name"] = 7 }},
		{name: "missing event_time", mutate: func(e map[string]any) { delete(e, "event_time") }},
		{name: "event_time as string", mutate: func(e map[string]any) { e["event_time"] = "1772445540" }},
		{name: "event_time fractional", mutate: func(e map[string]any) { e["event_time"] = float64(testNow.Unix()) + 0.5 }},
		{name: "older than 7 days", subcode: subcodeTooOld, mutate: func(e map[string]any) { e["event_time"] = testNow.Unix() - 7*24*3600 - 1 }},
		{name: "zero event_time", subcode: subcodeTooOld, mutate: func(e map[string]any) { e["event_time"] = 0 }},
		{name: "physical_store older than 62 days", base: crmEvent, subcode: subcodeTooOld, mutate: func(e map[string]any) {
			e["action_source"] = "physical_store"
			e["event_time"] = testNow.Unix() - 62*24*3600 - 1
		}},
		{name: "11 minutes in the future", subcode: subcodeFuture, mutate: func(e map[string]any) { e["event_time"] = testNow.Unix() + 11*60 }},
		{name: "milliseconds", subcode: subcodeFuture, mutate: func(e map[string]any) { e["event_time"] = testNow.UnixMilli() }},
		{name: "missing action_source", mutate: func(e map[string]any) { delete(e, "action_source") }},
		{name: "unknown action_source", mutate: func(e map[string]any) { e["action_source"] = "web" }},
		{name: "website without event_source_url", mutate: func(e map[string]any) { delete(e, "event_source_url") }},
		{name: "website without client_user_agent", mutate: func(e map[string]any) { delete(ud(e), "client_user_agent") }},
		{name: "event_id not a string", mutate: func(e map[string]any) { e["event_id"] = 42 }},
		{name: "event_source_url not a string", base: crmEvent, mutate: func(e map[string]any) { e["event_source_url"] = true }},
		{name: "opt_out not a bool", mutate: func(e map[string]any) { e["opt_out"] = "yes" }},
		{name: "data_processing_options not strings", mutate: func(e map[string]any) { e["data_processing_options"] = []any{1} }},
		{name: "data_processing_options_country not an integer", mutate: func(e map[string]any) { e["data_processing_options_country"] = "US" }},
		{name: "missing user_data", mutate: func(e map[string]any) { delete(e, "user_data") }},
		{name: "user_data not an object", mutate: func(e map[string]any) { e["user_data"] = sha(piiEmail) }},
		{name: "empty user_data", mutate: setUD(map[string]any{})},
		{name: "user_data of nulls", mutate: setUD(map[string]any{"em": nil})},
		{name: "unhashed em", subcode: subcodeInvalidUserData, field: "em", mutate: func(e map[string]any) { ud(e)["em"] = piiEmail }},
		{name: "unhashed em in array", subcode: subcodeInvalidUserData, field: "em", mutate: func(e map[string]any) { ud(e)["em"] = []any{sha("x"), piiEmail} }},
		{name: "em with a suffix that is no appendix", subcode: subcodeInvalidUserData, field: "em", mutate: func(e map[string]any) { ud(e)["em"] = sha("x") + ".abc" }},
		{name: "uppercase hex ph", subcode: subcodeInvalidUserData, field: "ph", mutate: func(e map[string]any) { ud(e)["ph"] = strings.ToUpper(sha("1")) }},
		{name: "md5 fn", subcode: subcodeInvalidUserData, field: "fn", mutate: func(e map[string]any) { ud(e)["fn"] = sha("ann")[:32] }},
		{name: "empty country array", subcode: subcodeInvalidUserData, field: "country", mutate: func(e map[string]any) { ud(e)["country"] = []any{} }},
		{name: "zp as number", subcode: subcodeInvalidUserData, field: "zp", mutate: func(e map[string]any) { ud(e)["zp"] = 94025 }},
		{name: "db with a number in the array", subcode: subcodeInvalidUserData, field: "db", mutate: func(e map[string]any) { ud(e)["db"] = []any{sha("19900101"), 1} }},
		{name: "external_id as number", subcode: subcodeInvalidUserData, field: "external_id", mutate: func(e map[string]any) { ud(e)["external_id"] = 42 }},
		{name: "client_ip_address as number", subcode: subcodeInvalidUserData, field: "client_ip_address", mutate: func(e map[string]any) { ud(e)["client_ip_address"] = 2130706433 }},
		{name: "fbp as array", subcode: subcodeInvalidUserData, field: "fbp", mutate: func(e map[string]any) { ud(e)["fbp"] = []any{"fb.1.1.2"} }},
		{name: "fbc without fbclid", subcode: subcodeInvalidUserData, field: "fbc", mutate: func(e map[string]any) { ud(e)["fbc"] = "fb.1.1700000000000." }},
		{name: "fbc raw fbclid", subcode: subcodeInvalidUserData, field: "fbc", mutate: func(e map[string]any) { ud(e)["fbc"] = "IwAR2xyz" }},
		{name: "fbc time not digits", subcode: subcodeInvalidUserData, field: "fbc", mutate: func(e map[string]any) { ud(e)["fbc"] = "fb.1.abc.IwAR" }},
		{name: "only client_user_agent", subcode: subcodeInsufficientData, mutate: setUD(map[string]any{"client_user_agent": "UA"})},
		{name: "only location and gender", subcode: subcodeInsufficientData, base: crmEvent, mutate: setUD(map[string]any{
			"ct": sha("paris"), "country": sha("fr"), "st": sha("idf"), "zp": sha("75001"), "ge": sha("f"), "client_user_agent": "UA"})},
		{name: "db and user agent", subcode: subcodeInsufficientData, mutate: setUD(map[string]any{"db": sha("19900101"), "client_user_agent": "UA"})},
		{name: "fn and ge", subcode: subcodeInsufficientData, base: crmEvent, mutate: setUD(map[string]any{"fn": sha("ann"), "ge": sha("f")})},
		{name: "ln alone", subcode: subcodeInsufficientData, base: crmEvent, mutate: setUD(map[string]any{"ln": sha("lee")})},
		{name: "custom_data not an object", mutate: func(e map[string]any) { e["custom_data"] = []any{1} }},
		{name: "value as string", mutate: func(e map[string]any) { e["custom_data"] = map[string]any{"value": "12.50", "currency": "EUR"} }},
		{name: "currency too long", mutate: func(e map[string]any) { e["custom_data"] = map[string]any{"value": 1, "currency": "EURO"} }},
		{name: "currency numeric code", mutate: func(e map[string]any) { e["custom_data"] = map[string]any{"value": 1, "currency": 978} }},
		{name: "currency with digits", mutate: func(e map[string]any) { e["custom_data"] = map[string]any{"value": 1, "currency": "E1R"} }},
		{name: "currency not in ISO 4217", mutate: func(e map[string]any) { e["custom_data"] = map[string]any{"value": 1, "currency": "ABC"} }},
		{name: "purchase without currency", mutate: func(e map[string]any) {
			e["event_name"] = "Purchase"
			e["custom_data"] = map[string]any{"value": 1}
		}},
		{name: "purchase without custom_data", mutate: func(e map[string]any) {
			e["event_name"] = "Purchase"
			delete(e, "custom_data")
		}},
		{name: "num_items as string", mutate: func(e map[string]any) {
			e["custom_data"] = map[string]any{"value": 1, "currency": "EUR", "num_items": "2"}
		}},
		{name: "contents not objects", mutate: func(e map[string]any) {
			e["custom_data"] = map[string]any{"value": 1, "currency": "EUR", "contents": []any{"A"}}
		}},
		{name: "content without id", mutate: func(e map[string]any) {
			e["custom_data"] = map[string]any{"value": 1, "currency": "EUR", "contents": []any{map[string]any{"quantity": 1}}}
		}},
		{name: "data_processing_options other than LDU", mutate: func(e map[string]any) { e["data_processing_options"] = []any{"GDPR"} }},
		{name: "data_processing_options as a string", mutate: func(e map[string]any) { e["data_processing_options"] = "LDU" }},
		{name: "app event without app_data", base: crmEvent, mutate: func(e map[string]any) { e["action_source"] = "app" }},
		{name: "app_data without advertiser_tracking_enabled", base: crmEvent, mutate: func(e map[string]any) {
			e["action_source"] = "app"
			ad := appData()
			delete(ad, "advertiser_tracking_enabled")
			e["app_data"] = ad
		}},
		{name: "application_tracking_enabled not a boolean", base: crmEvent, mutate: func(e map[string]any) {
			e["action_source"] = "app"
			ad := appData()
			ad["application_tracking_enabled"] = "yes"
			e["app_data"] = ad
		}},
		{name: "extinfo of 15 values", base: crmEvent, mutate: func(e map[string]any) {
			e["action_source"] = "app"
			ad := appData()
			ad["extinfo"] = ad["extinfo"].([]any)[1:]
			e["app_data"] = ad
		}},
		{name: "extinfo of another version", base: crmEvent, mutate: func(e map[string]any) {
			e["action_source"] = "app"
			ad := appData()
			ad["extinfo"].([]any)[0] = "x9"
			e["app_data"] = ad
		}},
		{name: "business messaging without channel", base: crmEvent, mutate: func(e map[string]any) { e["action_source"] = "business_messaging" }},
		{name: "unknown messaging channel", base: crmEvent, mutate: func(e map[string]any) {
			e["action_source"] = "business_messaging"
			e["messaging_channel"] = "sms"
		}},
		{name: "whatsapp without ctwa_clid", base: crmEvent, subcode: subcodeInvalidUserData, field: "ctwa_clid", mutate: func(e map[string]any) {
			e["action_source"] = "business_messaging"
			e["messaging_channel"] = "whatsapp"
		}},
		{name: "page_id as number", subcode: subcodeInvalidUserData, field: "page_id", mutate: func(e map[string]any) { ud(e)["page_id"] = 1 }},
		{name: "original_event_data without time", mutate: func(e map[string]any) { e["original_event_data"] = map[string]any{"event_name": "Purchase"} }},
		{name: "customer_segmentation a number", mutate: func(e map[string]any) { e["customer_segmentation"] = 3 }},
		{name: "attribution_data not an object", mutate: func(e map[string]any) { e["attribution_data"] = "x" }},
		{name: "attribution_share above 1", mutate: func(e map[string]any) { e["attribution_data"] = map[string]any{"attribution_share": 1.5} }},
		{name: "attr_window not an integer", mutate: func(e map[string]any) { e["attribution_data"] = map[string]any{"attr_window": "7"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, base := newTestServer(t)
			mk := tt.base
			if mk == nil {
				mk = webEvent
			}
			bad := mk("bad")
			tt.mutate(bad)
			// The bad event sits between good ones: the whole request is refused.
			a := postJSON(t, base, pixelA, jsonBody(tokenA, webEvent("good1"), bad, crmEvent("good2")))
			wantGraphError(t, a, http.StatusBadRequest, 100, tt.subcode)
			if s.Total() != 0 || len(s.Events()) != 0 || s.Count(pixelA, "Purchase", "good1") != 0 {
				t.Errorf("a refused request recorded events: Total %d, Events %v", s.Total(), s.Events())
			}
			if got := s.Requests(); got != (RequestStats{Total: 1, Rejected: 1}) {
				t.Errorf("Requests() = %+v", got)
			}
			text := string(a.raw)
			for _, which := range []string{"good1", "good2", "bad", "index", "[1]"} {
				if strings.Contains(text, which) {
					t.Errorf("the error names the event (%q): %s", which, text)
				}
			}
			if tt.field != "" && !strings.Contains(a.errFields()["error_user_msg"].(string), tt.field) {
				t.Errorf("error_user_msg does not name %s: %s", tt.field, text)
			}
		})
	}
}

func TestRequestValidation(t *testing.T) {
	many := func(n int) []map[string]any {
		evs := make([]map[string]any, n)
		for i := range evs {
			evs[i] = crmEvent("m")
		}
		return evs
	}
	good := jsonBody(tokenA, crmEvent("e"))
	tests := []struct {
		name        string
		method      string
		path        string // default /v25.0/pixelA/events
		contentType string
		header      map[string]string
		body        any // marshalled unless []byte
		status      int
		code        int
		subcode     int
		errType     string
		stat        RequestStats
	}{
		{name: "no data", body: map[string]any{"access_token": tokenA}, status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "null data", body: map[string]any{"access_token": tokenA, "data": nil}, status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "data an object", body: map[string]any{"access_token": tokenA, "data": crmEvent("e")}, status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "data empty", body: map[string]any{"access_token": tokenA, "data": []any{}}, status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "data string not JSON", body: map[string]any{"access_token": tokenA, "data": "[{"}, status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "1001 events", body: jsonBody(tokenA, many(1001)...), status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "event not an object", body: map[string]any{"access_token": tokenA, "data": []any{"Purchase"}}, status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "body not JSON", body: []byte(`{"access_token":`), status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "trailing garbage", body: []byte(mustJSON(t, good) + "x"), status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "two objects", body: []byte(mustJSON(t, good) + mustJSON(t, good)), status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "data a number", body: map[string]any{"access_token": tokenA, "data": 5}, status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "data string of an object", body: map[string]any{"access_token": tokenA, "data": mustJSON(t, crmEvent("e"))}, status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "data string with trailing garbage", body: map[string]any{"access_token": tokenA, "data": mustJSON(t, []any{crmEvent("e")}) + "]"}, status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "body a JSON array", body: []byte(`[]`), status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "token not a string", body: map[string]any{"access_token": 5, "data": []any{crmEvent("e")}}, status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "missing Content-Type", contentType: "-", body: good, status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "text/plain", contentType: "text/plain", body: good, status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "gzip", header: map[string]string{"Content-Encoding": "gzip"}, body: good, status: 400, code: 100, stat: RequestStats{Rejected: 1}},
		{name: "missing token", body: jsonBody("", crmEvent("e")), status: 400, code: 104, stat: RequestStats{Auth: 1}},
		{name: "invalid token", body: jsonBody("EAAnot-a-token", crmEvent("e")), status: 400, code: 190, stat: RequestStats{Auth: 1}},
		{name: "invalid token checked before data", body: map[string]any{"access_token": "EAAnope"}, status: 400, code: 190, stat: RequestStats{Auth: 1}},
		{name: "token of another pixel", body: jsonBody(tokenB, crmEvent("e")), status: 400, code: 100, subcode: 33, errType: typeGraphMethod, stat: RequestStats{Auth: 1}},
		{name: "unknown pixel", path: "/v25.0/999/events", body: jsonBody(tokenA, crmEvent("e")), status: 400, code: 100, subcode: 33, errType: typeGraphMethod, stat: RequestStats{Auth: 1}},
		{name: "no version", path: "/" + pixelA + "/events", body: good, status: 400, code: 2500, stat: RequestStats{Config: 1}},
		{name: "bad version", path: "/25.0/" + pixelA + "/events", body: good, status: 400, code: 2500, stat: RequestStats{Config: 1}},
		{name: "other edge", path: "/v25.0/" + pixelA + "/adspixels", body: good, status: 400, code: 2500, stat: RequestStats{Config: 1}},
		{name: "GET", method: http.MethodGet, status: 400, code: 100, stat: RequestStats{Config: 1}},
		{name: "1000 events", body: jsonBody(tokenA, many(1000)...), status: 200, stat: RequestStats{OK: 1}},
		{name: "Authorization header", header: map[string]string{"Authorization": "Bearer " + tokenA}, body: jsonBody("", crmEvent("e")), status: 200, stat: RequestStats{OK: 1}},
		{name: "data as JSON string in JSON body", body: map[string]any{"access_token": tokenA, "data": mustJSON(t, []any{crmEvent("e")})}, status: 200, stat: RequestStats{OK: 1}},
		{name: "data before the token, spaced out", body: []byte("{ \"data\" : [ " + mustJSON(t, crmEvent("e")) + " ,\n\t" + mustJSON(t, crmEvent("f")) + " ] , \"access_token\":\"" + tokenA + "\", \"extra\": {\"a\": [1, {}]} }"), status: 200, stat: RequestStats{OK: 1}},
		{name: "JSON with charset", contentType: "application/json; charset=utf-8", body: good, status: 200, stat: RequestStats{OK: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, base := newTestServer(t)
			path := tt.path
			if path == "" {
				path = "/v25.0/" + pixelA + "/events"
			}
			body, ok := tt.body.([]byte)
			if !ok && tt.body != nil {
				body = []byte(mustJSON(t, tt.body))
			}
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			switch tt.contentType {
			case "":
				req.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				req.Header.Set("Content-Type", tt.contentType)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			a := send(t, req)
			if tt.status == http.StatusOK {
				if a.status != http.StatusOK {
					t.Fatalf("got HTTP %d: %s", a.status, a.raw)
				}
			} else {
				wantGraphError(t, a, tt.status, tt.code, tt.subcode)
				if s.Total() != 0 {
					t.Errorf("Total() = %d after a refused request", s.Total())
				}
			}
			if tt.errType != "" && a.errFields()["type"] != tt.errType {
				t.Errorf("error type %v, want %s", a.errFields()["type"], tt.errType)
			}
			tt.stat.Total = 1
			if got := s.Requests(); got != tt.stat {
				t.Errorf("Requests() = %+v, want %+v", got, tt.stat)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFormBodies(t *testing.T) {
	events := mustJSON(t, []any{webEvent("f1"), crmEvent("f2")})
	tests := []struct {
		name  string
		build func() (contentType string, body []byte)
	}{
		{"urlencoded", func() (string, []byte) {
			v := url.Values{"access_token": {tokenA}, "data": {events}, "test_event_code": {"TEST9"}, "partner_agent": {"freight"}}
			return "application/x-www-form-urlencoded", []byte(v.Encode())
		}},
		{"multipart", func() (string, []byte) {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			for k, v := range map[string]string{"access_token": tokenA, "data": events, "test_event_code": "TEST9", "partner_agent": "freight"} {
				if err := mw.WriteField(k, v); err != nil {
					t.Fatal(err)
				}
			}
			if err := mw.Close(); err != nil {
				t.Fatal(err)
			}
			return mw.FormDataContentType(), buf.Bytes()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, base := newTestServer(t)
			ct, body := tt.build()
			wantOK(t, do(t, http.MethodPost, eventsURL(base, pixelA), ct, body), 2)
			evs := s.Events()
			if len(evs) != 2 || evs[0].EventID != "f1" || evs[1].TestEventCode != "TEST9" || evs[1].PartnerAgent != "freight" {
				t.Fatalf("recorded %+v", evs)
			}
			if s.Requests().TokenInURL != 0 {
				t.Error("a body token counted as token in URL")
			}
		})
	}

	t.Run("urlencoded with a bad event", func(t *testing.T) {
		s, base := newTestServer(t)
		bad := webEvent("b")
		bad["user_data"].(map[string]any)["em"] = piiEmail
		v := url.Values{"access_token": {tokenA}, "data": {mustJSON(t, []any{crmEvent("g"), bad})}}
		a := do(t, http.MethodPost, eventsURL(base, pixelA), "application/x-www-form-urlencoded", []byte(v.Encode()))
		wantGraphError(t, a, 400, 100, subcodeInvalidUserData)
		if s.Total() != 0 {
			t.Error("recorded events of a refused request")
		}
	})
	t.Run("urlencoded without data", func(t *testing.T) {
		_, base := newTestServer(t)
		v := url.Values{"access_token": {tokenA}}
		wantGraphError(t, do(t, http.MethodPost, eventsURL(base, pixelA), "application/x-www-form-urlencoded", []byte(v.Encode())), 400, 100, 0)
	})
}

func TestTokenInURL(t *testing.T) {
	s, base := newTestServer(t)
	// Meta accepts it, and so does the stand-in, but it counts.
	v := url.Values{"data": {mustJSON(t, []any{crmEvent("u1")})}}
	u := eventsURL(base, pixelA) + "?access_token=" + url.QueryEscape(tokenA)
	wantOK(t, do(t, http.MethodPost, u, "application/x-www-form-urlencoded", []byte(v.Encode())), 1)
	wantOK(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("u2"))), 1)
	// Counted also when the request fails.
	a := do(t, http.MethodPost, eventsURL(base, pixelA)+"?access_token=nope", "application/json", []byte(mustJSON(t, jsonBody("", crmEvent("u3")))))
	wantGraphError(t, a, 400, 190, 0)

	// And on a wrong path.
	a = do(t, http.MethodPost, base+"/"+pixelA+"/events?access_token=x", "application/json", []byte(mustJSON(t, jsonBody("", crmEvent("u4")))))
	wantGraphError(t, a, 400, 2500, 0)

	if got := s.Requests(); got.TokenInURL != 3 || got.Total != 4 || got.OK != 2 || got.Auth != 1 || got.Config != 1 {
		t.Errorf("Requests() = %+v", got)
	}
	for _, ev := range s.Events() {
		if strings.Contains(string(ev.Raw), tokenA) {
			t.Error("a recorded event holds the token")
		}
	}
}

func TestFaultAnswers(t *testing.T) {
	tests := []struct {
		fault     Fault
		status    int
		code      int
		subcode   int
		transient bool
		stat      RequestStats
		check     func(t *testing.T, a answer)
	}{
		{fault: Fault5xx, status: 503, code: 2, transient: true, stat: RequestStats{Transient: 1}},
		{fault: Fault500, status: 500, code: 1, transient: true, stat: RequestStats{Transient: 1}},
		{fault: FaultThrottle, status: 400, code: 80004, subcode: 2446079, transient: true, stat: RequestStats{Throttled: 1},
			check: func(t *testing.T, a answer) {
				var usage map[string][]map[string]any
				if err := json.Unmarshal([]byte(a.header.Get("X-Business-Use-Case-Usage")), &usage); err != nil || len(usage) != 1 {
					t.Fatalf("X-Business-Use-Case-Usage %q: %v", a.header.Get("X-Business-Use-Case-Usage"), err)
				}
				for _, entries := range usage {
					e := entries[0]
					if e["type"] != "ads_management" || e["call_count"] != 100.0 || e["estimated_time_to_regain_access"] != 1.0 ||
						e["total_cputime"] == nil || e["total_time"] == nil {
						t.Errorf("usage entry %v", e)
					}
				}
			}},
		{fault: FaultAppThrottle, status: 400, code: 4, transient: true, stat: RequestStats{Throttled: 1},
			check: func(t *testing.T, a answer) {
				var usage map[string]float64
				if err := json.Unmarshal([]byte(a.header.Get("X-App-Usage")), &usage); err != nil ||
					usage["call_count"] != 100 || len(usage) != 3 {
					t.Errorf("X-App-Usage %q: %v", a.header.Get("X-App-Usage"), err)
				}
			}},
		{fault: FaultThrottle429, status: 429, code: 17, transient: true, stat: RequestStats{Throttled: 1}},
		{fault: FaultAuth, status: 400, code: 190, stat: RequestStats{Auth: 1},
			check: func(t *testing.T, a answer) {
				if msg := a.errFields()["message"].(string); !strings.HasPrefix(msg, "Error validating access token: The session has been invalidated") {
					t.Errorf("message %q", msg)
				}
			}},
		{fault: FaultPermission, status: 403, code: 200, stat: RequestStats{Auth: 1}},
		{fault: FaultDeprecatedVersion, status: 400, code: 2635, stat: RequestStats{Config: 1}},
		{fault: FaultReject, status: 400, code: 100, subcode: 2804050, stat: RequestStats{Rejected: 1}},
		{fault: Fault(99), status: 500, code: 1, transient: true, stat: RequestStats{Transient: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			s, base := newTestServer(t)
			s.FailNext(1, tt.fault)
			a := postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("f")))
			wantGraphError(t, a, tt.status, tt.code, tt.subcode)
			if got := a.errFields()["is_transient"]; got != tt.transient {
				t.Errorf("is_transient = %v, want %v", got, tt.transient)
			}
			if tt.check != nil {
				tt.check(t, a)
			}
			if s.Total() != 0 {
				t.Error("a failed request recorded events")
			}
			tt.stat.Total = 1
			if got := s.Requests(); got != tt.stat {
				t.Errorf("Requests() = %+v, want %+v", got, tt.stat)
			}
			// One request only: the next one goes through.
			wantOK(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("f"))), 1)
			if s.Count(pixelA, "Lead", "f") != 1 {
				t.Errorf("Count = %d, want 1", s.Count(pixelA, "Lead", "f"))
			}
		})
	}
}

func TestFailNextCountsDown(t *testing.T) {
	s, base := newTestServer(t)
	s.FailNext(2, Fault5xx)
	s.FailNext(1, FaultNone) // a pass-through slot
	s.FailNext(1, FaultThrottle429)
	// FailNext applies to any pixel, in order.
	want := []int{503, 503, 200, 429, 200, 200}
	for i, status := range want {
		pixel, token := pixelA, tokenA
		if i%2 == 1 {
			pixel, token = pixelB, tokenB
		}
		if a := postJSON(t, base, pixel, jsonBody(token, crmEvent("c"))); a.status != status {
			t.Fatalf("request %d: HTTP %d, want %d: %s", i+1, a.status, status, a.raw)
		}
	}
	if got := s.Requests(); got.Transient != 2 || got.Throttled != 1 || got.OK != 3 {
		t.Errorf("Requests() = %+v", got)
	}
}

func TestPixelFaultsIsolate(t *testing.T) {
	s, base := newTestServer(t)
	s.SetPixelFault(pixelA, FaultAuth)
	for range 3 {
		wantGraphError(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("a"))), 400, 190, 0)
		wantOK(t, postJSON(t, base, pixelB, jsonBody(tokenB, crmEvent("b"))), 1)
	}
	s.ClearPixelFault(pixelA)
	wantOK(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("a"))), 1)
	if s.Count(pixelA, "Lead", "a") != 1 || s.Count(pixelB, "Lead", "b") != 3 {
		t.Errorf("counts A %d B %d", s.Count(pixelA, "Lead", "a"), s.Count(pixelB, "Lead", "b"))
	}

	// FailNextFor comes before the pixel fault and FailNext and touches one pixel only.
	s.SetPixelFault(pixelB, FaultPermission)
	s.FailNextFor(pixelB, 1, FaultThrottle)
	s.FailNext(1, Fault500)
	wantGraphError(t, postJSON(t, base, pixelB, jsonBody(tokenB, crmEvent("b"))), 400, 80004, 2446079)
	wantGraphError(t, postJSON(t, base, pixelB, jsonBody(tokenB, crmEvent("b"))), 403, 200, 0)
	wantGraphError(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("a"))), 500, 1, 0)
	wantOK(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("a"))), 1)

	s.ClearFaults()
	wantOK(t, postJSON(t, base, pixelB, jsonBody(tokenB, crmEvent("b"))), 1)
}

func TestSetTokenRotation(t *testing.T) {
	s, base := newTestServer(t)
	s.SetToken(pixelA, "EAAtokenA2-very-secret")
	wantGraphError(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("r"))), 400, 190, 0)
	wantOK(t, postJSON(t, base, pixelA, jsonBody("EAAtokenA2-very-secret", crmEvent("r"))), 1)

	s.SetToken("333", "EAAtoken3-very-secret")
	wantOK(t, postJSON(t, base, "333", jsonBody("EAAtoken3-very-secret", crmEvent("r"))), 1)
	s.SetToken("333", "")
	wantGraphError(t, postJSON(t, base, "333", jsonBody("EAAtoken3-very-secret", crmEvent("r"))), 400, 190, 0)
}

func TestAppSecretProof(t *testing.T) {
	const secret = "app-very-secret"
	proof := func(token string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(token))
		return hex.EncodeToString(m.Sum(nil))
	}
	tests := []struct {
		name   string
		proof  string
		status int
	}{
		{"valid", proof(tokenA), 200},
		{"missing", "", 400},
		{"for another token", proof(tokenB), 400},
		{"not hex", "zz", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, base := newTestServer(t, func(o *Options) { o.AppSecret = secret })
			body := jsonBody(tokenA, crmEvent("p"))
			if tt.proof != "" {
				body["appsecret_proof"] = tt.proof
			}
			a := postJSON(t, base, pixelA, body)
			if strings.Contains(string(a.raw), secret) {
				t.Error("answer leaks the app secret")
			}
			if tt.status == 200 {
				wantOK(t, a, 1)
				if evs := s.Events(); !evs[0].AppSecretProof {
					t.Error("AppSecretProof not recorded")
				}
				return
			}
			wantGraphError(t, a, 400, 100, 0)
			if s.Requests().Auth != 1 {
				t.Errorf("Requests() = %+v", s.Requests())
			}
		})
	}
}

func TestCountRecordsAcceptedOnly(t *testing.T) {
	s, base := newTestServer(t)
	wantOK(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("k"))), 1)

	bad := crmEvent("bad")
	bad["event_time"] = testNow.Unix() - 8*24*3600
	wantGraphError(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("k"), bad)), 400, 100, subcodeTooOld)
	s.FailNext(1, Fault5xx)
	wantGraphError(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("k"))), 503, 2, 0)
	if got := s.Count(pixelA, "Lead", "k"); got != 1 {
		t.Fatalf("Count = %d after failed requests, want 1", got)
	}

	// The stand-in does not deduplicate: a second delivery shows.
	wantOK(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("k"))), 1)
	if got := s.Count(pixelA, "Lead", "k"); got != 2 {
		t.Errorf("Count = %d, want 2", got)
	}
	if s.Count(pixelB, "Lead", "k") != 0 || s.Count(pixelA, "Purchase", "k") != 0 || s.Count(pixelA, "Lead", "bad") != 0 {
		t.Error("Count matches other keys")
	}
	if s.Total() != 2 || len(s.Events()) != 2 {
		t.Errorf("Total %d, Events %d", s.Total(), len(s.Events()))
	}

	// Events returns a copy.
	evs := s.Events()
	evs[0].Raw[0] = 'X'
	evs[0].EventID = "changed"
	if again := s.Events(); again[0].Raw[0] != '{' || again[0].EventID != "k" {
		t.Error("Events() shares memory with the recorder")
	}

	s.Reset()
	if s.Total() != 0 || len(s.Events()) != 0 || s.Count(pixelA, "Lead", "k") != 0 || s.Requests() != (RequestStats{}) {
		t.Error("Reset left state behind")
	}
}

func TestMaxRecorded(t *testing.T) {
	s, base := newTestServer(t, func(o *Options) { o.MaxRecorded = 3 })
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		wantOK(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent(id))), 1)
	}
	evs := s.Events()
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.EventID)
	}
	if !slices.Equal(ids, []string{"3", "4", "5"}) || evs[2].Seq != 5 {
		t.Errorf("recorded %v", ids)
	}
	if s.Total() != 5 || s.Count(pixelA, "Lead", "1") != 0 || s.Count(pixelA, "Lead", "5") != 1 {
		t.Errorf("Total %d, Count(1) %d", s.Total(), s.Count(pixelA, "Lead", "1"))
	}
}

func TestDelay(t *testing.T) {
	s, base := newTestServer(t)
	s.SetDelay(50 * time.Millisecond)
	start := time.Now()
	wantOK(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("d"))), 1)
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("answered after %v, want at least 50ms", took)
	}

	// A client that gives up is not kept waiting, and nothing is recorded.
	s.SetDelay(time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, eventsURL(base, pixelA), strings.NewReader(mustJSON(t, jsonBody(tokenA, crmEvent("gone")))))
	req.Header.Set("Content-Type", "application/json")
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	eventually(t, func() bool { return s.Requests().Abandoned == 1 })
	if s.Count(pixelA, "Lead", "gone") != 0 {
		t.Error("an abandoned request recorded its event")
	}
	s.SetDelay(0)
}

func TestTimeoutFault(t *testing.T) {
	s, base := newTestServer(t)
	s.FailNext(2, FaultTimeout)

	// The client gives up first.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, eventsURL(base, pixelA), strings.NewReader(mustJSON(t, jsonBody(tokenA, crmEvent("t")))))
	req.Header.Set("Content-Type", "application/json")
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}

	// The stand-in gives up first and drops the connection without an answer.
	s.mu.Lock()
	s.hang = 20 * time.Millisecond
	s.mu.Unlock()
	req, _ = http.NewRequest(http.MethodPost, eventsURL(base, pixelA), strings.NewReader(mustJSON(t, jsonBody(tokenA, crmEvent("t")))))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got HTTP %d, want no answer", resp.StatusCode)
	}
	if got := s.Requests(); got.Transient != 2 || s.Total() != 0 {
		t.Errorf("Requests() = %+v, Total %d", got, s.Total())
	}
	wantOK(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("t"))), 1)
}

func TestTimeoutFaultWithoutHijack(t *testing.T) {
	// HTTP/2 cannot hijack: the stand-in aborts the handler instead.
	s := New(testOptions())
	s.hang = time.Millisecond
	s.FailNext(1, FaultTimeout)
	ts := httptest.NewUnstartedServer(s)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	req, _ := http.NewRequest(http.MethodPost, eventsURL(ts.URL, pixelA), strings.NewReader(mustJSON(t, jsonBody(tokenA, crmEvent("t")))))
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got HTTP %d (proto %s), want no answer", resp.StatusCode, resp.Proto)
	}
}

func TestProbabilisticFaults(t *testing.T) {
	run := func(seed int64) []int {
		opts := testOptions()
		opts.Seed = seed
		opts.Faults = Faults{Err5xx: 0.3, Throttle: 0.2, Auth: 0.1}
		s := New(opts)
		var statuses []int
		for range 200 {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/v25.0/"+pixelA+"/events", strings.NewReader(mustJSON(t, jsonBody(tokenA, crmEvent("p")))))
			req.Header.Set("Content-Type", "application/json")
			s.ServeHTTP(rec, req)
			var body map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			code := rec.Code
			if e, ok := body["error"].(map[string]any); ok {
				code = int(e["code"].(float64))
			}
			statuses = append(statuses, code)
		}
		return statuses
	}
	a, b := run(7), run(7)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed gave different fault sequences")
	}
	if slices.Equal(a, run(8)) {
		t.Error("different seeds gave the same sequence")
	}
	count := map[int]int{}
	for _, c := range a {
		count[c]++
	}
	// Expected: 503(code 2) 60, throttle 40, auth 20, ok 80 of 200.
	for code, want := range map[int]int{2: 60, 80004: 40, 190: 20, 200: 80} {
		if got := count[code]; got < want/2 || got > want*3/2 {
			t.Errorf("code %d: %d of 200, want about %d (%v)", code, got, want, count)
		}
	}

	t.Run("slow", func(t *testing.T) {
		s, base := newTestServer(t, func(o *Options) { o.Faults = Faults{Slow: 1, SlowDelay: 30 * time.Millisecond} })
		start := time.Now()
		wantOK(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("s"))), 1)
		if took := time.Since(start); took < 30*time.Millisecond {
			t.Errorf("answered after %v, want at least 30ms", took)
		}
		if err := s.SetFaults(Faults{Err5xx: 1}); err != nil {
			t.Fatal(err)
		}
		wantGraphError(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("s"))), 503, 2, 0)
		if err := s.SetFaults(Faults{Err5xx: 0.8, Auth: 0.8}); err == nil {
			t.Error("SetFaults accepted probabilities adding up to 1.6")
		}
	})
	t.Run("out of range options are clamped", func(t *testing.T) {
		_, base := newTestServer(t, func(o *Options) { o.Faults = Faults{Err5xx: -1, Throttle: 2} })
		wantGraphError(t, postJSON(t, base, pixelA, jsonBody(tokenA, crmEvent("s"))), 400, 80004, subcodeThrottleBUC)
	})
}

func TestConcurrentUse(t *testing.T) {
	s, base := newTestServer(t, func(o *Options) { o.Faults = Faults{Err5xx: 0.2} })
	s.FailNext(10, FaultThrottle)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				pixel, token := pixelA, tokenA
				if w%2 == 0 {
					pixel, token = pixelB, tokenB
				}
				id := string(rune('a'+w)) + string(rune('0'+i))
				req, _ := http.NewRequest(http.MethodPost, eventsURL(base, pixel), strings.NewReader(mustJSON(t, jsonBody(token, crmEvent(id)))))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				_ = s.Events()
				_ = s.Requests()
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			s.SetPixelFault(pixelA, FaultAuth)
			s.ClearPixelFault(pixelA)
			s.SetToken(pixelB, tokenB)
		}
	})
	wg.Wait()
	st := s.Requests()
	if st.Total != 80 || st.OK+st.Throttled+st.Transient+st.Auth != 80 || st.Throttled < 10 || s.Total() != st.OK {
		t.Errorf("Requests() = %+v, Total() %d", st, s.Total())
	}
}

// eventually polls cond for what happens on the server after the client has
// its answer (or gave up): there is no event to wait on from the outside.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// With AnyToken every pixel exists and any token is valid (freight
// sandbox without a configuration); validation still applies.
func TestAnyTokenAcceptsEveryPixel(t *testing.T) {
	srv, url := NewHTTPTest(t, Options{AnyToken: true})
	body := `{"access_token":"whatever","data":[{"event_name":"Lead","event_time":` +
		strconv.FormatInt(time.Now().Unix(), 10) + `,"action_source":"other","user_data":{"external_id":["x"]}}]}`
	resp, err := http.Post(url+"/v25.0/987654321/events", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || srv.Total() != 1 {
		t.Fatalf("status %d, total %d; want the event accepted", resp.StatusCode, srv.Total())
	}
	resp, err = http.Post(url+"/v25.0/987654321/events", "application/json", strings.NewReader(`{"data":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("a request without a token got %d, want 400", resp.StatusCode)
	}
}
