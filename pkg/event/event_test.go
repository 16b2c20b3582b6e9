package event

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// Customer data planted in the inputs below; no error message may carry it.
var pii = []string{
	"ann.secret@example.com",
	"5551234567",
	"Annabel",
	"Quixotic",
	"94107",
	"203.0.113.77",
	"C-778899",
}

// webEvent is a realistic web event as a producer writes it.
const webEvent = `{
  "event_id": "evt-7f3c2a",
  "event_name": "Purchase",
  "event_time": 1767225600,
  "pixel_id": "123456789012345",
  "event_source_url": "https://shop.example.com/checkout/done",
  "action_source": "website",
  "referrer_url": "https://shop.example.com/cart",
  "opt_out": false,
  "data_processing_options": ["LDU"],
  "data_processing_options_country": 1,
  "data_processing_options_state": 1000,
  "user": {
    "email": "ann.secret@example.com",
    "phone": "+1 (555) 123-4567",
    "first_name": "Annabel",
    "last_name": "Quixotic",
    "gender": "female",
    "date_of_birth": "1990-02-03",
    "city": "San Francisco",
    "state": "CA",
    "zip": "94107-1234",
    "country": "US",
    "external_id": "U-42",
    "client_ip_address": "203.0.113.77",
    "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "fbp": "fb.1.1767225000000.1098115397",
    "fbc": "fb.1.1767225000000.AbCdEf",
    "fbclid": "AbCdEf",
    "subscription_id": "sub-1",
    "anon_id": "anon-1",
    "madid": "38400000-8cf0-11bd-b23e-10b96e40000d",
    "page_id": 102030405060708,
    "page_scoped_user_id": "7000000000001",
    "ctwa_clid": "ARAkLkA8",
    "ig_account_id": "17841400000000001",
    "ig_sid": 9000000000001
  },
  "app_data": {"advertiser_tracking_enabled": true, "application_tracking_enabled": false,
    "extinfo": ["a2", "com.example.shop", "1.0", "1.0 long", "14", "Pixel 8", "en_US", "CET", "", "1080", "2400", "2.6", "8", "128", "64", "Europe/Berlin"],
    "campaign_ids": "c-1", "install_referrer": "utm_source=x", "installer_package": "com.android.vending",
    "url_schemes": ["shop://"], "windows_attribution_id": "w-1"},
  "messaging_channel": "whatsapp",
  "original_event_data": {"event_name": "Purchase", "event_time": 1767225000, "order_id": "O-1000", "event_id": "evt-0"},
  "customer_segmentation": {"priority_segment": "high"},
  "attribution_data": {"scope": "click", "visit_time": 1767225000, "ad_id": "6001", "adset_id": "6002", "campaign_id": "6003",
    "attribution_share": 0.4, "attribution_model": "last_click", "attr_window": 7, "attribution_value": 52,
    "attribution_source": "amm", "touchpoint_type": "click", "touchpoint_ts": 1767224000, "attribution_method": "deeplink",
    "decline_reason": "unknown", "auditing_token": "tok", "linkage_key": "lk",
    "attribution_setting": {"inactivity_window_hours": 24, "reattribution_window_hours": 48}},
  "custom": {
    "value": 129.99,
    "currency": "EUR",
    "content_ids": ["sku-1", "sku-2"],
    "contents": [{"id": "sku-1", "quantity": 2, "item_price": 49.5, "delivery_category": "home_delivery",
                  "title": "Trail boot", "description": "Waterproof", "brand": "Acme", "category": "Shoes > Boots"},
                 {"id": "sku-2", "quantity": 1, "item_price": 30.99}],
    "content_type": "product",
    "content_name": "Boots",
    "content_category": "shoes",
    "order_id": "O-1001",
    "num_items": 3,
    "predicted_ltv": 400,
    "net_revenue": 31.2,
    "search_string": "boots",
    "status": "paid",
    "delivery_category": "home_delivery",
    "properties": {"campaign": "spring", "store": "berlin"}
  }
}`

