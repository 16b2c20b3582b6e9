// Package capi turns raw events into Conversions API server events and sends
// them to Meta's Graph API.
//
// Map normalizes, hashes and validates one event; Client posts a batch and
// classifies Meta's answer once, at the edge, into an Outcome the relay
// branches on. The package does no retrying, batching or dedup: those belong
// to the relay, which knows the pixel's state and the deadlines.
package capi

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/freight-relay/freight/pkg/event"
)

// ServerEvent is one event of a Conversions API request.
type ServerEvent struct {
	EventName                    string   `json:"event_name"`
	EventTime                    int64    `json:"event_time"`
	EventID                      string   `json:"event_id,omitempty"`
	ActionSource                 string   `json:"action_source"`
	EventSourceURL               string   `json:"event_source_url,omitempty"`
	ReferrerURL                  string   `json:"referrer_url,omitempty"`
	OptOut                       bool     `json:"opt_out,omitempty"`
	DataProcessingOptions        []string `json:"data_processing_options,omitempty"`
	DataProcessingOptionsCountry *int     `json:"data_processing_options_country,omitempty"`
	DataProcessingOptionsState   *int     `json:"data_processing_options_state,omitempty"`
	MessagingChannel             string   `json:"messaging_channel,omitempty"`
	UserData                     UserData `json:"user_data"`
	// Custom and LeadEventSource make custom_data (see appendCustomData).
	Custom          *event.Custom `json:"-"`
	LeadEventSource string        `json:"-"`
	// Passed through from the input event (see encode.go).
	AppData              *event.AppData           `json:"-"`
	OriginalEventData    *event.OriginalEventData `json:"-"`
	AttributionData      *event.AttributionData   `json:"-"`
	CustomerSegmentation map[string]string        `json:"-"`
	CustomerSegment      string                   `json:"-"` // the string form, which wins

	// dropped are the hashed keys of which a value was left out because
	// it did not normalize.
	dropped Field
}

// UserData is user_data: hashed match keys and unhashed identifiers.
type UserData struct {
	Em              []string `json:"em,omitempty"`
	Ph              []string `json:"ph,omitempty"`
	Fn              []string `json:"fn,omitempty"`
	Ln              []string `json:"ln,omitempty"`
	Ge              []string `json:"ge,omitempty"`
	Db              []string `json:"db,omitempty"`
	Ct              []string `json:"ct,omitempty"`
	St              []string `json:"st,omitempty"`
	Zp              []string `json:"zp,omitempty"`
	Country         []string `json:"country,omitempty"`
	ExternalID      []string `json:"external_id,omitempty"`
	ClientIPAddress string   `json:"client_ip_address,omitempty"`
	ClientUserAgent string   `json:"client_user_agent,omitempty"`
	Fbc             string   `json:"fbc,omitempty"`
	Fbp             string   `json:"fbp,omitempty"`
	SubscriptionID  string   `json:"subscription_id,omitempty"`
	LeadID          int64    `json:"lead_id,omitempty"`
	FBLoginID       int64    `json:"fb_login_id,omitempty"`

	AnonID           string `json:"anon_id,omitempty"`
	MADID            string `json:"madid,omitempty"`
	PageID           string `json:"page_id,omitempty"`
	PageScopedUserID string `json:"page_scoped_user_id,omitempty"`
	CTWAClid         string `json:"ctwa_clid,omitempty"`
	IGAccountID      string `json:"ig_account_id,omitempty"`
	IGSID            string `json:"ig_sid,omitempty"`
}

// Field is one user_data key, for the match-quality metric.
type Field uint32

// FieldNames lists the user_data keys in the order of the Field bits.
var FieldNames = [...]string{"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id",
	"client_ip_address", "client_user_agent", "fbc", "fbp", "subscription_id", "lead_id", "fb_login_id",
	"anon_id", "madid", "page_id", "page_scoped_user_id", "ctwa_clid", "ig_account_id", "ig_sid"}

// Bits of the keys whose values can be dropped, in FieldNames' order.
const (
	fEm = iota
	fPh
	fFn
	fLn
	fGe
	fDb
	fCt
	fSt
	fZp
	fCountry
	fExternalID
	fClientIP
	_ // client_user_agent
	fFbc
)

