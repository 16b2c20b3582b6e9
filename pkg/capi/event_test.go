package capi

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-relay/freight/pkg/event"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func decode(t *testing.T, s string) event.Event {
	t.Helper()
	e, err := event.JSON{}.Decode([]byte(s))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return e
}

func mapped(t *testing.T, kind event.Kind, s string) (Event, map[string]any) {
	t.Helper()
	e := decode(t, s)
	ev, err := Map(&e, kind, Options{}, now)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(ev.JSON, &m); err != nil {
		t.Fatal(err)
	}
	return ev, m
}

const nowS = "1795867200" // now in unix seconds

func TestMapDefaultsAndFields(t *testing.T) {
	tests := []struct {
		name  string
		kind  event.Kind
		in    string
		check func(t *testing.T, ev Event, m map[string]any)
	}{
		{"web defaults to website", event.KindWeb,
			`{"event_id":"1","event_name":"ViewContent","event_time":` + nowS + `,"pixel_id":"7","event_source_url":"https://x.com/a","user":{"email":"A@x.com","client_user_agent":"UA"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				eq(t, m["action_source"], "website")
				eq(t, ev.PixelID, "7")
				eq(t, m["event_source_url"], "https://x.com/a")
			}},
		{"crm defaults to system_generated and carries the CRM fields", event.KindCRM,
			`{"event_id":"1","event_name":"Lead","event_time":` + nowS + `,"pixel_id":"7","crm_id":"C1","lead_event_source":"Acme","user":{"email":"a@x.com","lead_id":"123456789012345"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				eq(t, m["action_source"], "system_generated")
				cd := m["custom_data"].(map[string]any)
				eq(t, cd["lead_event_source"], "Acme")
				eq(t, cd["event_source"], "crm")
				ud := m["user_data"].(map[string]any)
				eq(t, ud["lead_id"], float64(123456789012345))
				if strings.Contains(string(ev.JSON), "C1") {
					t.Error("crm_id must never be sent to Meta")
				}
			}},
		{"email trimmed and lowercased before hashing", event.KindCRM,
			`{"event_id":"1","event_name":"Lead","event_time":` + nowS + `,"pixel_id":"7","user":{"email":"  Ann@X.com "}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				eq(t, first(m, "em"), sha256Hex("ann@x.com"))
			}},
		{"64 hex is taken as hashed and lowercased, never hashed twice", event.KindCRM,
			`{"event_id":"1","event_name":"Lead","event_time":` + nowS + `,"pixel_id":"7","user":{"email":" ` + strings.ToUpper(sha256Hex("a@x.com")) + ` "}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				eq(t, first(m, "em"), sha256Hex("a@x.com"))
			}},
		{"32 hex (MD5) is not taken as hashed", event.KindCRM,
			`{"event_id":"1","event_name":"Lead","event_time":` + nowS + `,"pixel_id":"7","user":{"external_id":"0123456789ABCDEF0123456789abcdef"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				eq(t, first(m, "external_id"), sha256Hex("0123456789abcdef0123456789abcdef"))
			}},
		{"arrays are de-duplicated after normalization; empty values left out", event.KindCRM,
			`{"event_id":"1","event_name":"Lead","event_time":` + nowS + `,"pixel_id":"7","user":{"email":["a@x.com"," A@X.COM",""],"phone":"---"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				ud := m["user_data"].(map[string]any)
				if n := len(ud["em"].([]any)); n != 1 {
					t.Errorf("%d emails, want 1", n)
				}
				if _, ok := ud["ph"]; ok {
					t.Error("a phone with no digits was sent")
				}
			}},
		{"fbc from fbclid with event_time in seconds", event.KindWeb,
			`{"event_id":"1","event_name":"PageView","event_time":` + nowS + `,"pixel_id":"7","event_source_url":"https://x.com","user":{"client_user_agent":"UA","email":"a@x.com","fbclid":"IwAR-AbC"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				eq(t, m["user_data"].(map[string]any)["fbc"], "fb.1."+nowS+"000.IwAR-AbC")
			}},
		{"fbc from fbclid with event_time in milliseconds as given", event.KindWeb,
			`{"event_id":"1","event_name":"PageView","event_time":` + nowS + `123,"pixel_id":"7","event_source_url":"https://x.com","user":{"client_user_agent":"UA","email":"a@x.com","fbclid":"IwAR-AbC"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				eq(t, m["user_data"].(map[string]any)["fbc"], "fb.1."+nowS+"123.IwAR-AbC")
				eq(t, m["event_time"], float64(1795867200))
			}},
		{"a given fbc wins over fbclid", event.KindWeb,
			`{"event_id":"1","event_name":"PageView","event_time":` + nowS + `,"pixel_id":"7","event_source_url":"https://x.com","user":{"client_user_agent":"UA","email":"a@x.com","fbc":"fb.1.1.keep","fbclid":"other"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				eq(t, m["user_data"].(map[string]any)["fbc"], "fb.1.1.keep")
			}},
		{"custom data: named fields win over properties, currency upper-cased", event.KindWeb,
			`{"event_id":"1","event_name":"Purchase","event_time":` + nowS + `,"pixel_id":"7","event_source_url":"https://x.com","user":{"client_user_agent":"UA","email":"a@x.com"},"custom":{"value":9.5,"currency":"eur","properties":{"value":"ignored","color":"red"},"contents":[{"id":"A","quantity":2}]}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				cd := m["custom_data"].(map[string]any)
				eq(t, cd["value"], 9.5)
				eq(t, cd["currency"], "EUR")
				eq(t, cd["color"], "red")
				eq(t, cd["contents"].([]any)[0].(map[string]any)["quantity"], float64(2))
			}},
		{"data processing options pass through", event.KindWeb,
			`{"event_id":"1","event_name":"Lead","event_time":` + nowS + `,"pixel_id":"7","event_source_url":"https://x.com","data_processing_options":["LDU"],"data_processing_options_country":1,"data_processing_options_state":1000,"opt_out":true,"user":{"client_user_agent":"UA","email":"a@x.com"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				eq(t, m["data_processing_options_state"], float64(1000))
				eq(t, m["data_processing_options_country"], float64(1))
				eq(t, m["opt_out"], true)
			}},
		{"physical_store may be 30 days old", event.KindCRM,
			`{"event_id":"1","event_name":"Purchase","event_time":1793275200,"action_source":"physical_store","pixel_id":"7","user":{"email":"a@x.com"},"custom":{"value":10,"currency":"usd"}}`,
			func(t *testing.T, ev Event, m map[string]any) { eq(t, m["action_source"], "physical_store") }},
		{"app event: app_data and the device ids pass through, no URL needed", event.KindWeb,
			`{"event_id":"1","event_name":"AppInstall","event_time":` + nowS + `,"pixel_id":"7","action_source":"app",` + appData + `,"user":{"madid":" 38400000-8cf0-11bd-b23e-10b96e40000d ","anon_id":"XZ1","client_ip_address":"::1"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				ad := m["app_data"].(map[string]any)
				eq(t, ad["advertiser_tracking_enabled"], true)
				eq(t, ad["application_tracking_enabled"], false)
				eq(t, len(ad["extinfo"].([]any)), 16)
				eq(t, ad["extinfo"].([]any)[8], "")
				eq(t, ad["installer_package"], "com.android.vending")
				ud := m["user_data"].(map[string]any)
				eq(t, ud["madid"], "38400000-8cf0-11bd-b23e-10b96e40000d")
				eq(t, ud["anon_id"], "XZ1")
				if !ev.Fields.Has(fieldIndex("madid")) || !ev.Fields.Has(fieldIndex("anon_id")) {
					t.Errorf("fields %s lack the device ids", ev.Fields.names())
				}
			}},
		{"whatsapp business messaging", event.KindCRM,
			`{"event_id":"1","event_name":"Purchase","event_time":` + nowS + `,"pixel_id":"7","action_source":"business_messaging","messaging_channel":"whatsapp","user":{"ctwa_clid":"ARAkLkA8","phone":"+4915112345678"},"custom":{"value":5,"currency":"EUR"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				eq(t, m["messaging_channel"], "whatsapp")
				eq(t, m["user_data"].(map[string]any)["ctwa_clid"], "ARAkLkA8")
			}},
		{"instagram business messaging with ig_sid alone", event.KindCRM,
			`{"event_id":"1","event_name":"Lead","event_time":` + nowS + `,"pixel_id":"7","action_source":"business_messaging","messaging_channel":"instagram","user":{"ig_sid":"9000000000001"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				eq(t, m["messaging_channel"], "instagram")
				eq(t, m["user_data"].(map[string]any)["ig_sid"], "9000000000001")
			}},
		{"messenger and instagram ids, given as numbers, are sent as strings", event.KindCRM,
			`{"event_id":"1","event_name":"Lead","event_time":` + nowS + `,"pixel_id":"7","action_source":"business_messaging","messaging_channel":"messenger","user":{"page_id":102030405060708,"page_scoped_user_id":"7000000000001","ig_account_id":17841400000000001,"ig_sid":"9000000000001"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				ud := m["user_data"].(map[string]any)
				eq(t, ud["page_id"], "102030405060708")
				eq(t, ud["page_scoped_user_id"], "7000000000001")
				eq(t, ud["ig_account_id"], "17841400000000001")
				eq(t, ud["ig_sid"], "9000000000001")
			}},
		{"original_event_data in seconds, customer_segmentation and referrer_url", event.KindWeb,
			`{"event_id":"1","event_name":"Refund","event_time":` + nowS + `,"pixel_id":"7","event_source_url":"https://x.com","referrer_url":"https://r.example/?q=1","original_event_data":{"event_name":"Purchase","event_time":1795860000123,"order_id":"O-1"},"customer_segmentation":{"priority_segment":"high","lifecycle_stage":"returning"},"user":{"client_user_agent":"UA","email":"a@x.com"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				od := m["original_event_data"].(map[string]any)
				eq(t, od["event_name"], "Purchase")
				eq(t, od["event_time"], float64(1795860000))
				eq(t, od["order_id"], "O-1")
				if _, ok := od["event_id"]; ok {
					t.Error("an absent original event_id was sent")
				}
				eq(t, m["customer_segmentation"].(map[string]any)["lifecycle_stage"], "returning")
				eq(t, m["referrer_url"], "https://r.example/?q=1")
			}},
		{"an empty data_processing_options list is sent: it explicitly says no LDU", event.KindCRM,
			`{"event_id":"1","event_name":"Lead","event_time":` + nowS + `,"pixel_id":"7","data_processing_options":[],"user":{"email":"a@x.com"}}`,
			func(t *testing.T, ev Event, m map[string]any) {
				dpo, ok := m["data_processing_options"].([]any)
				if !ok || len(dpo) != 0 {
					t.Errorf("data_processing_options = %v, want []", m["data_processing_options"])
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, m := mapped(t, tt.kind, tt.in)
			tt.check(t, ev, m)
		})
	}
}

func TestMapRefuses(t *testing.T) {
	base := `"event_time":` + nowS + `,"pixel_id":"7","event_source_url":"https://x.com","user":{"client_user_agent":"UA","email":"a@x.com"}`
	tests := []struct {
		name, in, class, want string
	}{
		{"no event_name", `{"event_id":"1",` + base + `}`, ClassValidation, "event_name"},
		{"no event_id", `{"event_name":"P",` + base + `}`, ClassValidation, "event_id"},
		{"no event_time", `{"event_id":"1","event_name":"P","pixel_id":"7","event_source_url":"https://x.com","user":{"client_user_agent":"UA","email":"a@x.com"}}`, ClassValidation, "event_time"},
		{"no pixel", `{"event_id":"1","event_name":"P","event_time":` + nowS + `,"event_source_url":"https://x.com","user":{"client_user_agent":"UA","email":"a@x.com"}}`, ClassValidation, "pixel_id"},
		{"unknown action_source", `{"event_id":"1","event_name":"P","action_source":"fax",` + base + `}`, ClassValidation, "action_source"},
		{"web without event_source_url", `{"event_id":"1","event_name":"P","event_time":` + nowS + `,"pixel_id":"7","user":{"client_user_agent":"UA","email":"a@x.com"}}`, ClassValidation, "event_source_url"},
		{"relative event_source_url", `{"event_id":"1","event_name":"P","event_time":` + nowS + `,"pixel_id":"7","event_source_url":"/cart","user":{"client_user_agent":"UA","email":"a@x.com"}}`, ClassValidation, "event_source_url"},
		{"website without user agent", `{"event_id":"1","event_name":"P","event_time":` + nowS + `,"pixel_id":"7","event_source_url":"https://x.com","user":{"email":"a@x.com"}}`, ClassValidation, "client_user_agent"},
		{"no user", `{"event_id":"1","event_name":"P","event_time":` + nowS + `,"pixel_id":"7","event_source_url":"https://x.com"}`, ClassValidation, "user"},
		{"only first name and gender", `{"event_id":"1","event_name":"P","action_source":"email","event_time":` + nowS + `,"pixel_id":"7","event_source_url":"https://x.com","user":{"first_name":"Ann","gender":"female"}}`, ClassValidation, "too little"},
		{"nothing usable after normalization", `{"event_id":"1","event_name":"P","action_source":"email","event_time":` + nowS + `,"pixel_id":"7","event_source_url":"https://x.com","user":{"email":"nope"}}`, ClassValidation, "no usable"},
		{"older than 7 days", `{"event_id":"1","event_name":"P","event_time":1795176000,"pixel_id":"7","event_source_url":"https://x.com","user":{"client_user_agent":"UA","email":"a@x.com"}}`, ClassTooOld, "older"},
		{"physical_store older than 62 days", `{"event_id":"1","event_name":"P","action_source":"physical_store","event_time":1790424000,"pixel_id":"7","user":{"email":"a@x.com"}}`, ClassTooOld, "older"},
		{"in the future", `{"event_id":"1","event_name":"P","event_time":1795867500,"pixel_id":"7","event_source_url":"https://x.com","user":{"client_user_agent":"UA","email":"a@x.com"}}`, ClassValidation, "future"},
		{"bad currency", `{"event_id":"1","event_name":"P",` + base + `,"custom":{"currency":"dollars"}}`, ClassValidation, "currency"},
		{"three letters that are no currency", `{"event_id":"1","event_name":"P",` + base + `,"custom":{"currency":"ABC"}}`, ClassValidation, "ISO 4217"},
		{"a withdrawn currency", `{"event_id":"1","event_name":"P",` + base + `,"custom":{"currency":"DEM"}}`, ClassValidation, "ISO 4217"},
		{"purchase without value", `{"event_id":"1","event_name":"Purchase",` + base + `,"custom":{"currency":"EUR"}}`, ClassValidation, "custom.value and custom.currency"},
		{"purchase without custom data", `{"event_id":"1","event_name":"Purchase",` + base + `}`, ClassValidation, "custom.value and custom.currency"},
		{"negative num_items", `{"event_id":"1","event_name":"P",` + base + `,"custom":{"num_items":-1}}`, ClassValidation, "num_items"},
		{"content without id", `{"event_id":"1","event_name":"P",` + base + `,"custom":{"contents":[{"quantity":1}]}}`, ClassValidation, "contents[].id"},
		{"relative referrer_url", `{"event_id":"1","event_name":"P","referrer_url":"/cart",` + base + `}`, ClassValidation, "referrer_url"},
		{"app event without app_data", `{"event_id":"1","event_name":"AppInstall","action_source":"app",` + base + `}`, ClassValidation, "app_data is required"},
		{"app_data without tracking flags", `{"event_id":"1","event_name":"AppInstall","action_source":"app","app_data":{"extinfo":["a2"]},` + base + `}`, ClassValidation, "tracking_enabled"},
		{"attribution share above 1", `{"event_id":"1","event_name":"Lead","attribution_data":{"attribution_share":1.5},` + base + `}`, ClassValidation, "attribution_share"},
		{"extinfo too short", `{"event_id":"1","event_name":"AppInstall","action_source":"app","app_data":{"advertiser_tracking_enabled":true,"application_tracking_enabled":true,"extinfo":["a2","x"]},` + base + `}`, ClassValidation, "16 values"},
		{"extinfo of an unknown platform", `{"event_id":"1","event_name":"AppInstall","action_source":"app",` + strings.Replace(appData, `"a2"`, `"w1"`, 1) + `,` + base + `}`, ClassValidation, "a2 (Android) or i2"},
		{"business messaging without a channel", `{"event_id":"1","event_name":"P","action_source":"business_messaging",` + base + `}`, ClassValidation, "messaging_channel is required"},
		{"unknown messaging channel", `{"event_id":"1","event_name":"P","action_source":"business_messaging","messaging_channel":"fax",` + base + `}`, ClassValidation, "whatsapp, messenger, instagram"},
		{"whatsapp without ctwa_clid", `{"event_id":"1","event_name":"P","action_source":"business_messaging","messaging_channel":"whatsapp",` + base + `}`, ClassValidation, "user.ctwa_clid"},
		{"instagram without ig_sid", `{"event_id":"1","event_name":"P","action_source":"business_messaging","messaging_channel":"instagram","event_time":` + nowS + `,"pixel_id":"7","user":{"ig_account_id":"1","email":"a@x.com"}}`, ClassValidation, "user.ig_sid"},
		{"original event without a time", `{"event_id":"1","event_name":"P","original_event_data":{"event_name":"Purchase"},` + base + `}`, ClassValidation, "original_event_data"},
		{"a data processing option other than LDU", `{"event_id":"1","event_name":"P","data_processing_options":["GDPR"],` + base + `}`, ClassValidation, "LDU"},
		{"more e-mail addresses than a person has", `{"event_id":"1","event_name":"P","event_time":` + nowS + `,"pixel_id":"7","event_source_url":"https://x.com","user":{"client_user_agent":"UA","email":` + manyValues(MaxValuesPerField+1) + `}}`, ClassValidation, "user.email has 101 values"},
		{"negative data processing state", `{"event_id":"1","event_name":"P","data_processing_options":["LDU"],"data_processing_options_state":-1,` + base + `}`, ClassValidation, "data_processing_options_state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := decode(t, tt.in)
			kind := event.KindWeb
			if strings.Contains(tt.in, "physical_store") {
				kind = event.KindCRM
			}
			_, err := Map(&e, kind, Options{}, now)
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("err = %v, want *InvalidError", err)
			}
			if inv.Class != tt.class || !strings.Contains(inv.Message, tt.want) {
				t.Errorf("got %s %q, want %s mentioning %q", inv.Class, inv.Message, tt.class, tt.want)
			}
			if strings.Contains(inv.Message, "a@x.com") {
				t.Error("the message carries customer data")
			}
		})
	}
}

// appData is a valid app_data member for app events.
const appData = `"app_data":{"advertiser_tracking_enabled":true,"application_tracking_enabled":false,` +
	`"extinfo":["a2","com.example.shop","1.0","1.0 (7)","14","Pixel 8","en_US","CET","","1080","2400","2.6","8","128","64","Europe/Berlin"],` +
	`"installer_package":"com.android.vending"}`

func fieldIndex(name string) int {
	for i, n := range FieldNames {
		if n == name {
			return i
		}
	}
	panic("no field " + name)
}

func TestMapReportsValuesLeftOut(t *testing.T) {
	e := decode(t, `{"event_id":"1","event_name":"Lead","event_time":`+nowS+`,"pixel_id":"7","user":{"email":["no-at-sign"," a@x.com "],"phone":"n/a","first_name":"  ","city":"Paris","zip":"1"}}`)
	ev, err := Map(&e, event.KindCRM, Options{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ev.Dropped.names(), "em, ph, zp"; got != want {
		t.Errorf("Dropped = %s, want %s (a blank value is absent, not dropped)", got, want)
	}
	if got, want := ev.Fields.names(), "em, ct"; got != want {
		t.Errorf("Fields = %s, want %s", got, want)
	}
}

func TestMapUsesTheTopicDefaultPixel(t *testing.T) {
	e := decode(t, `{"event_id":"1","event_name":"Lead","event_time":`+nowS+`,"user":{"email":"a@x.com"}}`)
	ev, err := Map(&e, event.KindCRM, Options{DefaultPixel: "42"}, now)
	if err != nil || ev.PixelID != "42" {
		t.Fatalf("pixel %q, err %v", ev.PixelID, err)
	}
}

func TestNormalizers(t *testing.T) {
	tests := []struct {
		name string
		f    normalizer
		in   string
		want string
	}{
		{"phone digits without leading zeros", normPhone, "+00 (650) 555-1212", "6505551212"},
		{"name without spaces and punctuation, letters kept", normName, " Mary-Ann O'Neil ", "maryannoneil"},
		{"name keeps UTF-8 letters", normName, "Chloé", "chloé"},
		{"city ascii letters and digits", normAlnum, "Menlo Park", "menlopark"},
		{"zip before the dash", normZip, "94025-1234", "94025"},
		{"gender word", normGender, "Female", "f"},
		{"gender letter", normGender, " M ", "m"},
		{"gender unknown", normGender, "other", ""},
		{"date of birth with dashes", normDOB, "1990-02-28", "19900228"},
		// The parameter builder reads 1990-13-01 as day 13 of January (19900113).
		{"date of birth impossible month", normDOB, "1990-13-13", ""},
		{"email without @", normEmail, "nobody", ""},
		{"external id", normExternalID, " U-42 ", "u-42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func eq(t *testing.T, got, want any) {
	t.Helper()
	if got != want {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func first(m map[string]any, key string) any {
	v, _ := m["user_data"].(map[string]any)[key].([]any)
	if len(v) == 0 {
		return nil
	}
	return v[0]
}

func BenchmarkMap(b *testing.B) {
	raw := []byte(`{"event_id":"web-1","event_name":"Purchase","event_time":` + nowS + `,"pixel_id":"111111111111111","event_source_url":"https://shop.example.com/p/1","user":{"email":" Ann.Smith@Example.com ","phone":"+1 (650) 555-1212","first_name":"Ann","last_name":"Smith","city":"Menlo Park","state":"CA","zip":"94025","country":"US","external_id":"U-42","client_user_agent":"Mozilla/5.0","client_ip_address":"203.0.113.7","fbp":"fb.1.1.2"},"custom":{"value":12.5,"currency":"USD","content_ids":["SKU-1"]}}`)
	for _, mode := range []Normalization{Documented, ParamBuilder} {
		b.Run(string(mode), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				e, err := event.JSON{}.Decode(raw)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Map(&e, event.KindWeb, Options{Normalization: mode}, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCountryNames is the one-time cost of the documented mode's
// country name table.
func BenchmarkCountryNames(b *testing.B) {
	for b.Loop() {
		countryByName = sync.OnceValue(buildCountryNames)
		_ = countryByName()
	}
}

func TestDraftTakesALinkedExternalID(t *testing.T) {
	// The contract's example: a CRM event that carries only its CRM id is
	// sendable once the identity graph links it to an external_id.
	e := decode(t, `{"event_id":"1","event_name":"Lead","event_time":`+nowS+`,"pixel_id":"7","crm_id":" C9 "}`)
	d, err := NewDraft(&e, event.KindCRM, Options{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Identifiers, (Identifiers{CRMID: sha256Hex("C9")}); !reflect.DeepEqual(got, want) {
		t.Errorf("Identifiers = %+v, want %+v", got, want)
	}
	if _, err := d.Finish(); err == nil || !strings.Contains(err.Error(), "no usable customer information") {
		t.Fatalf("Finish without a link: err %v, want no usable customer information", err)
	}
	linked := sha256Hex("u-42")
	d.SetExternalID(linked)
	ev, err := d.Finish()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(ev.JSON, &m); err != nil {
		t.Fatal(err)
	}
	eq(t, first(m, "external_id"), linked)
	if !ev.Fields.Has(fieldIndex("external_id")) {
		t.Error("external_id missing from Fields")
	}
}

func TestDraftIdentifiers(t *testing.T) {
	e := decode(t, `{"event_id":"1","event_name":"Lead","event_time":`+nowS+`,"pixel_id":"7","crm_id":"C9",
		"user":{"external_id":[" U-42 ","U-43"],"email":["Ann@X.com","ann@x.com","bad"],"phone":"+1 650 555 1212"}}`)
	tests := []struct {
		name string
		kind event.Kind
		opts Options
		want Identifiers
	}{
		{"hashed external_id", event.KindCRM, Options{}, Identifiers{ExternalID: sha256Hex("u-42"),
			Emails: []string{sha256Hex("ann@x.com")}, Phones: []string{sha256Hex("16505551212")}, CRMID: sha256Hex("C9")}},
		{"plain external_id", event.KindCRM, Options{PlainExternalID: true}, Identifiers{ExternalID: "u-42",
			Emails: []string{sha256Hex("ann@x.com")}, Phones: []string{sha256Hex("16505551212")}, CRMID: sha256Hex("C9")}},
		{"a web event has no CRM id", event.KindWeb, Options{}, Identifiers{ExternalID: sha256Hex("u-42"),
			Emails: []string{sha256Hex("ann@x.com")}, Phones: []string{sha256Hex("16505551212")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e
			e.ActionSource = "email" // no URL or user agent needed
			d, err := NewDraft(&e, tt.kind, tt.opts, now)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d.Identifiers, tt.want) {
				t.Errorf("Identifiers = %+v\nwant          %+v", d.Identifiers, tt.want)
			}
			ev, err := d.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if tt.opts.PlainExternalID && !strings.Contains(string(ev.JSON), `"external_id":["u-42","u-43"]`) {
				t.Errorf("plain external_ids not sent as normalized: %s", ev.JSON)
			}
		})
	}
}

// manyValues is a JSON array of n distinct e-mail addresses.
func manyValues(n int) string {
	vs := make([]string, n)
	for i := range vs {
		vs[i] = fmt.Sprintf("%q", fmt.Sprintf("p%d@x.com", i))
	}
	return "[" + strings.Join(vs, ",") + "]"
}

// A field at the cap is sent with each distinct value once, in order; the
// de-duplication holds past the few values it scans.
func TestManyValuesAreDeduplicated(t *testing.T) {
	vs := make([]string, 0, MaxValuesPerField)
	for i := range MaxValuesPerField {
		vs = append(vs, fmt.Sprintf(" P%d@x.com", i%40)) // 40 people, each 2 or 3 times
	}
	in, _ := json.Marshal(vs)
	_, m := mapped(t, event.KindWeb, `{"event_id":"1","event_name":"P","event_time":`+nowS+`,"pixel_id":"7","event_source_url":"https://x.com","user":{"client_user_agent":"UA","email":`+string(in)+`}}`)
	em := m["user_data"].(map[string]any)["em"].([]any)
	if len(em) != 40 {
		t.Fatalf("%d hashed e-mails, want 40", len(em))
	}
	for i, h := range em {
		if want := sha256Hex(fmt.Sprintf("p%d@x.com", i)); h != want {
			t.Fatalf("em[%d] = %v, want the hash of p%d@x.com", i, h, i)
		}
	}
}

// De-duplicating a field's values is linear: the cost per value of 50,000
// values is that of 1,000 (a quadratic scan made one hostile record cost
// seconds).
func BenchmarkHashAllDistinct(b *testing.B) {
	for _, n := range []int{1000, 50000} {
		vs := make([]string, n)
		for i := range vs {
			vs[i] = fmt.Sprintf("p%d@x.com", i)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				hashAll(new(arena), vs, normEmail)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/value")
		})
	}
}

// Custom properties that are numbers or booleans are sent as such.
func TestPropertyLiterals(t *testing.T) {
	_, m := mapped(t, event.KindCRM, `{"event_id":"1","event_name":"Lead","event_time":`+nowS+`,"pixel_id":"7","user":{"email":"a@x.com"},"custom":{"properties":{"tier":"gold","score":42,"big":12345678901234567890,"vip":true,"churn":false,"none":null}}}`)
	cd, _ := m["custom_data"].(map[string]any)
	want := map[string]any{"tier": "gold", "score": 42.0, "big": 12345678901234567890.0, "vip": true, "churn": false}
	for k, v := range want {
		if cd[k] != v {
			t.Errorf("custom_data.%s = %#v, want %#v", k, cd[k], v)
		}
	}
	if _, ok := cd["none"]; ok {
		t.Error("a null property was sent")
	}
}
