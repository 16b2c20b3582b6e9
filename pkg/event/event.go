// Package event defines the raw web and CRM events that producers write to
// Kafka, and decodes them from record values.
//
// It checks syntax and types only: a value that is not a well-formed event
// is a decode error. Whether a decoded event has what Meta needs (required
// fields, age, action_source) is decided later, when it is mapped to a
// server event (package capi). Unknown fields are ignored so that producers
// can add fields before freight knows them.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
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

	// CRM events only.
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
	SearchString     string            `json:"search_string"`
	Status           string            `json:"status"`
	DeliveryCategory string            `json:"delivery_category"`
	Properties       map[string]string `json:"properties"`
}

// Content is one item of custom.contents.
type Content struct {
	ID               string   `json:"id"`
	Quantity         *int64   `json:"quantity"`
	ItemPrice        *float64 `json:"item_price"`
	DeliveryCategory string   `json:"delivery_category"`
}

// Strings is a value that producers may give as one string or an array of
// strings.
type Strings []string

// UnmarshalJSON accepts "a", ["a","b"] and null.
func (s *Strings) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Strings{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("must be a string or an array of strings")
	}
	*s = many
	return nil
}

// Integer is an id that producers may give as a JSON integer or as a string
// of digits (lead_id, fb_login_id). Zero means absent.
type Integer int64

// UnmarshalJSON accepts 123, "123" and null.
func (n *Integer) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	// ParseInt alone would take "+5" and "-0": digits only.
	if len(b) == 0 || strings.TrimLeft(string(b), "0123456789") != "" {
		return errors.New("must be a non-negative integer or a string of digits")
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || v < 0 {
		return errors.New("must be a non-negative integer or a string of digits")
	}
	*n = Integer(v)
	return nil
}

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

// UnmarshalJSON accepts an integer (a number with a zero fraction too, as
// some JSON encoders write 1.7e9).
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New("must be an integer (unix seconds or milliseconds)")
	}
	if f != math.Trunc(f) || f < 0 || f > math.MaxInt64/2 {
		return errors.New("must be a non-negative integer (unix seconds or milliseconds)")
	}
	v := int64(f)
	if v > msThreshold {
		*t = Time{Unix: v / 1000, Millis: v, Set: true}
	} else {
		*t = Time{Unix: v, Millis: v * 1000, Set: true}
	}
	return nil
}

// DecodeError is returned for a value that is not an event.
type DecodeError struct {
	Format string
	Reason string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("not a valid %s event: %s", e.Format, e.Reason)
}

// Decoder turns a record value into an event.
type Decoder interface {
	Decode(value []byte) (Event, error)
}

// JSON decodes events encoded as JSON objects.
type JSON struct{}

// Decode parses one JSON event. Errors are *DecodeError and never quote the
// value (it may hold customer data).
func (JSON) Decode(value []byte) (Event, error) {
	var e Event
	if len(bytes.TrimSpace(value)) == 0 {
		return e, &DecodeError{Format: "json", Reason: "the record value is empty"}
	}
	// json.Unmarshal takes null into a struct as a no-op, not an error.
	if string(bytes.TrimSpace(value)) == "null" {
		return e, &DecodeError{Format: "json", Reason: "the value is a JSON null, not an object"}
	}
	if err := json.Unmarshal(value, &e); err != nil {
		return Event{}, &DecodeError{Format: "json", Reason: describeJSONError(err)}
	}
	return e, nil
}

// describeJSONError says what was wrong without echoing the input.
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("the value is a JSON %s, not an object", typ.Value)
		}
		return fmt.Sprintf("field %s is a JSON %s, want %s", typ.Field, typ.Value, typ.Type)
	}
	// Errors from our own UnmarshalJSON methods carry no input; the json
	// package does not name the field for them, so say what we can.
	return err.Error()
}
