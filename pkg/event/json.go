package event

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/valyala/fastjson"
)

// JSON decodes events encoded as JSON objects. It is safe for concurrent
// use.
//
// It walks a parsed tree (fastjson) instead of using encoding/json's
// reflection: decoding is on the hot path of every record, and this is
// about ten times faster. Semantics follow encoding/json: null means absent,
// unknown fields are ignored, the last of duplicate keys wins, a type
// mismatch is an error naming the field.
type JSON struct{}

var parsers sync.Pool

// Decode parses one JSON event. Errors are *DecodeError and never quote the
// value (it may hold customer data).
func (JSON) Decode(value []byte) (Event, error) {
	if len(bytes.TrimSpace(value)) == 0 {
		return Event{}, &DecodeError{Format: "json", Reason: "the record value is empty"}
	}
	p, _ := parsers.Get().(*fastjson.Parser)
	if p == nil {
		p = new(fastjson.Parser)
	}
	defer parsers.Put(p)
	// fastjson's validator recurses without a limit: a record of a few
	// million brackets would overflow the stack. Its parser stops at 300
	// levels, so deeper values are refused anyway; refuse them here first.
	if tooDeep(value) {
		return Event{}, &DecodeError{Format: "json", Reason: "JSON nested too deeply"}
	}
	// The parser is lenient with string escapes; the validator is not.
	if err := fastjson.ValidateBytes(value); err != nil {
		return Event{}, &DecodeError{Format: "json", Reason: "malformed JSON"}
	}
	v, err := p.ParseBytes(value)
	if err != nil {
		// fastjson's message quotes the input: say less.
		return Event{}, &DecodeError{Format: "json", Reason: "malformed JSON"}
	}
	if v.Type() != fastjson.TypeObject {
		return Event{}, &DecodeError{Format: "json", Reason: "the value is a JSON " + typeName(v) + ", not an object"}
	}
	d := decoder{buf: make([]byte, 0, len(value))}
	e := d.event(v)
	if d.err != "" {
		return Event{}, &DecodeError{Format: "json", Reason: d.err}
	}
	return e, nil
}

// maxDepth is the deepest nesting accepted; events need 4 levels.
const maxDepth = 64

