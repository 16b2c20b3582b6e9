package capi

import (
	"net/url"
	"strings"

	"github.com/freight-relay/freight/pkg/capi/iso4217"
)

// This file holds the checks Meta would otherwise fail a whole request for
// (CAPI.md: "one invalid event rejects the whole request", and the answer
// does not say which). Refusing an event here costs nothing; letting it
// through costs a request, a split batch and a vaguer dead letter. Each
// check names the field and never quotes the value: it may be customer data.

// validate checks a mapped server event; the error is an *InvalidError of
// class validation. Times are checked separately (checkTime), as they depend
// on the clock, and customer data last (checkUserData), as the identity
// graph may add to it.
func validate(se *ServerEvent) error {
	for _, check := range [...]func(*ServerEvent) error{
		checkActionSource, checkURLs, checkCustomData, checkAppData,
		checkMessaging, checkOriginalEvent, checkAttribution, checkDataProcessing,
	} {
		if err := check(se); err != nil {
			return err
		}
	}
	return nil
}

func checkActionSource(se *ServerEvent) error {
	if !ActionSources[se.ActionSource] {
		return invalid("action_source %q is not one Meta accepts", se.ActionSource)
	}
	return nil
}

func checkURLs(se *ServerEvent) error {
	// Meta requires event_source_url for website events only; a web topic
	// may carry app or chat events, which have no page.
	if se.ActionSource == "website" && se.EventSourceURL == "" {
		return invalid("event_source_url is required for action_source website")
	}
	for _, f := range [...]struct{ name, v string }{{"event_source_url", se.EventSourceURL}, {"referrer_url", se.ReferrerURL}} {
		if f.v == "" {
			continue
		}
		if !absoluteURL(f.v) {
			return invalid("%s is not an absolute URL", f.name)
		}
	}
	return nil
}

// absoluteURL reports whether url.Parse takes s with a scheme and a host.
// The common form (scheme://host[:port] and a path, query or fragment of
// printable ASCII without escapes) is recognised without parsing, which
// costs an allocation per URL and every web event has one or two.
func absoluteURL(s string) bool {
	if simpleAbsoluteURL(s) {
		return true
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && u.Host != ""
}

// simpleAbsoluteURL accepts only what url.Parse accepts with a scheme and
// a host: a scheme of letters, "://", a host of letters, digits, dots,
// dashes and underscores, an optional numeric port, then printable ASCII
// without '%' (no escape to get wrong). Anything else is left to url.Parse.
func simpleAbsoluteURL(s string) bool {
	i := 0
	for i < len(s) && ('a' <= s[i] && s[i] <= 'z' || 'A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	if i == 0 || !strings.HasPrefix(s[i:], "://") {
		return false
	}
	i += 3
	host := i
	for i < len(s) && (isAlnumASCII(s[i]) || s[i] == '.' || s[i] == '-' || s[i] == '_') {
		i++
	}
	if i == host {
		return false
	}
	if i < len(s) && s[i] == ':' {
		i++
		port := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == port {
			return false
		}
	}
	if i < len(s) && s[i] != '/' && s[i] != '?' && s[i] != '#' {
		return false
	}
	for ; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '%' {
			return false
		}
	}
	return true
}

// insufficientSets are combinations of keys Meta refuses as too little to
// match on (subcode 2804050) when an event carries only (a subset of) one.
var insufficientSets = []Field{
	fieldSet("ct", "country", "st", "zp", "ge", "client_user_agent"),
	fieldSet("db", "client_user_agent"),
	fieldSet("fn", "ge"),
	fieldSet("ln", "ge"),
}

func fieldSet(names ...string) Field {
	var f Field
	for _, n := range names {
		for i, fn := range FieldNames {
			if fn == n {
				f |= 1 << i
			}
		}
	}
	return f
}

func checkUserData(se *ServerEvent) error {
	u := &se.UserData
	f := u.Fields()
	if f == 0 {
		return invalid("user has no usable customer information after normalization (and no linked external_id)")
	}
	for _, set := range insufficientSets {
		if f&^set == 0 {
			return invalid("user carries too little customer information for Meta to match (only %s)", f.names())
		}
	}
	if se.ActionSource == "website" && u.ClientUserAgent == "" {
		return invalid("user.client_user_agent is required for action_source website")
	}
	return nil
}

