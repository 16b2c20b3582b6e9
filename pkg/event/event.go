// Package event defines the raw web and CRM events that producers write to
// Kafka, and decodes them from record values: JSON (json.go), bare Avro and
// Confluent Avro with writer schemas from a schema registry (avro.go,
// avro_confluent.go; the schemas are in the schemas directory).
//
// It checks syntax and types only: a value that is not a well-formed event
// is a decode error. Whether a decoded event has what Meta needs (required
// fields, age, action_source) is decided later, when it is mapped to a
// server event (package capi). Unknown fields are ignored so that producers
// can add fields before freight knows them.
package event

import (
	"fmt"
)

// Kind is the kind of topic an event came from; it sets the defaults and the
// required fields.
type Kind string

const (
	KindWeb Kind = "web"
	KindCRM Kind = "crm"
)

// Event is one raw event as producers write it (CONTRACT.md section 3).
type Event struct {
	EventID        string `json:"event_id"`
	EventName      string `json:"event_name"`
	EventTime      Time   `json:"event_time"`
	PixelID        string `json:"pixel_id"`
	EventSourceURL string `json:"event_source_url"`
	ActionSource   string `json:"action_source"`
	ReferrerURL    string `json:"referrer_url"`
	OptOut         bool   `json:"opt_out"`

	DataProcessingOptions        []string `json:"data_processing_options"`
	DataProcessingOptionsCountry *int     `json:"data_processing_options_country"`
	DataProcessingOptionsState   *int     `json:"data_processing_options_state"`

	User   *User   `json:"user"`
	Custom *Custom `json:"custom"`

	// For other integrations (CAPI.md): app events, business messaging,
	// value optimization. Passed to Meta as given, after type checks.
	AppData              *AppData           `json:"app_data"`
	MessagingChannel     string             `json:"messaging_channel"`
	OriginalEventData    *OriginalEventData `json:"original_event_data"`
	AttributionData      *AttributionData   `json:"attribution_data"`
	CustomerSegmentation map[string]string  `json:"customer_segmentation"`
	// CustomerSegment is customer_segmentation given as a string, Meta's
	// form (an enum value), sent as such; the map form is kept for the
	// producers that send one.
	CustomerSegment string `json:"-"`

	// CRM events only.
	// TestEventCode sends the event to Events Manager's Test Events tab
	// (the request's test_event_code; freight groups requests by it).
	TestEventCode string `json:"test_event_code"`
	// The offline upload's request parameters (requests are grouped by
	// them too): the scope of external or third-party ids, the upload set,
	// a tag and the data's source.
	NamespaceID  string `json:"namespace_id"`
	UploadID     string `json:"upload_id"`
	UploadTag    string `json:"upload_tag"`
	UploadSource string `json:"upload_source"`

	CRMID           string `json:"crm_id"`
	LeadEventSource string `json:"lead_event_source"`
}

// User holds raw customer information; freight normalizes and hashes it.
type User struct {
	Email       Strings `json:"email"`
	Phone       Strings `json:"phone"`
	FirstName   Strings `json:"first_name"`
	LastName    Strings `json:"last_name"`
	Gender      Strings `json:"gender"`
	DateOfBirth Strings `json:"date_of_birth"`
	City        Strings `json:"city"`
	State       Strings `json:"state"`
	Zip         Strings `json:"zip"`
	Country     Strings `json:"country"`
	ExternalID  Strings `json:"external_id"`

	ClientIPAddress string  `json:"client_ip_address"`
	ClientUserAgent string  `json:"client_user_agent"`
	FBP             string  `json:"fbp"`
	FBC             string  `json:"fbc"`
	FBCLID          string  `json:"fbclid"`
	SubscriptionID  string  `json:"subscription_id"`
	LeadID          Integer `json:"lead_id"`
	FBLoginID       Integer `json:"fb_login_id"`

	// Platform ids, sent unhashed: app install ids, Page and Instagram ids,
	// click-to-WhatsApp click ids.
	AnonID           string `json:"anon_id"`
	MADID            string `json:"madid"`
	PageID           string `json:"page_id"`
	PageScopedUserID string `json:"page_scoped_user_id"`
	CTWAClid         string `json:"ctwa_clid"`
	IGAccountID      string `json:"ig_account_id"`
	IGSID            string `json:"ig_sid"`
}

// AppData is app_data, for events of action_source app.
type AppData struct {
	AdvertiserTrackingEnabled  *bool    `json:"advertiser_tracking_enabled"`
	ApplicationTrackingEnabled *bool    `json:"application_tracking_enabled"`
	Extinfo                    []string `json:"extinfo"`
	CampaignIDs                string   `json:"campaign_ids"`
	InstallReferrer            string   `json:"install_referrer"`
	InstallerPackage           string   `json:"installer_package"`
	URLSchemes                 []string `json:"url_schemes"`
	WindowsAttributionID       string   `json:"windows_attribution_id"`
}