// tooDeep reports whether value nests arrays and objects deeper than
// maxDepth. Brackets inside strings are skipped; the common case, a value
// with few brackets, costs two fast counts.
func tooDeep(value []byte) bool {
	if bytes.Count(value, []byte("["))+bytes.Count(value, []byte("{")) <= maxDepth {
		return false
	}
	depth, inString, escaped := 0, false, false
	for _, c := range value {
		switch {
		case escaped:
			escaped = false
		case inString:
			if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > maxDepth {
				return true
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return false
}

// decoder keeps the first problem found, and the event's strings.
//
// Every string of the event is copied into buf, one allocation the size of
// the value (no string is longer in the event than in its JSON), and
// one-value Strings share the backing array strs: decoding allocates a few
// times per event, not twice per field. Nothing written to buf is ever
// changed, so the strings made from it stay immutable; they keep the whole
// buffer alive, so a caller holding an event's string long copies it.
type decoder struct {
	err    string
	buf    []byte
	strs   []string
	ints   []int64 // the targets of the event's *int64, likewise
	floats []float64
}

// text returns b as a string in the event's buffer.
func (d *decoder) text(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(d.buf)-len(d.buf) < len(b) { // cannot happen (see decoder); stay correct anyway
		d.buf = make([]byte, 0, max(len(b), 256))
	}
	start := len(d.buf)
	d.buf = append(d.buf, b...)
	return unsafe.String(&d.buf[start], len(b))
}

// one returns Strings holding s alone, from the event's shared backing.
func (d *decoder) one(s string) Strings {
	if len(d.strs) == cap(d.strs) {
		d.strs = make([]string, 0, 16)
	}
	d.strs = append(d.strs, s)
	n := len(d.strs)
	return d.strs[n-1 : n : n]
}

func (d *decoder) fail(field, want string, v *fastjson.Value) {
	if d.err == "" {
		d.err = fmt.Sprintf("field %s is a JSON %s, want %s", field, typeName(v), want)
	}
}

func (d *decoder) event(v *fastjson.Value) Event {
	var e Event
	o, _ := v.Object()
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "event_id":
			e.EventID = d.str("event_id", v)
		case "event_name":
			e.EventName = d.str("event_name", v)
		case "event_time":
			e.EventTime = d.time("event_time", v)
		case "pixel_id":
			e.PixelID = d.str("pixel_id", v)
		case "event_source_url":
			e.EventSourceURL = d.str("event_source_url", v)
		case "action_source":
			e.ActionSource = d.str("action_source", v)
		case "referrer_url":
			e.ReferrerURL = d.str("referrer_url", v)
		case "opt_out":
			e.OptOut = d.bool("opt_out", v)
		case "data_processing_options":
			e.DataProcessingOptions = d.strArray("data_processing_options", v)
		case "data_processing_options_country":
			e.DataProcessingOptionsCountry = d.intPtr("data_processing_options_country", v)
		case "data_processing_options_state":
			e.DataProcessingOptionsState = d.intPtr("data_processing_options_state", v)
		case "user":
			e.User = d.user(v)
		case "custom":
			e.Custom = d.custom(v)
		case "app_data":
			e.AppData = d.appData(v)
		case "messaging_channel":
			e.MessagingChannel = d.str("messaging_channel", v)
		case "original_event_data":
			e.OriginalEventData = d.originalEventData(v)
		case "attribution_data":
			e.AttributionData = d.attributionData(v)
		case "customer_segmentation":
			if v.Type() == fastjson.TypeString {
				e.CustomerSegment = d.str("customer_segmentation", v)
			} else {
				e.CustomerSegmentation = d.stringMap("customer_segmentation", v)
			}
		case "test_event_code":
			e.TestEventCode = d.str("test_event_code", v)
		case "namespace_id":
			e.NamespaceID = d.str("namespace_id", v)
		case "upload_id":
			e.UploadID = d.str("upload_id", v)
		case "upload_tag":
			e.UploadTag = d.str("upload_tag", v)
		case "upload_source":
			e.UploadSource = d.str("upload_source", v)
		case "crm_id":
			e.CRMID = d.str("crm_id", v)
		case "lead_event_source":
			e.LeadEventSource = d.str("lead_event_source", v)
		}
	})
	return e
}

func (d *decoder) user(v *fastjson.Value) *User {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	if v.Type() != fastjson.TypeObject {
		d.fail("user", "an object", v)
		return nil
	}
	u := &User{}
	o, _ := v.Object()
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "email":
			u.Email = d.strings("user.email", v)
		case "phone":
			u.Phone = d.strings("user.phone", v)
		case "first_name":
			u.FirstName = d.strings("user.first_name", v)
		case "last_name":
			u.LastName = d.strings("user.last_name", v)
		case "gender":
			u.Gender = d.strings("user.gender", v)
		case "date_of_birth":
			u.DateOfBirth = d.strings("user.date_of_birth", v)
		case "city":
			u.City = d.strings("user.city", v)
		case "state":
			u.State = d.strings("user.state", v)
		case "zip":
			u.Zip = d.strings("user.zip", v)
		case "country":
			u.Country = d.strings("user.country", v)
		case "external_id":
			u.ExternalID = d.strings("user.external_id", v)
		case "client_ip_address":
			u.ClientIPAddress = d.str("user.client_ip_address", v)
		case "client_user_agent":
			u.ClientUserAgent = d.str("user.client_user_agent", v)
		case "fbp":
			u.FBP = d.str("user.fbp", v)
		case "fbc":
			u.FBC = d.str("user.fbc", v)
		case "fbclid":
			u.FBCLID = d.str("user.fbclid", v)
		case "subscription_id":
			u.SubscriptionID = d.str("user.subscription_id", v)
		case "lead_id":
			u.LeadID = d.integer("user.lead_id", v)
		case "fb_login_id":
			u.FBLoginID = d.integer("user.fb_login_id", v)
		case "anon_id":
			u.AnonID = d.str("user.anon_id", v)
		case "madid":
			u.MADID = d.str("user.madid", v)
		case "page_id":
			u.PageID = d.id("user.page_id", v)
		case "page_scoped_user_id":
			u.PageScopedUserID = d.id("user.page_scoped_user_id", v)
		case "ctwa_clid":
			u.CTWAClid = d.str("user.ctwa_clid", v)
		case "ig_account_id":
			u.IGAccountID = d.id("user.ig_account_id", v)
		case "ig_sid":
			u.IGSID = d.id("user.ig_sid", v)
		}
	})
	return u
}

