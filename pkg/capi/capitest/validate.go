package capitest

import (
	"bytes"
	"iter"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/freight-relay/freight/pkg/capi/iso4217"
)

const (
	maxEvents    = 1000     // Meta's limit of events per request
	maxBodyBytes = 32 << 20 // far above 1000 realistic events; Meta documents no limit

	maxAgeSeconds         = 7 * 24 * 3600
	maxAgeSecondsPhysical = 62 * 24 * 3600
	// maxFutureSeconds: Meta does not document its allowance for future
	// event times; ten minutes tolerates clock skew and catches milliseconds.
	maxFutureSeconds = 10 * 60
)

// params are the request parameters, from a JSON or a form body.
type params struct {
	token          string
	testEventCode  string
	partnerAgent   string
	appsecretProof string
	upload         Upload
	dataPresent    bool
	events         []rawValue  // the elements of data, as sent
	dataErr        *graphError // reported after the token check, as Graph does
}

// parseParams reads the body as Graph would: JSON, form-encoded or multipart,
// with data as a JSON array (or, as the SDKs send it, a JSON-encoded string).
// Error messages never quote the body: it holds the token and customer data.
func parseParams(r *http.Request, body []byte) (params, *graphError) {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return params{}, invalid("Content-Encoding is not supported: Meta documents no compressed request bodies")
	}
	mediaType, mtParams, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return params{}, invalid("the request has no valid Content-Type; send application/json or application/x-www-form-urlencoded")
	}
	switch mediaType {
	case "application/json":
		return parseJSONBody(body)
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return params{}, invalid("the form-encoded request body is malformed")
		}
		return formParams(form), nil
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), mtParams["boundary"])
		form, err := mr.ReadForm(maxBodyBytes)
		if err != nil {
			return params{}, invalid("the multipart request body is malformed")
		}
		defer func() { _ = form.RemoveAll() }()
		return formParams(form.Value), nil
	default:
		return params{}, invalid("unsupported Content-Type; send application/json or application/x-www-form-urlencoded")
	}
}

var errBodyNotObject = invalid("the request body is not a JSON object")

// parseJSONBody reads a JSON body: its events are slices of body. The
// parameters are read in order, the last of a repeated one counting; a
// parameter of the wrong type refuses the request at once.
func parseJSONBody(body []byte) (params, *graphError) {
	var p params
	if !validJSON(body) {
		return p, errBodyNotObject
	}
	top := trimJSON(body)
	if !top.isObject() {
		return p, errBodyNotObject
	}
	for key, val := range top.members() {
		var dst *string
		switch string(key) {
		case "data":
			p.dataPresent, p.events, p.dataErr = readData(val, true)
			continue
		case "access_token":
			dst = &p.token
		case "test_event_code":
			dst = &p.testEventCode
		case "partner_agent":
			dst = &p.partnerAgent
		case "appsecret_proof":
			dst = &p.appsecretProof
		case "namespace_id":
			dst = &p.upload.NamespaceID
		case "upload_id":
			dst = &p.upload.UploadID
		case "upload_tag":
			dst = &p.upload.UploadTag
		case "upload_source":
			dst = &p.upload.UploadSource
		}
		if dst == nil || val.isNull() {
			continue
		}
		s, ok := val.text()
		if !ok {
			return p, invalid("param %s must be a string", key)
		}
		*dst = string(s)
	}
	return p, nil
}

func formParams(form url.Values) params {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	p := params{
		token:          get("access_token"),
		testEventCode:  get("test_event_code"),
		partnerAgent:   get("partner_agent"),
		appsecretProof: get("appsecret_proof"),
		upload: Upload{NamespaceID: get("namespace_id"), UploadID: get("upload_id"), UploadTag: get("upload_tag"),
			UploadSource: get("upload_source")},
	}
	if v, ok := form["data"]; ok && len(v) > 0 {
		p.dataPresent = true
		p.events, p.dataErr = splitEvents([]byte(v[0]))
	}
	return p
}

var errDataNotArray = invalid("param data must be an array of events")

// splitEvents reads a data parameter given as JSON text.
func splitEvents(data []byte) ([]rawValue, *graphError) {
	if !validJSON(data) {
		return nil, errDataNotArray
	}
	present, events, dataErr := readData(trimJSON(data), false)
	if !present {
		return nil, invalid("The parameter data is required")
	}
	return events, dataErr
}

