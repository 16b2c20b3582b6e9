// Package schemas holds the Avro schemas of freight's input events, embedded
// into the binary: the reader schemas of the avro and confluent-avro formats
// (CONTRACT.md section 3). The files themselves are what producers copy or
// register; this package only makes them available to freight's code.
package schemas

import _ "embed"

// WebEvent is web_event.avsc: the schema of a web event (topic kind web).
//
//go:embed web_event.avsc
var WebEvent string

// CRMEvent is crm_event.avsc: the schema of a CRM event (topic kind crm),
// the web event's fields plus crm_id and lead_event_source.
//
//go:embed crm_event.avsc
var CRMEvent string