func (d *decoder) custom(v *fastjson.Value) *Custom {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	if v.Type() != fastjson.TypeObject {
		d.fail("custom", "an object", v)
		return nil
	}
	c := &Custom{}
	o, _ := v.Object()
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "value":
			c.Value = d.floatPtr("custom.value", v)
		case "currency":
			c.Currency = d.str("custom.currency", v)
		case "content_ids":
			c.ContentIDs = d.strArray("custom.content_ids", v)
		case "contents":
			c.Contents = d.contents(v)
		case "content_type":
			c.ContentType = d.str("custom.content_type", v)
		case "content_name":
			c.ContentName = d.str("custom.content_name", v)
		case "content_category":
			c.ContentCategory = d.str("custom.content_category", v)
		case "order_id":
			c.OrderID = d.str("custom.order_id", v)
		case "num_items":
			c.NumItems = d.int64Ptr("custom.num_items", v)
		case "predicted_ltv":
			c.PredictedLTV = d.floatPtr("custom.predicted_ltv", v)
		case "net_revenue":
			c.NetRevenue = d.floatPtr("custom.net_revenue", v)
		case "search_string":
			c.SearchString = d.str("custom.search_string", v)
		case "status":
			c.Status = d.str("custom.status", v)
		case "delivery_category":
			c.DeliveryCategory = d.str("custom.delivery_category", v)
		case "properties":
			c.Properties, c.PropertyLiterals = d.properties(v)
		}
	})
	return c
}

func (d *decoder) contents(v *fastjson.Value) []Content {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	if v.Type() != fastjson.TypeArray {
		d.fail("custom.contents", "an array of objects", v)
		return nil
	}
	items, _ := v.Array()
	out := make([]Content, 0, len(items))
	for _, it := range items {
		if it.Type() != fastjson.TypeObject {
			d.fail("custom.contents[]", "an object", it)
			return nil
		}
		var c Content
		o, _ := it.Object()
		o.Visit(func(k []byte, v *fastjson.Value) {
			switch string(k) {
			case "id":
				c.ID = d.str("custom.contents[].id", v)
			case "quantity":
				c.Quantity = d.int64Ptr("custom.contents[].quantity", v)
			case "item_price":
				c.ItemPrice = d.floatPtr("custom.contents[].item_price", v)
			case "delivery_category":
				c.DeliveryCategory = d.str("custom.contents[].delivery_category", v)
			case "title":
				c.Title = d.str("custom.contents[].title", v)
			case "description":
				c.Description = d.str("custom.contents[].description", v)
			case "brand":
				c.Brand = d.str("custom.contents[].brand", v)
			case "category":
				c.Category = d.str("custom.contents[].category", v)
			}
		})
		out = append(out, c)
	}
	return out
}

