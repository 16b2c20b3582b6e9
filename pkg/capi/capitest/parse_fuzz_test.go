package capitest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParseJSONBody checks the streaming body decoder against encoding/json:
// it never panics, refuses what is not one JSON object, and every event's raw
// bytes decode to the value it validated.
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
		for _, ev := range p.events {
			dec := json.NewDecoder(bytes.NewReader(ev.raw))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil || dec.More() {
				t.Fatalf("raw event %q does not decode: %v", ev.raw, err)
			}
			if !reflect.DeepEqual(v, ev.v) {
				t.Fatalf("raw event %q decodes to %#v, validated %#v", ev.raw, v, ev.v)
			}
		}
	})
}
