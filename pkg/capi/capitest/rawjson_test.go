package capitest

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestValidJSONAgreesWithEncodingJSON: the stand-in refuses exactly the
// bodies encoding/json refuses, although fastjson does the checking.
func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"\"a\tb\\u0041\"", "\"a\\u0041\tb\"", "{\"k\x01\\n\":1}", "[\"\\t\",\"\x1f\"]", // control characters around escapes
		`"\x"`, `"\u12"`, `"\u12G4"`, `"\ud800"`, "\"\xff\"", `"\/"`, `"\U0041"`, // escapes and UTF-8
		`01`, `-`, `1.`, `1e`, `.5`, `+1`, `-0`, `1E+2`, `[1,]`, `{"a":1,}`, `{,}`, `[}`, `nul`, `truex`, " \r\n[] \t",
		"\v[]", "[]\x00",
		strings.Repeat("[", maxNesting) + strings.Repeat("]", maxNesting),
		strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1),
		strings.Repeat("[", 1<<20), // deep enough to overflow fastjson's recursion
	} {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%.40q) = %v, encoding/json says %v", s, got, want)
		}
	}

	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"{", "}", "[", "]", ",", ":", `"`, `\`, "u", "0", "1", "-", ".", "e", "+", " ", "\n", "\t", "\x00",
		"\x1f", "\xff", "a", "true", "null", `"\u12`, `"\ud800"`, "01", "\v", `"k":`, `"\n"`, `\u00e9`, "é", "\x7f", `\/`, `\x`}
	for range 50000 {
		var sb strings.Builder
		for range r.IntN(20) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		b := []byte(sb.String())
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, encoding/json says %v", b, got, want)
		}
	}
}

// TestReadsLikeEncodingJSON: events are recorded as sent and their values
// read as encoding/json decodes them into a map (escapes, invalid UTF-8,
// repeated keys, null values).
func TestReadsLikeEncodingJSON(t *testing.T) {
	crm := func(fields string) string {
		return `{"action_source":"system_generated","event_time":1772442000,` + fields + `}`
	}
	ext := `"user_data":{"external_id":"u"}`
	tests := []struct {
		name     string
		event    string
		wantName string
		wantID   string
	}{
		{"escaped key and value", crm(`"event_n\u0061me":"L\u0065ad","event_id":"a\/b",` + ext), "Lead", "a/b"},
		{"whitespace kept", " {\n\t\"action_source\" : \"system_generated\" ,\"event_time\":1772442000, \"event_name\":\"L\" ,\"user_data\":{ \"external_id\" : [ \"u\" ] } } ", "L", ""},
		{"invalid UTF-8", crm("\"event_name\":\"L\",\"event_id\":\"e\xff1\"," + ext), "L", "e\uFFFD1"},
		{"lone surrogates", crm(`"event_name":"\ud800L","event_id":"\udc00\ud800\u0041",` + ext), "\uFFFDL", "\uFFFD\uFFFDA"},
		{"surrogate pair", crm(`"event_name":"\ud83d\ude00",` + ext), "\U0001F600", ""},
		{"repeated key: the last counts", crm(`"event_name":"A","event_id":"1","event_name":"B","event_id":"2",` + ext), "B", "2"},
		{"a last null removes the key", crm(`"event_name":"L","event_id":"1","event_id":null,` + ext), "L", ""},
		{"null then value", crm(`"event_name":null,"event_name":"L",` + ext), "L", ""},
		{"nesting beyond fastjson's parser", crm(`"event_name":"L","x":` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + "," + ext), "L", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, base := newTestServer(t)
			body := []byte(`{"access_token":"` + tokenA + `","data":[` + tt.event + `]}`)
			wantOK(t, do(t, http.MethodPost, eventsURL(base, pixelA), "application/json", body), 1)
			ev := s.Events()[0]
			if want := strings.TrimSpace(tt.event); string(ev.Raw) != want {
				t.Errorf("Raw = %q, want the bytes as sent %q", ev.Raw, want)
			}
			if ev.EventName != tt.wantName || ev.EventID != tt.wantID {
				t.Errorf("recorded name %q id %q, want %q %q", ev.EventName, ev.EventID, tt.wantName, tt.wantID)
			}
			// The same as encoding/json reads the event.
			if f := ev.Fields(); f["event_name"] != ev.EventName || (f["event_id"] != nil && f["event_id"] != ev.EventID) {
				t.Errorf("encoding/json reads name %q id %q", f["event_name"], f["event_id"])
			}
		})
	}

	t.Run("data as a JSON string", func(t *testing.T) {
		s, base := newTestServer(t)
		event := crm(`"event_name":"L\u00e9","event_id":"x\"y",` + ext)
		data, _ := json.Marshal("[ " + event + " ]")
		body := []byte(`{"access_token":"` + tokenA + `","data":` + string(data) + `}`)
		wantOK(t, do(t, http.MethodPost, eventsURL(base, pixelA), "application/json", body), 1)
		if ev := s.Events()[0]; string(ev.Raw) != event || ev.EventName != "Lé" || ev.EventID != `x"y` {
			t.Errorf("recorded %+v", ev)
		}
	})

	// user_data keys count as in a map: a key whose last value is null is absent.
	hash := `"` + sha("a@b.c") + `"`
	for _, tt := range []struct {
		userData string
		subcode  int
		status   int
	}{
		{`{"em":` + hash + `,"em":null,"client_user_agent":"UA"}`, subcodeInsufficientData, 400},
		{`{"em":null,"em":` + hash + `,"client_user_agent":"UA"}`, 0, 200},
		{`{"em":"plain","em":` + hash + `}`, 0, 200},
		{`{"em":` + hash + `,"em":"plain"}`, subcodeInvalidUserData, 400},
		{`{"e\u006d":"plain","client_user_agent":"UA"}`, subcodeInvalidUserData, 400},
		{`{"em":null}`, 0, 400},
	} {
		_, base := newTestServer(t)
		body := []byte(`{"access_token":"` + tokenA + `","data":[` + crm(`"event_name":"L","user_data":`+tt.userData) + `]}`)
		a := do(t, http.MethodPost, eventsURL(base, pixelA), "application/json", body)
		if tt.status == 200 {
			wantOK(t, a, 1)
			continue
		}
		wantGraphError(t, a, tt.status, 100, tt.subcode)
	}
}

func TestIsFBCMatchesItsPattern(t *testing.T) {
	pattern := regexp.MustCompile(`^fb\.[012]\.[0-9]+\..+$`)
	r := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"fb.", "f", "b", ".", "0", "1", "2", "3", "9", "x", "\n", "é", "\xff", "fb.1.", "17000."}
	for range 20000 {
		var sb strings.Builder
		for range r.IntN(8) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		s := []byte(sb.String())
		if got, want := isFBC(s), pattern.Match(s); got != want {
			t.Fatalf("isFBC(%q) = %v, the pattern says %v", s, got, want)
		}
	}
	if !isFBC([]byte("fb.1.1700000000000.AbC")) || isFBC(bytes.Repeat([]byte("x"), 3)) {
		t.Error("isFBC misjudges the obvious")
	}
}