func (d *decoder) appData(v *fastjson.Value) *AppData {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	if v.Type() != fastjson.TypeObject {
		d.fail("app_data", "an object", v)
		return nil
	}
	a := &AppData{}
	o, _ := v.Object()
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "advertiser_tracking_enabled":
			a.AdvertiserTrackingEnabled = d.boolPtr("app_data.advertiser_tracking_enabled", v)
		case "application_tracking_enabled":
			a.ApplicationTrackingEnabled = d.boolPtr("app_data.application_tracking_enabled", v)
		case "extinfo":
			a.Extinfo = d.strArray("app_data.extinfo", v)
		case "campaign_ids":
			a.CampaignIDs = d.str("app_data.campaign_ids", v)
		case "install_referrer":
			a.InstallReferrer = d.str("app_data.install_referrer", v)
		case "installer_package":
			a.InstallerPackage = d.str("app_data.installer_package", v)
		case "url_schemes":
			a.URLSchemes = d.strArray("app_data.url_schemes", v)
		case "windows_attribution_id":
			a.WindowsAttributionID = d.str("app_data.windows_attribution_id", v)
		}
	})
	return a
}

func (d *decoder) attributionData(v *fastjson.Value) *AttributionData {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	if v.Type() != fastjson.TypeObject {
		d.fail("attribution_data", "an object", v)
		return nil
	}
	a := &AttributionData{}
	o, _ := v.Object()
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "scope":
			a.Scope = d.str("attribution_data.scope", v)
		case "ad_id":
			a.AdID = d.str("attribution_data.ad_id", v)
		case "adset_id":
			a.AdsetID = d.str("attribution_data.adset_id", v)
		case "campaign_id":
			a.CampaignID = d.str("attribution_data.campaign_id", v)
		case "attribution_model":
			a.AttributionModel = d.str("attribution_data.attribution_model", v)
		case "attribution_source":
			a.AttributionSource = d.str("attribution_data.attribution_source", v)
		case "touchpoint_type":
			a.TouchpointType = d.str("attribution_data.touchpoint_type", v)
		case "attribution_method":
			a.AttributionMethod = d.str("attribution_data.attribution_method", v)
		case "decline_reason":
			a.DeclineReason = d.str("attribution_data.decline_reason", v)
		case "auditing_token":
			a.AuditingToken = d.str("attribution_data.auditing_token", v)
		case "linkage_key":
			a.LinkageKey = d.str("attribution_data.linkage_key", v)
		case "visit_time":
			a.VisitTime = d.int64Ptr("attribution_data.visit_time", v)
		case "attr_window":
			a.AttrWindow = d.int64Ptr("attribution_data.attr_window", v)
		case "touchpoint_ts":
			a.TouchpointTS = d.int64Ptr("attribution_data.touchpoint_ts", v)
		case "attribution_share":
			a.AttributionShare = d.floatPtr("attribution_data.attribution_share", v)
		case "attribution_value":
			a.AttributionValue = d.floatPtr("attribution_data.attribution_value", v)
		case "attribution_setting":
			if v.Type() == fastjson.TypeNull {
				return
			}
			if v.Type() != fastjson.TypeObject {
				d.fail("attribution_data.attribution_setting", "an object", v)
				return
			}
			s := &AttributionSetting{}
			so, _ := v.Object()
			so.Visit(func(k []byte, v *fastjson.Value) {
				switch string(k) {
				case "inactivity_window_hours":
					s.InactivityWindowHours = d.int64Ptr("attribution_data.attribution_setting.inactivity_window_hours", v)
				case "reattribution_window_hours":
					s.ReattributionWindowHours = d.int64Ptr("attribution_data.attribution_setting.reattribution_window_hours", v)
				}
			})
			a.AttributionSetting = s
		}
	})
	return a
}

func (d *decoder) originalEventData(v *fastjson.Value) *OriginalEventData {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	if v.Type() != fastjson.TypeObject {
		d.fail("original_event_data", "an object", v)
		return nil
	}
	od := &OriginalEventData{}
	o, _ := v.Object()
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "event_name":
			od.EventName = d.str("original_event_data.event_name", v)
		case "event_time":
			od.EventTime = d.time("original_event_data.event_time", v)
		case "order_id":
			od.OrderID = d.str("original_event_data.order_id", v)
		case "event_id":
			od.EventID = d.str("original_event_data.event_id", v)
		}
	})
	return od
}