var webEventWant = Event{
	EventID:                      "evt-7f3c2a",
	EventName:                    "Purchase",
	EventTime:                    Time{Unix: 1767225600, Millis: 1767225600000, Set: true},
	PixelID:                      "123456789012345",
	EventSourceURL:               "https://shop.example.com/checkout/done",
	ActionSource:                 "website",
	ReferrerURL:                  "https://shop.example.com/cart",
	DataProcessingOptions:        []string{"LDU"},
	DataProcessingOptionsCountry: ptr(1),
	DataProcessingOptionsState:   ptr(1000),
	User: &User{
		Email:           Strings{"ann.secret@example.com"},
		Phone:           Strings{"+1 (555) 123-4567"},
		FirstName:       Strings{"Annabel"},
		LastName:        Strings{"Quixotic"},
		Gender:          Strings{"female"},
		DateOfBirth:     Strings{"1990-02-03"},
		City:            Strings{"San Francisco"},
		State:           Strings{"CA"},
		Zip:             Strings{"94107-1234"},
		Country:         Strings{"US"},
		ExternalID:      Strings{"U-42"},
		ClientIPAddress: "203.0.113.77",
		ClientUserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
		FBP:             "fb.1.1767225000000.1098115397",
		FBC:             "fb.1.1767225000000.AbCdEf",
		FBCLID:          "AbCdEf",
		SubscriptionID:  "sub-1",

		AnonID:           "anon-1",
		MADID:            "38400000-8cf0-11bd-b23e-10b96e40000d",
		PageID:           "102030405060708",
		PageScopedUserID: "7000000000001",
		CTWAClid:         "ARAkLkA8",
		IGAccountID:      "17841400000000001",
		IGSID:            "9000000000001",
	},
	AppData: &AppData{AdvertiserTrackingEnabled: ptr(true), ApplicationTrackingEnabled: ptr(false),
		Extinfo:     []string{"a2", "com.example.shop", "1.0", "1.0 long", "14", "Pixel 8", "en_US", "CET", "", "1080", "2400", "2.6", "8", "128", "64", "Europe/Berlin"},
		CampaignIDs: "c-1", InstallReferrer: "utm_source=x", InstallerPackage: "com.android.vending",
		URLSchemes: []string{"shop://"}, WindowsAttributionID: "w-1"},
	MessagingChannel: "whatsapp",
	OriginalEventData: &OriginalEventData{EventName: "Purchase", EventTime: Time{Unix: 1767225000, Millis: 1767225000000, Set: true},
		OrderID: "O-1000", EventID: "evt-0"},
	CustomerSegmentation: map[string]string{"priority_segment": "high"},
	AttributionData: &AttributionData{Scope: "click", VisitTime: ptr(int64(1767225000)), AdID: "6001", AdsetID: "6002", CampaignID: "6003",
		AttributionShare: ptr(0.4), AttributionModel: "last_click", AttrWindow: ptr(int64(7)), AttributionValue: ptr(52.0),
		AttributionSource: "amm", TouchpointType: "click", TouchpointTS: ptr(int64(1767224000)), AttributionMethod: "deeplink",
		DeclineReason: "unknown", AuditingToken: "tok", LinkageKey: "lk",
		AttributionSetting: &AttributionSetting{InactivityWindowHours: ptr(int64(24)), ReattributionWindowHours: ptr(int64(48))}},
	Custom: &Custom{
		Value:      ptr(129.99),
		Currency:   "EUR",
		ContentIDs: []string{"sku-1", "sku-2"},
		Contents: []Content{
			{ID: "sku-1", Quantity: ptr(int64(2)), ItemPrice: ptr(49.5), DeliveryCategory: "home_delivery",
				Title: "Trail boot", Description: "Waterproof", Brand: "Acme", Category: "Shoes > Boots"},
			{ID: "sku-2", Quantity: ptr(int64(1)), ItemPrice: ptr(30.99)},
		},
		ContentType:      "product",
		ContentName:      "Boots",
		ContentCategory:  "shoes",
		OrderID:          "O-1001",
		NumItems:         ptr(int64(3)),
		PredictedLTV:     ptr(400.0),
		NetRevenue:       ptr(31.2),
		SearchString:     "boots",
		Status:           "paid",
		DeliveryCategory: "home_delivery",
		Properties:       map[string]string{"campaign": "spring", "store": "berlin"},
	},
}

