package capi

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/freight-relay/freight/pkg/event"
)

// This file writes a server event as JSON by hand. It runs once per event on
// the hot path, where encoding/json's reflection cost more than the rest of
// the mapping together. The output is what encoding/json would write for
// ServerEvent, with custom_data built from the raw custom fields; the tests
// check both agree.

func appendServerEvent(b []byte, se *ServerEvent) []byte {
	b = append(b, `{"event_name":`...)
	b = appendString(b, se.EventName)
	b = append(b, `,"event_time":`...)
	b = strconv.AppendInt(b, se.EventTime, 10)
	if se.EventID != "" {
		b = append(b, `,"event_id":`...)
		b = appendString(b, se.EventID)
	}
	b = append(b, `,"action_source":`...)
	b = appendString(b, se.ActionSource)
	b = appendStringField(b, "event_source_url", se.EventSourceURL)
	b = appendStringField(b, "referrer_url", se.ReferrerURL)
	if se.OptOut {
		b = append(b, `,"opt_out":true`...)
	}
	if se.DataProcessingOptions != nil { // [] explicitly says "no LDU"
		b = append(b, `,"data_processing_options":`...)
		b = appendStrings(b, se.DataProcessingOptions)
	}
	if se.DataProcessingOptionsCountry != nil {
		b = append(b, `,"data_processing_options_country":`...)
		b = strconv.AppendInt(b, int64(*se.DataProcessingOptionsCountry), 10)
	}
	if se.DataProcessingOptionsState != nil {
		b = append(b, `,"data_processing_options_state":`...)
		b = strconv.AppendInt(b, int64(*se.DataProcessingOptionsState), 10)
	}
	b = appendStringField(b, "messaging_channel", se.MessagingChannel)
	b = append(b, `,"user_data":`...)
	b = appendUserData(b, &se.UserData)
	b = appendCustomData(b, se.Custom, se.LeadEventSource)
	b = appendAppData(b, se.AppData)
	if o := se.OriginalEventData; o != nil {
		b = append(b, `,"original_event_data":{"event_name":`...)
		b = appendString(b, o.EventName)
		b = append(b, `,"event_time":`...)
		b = strconv.AppendInt(b, o.EventTime.Unix, 10)
		b = appendStringField(b, "order_id", o.OrderID)
		b = appendStringField(b, "event_id", o.EventID)
		b = append(b, '}')
	}
	b = appendAttributionData(b, se.AttributionData)
	switch {
	case se.CustomerSegment != "":
		b = append(b, `,"customer_segmentation":`...)
		b = appendString(b, se.CustomerSegment)
	case len(se.CustomerSegmentation) > 0:
		b = append(b, `,"customer_segmentation":`...)
		b = appendStringMap(b, se.CustomerSegmentation, nil)
	}
	return append(b, '}')
}

func appendAppData(b []byte, a *event.AppData) []byte {
	if a == nil {
		return b
	}
	b = append(b, `,"app_data":{`...)
	n := len(b)
	for _, f := range [...]struct {
		k string
		v *bool
	}{{"advertiser_tracking_enabled", a.AdvertiserTrackingEnabled}, {"application_tracking_enabled", a.ApplicationTrackingEnabled}} {
		if f.v != nil {
			b = appendKey(b, n, f.k)
			b = strconv.AppendBool(b, *f.v)
		}
	}
	if a.Extinfo != nil {
		// Every position counts, empty ones too.
		b = appendKey(b, n, "extinfo")
		b = appendStrings(b, a.Extinfo)
	}
	for _, f := range [...]struct{ k, v string }{{"campaign_ids", a.CampaignIDs}, {"install_referrer", a.InstallReferrer},
		{"installer_package", a.InstallerPackage}, {"windows_attribution_id", a.WindowsAttributionID}} {
		if f.v != "" {
			b = appendKey(b, n, f.k)
			b = appendString(b, f.v)
		}
	}
	if len(a.URLSchemes) > 0 {
		b = appendKey(b, n, "url_schemes")
		b = appendStrings(b, a.URLSchemes)
	}
	return append(b, '}')
}