// properties reads custom.properties: strings, and numbers and booleans
// kept as their JSON text (literals).
func (d *decoder) properties(v *fastjson.Value) (strs, literals map[string]string) {
	const field = "custom.properties"
	if v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	if v.Type() != fastjson.TypeObject {
		d.fail(field, "an object", v)
		return nil, nil
	}
	o, _ := v.Object()
	strs = make(map[string]string, o.Len())
	o.Visit(func(k []byte, v *fastjson.Value) {
		var lit string
		switch v.Type() {
		case fastjson.TypeString:
			strs[d.text(k)] = d.text(v.GetStringBytes())
			return
		case fastjson.TypeNull:
			return
		case fastjson.TypeTrue:
			lit = "true"
		case fastjson.TypeFalse:
			lit = "false"
		case fastjson.TypeNumber:
			if f, err := v.Float64(); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				d.fail(field+" values", "a finite number", v)
				return
			}
			lit = d.text(v.MarshalTo(nil))
		default:
			d.fail(field+" values", "a string, a number or a boolean", v)
			return
		}
		if literals == nil {
			literals = map[string]string{}
		}
		literals[d.text(k)] = lit
	})
	return strs, literals
}

// stringMap reads an object whose values are strings (null values are
// dropped).
func (d *decoder) stringMap(field string, v *fastjson.Value) map[string]string {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	if v.Type() != fastjson.TypeObject {
		d.fail(field, "an object of strings", v)
		return nil
	}
	o, _ := v.Object()
	m := make(map[string]string, o.Len())
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch v.Type() {
		case fastjson.TypeString:
			m[d.text(k)] = d.text(v.GetStringBytes())
		case fastjson.TypeNull:
		default:
			d.fail(field+" values", "a string", v)
		}
	})
	return m
}

func (d *decoder) str(field string, v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeString:
		return d.text(v.GetStringBytes())
	case fastjson.TypeNull:
		return ""
	}
	d.fail(field, "a string", v)
	return ""
}

// strings reads a string or an array of strings.
func (d *decoder) strings(field string, v *fastjson.Value) Strings {
	if v.Type() == fastjson.TypeString {
		return d.one(d.text(v.GetStringBytes()))
	}
	return d.strArray(field, v)
}

func (d *decoder) strArray(field string, v *fastjson.Value) []string {
	switch v.Type() {
	case fastjson.TypeNull:
		return nil
	case fastjson.TypeArray:
		items, _ := v.Array()
		out := make([]string, len(items))
		for i, it := range items {
			switch it.Type() {
			case fastjson.TypeString:
				out[i] = d.text(it.GetStringBytes())
			case fastjson.TypeNull:
			default:
				d.fail(field, "a string or an array of strings", it)
			}
		}
		return out
	}
	d.fail(field, "a string or an array of strings", v)
	return nil
}

func (d *decoder) bool(field string, v *fastjson.Value) bool {
	switch v.Type() {
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse, fastjson.TypeNull:
		return false
	}
	d.fail(field, "a boolean", v)
	return false
}

func (d *decoder) boolPtr(field string, v *fastjson.Value) *bool {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	b := d.bool(field, v)
	return &b
}

// id reads a platform id given as a string or as an integer (Page and
// Instagram ids are numeric; producers write them either way).
func (d *decoder) id(field string, v *fastjson.Value) string {
	if v.Type() == fastjson.TypeNumber {
		if n := d.integer(field, v); n != 0 {
			return strconv.FormatInt(int64(n), 10)
		}
		return ""
	}
	return d.str(field, v)
}