// Fields returns the set of keys present, bit i standing for FieldNames[i].
func (u *UserData) Fields() Field {
	present := [...]bool{len(u.Em) > 0, len(u.Ph) > 0, len(u.Fn) > 0, len(u.Ln) > 0, len(u.Ge) > 0,
		len(u.Db) > 0, len(u.Ct) > 0, len(u.St) > 0, len(u.Zp) > 0, len(u.Country) > 0, len(u.ExternalID) > 0,
		u.ClientIPAddress != "", u.ClientUserAgent != "", u.Fbc != "", u.Fbp != "", u.SubscriptionID != "",
		u.LeadID != 0, u.FBLoginID != 0, u.AnonID != "", u.MADID != "", u.PageID != "", u.PageScopedUserID != "",
		u.CTWAClid != "", u.IGAccountID != "", u.IGSID != ""}
	var f Field
	for i, p := range present {
		if p {
			f |= 1 << i
		}
	}
	return f
}

// Has reports whether bit i is set.
func (f Field) Has(i int) bool { return f&(1<<i) != 0 }

// ActionSources are the values Meta accepts.
var ActionSources = map[string]bool{"email": true, "website": true, "app": true, "phone_call": true, "chat": true,
	"physical_store": true, "system_generated": true, "business_messaging": true, "other": true}

// Age limits (CAPI.md): Meta refuses the whole request for one event older
// than MaxAge (MaxAgePhysicalStore for physical_store events), and we allow
// FutureAllowance of clock skew.
const (
	MaxAge              = 7 * 24 * time.Hour
	MaxAgePhysicalStore = 62 * 24 * time.Hour
	FutureAllowance     = time.Minute
	tooOldSafetyMargin  = time.Minute
)

// Error classes of a refused event (CONTRACT.md section 4).
const (
	ClassValidation = "validation"
	ClassTooOld     = "too_old"
)

// InvalidError says why an event cannot be sent.
type InvalidError struct {
	Class   string // ClassValidation or ClassTooOld
	Message string
}

func (e *InvalidError) Error() string { return e.Message }

func invalid(format string, args ...any) *InvalidError {
	return &InvalidError{Class: ClassValidation, Message: fmt.Sprintf(format, args...)}
}

// Event is a mapped event, ready to batch: its routing keys and its encoded
// JSON.
type Event struct {
	PixelID      string
	EventName    string
	EventID      string
	EventTime    int64
	ActionSource string
	Fields       Field
	// Dropped are the keys of which a given value did not normalize and
	// was left out (an e-mail without @, a phone without digits).
	Dropped Field
	// Params are the event's own request parameters (test_event_code ""
	// for the pixel's).
	Params RequestParams
	JSON   json.RawMessage
}

// Deadline is the last moment the event may still be sent; after it Meta
// refuses it as too old.
func (e *Event) Deadline() time.Time {
	return Deadline(e.EventTime, e.ActionSource)
}

// Deadline is the last moment an event of that time and action source may be
// sent, with a safety margin for the request's own duration.
func Deadline(eventTime int64, actionSource string) time.Time {
	max := MaxAge
	if actionSource == "physical_store" {
		max = MaxAgePhysicalStore
	}
	return time.Unix(eventTime, 0).Add(max - tooOldSafetyMargin)
}

var scratchBufs sync.Pool

// Options are the per-topic and per-deployment settings of mapping.
type Options struct {
	// DefaultPixel is the topic's default_pixel_id.
	DefaultPixel string
	// PlainExternalID sends external_id normalized but not hashed
	// (identity.external_id_hashing: none), to match a Pixel that sends it
	// so.
	PlainExternalID bool
	// Normalization is capi.normalization; "" is Documented.
	Normalization Normalization
}

// Map turns a raw event into a server event: defaults by topic kind,
// normalization and hashing of customer data, fbc from fbclid, CRM fields,
// and the checks Meta would otherwise fail the whole request for. The error
// is an *InvalidError. It is NewDraft and Finish without an identity lookup
// between them.
func Map(e *event.Event, kind event.Kind, opts Options, now time.Time) (Event, error) {
	d, err := NewDraft(e, kind, opts, now)
	if err != nil {
		return Event{}, err
	}
	return d.Finish()
}

