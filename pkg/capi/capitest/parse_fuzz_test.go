package capitest

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseJSONBody checks the body reader against encoding/json: it never
// panics, refuses what is not one JSON object, and its events are the
// elements of data, byte for byte, as encoding/json splits them.
func FuzzParseJSONBody(f *testing.F) {
	for _, seed := range []string{
		`{"data":[{"event_name":"a"},{"b":[1,2,{"c":null}]}],"access_token":"t"}`,
		`{"data":"[{\"event_name\":\"a\"}]"}`,
		`{"data":{"a":[1]},"x":1}`,
		`{"data":[]}`, `{"data":null}`, `{}`, `[]`, `{"data":[1,"x",true]} `,
		`{"data":[{}] ,"data":[{"z":1}]}`, `{"data":[{}]}{}`, `{"data":[,]}`, ` { "data" : [ { } , { } ] } `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, e := parseJSONBody(body)
		var top map[string]json.RawMessage
		validObject := json.Unmarshal(body, &top) == nil && top != nil
		if (e == nil) != validObject {
			// A type error in a known string parameter is refused too.
			if !(validObject && e != nil && e != errBodyNotObject) {
				t.Fatalf("parseJSONBody error %v, but encoding/json says valid object: %v", e, validObject)
			}
		}
		if e != nil {
			return
		}
		if !p.dataPresent || p.dataErr != nil {
			return
		}
		data := top["data"]
		var text string
		if json.Unmarshal(data, &text) == nil {
			data = []byte(text) // data sent as a JSON-encoded string
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(data, &elems); err != nil {
			t.Fatalf("events accepted from data %q that is no array: %v", data, err)
		}
		if len(p.events) != len(elems) {
			t.Fatalf("%d events, encoding/json splits %d", len(p.events), len(elems))
		}
		for i, ev := range p.events {
			if !bytes.Equal(ev, elems[i]) {
				t.Fatalf("event %d is %q, encoding/json reads %q", i, ev, elems[i])
			}
		}
	})
}