func appendUserData(b []byte, u *UserData) []byte {
	b = append(b, '{')
	n := len(b)
	for _, f := range [...]struct {
		k string
		v []string
	}{{"em", u.Em}, {"ph", u.Ph}, {"fn", u.Fn}, {"ln", u.Ln}, {"ge", u.Ge}, {"db", u.Db}, {"ct", u.Ct},
		{"st", u.St}, {"zp", u.Zp}, {"country", u.Country}, {"external_id", u.ExternalID}} {
		if len(f.v) > 0 {
			b = appendKey(b, n, f.k)
			b = appendStrings(b, f.v)
		}
	}
	for _, f := range [...]struct{ k, v string }{{"client_ip_address", u.ClientIPAddress},
		{"client_user_agent", u.ClientUserAgent}, {"fbc", u.Fbc}, {"fbp", u.Fbp}, {"subscription_id", u.SubscriptionID},
		{"anon_id", u.AnonID}, {"madid", u.MADID}, {"page_id", u.PageID}, {"page_scoped_user_id", u.PageScopedUserID},
		{"ctwa_clid", u.CTWAClid}, {"ig_account_id", u.IGAccountID}, {"ig_sid", u.IGSID}} {
		if f.v != "" {
			b = appendKey(b, n, f.k)
			b = appendString(b, f.v)
		}
	}
	if u.LeadID != 0 {
		b = appendKey(b, n, "lead_id")
		b = strconv.AppendInt(b, u.LeadID, 10)
	}
	if u.FBLoginID != 0 {
		b = appendKey(b, n, "fb_login_id")
		b = strconv.AppendInt(b, u.FBLoginID, 10)
	}
	return append(b, '}')
}

// customFields are custom_data's named fields; a property of the same name
// is dropped so that it never overrides one.
var customFields = map[string]bool{"value": true, "currency": true, "content_ids": true, "contents": true,
	"content_type": true, "content_name": true, "content_category": true, "order_id": true, "num_items": true,
	"predicted_ltv": true, "net_revenue": true, "search_string": true, "status": true, "delivery_category": true,
	"lead_event_source": true, "event_source": true}