// Draft is a mapped event before its customer data is judged and it is
// encoded: the identity graph may still give it an external_id, and an event
// whose only identifier is a CRM id is sendable once it has one.
type Draft struct {
	se     *ServerEvent
	pixel  string
	params RequestParams
	// Identifiers are what the identity graph joins this event's person by.
	Identifiers Identifiers
}

// Identifiers of one event's person, as freight sends them: the external_id
// (hashed unless PlainExternalID), the em and ph hashes, and a hash of the
// CRM id (never sent to Meta).
type Identifiers struct {
	ExternalID string
	Emails     []string
	Phones     []string
	CRMID      string
}

// NewDraft maps an event and runs every check but the one on customer data
// (see Finish). The error is an *InvalidError.
func NewDraft(e *event.Event, kind event.Kind, opts Options, now time.Time) (*Draft, error) {
	se, pixel, err := toServerEvent(e, kind, opts)
	if err != nil {
		return nil, err
	}
	if err := checkTime(se.EventTime, se.ActionSource, now); err != nil {
		return nil, err
	}
	d := &Draft{se: se, pixel: pixel, params: RequestParams{TestEventCode: strings.TrimSpace(e.TestEventCode),
		NamespaceID: strings.TrimSpace(e.NamespaceID), UploadID: strings.TrimSpace(e.UploadID),
		UploadTag: strings.TrimSpace(e.UploadTag), UploadSource: strings.TrimSpace(e.UploadSource)}, Identifiers: Identifiers{Emails: se.UserData.Em, Phones: se.UserData.Ph}}
	if ids := se.UserData.ExternalID; len(ids) > 0 {
		d.Identifiers.ExternalID = ids[0]
	}
	if crm := strings.TrimSpace(e.CRMID); crm != "" && kind == event.KindCRM {
		d.Identifiers.CRMID = sha256Hex(crm)
	}
	return d, nil
}

// PixelID is the pixel the event goes to.
func (d *Draft) PixelID() string { return d.pixel }

// EventName and EventID name the event, for a dead letter.
func (d *Draft) EventName() string { return d.se.EventName }
func (d *Draft) EventID() string   { return d.se.EventID }

// SetExternalID gives an event without one the external_id the identity
// graph linked its person to, as it is sent (hashed or plain).
func (d *Draft) SetExternalID(v string) {
	d.se.UserData.ExternalID = []string{v}
	d.Identifiers.ExternalID = v
}

// Finish checks the customer data and encodes the event.
func (d *Draft) Finish() (Event, error) {
	se := d.se
	if err := checkUserData(se); err != nil {
		return Event{}, err
	}
	// Encode into a pooled scratch buffer and keep an exact-size copy: the
	// copy lives as long as the event is buffered, so it must not carry
	// spare capacity. The ids kept with it share its allocation: the
	// decoded event's strings share one buffer, which they must not keep
	// alive.
	scratch, _ := scratchBufs.Get().(*[]byte)
	if scratch == nil {
		scratch = new([]byte)
	}
	*scratch = appendServerEvent((*scratch)[:0], se)
	n := len(*scratch)
	b := make([]byte, 0, n+len(d.pixel)+len(se.EventName)+len(se.EventID)+len(se.ActionSource)+
		len(d.params.TestEventCode)+len(d.params.NamespaceID)+len(d.params.UploadID)+len(d.params.UploadTag)+len(d.params.UploadSource))
	b = append(b, *scratch...)
	scratchBufs.Put(scratch)
	ev := Event{EventTime: se.EventTime, Fields: se.UserData.Fields(), Dropped: se.dropped}
	b, ev.PixelID = appendText(b, d.pixel)
	b, ev.EventName = appendText(b, se.EventName)
	b, ev.EventID = appendText(b, se.EventID)
	b, ev.ActionSource = appendText(b, se.ActionSource)
	b, ev.Params.TestEventCode = appendText(b, d.params.TestEventCode)
	b, ev.Params.NamespaceID = appendText(b, d.params.NamespaceID)
	b, ev.Params.UploadID = appendText(b, d.params.UploadID)
	b, ev.Params.UploadTag = appendText(b, d.params.UploadTag)
	b, ev.Params.UploadSource = appendText(b, d.params.UploadSource)
	ev.JSON = b[:n:n]
	return ev, nil
}