// readData reads the value of data. It returns whether data is present (not
// null), and its events or what is wrong with them.
func readData(data rawValue, allowString bool) (bool, []rawValue, *graphError) {
	switch {
	case data.isNull():
		return false, nil, nil
	case allowString && data.isString():
		text, _ := data.text()
		events, dataErr := splitEvents(text)
		return true, events, dataErr
	case !data.isArray():
		return true, nil, errDataNotArray
	}
	events := slices.Collect(data.elements())
	switch {
	case len(events) == 0:
		return true, nil, invalid("param data must be a non-empty array of events")
	case len(events) > maxEvents:
		return true, nil, invalid("param data must contain at most %d events", maxEvents)
	}
	return true, events, nil
}

// dataEvents returns the events of a request, or why there are none.
func dataEvents(p params) ([]rawValue, *graphError) {
	switch {
	case !p.dataPresent:
		return nil, invalid("The parameter data is required")
	case p.dataErr != nil:
		return nil, p.dataErr
	}
	return p.events, nil
}

var actionSources = map[string]bool{
	"email": true, "website": true, "app": true, "phone_call": true, "chat": true,
	"physical_store": true, "system_generated": true, "business_messaging": true, "other": true,
}

// hashedKeys must be SHA-256 hex; externalID may be anything; plainKeys are strings.
var (
	hashedKeys = []string{"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country"}
	plainKeys  = []string{"client_ip_address", "client_user_agent", "fbc", "fbp", "subscription_id",
		"anon_id", "madid", "page_id", "page_scoped_user_id", "ctwa_clid", "ig_account_id", "ig_sid"}

	// messagingIDs: the user_data keys a business messaging event of each
	// channel must carry.
	messagingIDs = map[string][]string{
		"whatsapp":  {"ctwa_clid"},
		"messenger": {"page_id", "page_scoped_user_id"},
		"instagram": {"ig_sid"}, // ig_account_id is optional
	}

	// insufficientSets: user_data made only of keys from one of these sets
	// is refused as insufficient customer information (100/2804050).
	insufficientSets = []map[string]bool{
		{"ct": true, "country": true, "st": true, "zp": true, "ge": true, "client_user_agent": true},
		{"db": true, "client_user_agent": true},
		{"fn": true, "ge": true},
		{"ln": true, "ge": true},
	}
)

// eventInfo is what the recorder keeps of a valid event besides its raw JSON.
type eventInfo struct {
	name string
	id   string
}

// eventFields are the fields of an event the validation reads, as
// encoding/json would decode them into a map: the last value of a repeated
// key, nil if absent or null.
type eventFields struct {
	name, time, source, id, sourceURL, referrerURL          rawValue
	optOut, dpo, dpoCountry, dpoState, userData, customData rawValue
	channel, appData, original, segmentation, attribution   rawValue
}

func readEventFields(v rawValue) eventFields {
	var f eventFields
	for key, val := range v.members() {
		if val.isNull() {
			val = nil
		}
		switch string(key) {
		case "event_name":
			f.name = val
		case "event_time":
			f.time = val
		case "action_source":
			f.source = val
		case "event_id":
			f.id = val
		case "event_source_url":
			f.sourceURL = val
		case "referrer_url":
			f.referrerURL = val
		case "opt_out":
			f.optOut = val
		case "data_processing_options":
			f.dpo = val
		case "data_processing_options_country":
			f.dpoCountry = val
		case "data_processing_options_state":
			f.dpoState = val
		case "user_data":
			f.userData = val
		case "custom_data":
			f.customData = val
		case "messaging_channel":
			f.channel = val
		case "app_data":
			f.appData = val
		case "original_event_data":
			f.original = val
		case "customer_segmentation":
			f.segmentation = val
		case "attribution_data":
			f.attribution = val
		}
	}
	return f
}