// OriginalEventData names the event a later one refers to (attribution
// passback, value optimization).
type OriginalEventData struct {
	EventName string `json:"event_name"`
	EventTime Time   `json:"event_time"`
	OrderID   string `json:"order_id"`
	EventID   string `json:"event_id"`
}

// AttributionData is the advertiser's own attribution of the event (Meta's
// attribution_data, as its business SDKs send it).
type AttributionData struct {
	Scope              string              `json:"scope"`
	VisitTime          *int64              `json:"visit_time"`
	AdID               string              `json:"ad_id"`
	AdsetID            string              `json:"adset_id"`
	CampaignID         string              `json:"campaign_id"`
	AttributionShare   *float64            `json:"attribution_share"`
	AttributionModel   string              `json:"attribution_model"`
	AttrWindow         *int64              `json:"attr_window"`
	AttributionValue   *float64            `json:"attribution_value"`
	AttributionSource  string              `json:"attribution_source"`
	TouchpointType     string              `json:"touchpoint_type"`
	TouchpointTS       *int64              `json:"touchpoint_ts"`
	AttributionMethod  string              `json:"attribution_method"`
	DeclineReason      string              `json:"decline_reason"`
	AuditingToken      string              `json:"auditing_token"`
	LinkageKey         string              `json:"linkage_key"`
	AttributionSetting *AttributionSetting `json:"attribution_setting"`
}

// AttributionSetting is attribution_data.attribution_setting.
type AttributionSetting struct {
	InactivityWindowHours    *int64 `json:"inactivity_window_hours"`
	ReattributionWindowHours *int64 `json:"reattribution_window_hours"`
}

// Custom holds the event's custom data.
type Custom struct {
	Value            *float64          `json:"value"`
	Currency         string            `json:"currency"`
	ContentIDs       []string          `json:"content_ids"`
	Contents         []Content         `json:"contents"`
	ContentType      string            `json:"content_type"`
	ContentName      string            `json:"content_name"`
	ContentCategory  string            `json:"content_category"`
	OrderID          string            `json:"order_id"`
	NumItems         *int64            `json:"num_items"`
	PredictedLTV     *float64          `json:"predicted_ltv"`
	NetRevenue       *float64          `json:"net_revenue"`
	SearchString     string            `json:"search_string"`
	Status           string            `json:"status"`
	DeliveryCategory string            `json:"delivery_category"`
	Properties       map[string]string `json:"properties"`
	// PropertyLiterals are the custom properties whose values are numbers
	// or booleans, as their JSON text, sent as such (Meta takes any JSON
	// value in custom_data).
	PropertyLiterals map[string]string `json:"-"`
}

// Content is one item of custom.contents.
type Content struct {
	ID               string   `json:"id"`
	Quantity         *int64   `json:"quantity"`
	ItemPrice        *float64 `json:"item_price"`
	DeliveryCategory string   `json:"delivery_category"`
	Title            string   `json:"title"`
	Description      string   `json:"description"`
	Brand            string   `json:"brand"`
	Category         string   `json:"category"`
}

// Strings is a value that producers may give as one string or an array of
// strings.
type Strings []string

// Integer is an id that producers may give as a JSON integer or as a string
// of digits (lead_id, fb_login_id). Zero means absent.
type Integer int64

// Time is event_time as given: unix seconds, or milliseconds when the value
// is above 10^12 (CONTRACT.md section 3).
type Time struct {
	// Unix is the time in seconds (milliseconds floored).
	Unix int64
	// Millis is the time in milliseconds: as given when the producer gave
	// milliseconds, Unix*1000 otherwise. fbc is built from it.
	Millis int64
	// Set reports whether the field was present.
	Set bool
}

// msThreshold: a value above it is read as milliseconds.
const msThreshold = 1_000_000_000_000

// TimeOf reads an event_time value.
func TimeOf(v int64) Time {
	if v > msThreshold {
		return Time{Unix: v / 1000, Millis: v, Set: true}
	}
	return Time{Unix: v, Millis: v * 1000, Set: true}
}

// DecodeError is returned for a value that is not an event.
type DecodeError struct {
	Format string
	Reason string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("not a valid %s event: %s", e.Format, e.Reason)
}

// UnavailableError is returned by a decoder that could not decode a record
// because a service it needs, the schema registry, did not answer (refused
// the connection, timed out, answered 5xx, refused our credentials). The
// record may be perfectly good: the caller waits and tries again instead of
// dead-lettering it.
type UnavailableError struct {
	Service  string // what did not answer, e.g. "schema registry"
	SchemaID int    // the schema id that was being looked up
	Reason   string // what went wrong, short; never the record's content
	Err      error  // the cause
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s unavailable (schema id %d): %s", e.Service, e.SchemaID, e.Reason)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Decoder turns a record value into an event. An error is a *DecodeError
// (the record can never be decoded: dead-letter it) or an *UnavailableError
// (try again later).
type Decoder interface {
	Decode(value []byte) (Event, error)
}