func (d *decoder) int64Ptr(field string, v *fastjson.Value) *int64 {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	if v.Type() == fastjson.TypeNumber {
		// Int64 takes digits only, as strconv.ParseInt: 1.0 and 1e3 are
		// refused.
		if n, err := v.Int64(); err == nil {
			if len(d.ints) == cap(d.ints) {
				d.ints = make([]int64, 0, 8)
			}
			d.ints = append(d.ints, n)
			return &d.ints[len(d.ints)-1]
		}
	}
	d.fail(field, "an integer", v)
	return nil
}

func (d *decoder) intPtr(field string, v *fastjson.Value) *int {
	p := d.int64Ptr(field, v)
	if p == nil {
		return nil
	}
	if *p < math.MinInt32 || *p > math.MaxInt32 {
		d.fail(field, "a small integer", v)
		return nil
	}
	n := int(*p)
	return &n
}

// floatPtr reads a number; a string holding a decimal number ("50",
// " 12.5 ") is taken too, as Meta takes it for custom_data.value.
func (d *decoder) floatPtr(field string, v *fastjson.Value) *float64 {
	var f float64
	err := errNotANumber
	switch v.Type() {
	case fastjson.TypeNull:
		return nil
	case fastjson.TypeNumber:
		f, err = v.Float64()
	case fastjson.TypeString:
		f, err = decimal(v.GetStringBytes())
	}
	if err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		if len(d.floats) == cap(d.floats) {
			d.floats = make([]float64, 0, 8)
		}
		d.floats = append(d.floats, f)
		return &d.floats[len(d.floats)-1]
	}
	d.fail(field, "a number", v)
	return nil
}

var errNotANumber = errors.New("not a number")

// decimal parses a number written as a string: digits with an optional
// sign and fraction, nothing else (no exponent, hex, "Inf" or "NaN", which
// strconv would take).
func decimal(b []byte) (float64, error) {
	s := strings.TrimSpace(string(b))
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		case (c == '-' || c == '+') && i == 0:
		default:
			return 0, errNotANumber
		}
	}
	if digits == 0 {
		return 0, errNotANumber
	}
	return strconv.ParseFloat(s, 64)
}

// time reads event_time: a non-negative integer (a number with a zero
// fraction too, as some encoders write 1.7e9).
func (d *decoder) time(field string, v *fastjson.Value) Time {
	switch v.Type() {
	case fastjson.TypeNull:
		return Time{}
	case fastjson.TypeNumber:
		f, err := v.Float64()
		if err == nil && f == math.Trunc(f) && f >= 0 && f <= math.MaxInt64/2 {
			return TimeOf(int64(f))
		}
		if d.err == "" {
			d.err = "field " + field + " must be a non-negative integer (unix seconds or milliseconds)"
		}
		return Time{}
	}
	d.fail(field, "an integer (unix seconds or milliseconds)", v)
	return Time{}
}

// integer reads an id given as an integer or as a string of digits.
func (d *decoder) integer(field string, v *fastjson.Value) Integer {
	var digits []byte
	switch v.Type() {
	case fastjson.TypeNull:
		return 0
	case fastjson.TypeNumber:
		digits = v.MarshalTo(nil)
	case fastjson.TypeString:
		digits = v.GetStringBytes()
	default:
		d.fail(field, "an integer or a string of digits", v)
		return 0
	}
	// ParseInt alone would take "+5" and "-0": digits only.
	if len(digits) == 0 || len(bytes.Trim(digits, "0123456789")) != 0 {
		if d.err == "" {
			d.err = "field " + field + " must be a non-negative integer or a string of digits"
		}
		return 0
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		if d.err == "" {
			d.err = "field " + field + " must be a non-negative integer or a string of at most 19 digits"
		}
		return 0
	}
	return Integer(n)
}

func typeName(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeObject:
		return "object"
	case fastjson.TypeArray:
		return "array"
	case fastjson.TypeString:
		return "string"
	case fastjson.TypeNumber:
		return "number"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "boolean"
	case fastjson.TypeNull:
		return "null"
	}
	return "value"
}