// validateEvent checks one server event the way Meta does, at time nowUnix.
// Its errors never quote a value from the event.
func validateEvent(v rawValue, nowUnix int64) (eventInfo, *graphError) {
	var info eventInfo
	if !v.isObject() {
		return info, invalid("param data must be an array of event objects")
	}
	ev := readEventFields(v)

	if ev.name == nil {
		return info, invalid("The parameter event_name is required")
	}
	name, ok := ev.name.text()
	if !ok || len(bytes.TrimSpace(name)) == 0 {
		return info, invalid("param event_name must be a non-empty string")
	}
	info.name = string(name)

	if ev.time == nil {
		return info, invalid("The parameter event_time is required")
	}
	secs, ok := ev.time.integer()
	if !ok {
		return info, invalid("param event_time must be an integer: the Unix time in seconds")
	}

	if ev.source == nil {
		return info, invalid("The parameter action_source is required")
	}
	source, ok := ev.source.text()
	if !ok || !actionSources[string(source)] {
		return info, invalid("param action_source must be one of email, website, app, phone_call, chat, physical_store, system_generated, business_messaging, other")
	}
	website := string(source) == "website"

	maxAge := int64(maxAgeSeconds)
	if string(source) == "physical_store" {
		maxAge = maxAgeSecondsPhysical
	}
	if secs < nowUnix-maxAge {
		return info, errTooOld()
	}
	if secs > nowUnix+maxFutureSeconds {
		return info, errFuture()
	}

	if ev.id != nil {
		id, ok := ev.id.text()
		if !ok {
			return info, invalid("param event_id must be a string")
		}
		info.id = string(id)
	}
	if ev.sourceURL != nil && !ev.sourceURL.isString() {
		return info, invalid("param event_source_url must be a string")
	}
	if ev.referrerURL != nil && !ev.referrerURL.isString() {
		return info, invalid("param referrer_url must be a string")
	}
	if website {
		if s, _ := ev.sourceURL.text(); len(bytes.TrimSpace(s)) == 0 {
			return info, invalid("The parameter event_source_url is required for website events")
		}
	}
	if e := validateOptional(ev); e != nil {
		return info, e
	}

	if e := validateUserData(ev.userData, website); e != nil {
		return info, e
	}
	if e := validateCustomData(ev.customData, info.name); e != nil {
		return info, e
	}
	if e := validateIntegrations(ev, string(source)); e != nil {
		return info, e
	}
	return info, nil
}

// validateIntegrations checks the fields of app events, business messaging
// and value optimization.
func validateIntegrations(ev eventFields, source string) *graphError {
	if ev.appData == nil && source == "app" {
		return invalid("The parameter app_data is required for app events")
	}
	if ev.appData != nil {
		if !ev.appData.isObject() {
			return invalid("param app_data must be an object")
		}
		var buf [16]member
		ad := ev.appData.fields(buf[:])
		if v := ad.get("advertiser_tracking_enabled"); v == nil || !v.isBool() {
			return invalid("param app_data.advertiser_tracking_enabled is required and must be a boolean")
		}
		if v := ad.get("application_tracking_enabled"); v != nil && !v.isBool() {
			return invalid("param app_data.application_tracking_enabled must be a boolean")
		}
		ext := ad.get("extinfo")
		if ext == nil || !isStringList(ext, true) || !ext.isArray() || len(slices.Collect(ext.elements())) != 16 {
			return invalid("param app_data.extinfo must be an array of the 16 extended device information values")
		}
		for first := range listStrings(ext) {
			if string(first) != "a2" && string(first) != "i2" {
				return invalid("param app_data.extinfo must start with the version a2 or i2")
			}
			break
		}
	}

	if ev.channel == nil && source == "business_messaging" {
		return invalid("The parameter messaging_channel is required for business messaging events")
	}
	if ev.channel != nil {
		ch, _ := ev.channel.text()
		ids, ok := messagingIDs[string(ch)]
		if !ev.channel.isString() || !ok {
			return invalid("param messaging_channel must be one of whatsapp, messenger, instagram")
		}
		if source == "business_messaging" {
			var buf [32]member
			ud := ev.userData.fields(buf[:])
			for _, id := range ids {
				if ud.get(id) == nil {
					return errUserData(id, "is required for business messaging events of this channel")
				}
			}
		}
	}

	if ev.original != nil {
		if !ev.original.isObject() {
			return invalid("param original_event_data must be an object")
		}
		var buf [8]member
		od := ev.original.fields(buf[:])
		if name, ok := od.get("event_name").text(); !ok || len(bytes.TrimSpace(name)) == 0 {
			return invalid("param original_event_data.event_name is required")
		}
		if _, ok := od.get("event_time").integer(); !ok {
			return invalid("param original_event_data.event_time is required and must be an integer")
		}
	}
	if ev.segmentation != nil && !ev.segmentation.isObject() && !ev.segmentation.isString() {
		return invalid("param customer_segmentation must be a string")
	}
	return validateAttribution(ev.attribution)
}

