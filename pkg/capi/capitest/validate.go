package capitest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
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
	dataPresent    bool
	events         []decodedEvent
	dataErr        *graphError // reported after the token check, as Graph does
}

// decodedEvent is one element of data: its bytes as sent and its value
// (objects as map[string]any, numbers as json.Number).
type decodedEvent struct {
	raw json.RawMessage
	v   any
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

// parseJSONBody decodes the body in one streaming pass: the stand-in sits in
// the relay's benchmarks, so it decodes each event once and slices its raw
// bytes from the body instead of scanning the body again and again.
func parseJSONBody(body []byte) (params, *graphError) {
	var p params
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return p, errBodyNotObject
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return p, errBodyNotObject
		}
		key, _ := tok.(string)
		var dst *string
		switch key {
		case "data":
			var syntaxErr error
			p.dataPresent, p.events, p.dataErr, syntaxErr = readData(dec, body, true)
			if syntaxErr != nil {
				return p, errBodyNotObject
			}
			continue
		case "access_token":
			dst = &p.token
		case "test_event_code":
			dst = &p.testEventCode
		case "partner_agent":
			dst = &p.partnerAgent
		case "appsecret_proof":
			dst = &p.appsecretProof
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return p, errBodyNotObject
		}
		if dst == nil || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return p, invalid("param %s must be a string", key)
		}
		*dst = s
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return p, errBodyNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return p, errBodyNotObject
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
	}
	if v, ok := form["data"]; ok && len(v) > 0 {
		p.dataPresent = true
		p.events, p.dataErr = splitEvents([]byte(v[0]))
	}
	return p
}

var errDataNotArray = invalid("param data must be an array of events")

// splitEvents decodes a data parameter given as JSON text.
func splitEvents(data []byte) ([]decodedEvent, *graphError) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	present, events, dataErr, err := readData(dec, data, false)
	if err != nil {
		return nil, errDataNotArray
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errDataNotArray
	}
	if !present {
		return nil, invalid("The parameter data is required")
	}
	return events, dataErr
}

// readData reads the value of data from dec, whose input is src. It returns
// whether data is present (not null), its events or what is wrong with them,
// and a syntax error that makes the whole body unreadable.
func readData(dec *json.Decoder, src []byte, allowString bool) (bool, []decodedEvent, *graphError, error) {
	tok, err := dec.Token()
	if err != nil {
		return false, nil, nil, err
	}
	switch t := tok.(type) {
	case nil:
		return false, nil, nil, nil
	case string:
		if !allowString {
			return true, nil, errDataNotArray, nil
		}
		events, dataErr := splitEvents([]byte(t))
		return true, events, dataErr, nil
	case json.Delim:
		if t == '{' {
			return true, nil, errDataNotArray, skipRest(dec)
		}
	default:
		return true, nil, errDataNotArray, nil
	}
	var events []decodedEvent
	for dec.More() {
		start := dec.InputOffset()
		var v any
		if err := dec.Decode(&v); err != nil {
			return true, nil, nil, err
		}
		// The offsets are exact in src; a private copy keeps no other part
		// of the body (the token) alive.
		raw := bytes.TrimLeft(src[start:dec.InputOffset()], " \t\r\n,")
		events = append(events, decodedEvent{raw: bytes.Clone(raw), v: v})
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return true, nil, nil, err
	}
	switch {
	case len(events) == 0:
		return true, nil, invalid("param data must be a non-empty array of events"), nil
	case len(events) > maxEvents:
		return true, nil, invalid("param data must contain at most %d events", maxEvents), nil
	}
	return true, events, nil, nil
}

