// Package capitest is a stand-in for Meta's Conversions API endpoint
// (POST https://graph.facebook.com/{version}/{pixel_id}/events) that validates
// and answers like Meta. Integration tests, `freight dev` and `freight sandbox`
// send to it instead of the real Graph API.
//
// It is meant to be an independent oracle: it reads requests generically
// (straight from the JSON as sent, decoding values as encoding/json does) and
// imports no other freight package, so a mistake in freight's event types or
// validation cannot hide itself here.
//
// # What it imitates
//
//   - The route POST /{version}/{pixel_id}/events (version like v25.0), with a
//     JSON body or a form-encoded one whose data field is a JSON string, as
//     Meta's SDKs send it. A token in the URL query or an Authorization header
//     is accepted as Graph accepts it; a token in the URL is counted
//     (RequestStats.TokenInURL) so tests can assert freight never sends one.
//   - Graph's answers: 200 {"events_received","messages","fbtrace_id"} and the
//     Graph error body {"error":{message,type,code,error_subcode,is_transient,
//     error_user_title,error_user_msg,fbtrace_id}} with the HTTP status Graph
//     uses, an x-fb-trace-id header, and the X-Business-Use-Case-Usage header
//     (low usage on success, exhausted on the business-use-case throttle).
//   - Meta's validation, rejecting the whole request on the first bad event
//     without saying which event it was: token (190), unknown pixel or a token
//     without access to it (100/33), data (100, at most 1000 events), event_name,
//     event_time (too old: 100/2804003, 7 days or 62 for physical_store; too
//     far in the future: 100/2804004, 10 minutes allowed), action_source,
//     website requirements, user_data formats (100/2804019) and insufficient
//     customer information (100/2804050), custom_data value and currency.
//   - Error codes freight must classify, injected on demand: deterministic
//     faults for tests (FailNext, FailNextFor, SetPixelFault, SetDelay) and
//     seeded probabilistic ones for dev and sandbox (Faults, ParseFaults).
//
// # Where it is stricter than Meta
//
// Hashed user_data keys (em ph fn ln ge db ct st zp country) must be SHA-256 as
// 64 lowercase hex characters. Meta would hash plain values itself; freight must
// never send them, so the stand-in refuses them (100/2804019) and names the
// field, never the value. event_time must be a JSON integer; fbc must look
// like fb.1.{ms}.{fbclid} (subdomain index 0-2 accepted, as browser cookies
// carry it); a path without a version, a body with Content-Encoding or an
// unknown Content-Type is refused.
//
// # What it does not imitate
//
//   - No deduplication: Meta deduplicates browser and server events; the
//     stand-in accepts and records every valid event, so Count shows exactly
//     how often freight delivered a key ("reaches Meta once").
//   - No match quality, attribution, Events Manager diagnostics or warnings in
//     "messages" (always empty), no real rate limiting (throttling happens only
//     when injected), no app review or token scopes beyond "this token is valid
//     for this pixel", no token expiry except through SetToken or FaultAuth.
//   - Meta's messages are localized and change; the stand-in's are close in
//     spirit only. Branch on codes, as freight does.
//
// The stand-in never logs, records or echoes an access token or app secret;
// it keeps only whether the token was valid.
package capitest