// crmEvent is a realistic CRM event.
const crmEvent = `{"event_id":"lead-9","event_name":"Lead","event_time":1767225600123,"pixel_id":"123456789012345",
"action_source":"system_generated","crm_id":"C-778899","lead_event_source":"Salesforce",
"user":{"email":["ann.secret@example.com","ann@work.example"],"phone":["5551234567"],"lead_id":1234567890123456,"fb_login_id":"998877"}}`

var crmEventWant = Event{
	EventID:         "lead-9",
	EventName:       "Lead",
	EventTime:       Time{Unix: 1767225600, Millis: 1767225600123, Set: true},
	PixelID:         "123456789012345",
	ActionSource:    "system_generated",
	CRMID:           "C-778899",
	LeadEventSource: "Salesforce",
	User: &User{
		Email:     Strings{"ann.secret@example.com", "ann@work.example"},
		Phone:     Strings{"5551234567"},
		LeadID:    1234567890123456,
		FBLoginID: 998877,
	},
}

func TestJSONDecodeValid(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  Event
	}{
		{name: "full web event", input: webEvent, want: webEventWant},
		{name: "CRM event with arrays, lead_id as number, milliseconds", input: crmEvent, want: crmEventWant},
		{
			name:  "user fields as one string",
			input: `{"user":{"email":"a@x.com","external_id":"U-1"}}`,
			want:  Event{User: &User{Email: Strings{"a@x.com"}, ExternalID: Strings{"U-1"}}},
		},
		{
			name:  "user fields as arrays",
			input: `{"user":{"email":["a@x.com","b@x.com"],"phone":[],"city":["Paris"]}}`,
			want:  Event{User: &User{Email: Strings{"a@x.com", "b@x.com"}, Phone: Strings{}, City: Strings{"Paris"}}},
		},
		{
			name:  "lead_id and fb_login_id as strings of digits",
			input: `{"user":{"lead_id":"1234567890123456","fb_login_id":"0042"}}`,
			want:  Event{User: &User{LeadID: 1234567890123456, FBLoginID: 42}},
		},
		{
			name:  "lead_id as a number",
			input: `{"user":{"lead_id":77}}`,
			want:  Event{User: &User{LeadID: 77}},
		},
		{
			name:  "lead_id largest int64",
			input: `{"user":{"lead_id":"9223372036854775807"}}`,
			want:  Event{User: &User{LeadID: 9223372036854775807}},
		},
		{
			name:  "event_time in seconds",
			input: `{"event_time":1700000000}`,
			want:  Event{EventTime: Time{Unix: 1700000000, Millis: 1700000000000, Set: true}},
		},
		{
			name:  "event_time in milliseconds is floored to seconds, Millis as given",
			input: `{"event_time":1700000000999}`,
			want:  Event{EventTime: Time{Unix: 1700000000, Millis: 1700000000999, Set: true}},
		},
		{
			name:  "event_time exactly 10^12 is still seconds",
			input: `{"event_time":1000000000000}`,
			want:  Event{EventTime: Time{Unix: 1000000000000, Millis: 1000000000000000, Set: true}},
		},
		{
			name:  "event_time just above 10^12 is milliseconds",
			input: `{"event_time":1000000000001}`,
			want:  Event{EventTime: Time{Unix: 1000000000, Millis: 1000000000001, Set: true}},
		},
		{
			name:  "event_time 0 is set",
			input: `{"event_time":0}`,
			want:  Event{EventTime: Time{Unix: 0, Millis: 0, Set: true}},
		},
		{
			name:  "event_time as a float with zero fraction",
			input: `{"event_time":1700000000.0}`,
			want:  Event{EventTime: Time{Unix: 1700000000, Millis: 1700000000000, Set: true}},
		},
		{
			name:  "event_time in exponent notation",
			input: `{"event_time":1.7e9}`,
			want:  Event{EventTime: Time{Unix: 1700000000, Millis: 1700000000000, Set: true}},
		},
		{
			name:  "event_time in milliseconds, exponent notation",
			input: `{"event_time":1.7000000001e12}`,
			want:  Event{EventTime: Time{Unix: 1700000000, Millis: 1700000000100, Set: true}},
		},
		{
			name:  "null fields are absent",
			input: `{"event_id":null,"event_time":null,"user":{"email":null,"lead_id":null,"fb_login_id":null,"phone":null},"custom":null,"data_processing_options_country":null}`,
			want:  Event{User: &User{}},
		},
		{
			name:  "null user",
			input: `{"event_id":"e","user":null}`,
			want:  Event{EventID: "e"},
		},
		{
			name:  "unknown fields are ignored at every level",
			input: `{"event_id":"e","schema_version":3,"tags":["a"],"meta":{"x":{"y":[1,2]}},"user":{"email":"a@x.com","loyalty_tier":"gold"},"custom":{"value":1,"coupon":{"code":"X"},"contents":[{"id":"s","color":"red"}]}}`,
			want: Event{
				EventID: "e",
				User:    &User{Email: Strings{"a@x.com"}},
				Custom:  &Custom{Value: ptr(1.0), Contents: []Content{{ID: "s"}}},
			},
		},
		{
			name:  "empty object",
			input: `{}`,
			want:  Event{},
		},
		{
			name:  "surrounding whitespace",
			input: " \n\t{\"event_id\":\"e\"}\r\n ",
			want:  Event{EventID: "e"},
		},
		{
			name:  "unicode and escapes kept",
			input: `{"event_name":"Kauf","user":{"city":"M\u00fcnchen","last_name":["Ø\"q"]}}`,
			want:  Event{EventName: "Kauf", User: &User{City: Strings{"München"}, LastName: Strings{"Ø\"q"}}},
		},
		{
			name:  "opt_out and data processing options",
			input: `{"opt_out":true,"data_processing_options":[],"data_processing_options_country":0,"data_processing_options_state":0}`,
			want:  Event{OptOut: true, DataProcessingOptions: []string{}, DataProcessingOptionsCountry: ptr(0), DataProcessingOptionsState: ptr(0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSON{}.Decode([]byte(tt.input))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode =\n%+v\nwant\n%+v", got, tt.want)
				if got.User != nil && tt.want.User != nil {
					t.Errorf("user = %+v\nwant   %+v", *got.User, *tt.want.User)
				}
				if got.Custom != nil && tt.want.Custom != nil {
					t.Errorf("custom = %+v\nwant     %+v", *got.Custom, *tt.want.Custom)
				}
			}
		})
	}
}