// appendText appends s to b, which has room for it, and returns the copy.
func appendText(b []byte, s string) ([]byte, string) {
	if s == "" {
		return b, ""
	}
	start := len(b)
	b = append(b, s...)
	return b, unsafe.String(&b[start], len(s))
}

func checkTime(t int64, actionSource string, now time.Time) error {
	at := time.Unix(t, 0)
	if now.After(Deadline(t, actionSource)) {
		return &InvalidError{Class: ClassTooOld, Message: fmt.Sprintf(
			"event_time %s is older than Meta accepts for action_source %s", at.UTC().Format(time.RFC3339), actionSource)}
	}
	if at.After(now.Add(FutureAllowance)) {
		return invalid("event_time %s is in the future", at.UTC().Format(time.RFC3339))
	}
	return nil
}

func toServerEvent(e *event.Event, kind event.Kind, opts Options) (*ServerEvent, string, error) {
	if strings.TrimSpace(e.EventName) == "" {
		return nil, "", invalid("event_name is required")
	}
	if strings.TrimSpace(e.EventID) == "" {
		return nil, "", invalid("event_id is required (it must equal the Pixel's eventID for deduplication)")
	}
	if !e.EventTime.Set || e.EventTime.Unix == 0 {
		return nil, "", invalid("event_time is required (unix seconds)")
	}
	pixel := strings.TrimSpace(e.PixelID)
	if pixel == "" {
		pixel = opts.DefaultPixel
	}
	if pixel == "" {
		return nil, "", invalid("pixel_id is required: the event has none and its topic has no default_pixel_id")
	}
	se := &ServerEvent{
		EventName:                    e.EventName,
		EventTime:                    e.EventTime.Unix,
		EventID:                      e.EventID,
		ActionSource:                 e.ActionSource,
		EventSourceURL:               e.EventSourceURL,
		ReferrerURL:                  e.ReferrerURL,
		OptOut:                       e.OptOut,
		DataProcessingOptions:        e.DataProcessingOptions,
		DataProcessingOptionsCountry: e.DataProcessingOptionsCountry,
		DataProcessingOptionsState:   e.DataProcessingOptionsState,
		MessagingChannel:             e.MessagingChannel,
		Custom:                       e.Custom,
		AppData:                      e.AppData,
		OriginalEventData:            e.OriginalEventData,
		AttributionData:              e.AttributionData,
		CustomerSegmentation:         e.CustomerSegmentation,
		CustomerSegment:              e.CustomerSegment,
	}
	if se.ActionSource == "" {
		se.ActionSource = "website"
		if kind == event.KindCRM {
			se.ActionSource = "system_generated"
		}
	}
	if kind == event.KindCRM {
		se.LeadEventSource = e.LeadEventSource
	}
	if e.User != nil { // without one, only the identity graph can make the event sendable
		if err := checkValueCounts(e.User); err != nil {
			return nil, "", err
		}
		se.dropped = mapUser(&se.UserData, e.User, e.EventTime, opts, e.EventSourceURL, e.ReferrerURL)
	}
	if err := validate(se); err != nil {
		return nil, "", err
	}
	return se, pixel, nil
}

// MaxValuesPerField is the most values one user field (user.email,
// user.phone, ...) may carry. A person has a few e-mail addresses, not
// thousands: an event above it is a producer's bug or hostile, and hashing
// it would cost the relay's CPU while rebalances wait; it is dead-lettered
// as validation.
const MaxValuesPerField = 100

func checkValueCounts(u *event.User) error {
	for _, f := range [...]struct {
		name   string
		values event.Strings
	}{
		{"email", u.Email}, {"phone", u.Phone}, {"first_name", u.FirstName}, {"last_name", u.LastName},
		{"gender", u.Gender}, {"date_of_birth", u.DateOfBirth}, {"city", u.City}, {"state", u.State},
		{"zip", u.Zip}, {"country", u.Country}, {"external_id", u.ExternalID},
	} {
		if len(f.values) > MaxValuesPerField {
			return invalid("user.%s has %d values; at most %d per field are sent", f.name, len(f.values), MaxValuesPerField)
		}
	}
	return nil
}