// validateAttribution checks attribution_data's types, as Meta's business
// SDKs define them, and that attribution_share is 0 to 1.
func validateAttribution(v rawValue) *graphError {
	if v == nil {
		return nil
	}
	if !v.isObject() {
		return invalid("param attribution_data must be an object")
	}
	for key, val := range v.members() {
		if val.isNull() {
			continue
		}
		switch k := string(key); k {
		case "visit_time", "attr_window", "touchpoint_ts":
			if _, ok := val.integer(); !ok {
				return invalid("param attribution_data.%s must be an integer", k)
			}
		case "attribution_share", "attribution_value":
			if !val.isNumber() {
				return invalid("param attribution_data.%s must be a number", k)
			}
			if k == "attribution_share" {
				if f, err := strconv.ParseFloat(string(val), 64); err != nil || f < 0 || f > 1 {
					return invalid("param attribution_data.attribution_share must be between 0 and 1")
				}
			}
		case "attribution_setting":
			if !val.isObject() {
				return invalid("param attribution_data.attribution_setting must be an object")
			}
			for sk, sv := range val.members() {
				if _, ok := sv.integer(); !ok && !sv.isNull() {
					return invalid("param attribution_data.attribution_setting.%s must be an integer", sk)
				}
			}
		case "scope", "ad_id", "adset_id", "campaign_id", "attribution_model", "attribution_source", "touchpoint_type",
			"attribution_method", "decline_reason", "auditing_token", "linkage_key":
			if !val.isString() {
				return invalid("param attribution_data.%s must be a string", k)
			}
		}
	}
	return nil
}

func validateOptional(ev eventFields) *graphError {
	if ev.optOut != nil && !ev.optOut.isBool() {
		return invalid("param opt_out must be a boolean")
	}
	if ev.dpo != nil && (!ev.dpo.isArray() || !isStringList(ev.dpo, false)) {
		return invalid("param data_processing_options must be an array of strings")
	}
	if ev.dpo != nil {
		for o := range listStrings(ev.dpo) {
			if string(o) != "LDU" {
				return invalid("param data_processing_options may only contain LDU")
			}
		}
	}
	if ev.dpoCountry != nil {
		if _, ok := ev.dpoCountry.integer(); !ok {
			return invalid("param data_processing_options_country must be an integer")
		}
	}
	if ev.dpoState != nil {
		if _, ok := ev.dpoState.integer(); !ok {
			return invalid("param data_processing_options_state must be an integer")
		}
	}
	return nil
}

func validateUserData(v rawValue, website bool) *graphError {
	if v == nil {
		return invalid("The parameter user_data is required")
	}
	if !v.isObject() {
		return invalid("param user_data must be an object")
	}
	var buf [16]member
	ud := v.fields(buf[:]) // its keys are those with a value, null ones dropped
	if len(ud) == 0 {
		return invalid("param user_data must contain at least one customer information parameter")
	}

	for _, k := range hashedKeys {
		v := ud.get(k)
		if v == nil {
			continue
		}
		if !isStringList(v, true) {
			return errUserData(k, "must be a string or a non-empty array of strings")
		}
		for s := range listStrings(v) {
			if !isSHA256Hex(s) {
				return errUserData(k, "must be hashed with SHA-256 (64 lowercase hexadecimal characters, with or without the parameter builder's appendix); the stand-in refuses unhashed values")
			}
		}
	}
	if v := ud.get("external_id"); v != nil {
		if !isStringList(v, true) {
			return errUserData("external_id", "must be a string or a non-empty array of strings")
		}
	}
	for _, k := range plainKeys {
		if v := ud.get(k); v != nil {
			if !v.isString() {
				return errUserData(k, "must be a string")
			}
		}
	}
	if fbc, ok := ud.get("fbc").text(); ok && !isFBC(fbc) {
		return errUserData("fbc", "must have the form fb.1.{creation time in ms}.{fbclid}")
	}

	for _, set := range insufficientSets {
		subset := true
		for _, m := range ud {
			if !set[string(m.key)] {
				subset = false
				break
			}
		}
		if subset {
			return errInsufficient()
		}
	}

	if website {
		if ua, _ := ud.get("client_user_agent").text(); len(bytes.TrimSpace(ua)) == 0 {
			return invalid("The parameter user_data.client_user_agent is required for website events")
		}
	}
	return nil
}