// withUser is a realistic event carrying customer data, with extra fields
// appended at the top level and in user. Every invalid input below is
// built from it, so that an error message that quotes the input would
// carry customer data.
func withUser(top, user string) string {
	s := `{"event_id":"evt-1","event_name":"Purchase","pixel_id":"123456789012345","crm_id":"C-778899",` +
		`"user":{"email":"ann.secret@example.com","phone":"5551234567","first_name":"Annabel","last_name":"Quixotic",` +
		`"zip":"94107","client_ip_address":"203.0.113.77"` + user + `}`
	return s + top + `}`
}

func TestJSONDecodeInvalid(t *testing.T) {
	tests := []struct {
		name       string
		input      string
		wantReason string // a part of the reason; "" to check only the type
	}{
		{name: "empty value", input: ``, wantReason: "empty"},
		{name: "whitespace only", input: " \n\t ", wantReason: "empty"},
		{name: "malformed: cut short", input: withUser("", "")[:60], wantReason: "malformed JSON"},
		{name: "malformed: cut inside an email", input: `{"user":{"email":"ann.secret@example.com`, wantReason: "malformed JSON"},
		{name: "malformed: trailing garbage", input: withUser("", "") + ` ann.secret@example.com`, wantReason: "malformed JSON"},
		{name: "malformed: two objects", input: withUser("", "") + withUser("", ""), wantReason: "malformed JSON"},
		{name: "malformed: single quotes", input: `{'email':'ann.secret@example.com'}`, wantReason: "malformed JSON"},
		{name: "malformed: invalid escape", input: `{"user":{"email":"ann.secret@example.com\q"}}`, wantReason: "malformed JSON"},
		{name: "array instead of object", input: `[` + withUser("", "") + `]`, wantReason: "array, not an object"},
		{name: "string instead of object", input: `"ann.secret@example.com"`, wantReason: "string, not an object"},
		{name: "number instead of object", input: `5551234567`, wantReason: "number, not an object"},
		{name: "null instead of object", input: `null`, wantReason: "not an object"},
		{name: "event_id is a number", input: withUser(`,"event_id":5551234567`, ""), wantReason: "event_id"},
		{name: "event_name is a bool", input: withUser(`,"event_name":true`, ""), wantReason: "event_name"},
		{name: "opt_out is a string", input: withUser(`,"opt_out":"Annabel"`, ""), wantReason: "opt_out"},
		{name: "user is a string", input: `{"user":"ann.secret@example.com"}`, wantReason: "user"},
		{name: "user is an array", input: `{"user":["ann.secret@example.com"]}`, wantReason: "user"},
		{name: "user email is a number", input: withUser("", `,"email":5551234567`), wantReason: "string or an array of strings"},
		{name: "user email array holds a number", input: withUser("", `,"email":["ann.secret@example.com",5551234567]`), wantReason: "string or an array of strings"},
		{name: "user email is an object", input: withUser("", `,"email":{"v":"ann.secret@example.com"}`), wantReason: "string or an array of strings"},
		{name: "client_ip_address is a number", input: withUser("", `,"client_ip_address":2030113770`), wantReason: "user.client_ip_address"},
		{name: "custom is an array", input: withUser(`,"custom":["Quixotic"]`, ""), wantReason: "custom"},
		{name: "custom value is a string", input: withUser(`,"custom":{"value":"ann.secret@example.com"}`, ""), wantReason: "custom.value"},
		{name: "custom properties value is an object", input: withUser(`,"custom":{"properties":{"ann.secret@example.com":{"n":5551234567}}}`, ""), wantReason: "custom.properties"},
		{name: "custom properties value is an infinite number", input: withUser(`,"custom":{"properties":{"ann.secret@example.com":1e400}}`, ""), wantReason: "custom.properties"},
		{name: "content quantity is a string", input: withUser(`,"custom":{"contents":[{"id":"Annabel","quantity":"Quixotic"}]}`, ""), wantReason: "quantity"},
		{name: "num_items is fractional", input: withUser(`,"custom":{"num_items":1.5}`, ""), wantReason: "custom.num_items"},
		{name: "num_items with a zero fraction", input: withUser(`,"custom":{"num_items":1.0}`, ""), wantReason: "custom.num_items"},
		{name: "num_items in exponent notation", input: withUser(`,"custom":{"num_items":1e3}`, ""), wantReason: "custom.num_items"},
		{name: "num_items past int64", input: withUser(`,"custom":{"num_items":9223372036854775808}`, ""), wantReason: "custom.num_items"},
		{name: "data_processing_options is a string", input: withUser(`,"data_processing_options":"LDU"`, ""), wantReason: "data_processing_options"},
		{name: "event_time is a string", input: withUser(`,"event_time":"1700000000"`, ""), wantReason: "integer"},
		{name: "event_time is a bool", input: withUser(`,"event_time":true`, ""), wantReason: "integer"},
		{name: "event_time is negative", input: withUser(`,"event_time":-1`, ""), wantReason: "non-negative"},
		{name: "event_time is fractional", input: withUser(`,"event_time":1700000000.5`, ""), wantReason: "integer"},
		{name: "event_time is fractional milliseconds", input: withUser(`,"event_time":1700000000123.25`, ""), wantReason: "integer"},
		{name: "event_time is too large", input: withUser(`,"event_time":1e300`, ""), wantReason: "integer"},
		{name: "event_time overflows float64", input: withUser(`,"event_time":1e400`, ""), wantReason: "integer"},
		{name: "lead_id is letters", input: withUser("", `,"lead_id":"Annabel"`), wantReason: "digits"},
		{name: "lead_id has letters after digits", input: withUser("", `,"lead_id":"5551234567x"`), wantReason: "digits"},
		{name: "lead_id is empty", input: withUser("", `,"lead_id":""`), wantReason: "digits"},
		{name: "lead_id is negative", input: withUser("", `,"lead_id":-5551234567`), wantReason: "non-negative"},
		{name: "lead_id is a negative string", input: withUser("", `,"lead_id":"-5551234567"`), wantReason: "digits"},
		{name: "lead_id has a plus sign", input: withUser("", `,"lead_id":"+5551234567"`), wantReason: "digits"},
		{name: "lead_id has spaces", input: withUser("", `,"lead_id":" 5551234567"`), wantReason: "digits"},
		{name: "lead_id is fractional", input: withUser("", `,"lead_id":5551234567.5`), wantReason: "digits"},
		{name: "lead_id in exponent notation", input: withUser("", `,"lead_id":1e3`), wantReason: "digits"},
		{name: "lead_id overflows int64", input: withUser("", `,"lead_id":"99999999999999999999"`), wantReason: "digits"},
		{name: "lead_id is a bool", input: withUser("", `,"lead_id":true`), wantReason: "digits"},
		{name: "app_data is an array", input: withUser(`,"app_data":["a2"]`, ""), wantReason: "app_data"},
		{name: "advertiser_tracking_enabled is a string", input: withUser(`,"app_data":{"advertiser_tracking_enabled":"yes"}`, ""), wantReason: "app_data.advertiser_tracking_enabled"},
		{name: "extinfo holds a number", input: withUser(`,"app_data":{"extinfo":["a2",14]}`, ""), wantReason: "app_data.extinfo"},
		{name: "original_event_data is a string", input: withUser(`,"original_event_data":"Purchase"`, ""), wantReason: "original_event_data"},
		{name: "original event_time is a string", input: withUser(`,"original_event_data":{"event_time":"1700000000"}`, ""), wantReason: "original_event_data.event_time"},
		{name: "customer_segmentation value is a number", input: withUser(`,"customer_segmentation":{"tier":5551234567}`, ""), wantReason: "customer_segmentation"},
		{name: "messaging_channel is a number", input: withUser(`,"messaging_channel":1`, ""), wantReason: "messaging_channel"},
		{name: "page_id is fractional", input: withUser("", `,"page_id":1.5`), wantReason: "user.page_id"},
		{name: "ig_sid is a bool", input: withUser("", `,"ig_sid":true`), wantReason: "user.ig_sid"},
		{name: "madid is a number", input: withUser("", `,"madid":5551234567`), wantReason: "user.madid"},
		{name: "fb_login_id is not digits", input: withUser("", `,"fb_login_id":"Quixotic"`), wantReason: "digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSON{}.Decode([]byte(tt.input))
			if err == nil {
				t.Fatalf("Decode returned no error; event %+v", got)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %q is not a *DecodeError", err, err)
			}
			if de.Format != "json" {
				t.Errorf("Format = %q, want json", de.Format)
			}
			if !strings.Contains(de.Reason, tt.wantReason) {
				t.Errorf("reason %q does not say %q", de.Reason, tt.wantReason)
			}
			msg := err.Error()
			for _, p := range pii {
				if strings.Contains(tt.input, p) && strings.Contains(msg, p) {
					t.Errorf("error message %q carries customer data %q", msg, p)
				}
			}
			if !reflect.DeepEqual(got, Event{}) {
				t.Errorf("Decode returned a partial event with its error: %+v", got)
			}
		})
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	err := &DecodeError{Format: "avro", Reason: "truncated record"}
	if got, want := err.Error(), "not a valid avro event: truncated record"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

var fuzzSeeds = []string{
	webEvent,
	crmEvent,
	`{"event_id":"e1","event_name":"PageView","event_time":1767225600,"pixel_id":"1","event_source_url":"https://x.example/","user":{"fbp":"fb.1.1.1","client_user_agent":"curl/8"}}`,
	`{"event_id":"e2","event_name":"AddToCart","event_time":1.7e9,"user":{"email":["a@x.com",null]},"custom":{"value":0,"currency":"USD","contents":[{"id":"a","quantity":1}]}}`,
	`{"event_name":"Lead","event_time":1767225600123,"user":{"lead_id":"123","external_id":["U-1","U-2"]},"custom":{"properties":{"a":"b"}}}`,
	`{"user":{"lead_id":null},"event_time":null,"custom":null}`,
	`{"event_time":-1}`,
	`{"event_time":1700000000.5}`,
	`{"user":{"lead_id":"+5"}}`,
	`{"user":{"email":5}}`,
	`[{"event_id":"x"}]`,
	`null`,
	`{"event_id":`,
	``,
}

// FuzzJSONDecode: Decode never panics; a success is deterministic and
// keeps the event_time and id invariants; a failure is a *DecodeError and
// returns no partial event.
func FuzzJSONDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ev, err := JSON{}.Decode(in)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %q is not a *DecodeError", err, err)
			}
			if de.Format != "json" || de.Reason == "" {
				t.Fatalf("DecodeError %+v lacks format or reason", de)
			}
			if !reflect.DeepEqual(ev, Event{}) {
				t.Fatalf("partial event returned with an error: %+v", ev)
			}
			return
		}
		again, err := JSON{}.Decode(in)
		if err != nil {
			t.Fatalf("second decode of the same bytes failed: %v", err)
		}
		if !reflect.DeepEqual(ev, again) {
			t.Fatalf("decoding the same bytes twice differs:\n%+v\n%+v", ev, again)
		}
		tm := ev.EventTime
		if !tm.Set && tm != (Time{}) {
			t.Fatalf("event_time not set but %+v", tm)
		}
		if tm.Set {
			if tm.Unix < 0 || tm.Millis < 0 {
				t.Fatalf("negative event_time %+v", tm)
			}
			if tm.Millis/1000 != tm.Unix {
				t.Fatalf("event_time %+v: Unix is not Millis floored to seconds", tm)
			}
		}
		if u := ev.User; u != nil && (u.LeadID < 0 || u.FBLoginID < 0) {
			t.Fatalf("negative id in %+v", *u)
		}
	})
}