// mapUser maps the event's user; urls are its event_source_url and
// referrer_url, where an fbclid may be.
func mapUser(u *UserData, in *event.User, t event.Time, opts Options, urls ...string) (dropped Field) {
	var a arena
	hash := func(i int, values []string, norm normalizer) []string {
		out, d := hashAll(&a, values, norm)
		if d {
			dropped |= 1 << i
		}
		return out
	}
	u.Em = hash(fEm, in.Email, normEmail)
	u.Ge = hash(fGe, in.Gender, normGender)
	u.Db = hash(fDb, in.DateOfBirth, normDOB)
	if opts.Normalization == ParamBuilder {
		// A phone in national form is put in E.164 for the event's country.
		var region string
		if len(in.Phone) > 0 {
			region = phoneRegion(in.Country, normCountry)
		}
		u.Ph = hash(fPh, in.Phone, func(v string) string { return normPhoneIn(v, region) })
		u.Fn = hash(fFn, in.FirstName, normName)
		u.Ln = hash(fLn, in.LastName, normName)
		u.Ct = hash(fCt, in.City, normAlnum)
		u.St = hash(fSt, in.State, normState)
		u.Zp = hash(fZp, in.Zip, normZip)
		u.Country = hash(fCountry, in.Country, normCountry)
	} else {
		// The event's country decides what a national phone number, a US
		// state name and a US zip are.
		var region string
		if len(in.Phone) > 0 || len(in.State) > 0 || len(in.Zip) > 0 {
			region = phoneRegion(in.Country, normCountryDoc)
		}
		u.Ph = hash(fPh, in.Phone, func(v string) string { return normPhoneDoc(v, region) })
		u.Fn = hash(fFn, in.FirstName, normLetters)
		u.Ln = hash(fLn, in.LastName, normLetters)
		u.Ct = hash(fCt, in.City, normLetters)
		u.St = hash(fSt, in.State, func(v string) string { return normStateDoc(v, region) })
		u.Zp = hash(fZp, in.Zip, func(v string) string { return normZipDoc(v, region) })
		u.Country = hash(fCountry, in.Country, normCountryDoc)
	}
	if opts.PlainExternalID {
		u.ExternalID = plainAll(&a, in.ExternalID, normExternalID)
	} else {
		u.ExternalID = hash(fExternalID, in.ExternalID, normExternalID)
	}
	ip, d := clientIP(in.ClientIPAddress)
	if d {
		dropped |= 1 << fClientIP
	}
	u.ClientIPAddress = ip
	u.ClientUserAgent = strings.TrimSpace(in.ClientUserAgent)
	u.Fbp = strings.TrimSpace(in.FBP)
	fbc, d := fbcFor(in.FBC, in.FBCLID, t.Millis, urls...)
	if d {
		dropped |= 1 << fFbc
	}
	u.Fbc = fbc
	u.SubscriptionID = strings.TrimSpace(in.SubscriptionID)
	u.LeadID = int64(in.LeadID)
	u.FBLoginID = int64(in.FBLoginID)
	u.AnonID = strings.TrimSpace(in.AnonID)
	u.MADID = strings.TrimSpace(in.MADID)
	u.PageID = strings.TrimSpace(in.PageID)
	u.PageScopedUserID = strings.TrimSpace(in.PageScopedUserID)
	u.CTWAClid = strings.TrimSpace(in.CTWAClid)
	u.IGAccountID = strings.TrimSpace(in.IGAccountID)
	u.IGSID = strings.TrimSpace(in.IGSID)
	return dropped
}

// ConnectionTestEventName is the name of the event `freight check` sends:
// Meta counts test events too, so the connection test sends one clearly
// named event, never real traffic.
const ConnectionTestEventName = "FreightConnectionTest"

// ConnectionTestEvent is the event `freight check` sends to a pixel: action
// source other, and a hashed external_id as its only customer information,
// which Meta accepts as sufficient.
func ConnectionTestEvent(eventID string, now time.Time) json.RawMessage {
	se := &ServerEvent{
		EventName:    ConnectionTestEventName,
		EventTime:    now.Unix(),
		EventID:      eventID,
		ActionSource: "other",
		UserData:     UserData{ExternalID: []string{sha256Hex("freight-connection-test")}},
	}
	return appendServerEvent(nil, se)
}