// skipRest consumes the rest of an object or array whose opening token was read.
func skipRest(dec *json.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// dataEvents returns the events of a request, or why there are none.
func dataEvents(p params) ([]decodedEvent, *graphError) {
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
	plainKeys  = []string{"client_ip_address", "client_user_agent", "fbc", "fbp"}

	// insufficientSets: user_data made only of keys from one of these sets
	// is refused as insufficient customer information (100/2804050).
	insufficientSets = []map[string]bool{
		{"ct": true, "country": true, "st": true, "zp": true, "ge": true, "client_user_agent": true},
		{"db": true, "client_user_agent": true},
		{"fn": true, "ge": true},
		{"ln": true, "ge": true},
	}

	// fbcPattern: fb.{subdomain index}.{creation time}.{fbclid...}. Meta's
	// browser cookie uses subdomain index 0, 1 or 2; servers use 1.
	fbcPattern = regexp.MustCompile(`^fb\.[012]\.[0-9]+\..+$`)
)

// eventInfo is what the recorder keeps of a valid event besides its raw JSON.
type eventInfo struct {
	name string
	id   string
}

// validateEvent checks one server event the way Meta does, at time nowUnix.
// Its errors never quote a value from the event.
func validateEvent(v any, nowUnix int64) (eventInfo, *graphError) {
	var info eventInfo
	ev, ok := v.(map[string]any)
	if !ok {
		return info, invalid("param data must be an array of event objects")
	}

	name, present := field(ev, "event_name")
	if !present {
		return info, invalid("The parameter event_name is required")
	}
	if info.name, ok = name.(string); !ok || strings.TrimSpace(info.name) == "" {
		return info, invalid("param event_name must be a non-empty string")
	}

	et, present := field(ev, "event_time")
	if !present {
		return info, invalid("The parameter event_time is required")
	}
	secs, ok := integer(et)
	if !ok {
		return info, invalid("param event_time must be an integer: the Unix time in seconds")
	}

	as, present := field(ev, "action_source")
	if !present {
		return info, invalid("The parameter action_source is required")
	}
	source, ok := as.(string)
	if !ok || !actionSources[source] {
		return info, invalid("param action_source must be one of email, website, app, phone_call, chat, physical_store, system_generated, business_messaging, other")
	}

	maxAge := int64(maxAgeSeconds)
	if source == "physical_store" {
		maxAge = maxAgeSecondsPhysical
	}
	if secs < nowUnix-maxAge {
		return info, errTooOld()
	}
	if secs > nowUnix+maxFutureSeconds {
		return info, errFuture()
	}

	if id, present := field(ev, "event_id"); present {
		if info.id, ok = id.(string); !ok {
			return info, invalid("param event_id must be a string")
		}
	}
	for _, k := range []string{"event_source_url", "referrer_url"} {
		if s, present := field(ev, k); present {
			if _, ok := s.(string); !ok {
				return info, invalid("param %s must be a string", k)
			}
		}
	}
	if source == "website" {
		if s, _ := ev["event_source_url"].(string); strings.TrimSpace(s) == "" {
			return info, invalid("The parameter event_source_url is required for website events")
		}
	}
	if e := validateOptional(ev); e != nil {
		return info, e
	}

	if e := validateUserData(ev, source); e != nil {
		return info, e
	}
	if e := validateCustomData(ev); e != nil {
		return info, e
	}
	return info, nil
}

func validateOptional(ev map[string]any) *graphError {
	if v, present := field(ev, "opt_out"); present {
		if _, ok := v.(bool); !ok {
			return invalid("param opt_out must be a boolean")
		}
	}
	if v, present := field(ev, "data_processing_options"); present {
		if _, ok := stringList(v, false); !ok {
			return invalid("param data_processing_options must be an array of strings")
		}
	}
	for _, k := range []string{"data_processing_options_country", "data_processing_options_state"} {
		if v, present := field(ev, k); present {
			if _, ok := integer(v); !ok {
				return invalid("param %s must be an integer", k)
			}
		}
	}
	return nil
}

func validateUserData(ev map[string]any, source string) *graphError {
	v, present := field(ev, "user_data")
	if !present {
		return invalid("The parameter user_data is required")
	}
	ud, ok := v.(map[string]any)
	if !ok {
		return invalid("param user_data must be an object")
	}
	keys := make(map[string]bool, len(ud))
	for k, v := range ud {
		if v != nil {
			keys[k] = true
		}
	}
	if len(keys) == 0 {
		return invalid("param user_data must contain at least one customer information parameter")
	}

	for _, k := range hashedKeys {
		if !keys[k] {
			continue
		}
		vals, ok := stringList(ud[k], true)
		if !ok {
			return errUserData(k, "must be a string or a non-empty array of strings")
		}
		for _, s := range vals {
			if !isSHA256Hex(s) {
				return errUserData(k, "must be hashed with SHA-256 (64 lowercase hexadecimal characters); the stand-in refuses unhashed values")
			}
		}
	}
	if keys["external_id"] {
		if _, ok := stringList(ud["external_id"], true); !ok {
			return errUserData("external_id", "must be a string or a non-empty array of strings")
		}
	}
	for _, k := range plainKeys {
		if !keys[k] {
			continue
		}
		if _, ok := ud[k].(string); !ok {
			return errUserData(k, "must be a string")
		}
	}
	if keys["fbc"] && !fbcPattern.MatchString(ud["fbc"].(string)) {
		return errUserData("fbc", "must have the form fb.1.{creation time in ms}.{fbclid}")
	}

	for _, set := range insufficientSets {
		subset := true
		for k := range keys {
			if !set[k] {
				subset = false
				break
			}
		}
		if subset {
			return errInsufficient()
		}
	}

	if source == "website" {
		if ua, _ := ud["client_user_agent"].(string); strings.TrimSpace(ua) == "" {
			return invalid("The parameter user_data.client_user_agent is required for website events")
		}
	}
	return nil
}

func validateCustomData(ev map[string]any) *graphError {
	v, present := field(ev, "custom_data")
	if !present {
		return nil
	}
	cd, ok := v.(map[string]any)
	if !ok {
		return invalid("param custom_data must be an object")
	}
	if v, present := field(cd, "value"); present {
		if _, ok := v.(json.Number); !ok {
			return invalid("param custom_data.value must be a number")
		}
	}
	if v, present := field(cd, "currency"); present {
		if s, ok := v.(string); !ok || !isCurrency(s) {
			return invalid("param custom_data.currency must be a 3-letter ISO 4217 currency code")
		}
	}
	return nil
}

// field returns m[k] and whether it is present and not null.
func field(m map[string]any, k string) (any, bool) {
	v, ok := m[k]
	return v, ok && v != nil
}

// integer accepts a JSON number written as an integer (decoded with UseNumber).
func integer(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

// stringList accepts a string or an array of strings (non-empty when nonEmpty).
func stringList(v any, nonEmpty bool) ([]string, bool) {
	switch t := v.(type) {
	case string:
		return []string{t}, true
	case []any:
		if nonEmpty && len(t) == 0 {
			return nil, false
		}
		out := make([]string, len(t))
		for i, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		c := s[i] | 0x20 // ASCII lowercase
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