func BenchmarkJSONDecode(b *testing.B) {
	tests := []struct {
		name  string
		input string
	}{
		{"web", webEvent},
		{"crm", crmEvent},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			in := []byte(tt.input)
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := (JSON{}).Decode(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A value nested millions deep is refused without overflowing the stack
// (fastjson's validator recurses without a limit).
func TestJSONDecodeRefusesDeepNesting(t *testing.T) {
	deep := strings.Repeat("[", 5_000_000)
	for _, in := range []string{deep, `{"user":` + strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100) + `}`} {
		_, err := JSON{}.Decode([]byte(in))
		var de *DecodeError
		if !errors.As(err, &de) || !strings.Contains(de.Reason, "deep") {
			t.Errorf("err = %v, want a decode error about nesting", err)
		}
	}
	// Brackets inside strings do not count.
	ok := `{"event_id":"` + strings.Repeat("[{", 100) + `","user":{"email":"a@x.com"}}`
	if _, err := (JSON{}).Decode([]byte(ok)); err != nil {
		t.Errorf("brackets inside a string were counted: %v", err)
	}
}

// Meta takes custom_data.value as a number written as a string ("50", the
// contract's own sample); so does freight, and only a decimal number.
func TestNumbersWrittenAsStrings(t *testing.T) {
	tests := []struct {
		value string
		want  float64
		ok    bool
	}{
		{`"50"`, 50, true},
		{`" 12.5 "`, 12.5, true},
		{`"-3"`, -3, true},
		{`"0.99"`, 0.99, true},
		{`50`, 50, true},
		{`"1e3"`, 0, false},
		{`"Inf"`, 0, false},
		{`"NaN"`, 0, false},
		{`"0x10"`, 0, false},
		{`"12,50"`, 0, false},
		{`"."`, 0, false},
		{`""`, 0, false},
	}
	for _, tt := range tests {
		in := `{"event_id":"1","event_name":"Purchase","event_time":1700000000,"pixel_id":"1","custom":{"value":` + tt.value + `,"predicted_ltv":` + tt.value + `}}`
		ev, err := JSON{}.Decode([]byte(in))
		if !tt.ok {
			if err == nil {
				t.Errorf("value %s: decoded, want an error naming custom.value", tt.value)
			}
			continue
		}
		if err != nil {
			t.Errorf("value %s: %v", tt.value, err)
			continue
		}
		if ev.Custom.Value == nil || *ev.Custom.Value != tt.want || ev.Custom.PredictedLTV == nil || *ev.Custom.PredictedLTV != tt.want {
			t.Errorf("value %s: got %v, want %v", tt.value, ev.Custom.Value, tt.want)
		}
	}
}