func (f Field) names() string {
	var names []string
	for i, n := range FieldNames {
		if f.Has(i) {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// valueEvents must say what they were worth: Meta documents value and
// currency as required for purchases, and optimizes for value on them.
var valueEvents = map[string]bool{"Purchase": true}

func checkCustomData(se *ServerEvent) error {
	c := se.Custom
	if valueEvents[se.EventName] && (c == nil || c.Value == nil || c.Currency == "") {
		return invalid("custom.value and custom.currency are required for %s events", se.EventName)
	}
	if c == nil {
		return nil
	}
	if c.Currency != "" && !iso4217.Valid(c.Currency) {
		return invalid("custom.currency is not an ISO 4217 currency code")
	}
	if c.NumItems != nil && *c.NumItems < 0 {
		return invalid("custom.num_items is negative")
	}
	for _, it := range c.Contents {
		if strings.TrimSpace(it.ID) == "" {
			return invalid("custom.contents[].id is required")
		}
		if it.Quantity != nil && *it.Quantity < 0 {
			return invalid("custom.contents[].quantity is negative")
		}
	}
	return nil
}

// extinfoLen is the length of app_data.extinfo: Meta requires all 16
// values, in order, with empty strings for unknown ones; the first is the
// version, a2 (Android) or i2 (iOS).
const extinfoLen = 16

func checkAppData(se *ServerEvent) error {
	a := se.AppData
	if a == nil {
		if se.ActionSource == "app" {
			return invalid("app_data is required for action_source app")
		}
		return nil
	}
	// application_tracking_enabled is optional: Meta takes app events
	// without it (sent when given).
	if a.AdvertiserTrackingEnabled == nil {
		return invalid("app_data.advertiser_tracking_enabled is required")
	}
	if len(a.Extinfo) != extinfoLen {
		return invalid("app_data.extinfo must have %d values (empty strings for unknown ones), it has %d", extinfoLen, len(a.Extinfo))
	}
	if v := a.Extinfo[0]; v != "a2" && v != "i2" {
		return invalid("app_data.extinfo must start with the version a2 (Android) or i2 (iOS)")
	}
	return nil
}

// messagingIDs are the user_data keys each business messaging channel
// needs to name the person (CAPI for Business Messaging). Instagram's
// ig_account_id is optional: Meta takes an event with ig_sid alone.
var messagingIDs = map[string][]string{
	"whatsapp":  {"ctwa_clid"},
	"messenger": {"page_id", "page_scoped_user_id"},
	"instagram": {"ig_sid"},
}

func checkMessaging(se *ServerEvent) error {
	ch := se.MessagingChannel
	if ch == "" {
		if se.ActionSource == "business_messaging" {
			return invalid("messaging_channel is required for action_source business_messaging")
		}
		return nil
	}
	ids, ok := messagingIDs[ch]
	if !ok {
		return invalid("messaging_channel %q is not one of whatsapp, messenger, instagram", ch)
	}
	if se.ActionSource != "business_messaging" {
		return nil
	}
	f := se.UserData.Fields()
	for _, id := range ids {
		if f&fieldSet(id) == 0 {
			return invalid("user.%s is required for %s business messaging events", id, ch)
		}
	}
	return nil
}

func checkOriginalEvent(se *ServerEvent) error {
	o := se.OriginalEventData
	if o == nil {
		return nil
	}
	if strings.TrimSpace(o.EventName) == "" || !o.EventTime.Set || o.EventTime.Unix == 0 {
		return invalid("original_event_data needs event_name and event_time")
	}
	return nil
}

// checkAttribution: attribution_share is a share of the credit, 0 to 1
// (Meta's business SDKs: "Range [0-1]").
func checkAttribution(se *ServerEvent) error {
	if a := se.AttributionData; a != nil && a.AttributionShare != nil && (*a.AttributionShare < 0 || *a.AttributionShare > 1) {
		return invalid("attribution_data.attribution_share must be between 0 and 1")
	}
	return nil
}

func checkDataProcessing(se *ServerEvent) error {
	// Limited Data Use is the only option Meta defines; an empty list says
	// "none" explicitly.
	for _, o := range se.DataProcessingOptions {
		if o != "LDU" {
			return invalid("data_processing_options may only hold \"LDU\"")
		}
	}
	for _, f := range [...]struct {
		name string
		v    *int
	}{{"data_processing_options_country", se.DataProcessingOptionsCountry}, {"data_processing_options_state", se.DataProcessingOptionsState}} {
		if f.v != nil && *f.v < 0 {
			return invalid("%s is negative", f.name)
		}
	}
	return nil
}
