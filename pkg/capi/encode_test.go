package capi

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/freight-relay/freight/pkg/event"
)

// referenceJSON encodes a server event with encoding/json, the way the
// hand-written encoder must agree with.
func referenceJSON(t *testing.T, se *ServerEvent) any {
	t.Helper()
	type ref struct {
		ServerEvent
		CustomData           map[string]any    `json:"custom_data,omitempty"`
		AppData              map[string]any    `json:"app_data,omitempty"`
		OriginalEventData    map[string]any    `json:"original_event_data,omitempty"`
		AttributionData      map[string]any    `json:"attribution_data,omitempty"`
		CustomerSegmentation map[string]string `json:"customer_segmentation,omitempty"`
	}
	r := ref{ServerEvent: *se, CustomerSegmentation: se.CustomerSegmentation}
	if a := se.AttributionData; a != nil {
		// encoding/json's form, without what is empty or null.
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &r.AttributionData); err != nil {
			t.Fatal(err)
		}
		var prune func(m map[string]any)
		prune = func(m map[string]any) {
			for k, v := range m {
				if sub, ok := v.(map[string]any); ok {
					prune(sub)
					if len(sub) == 0 {
						delete(m, k)
					}
				} else if v == nil || v == "" {
					delete(m, k)
				}
			}
		}
		prune(r.AttributionData)
		if len(r.AttributionData) == 0 {
			r.AttributionData = nil
		}
	}
	if a := se.AppData; a != nil {
		r.AppData = map[string]any{}
		if a.AdvertiserTrackingEnabled != nil {
			r.AppData["advertiser_tracking_enabled"] = *a.AdvertiserTrackingEnabled
		}
		if a.ApplicationTrackingEnabled != nil {
			r.AppData["application_tracking_enabled"] = *a.ApplicationTrackingEnabled
		}
		if a.Extinfo != nil {
			r.AppData["extinfo"] = a.Extinfo
		}
		if len(a.URLSchemes) > 0 {
			r.AppData["url_schemes"] = a.URLSchemes
		}
		for k, v := range map[string]string{"campaign_ids": a.CampaignIDs, "install_referrer": a.InstallReferrer,
			"installer_package": a.InstallerPackage, "windows_attribution_id": a.WindowsAttributionID} {
			if v != "" {
				r.AppData[k] = v
			}
		}
	}
	if o := se.OriginalEventData; o != nil {
		r.OriginalEventData = map[string]any{"event_name": o.EventName, "event_time": o.EventTime.Unix}
		if o.OrderID != "" {
			r.OriginalEventData["order_id"] = o.OrderID
		}
		if o.EventID != "" {
			r.OriginalEventData["event_id"] = o.EventID
		}
	}
	cd := map[string]any{}
	if c := se.Custom; c != nil {
		for k, v := range c.Properties {
			if !customFields[k] {
				cd[k] = v
			}
		}
		if c.Value != nil {
			cd["value"] = *c.Value
		}
		if c.Currency != "" {
			cd["currency"] = upperASCII(c.Currency)
		}
		if len(c.ContentIDs) > 0 {
			cd["content_ids"] = c.ContentIDs
		}
		if len(c.Contents) > 0 {
			var cs []map[string]any
			for _, it := range c.Contents {
				m := map[string]any{"id": it.ID}
				if it.Quantity != nil {
					m["quantity"] = *it.Quantity
				}
				if it.ItemPrice != nil {
					m["item_price"] = *it.ItemPrice
				}
				for k, v := range map[string]string{"delivery_category": it.DeliveryCategory, "title": it.Title,
					"description": it.Description, "brand": it.Brand, "category": it.Category} {
					if v != "" {
						m[k] = v
					}
				}
				cs = append(cs, m)
			}
			cd["contents"] = cs
		}
		for k, v := range map[string]string{"content_type": c.ContentType, "content_name": c.ContentName,
			"content_category": c.ContentCategory, "order_id": c.OrderID, "search_string": c.SearchString,
			"status": c.Status, "delivery_category": c.DeliveryCategory} {
			if v != "" {
				cd[k] = v
			}
		}
		if c.NumItems != nil {
			cd["num_items"] = *c.NumItems
		}
		if c.PredictedLTV != nil {
			cd["predicted_ltv"] = *c.PredictedLTV
		}
		if c.NetRevenue != nil {
			cd["net_revenue"] = *c.NetRevenue
		}
	}
	if se.LeadEventSource != "" {
		cd["lead_event_source"] = se.LeadEventSource
		cd["event_source"] = "crm"
	}
	if len(cd) > 0 {
		r.CustomData = cd
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if se.DataProcessingOptions != nil && len(se.DataProcessingOptions) == 0 {
		out["data_processing_options"] = []any{} // omitempty drops it; we send it
	}
	return any(out)
}

