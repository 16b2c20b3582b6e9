package capi

import (
	"encoding/json"
	"testing"

	"github.com/freight-relay/freight/pkg/event"
)

// Where the two modes differ, input by input: documented follows Meta's
// written rules, param-builder reproduces the builder. docs/normalization.md
// shows this table.
func TestDocumentedAndBuilderModes(t *testing.T) {
	tests := []struct {
		field, in, country  string // country: the event's, for ph, st and zp
		documented, builder string
	}{
		// country: ISO 3166-1 alpha-2 from codes and names.
		{"country", "UK", "", "gb", "uk"},
		{"country", "Great Britain", "", "gb", "gr"},
		{"country", "England", "", "gb", "en"},
		{"country", "Österreich", "", "at", "st"},
		{"country", "Deutschland", "", "de", "de"},
		{"country", "España", "", "es", "es"},
		{"country", "Schweiz", "", "ch", "sc"},
		{"country", "Suisse", "", "ch", "su"},
		{"country", "日本", "", "jp", ""},
		{"country", "Россия", "", "ru", ""},
		{"country", "DEU", "", "de", "de"},
		{"country", "Federal Republic of Nigeria", "", "", "ne"},
		{"country", "Nigeria", "", "ng", "ng"},
		{"country", "Bavaria", "", "", "ba"},
		{"country", "XX", "", "", "xx"},
		{"country", "us", "", "us", "us"},
		{"country", "Côte d’Ivoire", "", "ci", "ct"},
		// st: US states by code; elsewhere the name without spaces.
		{"st", "California", "US", "ca", "ca"},
		{"st", "New York", "", "ny", "ny"},
		{"st", "West Virginia State", "", "westvirginiastate", "va"},
		{"st", "Bavaria", "DE", "bavaria", "ba"},
		{"st", "Ontario", "CA", "ontario", "on"},
		{"st", "Georgia", "GE", "georgia", "ga"},
		{"st", "Île-de-France", "FR", "îledefrance", "le"},
		{"st", "District of Columbia", "US", "dc", "di"},
		{"st", "TX", "US", "tx", "tx"},
		// ph: E.164 digits.
		{"ph", "+44 (0)20 7946 0958", "", "442079460958", "4402079460958"},
		{"ph", "+49 (0)30 1234567", "DE", "49301234567", "490301234567"},
		{"ph", "+39 06 1234 5678", "", "390612345678", "390612345678"},
		{"ph", "+1 (650) 555-1212", "", "16505551212", "16505551212"},
		{"ph", "020 7946 0958", "GB", "442079460958", "442079460958"},
		{"ph", "(650) 555-1212", "", "6505551212", "6505551212"},
		// zp: no spaces or dashes; US zips their first five digits.
		{"zp", "94025-1234", "US", "94025", "94025"},
		{"zp", "940251234", "US", "94025", "940251234"},
		{"zp", "940251234", "", "94025", "940251234"},
		{"zp", "SW1A 1AA", "GB", "sw1a1aa", "sw1a 1aa"},
		{"zp", "75008", "FR", "75008", "75008"},
		{"zp", "1010-A", "AT", "1010a", "1010"},
		// ct, fn, ln: lowercase letters of any script.
		{"ct", "São Paulo", "", "sãopaulo", "sopaulo"},
		{"ct", "Москва", "", "москва", ""},
		{"ct", "東京", "", "東京", ""},
		{"ct", "St. Louis", "", "stlouis", "stlouis"},
		{"ct", "Menlo Park", "", "menlopark", "menlopark"},
		{"fn", "O’Brien", "", "obrien", "o’brien"},
		{"fn", "Zoë", "", "zoë", "zoë"},
		{"ln", "García-Márquez", "", "garcíamárquez", "garcíamárquez"},
	}
	for _, tt := range tests {
		t.Run(tt.field+"/"+tt.in, func(t *testing.T) {
			doc, pb := modeNormalizers(tt.field, tt.country)
			if got := doc(tt.in); got != tt.documented {
				t.Errorf("documented %s(%q, country %q) = %q, want %q", tt.field, tt.in, tt.country, got, tt.documented)
			}
			if got := pb(tt.in); got != tt.builder {
				t.Errorf("param-builder %s(%q, country %q) = %q, want %q", tt.field, tt.in, tt.country, got, tt.builder)
			}
		})
	}
}

// modeNormalizers are the two modes' normalizers of field for an event of
// country, as mapUser picks them.
func modeNormalizers(field, country string) (doc, pb normalizer) {
	docRegion := phoneRegion([]string{country}, normCountryDoc)
	pbRegion := phoneRegion([]string{country}, normCountry)
	switch field {
	case "country":
		return normCountryDoc, normCountry
	case "st":
		return func(v string) string { return normStateDoc(v, docRegion) }, normState
	case "ph":
		return func(v string) string { return normPhoneDoc(v, docRegion) }, func(v string) string { return normPhoneIn(v, pbRegion) }
	case "zp":
		return func(v string) string { return normZipDoc(v, docRegion) }, normZip
	case "ct":
		return normLetters, normAlnum
	}
	return normLetters, normName // fn, ln
}

// Through Map: the mode is an option, documented unless param-builder is
// asked for.
func TestMapNormalizationMode(t *testing.T) {
	raw := `{"event_id":"1","event_name":"Lead","event_time":` + nowS + `,"pixel_id":"7","user":{"email":"a@x.com","country":"UK","city":"São Paulo"}}`
	for _, tc := range []struct {
		mode          Normalization
		country, city string
	}{
		{"", "gb", "sãopaulo"},
		{Documented, "gb", "sãopaulo"},
		{ParamBuilder, "uk", "sopaulo"},
	} {
		e := decode(t, raw)
		ev, err := Map(&e, event.KindCRM, Options{Normalization: tc.mode}, now)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(ev.JSON, &m); err != nil {
			t.Fatal(err)
		}
		if first(m, "country") != sha256Hex(tc.country) || first(m, "ct") != sha256Hex(tc.city) {
			t.Errorf("mode %q: country %v, ct %v; want the hashes of %q and %q", tc.mode, m["country"], m["ct"], tc.country, tc.city)
		}
	}
}