func validateCustomData(v rawValue, eventName string) *graphError {
	if v == nil {
		if eventName == "Purchase" {
			return invalid("The parameters custom_data.value and custom_data.currency are required for Purchase events")
		}
		return nil
	}
	if !v.isObject() {
		return invalid("param custom_data must be an object")
	}
	var buf [16]member
	cd := v.fields(buf[:])
	if eventName == "Purchase" && (cd.get("value") == nil || cd.get("currency") == nil) {
		return invalid("The parameters custom_data.value and custom_data.currency are required for Purchase events")
	}
	if v := cd.get("value"); v != nil && !v.isNumber() {
		return invalid("param custom_data.value must be a number")
	}
	if v := cd.get("currency"); v != nil {
		if s, ok := v.text(); !ok || !iso4217.Valid(string(s)) {
			return invalid("param custom_data.currency must be an ISO 4217 currency code")
		}
	}
	for _, k := range []string{"num_items", "predicted_ltv", "net_revenue"} {
		if v := cd.get(k); v != nil && !v.isNumber() {
			return invalid("param custom_data.%s must be a number", k)
		}
	}
	if v := cd.get("contents"); v != nil {
		if !v.isArray() {
			return invalid("param custom_data.contents must be an array of objects")
		}
		for c := range v.elements() {
			if !c.isObject() {
				return invalid("param custom_data.contents must be an array of objects")
			}
			var buf [8]member
			cf := c.fields(buf[:])
			if id, ok := cf.get("id").text(); !ok || len(id) == 0 {
				return invalid("param custom_data.contents[].id is required")
			}
			for _, k := range []string{"title", "description", "brand", "category", "delivery_category"} {
				if v := cf.get(k); v != nil && !v.isString() {
					return invalid("param custom_data.contents[].%s must be a string", k)
				}
			}
		}
	}
	return nil
}

// isStringList reports whether v is a string or an array of strings
// (non-empty when nonEmpty).
func isStringList(v rawValue, nonEmpty bool) bool {
	if v.isString() {
		return true
	}
	if !v.isArray() {
		return false
	}
	n := 0
	for e := range v.elements() {
		if !e.isString() {
			return false
		}
		n++
	}
	return n > 0 || !nonEmpty
}

// listStrings yields the strings of a string list, decoded.
func listStrings(v rawValue) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if s, ok := v.text(); ok {
			yield(s)
			return
		}
		for e := range v.elements() {
			if s, _ := e.text(); !yield(s) {
				return
			}
		}
	}
}

// isSHA256Hex reports whether s is a hashed value as Meta takes it: 64
// lowercase hex digits, or those followed by the appendix Meta's parameter
// builder adds (".AQQCAQMC": a language token of 2 characters, or 8).
func isSHA256Hex(s []byte) bool {
	if len(s) > 65 && s[64] == '.' {
		if n := len(s) - 65; n == 2 || n == 8 {
			s = s[:64]
		}
	}
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isFBC reports whether s has the form fb.{subdomain index}.{creation
// time}.{fbclid...}, that is matches ^fb\.[012]\.[0-9]+\..+$. Meta's browser
// cookie uses subdomain index 0, 1 or 2; servers use 1.
func isFBC(s []byte) bool {
	rest, ok := bytes.CutPrefix(s, []byte("fb."))
	if !ok || len(rest) < 2 || rest[0] < '0' || rest[0] > '2' || rest[1] != '.' {
		return false
	}
	rest = rest[2:]
	digits := 0
	for digits < len(rest) && '0' <= rest[digits] && rest[digits] <= '9' {
		digits++
	}
	if digits == 0 || digits == len(rest) || rest[digits] != '.' {
		return false
	}
	fbclid := rest[digits+1:]
	return len(fbclid) > 0 && bytes.IndexByte(fbclid, '\n') < 0 // what . matches
}