func TestEncoderAgreesWithEncodingJSON(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int64) *int64 { return &v }
	n := func(v int) *int { return &v }
	b := func(v bool) *bool { return &v }
	tests := []struct {
		name string
		se   ServerEvent
	}{
		{"minimal", ServerEvent{EventName: "PageView", EventTime: 1, ActionSource: "website",
			UserData: UserData{ClientUserAgent: "UA"}}},
		{"every field", ServerEvent{EventName: "Purchase", EventTime: 1795867200, EventID: "e-1", ActionSource: "website",
			EventSourceURL: "https://x.com/a?b=<c>&d", ReferrerURL: "https://r.com", OptOut: true,
			DataProcessingOptions: []string{"LDU"}, DataProcessingOptionsCountry: n(1), DataProcessingOptionsState: n(1000),
			UserData: UserData{Em: []string{"a", "b"}, Ph: []string{"c"}, Fn: []string{"d"}, Ln: []string{"e"}, Ge: []string{"f"},
				Db: []string{"g"}, Ct: []string{"h"}, St: []string{"i"}, Zp: []string{"j"}, Country: []string{"k"},
				ExternalID: []string{"l"}, ClientIPAddress: "::1", ClientUserAgent: "Mozilla \"5\"\n", Fbc: "fb.1.2.x",
				Fbp: "fb.1.2.3", SubscriptionID: "s", LeadID: 123456789012345, FBLoginID: 42,
				AnonID: "an", MADID: "ma", PageID: "1", PageScopedUserID: "2", CTWAClid: "ct", IGAccountID: "3", IGSID: "4"},
			MessagingChannel: "whatsapp",
			AppData: &event.AppData{AdvertiserTrackingEnabled: b(true), ApplicationTrackingEnabled: b(false),
				Extinfo: []string{"a2", "", "x\"y"}, CampaignIDs: "c", InstallReferrer: "r", InstallerPackage: "p",
				URLSchemes: []string{"s://"}, WindowsAttributionID: "w"},
			OriginalEventData: &event.OriginalEventData{EventName: "Purchase", EventTime: event.TimeOf(1795867000123), OrderID: "o", EventID: "e"},
			AttributionData: &event.AttributionData{Scope: "click", VisitTime: i(1795867000), AdID: "1", AdsetID: "2", CampaignID: "3",
				AttributionShare: f(0.25), AttributionModel: "last_click", AttrWindow: i(7), AttributionValue: f(12.5),
				AttributionSource: "amm", TouchpointType: "click", TouchpointTS: i(1795866000), AttributionMethod: "deeplink",
				DeclineReason: "", AuditingToken: "t\"", LinkageKey: "k",
				AttributionSetting: &event.AttributionSetting{InactivityWindowHours: i(24), ReattributionWindowHours: i(0)}},
			CustomerSegmentation: map[string]string{"b": "2", "a": "1"},
			Custom: &event.Custom{Value: f(12.5), Currency: "eur", ContentIDs: []string{"1", "2"},
				Contents: []event.Content{{ID: "A", Quantity: i(2), ItemPrice: f(1e-7), DeliveryCategory: "home_delivery",
					Title: "Boot \"Trail\"", Description: "d\n", Brand: "b", Category: "c > d"}, {ID: "B"}},
				ContentType: "product", ContentName: "Shoe ☃", ContentCategory: "c", OrderID: "o", NumItems: i(3),
				PredictedLTV: f(1e22), NetRevenue: f(-3.5), SearchString: "s", Status: "ok", DeliveryCategory: "curbside",
				Properties: map[string]string{"color": "red", "value": "must not override", "z\u2028": "\x01"}},
			LeadEventSource: "Acme CRM"}},
		{"empty data processing options and app data", ServerEvent{EventName: "A", EventTime: 1, ActionSource: "app",
			DataProcessingOptions: []string{}, UserData: UserData{MADID: "m"}, AppData: &event.AppData{Extinfo: []string{}},
			OriginalEventData: &event.OriginalEventData{EventName: "B"}, AttributionData: &event.AttributionData{AttributionSetting: &event.AttributionSetting{}}}},
		{"custom data that says nothing", ServerEvent{EventName: "A", EventTime: 1, ActionSource: "other",
			UserData: UserData{Em: []string{"x"}}, Custom: &event.Custom{}}},
		{"invalid UTF-8 is replaced", ServerEvent{EventName: "bad\xffname", EventTime: 1, ActionSource: "other",
			UserData: UserData{Em: []string{"x"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := appendServerEvent(nil, &tt.se)
			if !json.Valid(raw) {
				t.Fatalf("invalid JSON: %s", raw)
			}
			var got any
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if want := referenceJSON(t, &tt.se); !reflect.DeepEqual(got, want) {
				t.Errorf("encoders disagree\n got %v\nwant %v", got, want)
			}
		})
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ slash", "<>&", "\x00\x1f\x7f", "é☃😀", "\xff\xfe", "\u2028\u2029"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func FuzzAppendFloat(f *testing.F) {
	for _, v := range []float64{0, 1, -1.5, 1e-7, 1e21, 123456789.125, 5e-324} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		want, err := json.Marshal(v)
		if err != nil {
			t.Skip("NaN and infinities are not JSON")
		}
		if got := appendFloat(nil, v); string(got) != string(want) {
			t.Fatalf("appendFloat(%v) = %s, want %s", v, got, want)
		}
	})
}