func appendCustomData(b []byte, c *event.Custom, leadEventSource string) []byte {
	if c == nil && leadEventSource == "" {
		return b
	}
	start := len(b)
	b = append(b, `,"custom_data":{`...)
	n := len(b)
	if c != nil {
		if c.Value != nil {
			b = appendKey(b, n, "value")
			b = appendFloat(b, *c.Value)
		}
		if c.Currency != "" {
			b = appendKey(b, n, "currency")
			b = appendString(b, upperASCII(c.Currency))
		}
		if len(c.ContentIDs) > 0 {
			b = appendKey(b, n, "content_ids")
			b = appendStrings(b, c.ContentIDs)
		}
		if len(c.Contents) > 0 {
			b = appendKey(b, n, "contents")
			b = append(b, '[')
			for i, it := range c.Contents {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"id":`...)
				b = appendString(b, it.ID)
				if it.Quantity != nil {
					b = append(b, `,"quantity":`...)
					b = strconv.AppendInt(b, *it.Quantity, 10)
				}
				if it.ItemPrice != nil {
					b = append(b, `,"item_price":`...)
					b = appendFloat(b, *it.ItemPrice)
				}
				b = appendStringField(b, "delivery_category", it.DeliveryCategory)
				b = appendStringField(b, "title", it.Title)
				b = appendStringField(b, "description", it.Description)
				b = appendStringField(b, "brand", it.Brand)
				b = appendStringField(b, "category", it.Category)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		for _, f := range [...]struct{ k, v string }{{"content_type", c.ContentType}, {"content_name", c.ContentName},
			{"content_category", c.ContentCategory}, {"order_id", c.OrderID}} {
			if f.v != "" {
				b = appendKey(b, n, f.k)
				b = appendString(b, f.v)
			}
		}
		if c.NumItems != nil {
			b = appendKey(b, n, "num_items")
			b = strconv.AppendInt(b, *c.NumItems, 10)
		}
		if c.PredictedLTV != nil {
			b = appendKey(b, n, "predicted_ltv")
			b = appendFloat(b, *c.PredictedLTV)
		}
		if c.NetRevenue != nil {
			b = appendKey(b, n, "net_revenue")
			b = appendFloat(b, *c.NetRevenue)
		}
		for _, f := range [...]struct{ k, v string }{{"search_string", c.SearchString}, {"status", c.Status},
			{"delivery_category", c.DeliveryCategory}} {
			if f.v != "" {
				b = appendKey(b, n, f.k)
				b = appendString(b, f.v)
			}
		}
		b = appendMembers(b, n, c.Properties, customFields)
		b = appendLiterals(b, n, c.PropertyLiterals, c.Properties)
	}
	if leadEventSource != "" {
		b = appendKey(b, n, "lead_event_source")
		b = appendString(b, leadEventSource)
		b = appendKey(b, n, "event_source")
		b = appendString(b, "crm")
	}
	if len(b) == n { // nothing to say
		return b[:start]
	}
	return append(b, '}')
}

// appendStringMap writes m as a JSON object.
func appendStringMap(b []byte, m map[string]string, skip map[string]bool) []byte {
	b = append(b, '{')
	b = appendMembers(b, len(b), m, skip)
	return append(b, '}')
}

// appendMembers writes the members of m not in skip, sorted so that the
// same event always encodes the same, into an object whose members start
// at n.
func appendMembers(b []byte, n int, m map[string]string, skip map[string]bool) []byte {
	if len(m) == 0 {
		return b
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !skip[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendKey(b, n, k)
		b = appendString(b, m[k])
	}
	return b
}

// appendLiterals writes the custom properties that are numbers or
// booleans (their JSON text, checked by the decoder), sorted, skipping the
// contract's own custom fields and keys strs has too.
func appendLiterals(b []byte, n int, lits, strs map[string]string) []byte {
	if len(lits) == 0 {
		return b
	}
	keys := make([]string, 0, len(lits))
	for k := range lits {
		if _, dup := strs[k]; !dup && !customFields[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendKey(b, n, k)
		b = append(b, lits[k]...)
	}
	return b
}

// appendKey writes "k": preceded by a comma unless it is the first member
// (the object's members start at n).
func appendKey(b []byte, n int, k string) []byte {
	if len(b) > n {
		b = append(b, ',')
	}
	b = appendString(b, k)
	return append(b, ':')
}

func appendStringField(b []byte, k, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',')
	b = appendString(b, k)
	b = append(b, ':')
	return appendString(b, v)
}

func appendStrings(b []byte, vs []string) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v)
	}
	return append(b, ']')
}

// appendFloat formats like encoding/json.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// plainASCII marks the bytes appendString copies as they are: one table
// lookup per byte on the hot path (most strings are hex hashes).
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString writes a JSON string, escaping as encoding/json does (HTML
// characters included) and replacing invalid UTF-8 with U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plainASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			u := []byte(s)
			for j := i; j < len(u); j++ {
				if 'a' <= u[j] && u[j] <= 'z' {
					u[j] -= 'a' - 'A'
				}
			}
			return string(u)
		}
	}
	return s
}

// appendAttributionData writes attribution_data as Meta's business SDKs do:
// the fields given, nothing for the others.
func appendAttributionData(b []byte, a *event.AttributionData) []byte {
	if a == nil {
		return b
	}
	start := len(b)
	b = append(b, `,"attribution_data":{`...)
	n := len(b)
	for _, f := range [...]struct{ k, v string }{{"scope", a.Scope}, {"ad_id", a.AdID}, {"adset_id", a.AdsetID},
		{"campaign_id", a.CampaignID}, {"attribution_model", a.AttributionModel}, {"attribution_source", a.AttributionSource},
		{"touchpoint_type", a.TouchpointType}, {"attribution_method", a.AttributionMethod}, {"decline_reason", a.DeclineReason},
		{"auditing_token", a.AuditingToken}, {"linkage_key", a.LinkageKey}} {
		if f.v != "" {
			b = appendKey(b, n, f.k)
			b = appendString(b, f.v)
		}
	}
	for _, f := range [...]struct {
		k string
		v *int64
	}{{"visit_time", a.VisitTime}, {"attr_window", a.AttrWindow}, {"touchpoint_ts", a.TouchpointTS}} {
		if f.v != nil {
			b = appendKey(b, n, f.k)
			b = strconv.AppendInt(b, *f.v, 10)
		}
	}
	for _, f := range [...]struct {
		k string
		v *float64
	}{{"attribution_share", a.AttributionShare}, {"attribution_value", a.AttributionValue}} {
		if f.v != nil {
			b = appendKey(b, n, f.k)
			b = appendFloat(b, *f.v)
		}
	}
	if s := a.AttributionSetting; s != nil && (s.InactivityWindowHours != nil || s.ReattributionWindowHours != nil) {
		b = appendKey(b, n, "attribution_setting")
		b = append(b, '{')
		m := len(b)
		if s.InactivityWindowHours != nil {
			b = appendKey(b, m, "inactivity_window_hours")
			b = strconv.AppendInt(b, *s.InactivityWindowHours, 10)
		}
		if s.ReattributionWindowHours != nil {
			b = appendKey(b, m, "reattribution_window_hours")
			b = strconv.AppendInt(b, *s.ReattributionWindowHours, 10)
		}
		b = append(b, '}')
	}
	if len(b) == n { // nothing given
		return b[:start]
	}
	return append(b, '}')
}
