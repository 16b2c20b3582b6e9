package capi

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/freight-relay/freight/pkg/event"
)

// pbVector is one case of testdata/capi-param-builder-vectors.json: the
// cases with "sdk": "capi-param-builder-nodejs" of the shared
// capi-normalize-vectors.json, transcribed from the tests of Meta's
// parameter builder (facebook/capi-param-builder at Commit, the file named
// by Source, the test named by Test). Expected is the output of the
// parameter builder's normalizer (Function); null or "" means the value is
// dropped.
type pbVector struct {
	ID       string   `json:"id"`
	Field    string   `json:"field"`
	Fields   []string `json:"fields"` // fn and ln share getNormalizedName
	Input    string   `json:"input"`
	Expected *string  `json:"expected"`
	Source   string   `json:"source"`
	Commit   string   `json:"commit"`
	Function string   `json:"function"`
	Test     string   `json:"test"`
}

// normalizers maps each match key to freight's normalizer for it (the phone
// one without a country: the parameter builder's rule alone).
var normalizers = map[string]normalizer{
	"em":          normEmail,
	"ph":          normPhone,
	"fn":          normName,
	"ln":          normName,
	"ge":          normGender,
	"db":          normDOB,
	"ct":          normAlnum,
	"st":          normState,
	"zp":          normZip,
	"country":     normCountry,
	"external_id": normExternalID,
}

func loadParamBuilderVectors(t testing.TB) []pbVector {
	t.Helper()
	b, err := os.ReadFile("testdata/capi-param-builder-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []pbVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestParamBuilderVectors runs every case of Meta's parameter builder tests
// through freight's normalizer for its field, then hashes the way
// getNormalizedAndHashedPII does (and hashAll does): a value that is 64 hex
// characters once trimmed passes through lowercased, anything else is
// normalized and the result, if any, SHA-256 hashed.
func TestParamBuilderVectors(t *testing.T) {
	vs := loadParamBuilderVectors(t)
	perField := map[string]int{}
	pass := 0
	for _, v := range vs {
		fields := v.Fields
		if len(fields) == 0 {
			fields = []string{v.Field}
		}
		ok := t.Run(v.ID, func(t *testing.T) {
			want := ""
			if v.Expected != nil {
				want = *v.Expected
			}
			var wantHashes []string
			trimmed := trimJS(v.Input)
			switch {
			case isHashed(trimmed):
				if !strings.EqualFold(want, trimmed) {
					t.Fatalf("%s (%s: %q): a hash the normalizer changes", v.ID, v.Source, v.Test)
				}
				wantHashes = []string{strings.ToLower(trimmed)}
			case want != "":
				wantHashes = []string{sha256Hex(want)}
			}
			for _, f := range fields {
				norm := normalizers[f]
				if norm == nil {
					t.Fatalf("%s: no normalizer for field %q", v.ID, f)
				}
				perField[f]++
				if !isHashed(trimmed) {
					if got := norm(trimmed); got != want {
						t.Errorf("%s %s %s(%q) = %q, want %q\n\t(%s, test %q)", v.ID, f, v.Function, v.Input, got, want, v.Source, v.Test)
					}
				}
				if got, _ := hashAll(new(arena), []string{v.Input}, norm); !slices.Equal(got, wantHashes) {
					t.Errorf("%s %s hashAll(%q) = %v, want %v\n\t(%s, test %q)", v.ID, f, v.Input, got, wantHashes, v.Source, v.Test)
				}
			}
		})
		if ok {
			pass++
		}
	}
	t.Logf("%d of %d parameter builder cases pass (%v)", pass, len(vs), perField)
	if len(vs) != 1494 {
		t.Errorf("%d cases, want the 1494 of the parameter builder", len(vs))
	}
	for f := range normalizers {
		if perField[f] == 0 {
			t.Errorf("no case for field %s", f)
		}
	}
}

// Freight's one addition to the parameter builder: a phone in national form
// takes the event's country code; one that carries a country code, or an
// event without a (usable) country, follows the parameter builder alone.
func TestNormPhoneIn(t *testing.T) {
	tests := []struct {
		name, in, region, want string
	}{
		{"US national form (the contract's example)", "(650) 555-1212", "US", "16505551212"},
		{"US national form with the trunk prefix 1", "1 (650) 555-1212", "US", "16505551212"},
		{"already E.164", "+1 650 555 1212", "US", "16505551212"},
		{"another country's number with +", "+44 20 7946 0958", "US", "442079460958"},
		{"GB national form drops the trunk 0", "020 7946 0958", "GB", "442079460958"},
		{"GB with the international prefix 00", "00 44 20 7946 0958", "GB", "442079460958"},
		{"FR mobile", "06 12 34 56 78", "FR", "33612345678"},
		{"DE national form", "030 12345678", "DE", "493012345678"},
		{"IT keeps its leading zero", "06 1234 5678", "IT", "390612345678"},
		{"Canadian number with country US (same calling code)", "(416) 555-0123", "US", "14165550123"},
		{"extension dropped in E.164", "(650) 555-1212 ext. 12", "US", "16505551212"},
		{"not valid for the region: the parameter builder alone", "12345", "US", "12345"},
		{"a GB number written without + while the country is US", "442079460958", "US", "442079460958"},
		{"no country: the parameter builder alone", "(650) 555-1212", "", "6505551212"},
		{"unknown region: the parameter builder alone", "(650) 555-1212", "ZZ", "6505551212"},
		{"no digits", "call me", "US", ""},
		{"hash-like text is not a phone", "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae", "US", "6654592042294174867480413107998867727"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := normPhoneIn(tt.in, tt.region); got != tt.want {
				t.Errorf("normPhoneIn(%q, %q) = %q, want %q", tt.in, tt.region, got, tt.want)
			}
		})
	}
}

func TestPhoneRegion(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"US"}, "US"},
		{[]string{" united states of america "}, "US"},
		{[]string{"United Kingdom"}, "GB"},
		{[]string{"", "x", "fr"}, "FR"},                  // the first usable one
		{[]string{strings.Repeat("ab", 32), "de"}, "DE"}, // a hashed country is not usable
		{[]string{"!!!", "1"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := phoneRegion(tt.in, normCountry); got != tt.want {
			t.Errorf("phoneRegion(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMapPhoneTakesTheEventCountry(t *testing.T) {
	tests := []struct {
		name, user, want string
	}{
		{"national form with country", `"phone":"(650) 555-1212","country":"US"`, "16505551212"},
		{"country given by name", `"phone":"020 7946 0958","country":["","United Kingdom"]`, "442079460958"},
		{"with a country code", `"phone":"+44 20 7946 0958","country":"US"`, "442079460958"},
		{"without country", `"phone":"(650) 555-1212"`, "6505551212"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, m := mapped(t, event.KindCRM, `{"event_id":"1","event_name":"Lead","event_time":`+nowS+`,"pixel_id":"7","user":{"email":"a@x.com",`+tt.user+`}}`)
			eq(t, first(m, "ph"), sha256Hex(tt.want))
		})
	}
}

// JavaScript's lowercase and white space, where they differ from Go's.
func TestJavaScriptStrings(t *testing.T) {
	tests := []struct {
		name string
		f    normalizer
		in   string
		want string
	}{
		{"final sigma", normName, "ΟΔΥΣΣΕΥΣ", "οδυσσευς"},
		{"final sigma after stripping", normName, "ΟΔΥΣ-ΣΕΥΣ", "οδυσσευς"},
		{"sigma before a case-ignorable then a letter", normExternalID, "AΣ.B", "aσ.b"},
		{"sigma alone", normExternalID, "Σ", "σ"},
		{"dotted capital I", normName, "İNCE", "i\u0307nce"},
		{"dotted capital I in a state", normState, "İllinois", "il"},
		{"Kelvin sign", normGender, "\u212Aing", "m"},
		{"U+0085 is not JavaScript white space", normName, "\u0085ann", "\u0085ann"},
		{"U+FEFF is JavaScript white space", normExternalID, "\uFEFFU-1\uFEFF", "u-1"},
		{"zip length counts UTF-16 units", normZip, "😀", "😀"},
		{"zip keeps inner spaces", normZip, "SW1A 1AA", "sw1a 1aa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// The parameter builder's behaviour where it looks odd, kept on purpose so
// that freight's hashes are Meta's.
func TestParamBuilderQuirks(t *testing.T) {
	defer func(f func() int) { currentYear = f }(currentYear)
	currentYear = func() int { return 2026 }
	tests := []struct {
		name string
		f    normalizer
		in   string
		want string
	}{
		{"email local part may hold a colon before a dot", normEmail, "a:.b@x.com", "a:.b@x.com"},
		{"state found inside: first in table order", normState, "West Virginia State", "va"},
		{"country found inside: ind before indonesia", normCountry, "Republic of Indonesia", "in"},
		{"unknown country cut to two letters", normCountry, "U.K.", "uk"},
		{"date: day 31 in any month", normDOB, "1990-02-31", "19900231"},
		{"date: lone 8 digits unchecked", normDOB, "19901399", "19901399"},
		{"date: next year allowed", normDOB, "2027-01-01", "20270101"},
		{"date: the year after refused", normDOB, "2028-01-01", ""},
		{"date: huge numbers", normDOB, "99999999999999999999999-1-1", ""},
		{"city must begin with a letter", normAlnum, "1st City", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// emailRE is emailUtil's EMAIL_RE, as written (flag i), to check isEmailPB.
var emailRE = regexp.MustCompile(`(?i)^[\w!#\$%&'\*\+\/\=\?\^` + "`" + `\{\|\}~\-]+(:?\.[\w!#\$%&'\*\+\/\=\?\^` + "`" + `\{\|\}~\-]+)*@(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?$`)

func TestIsEmailPBIsEmailRE(t *testing.T) {
	for _, s := range []string{
		"a@b.c", "a.b@c.d", "a:.b@c.d", "a:b@c.d", "a..b@c.d", ".a@b.c", "a.@b.c", "a@b", "a@-b.c",
		"a@b-.c", "a@b--c.d", "a@b.c.", "a@@b.c", "a@b@c.d", "@b.c", "a@.b.c", "a_b@C.D", "a\n@b.c",
		"a@b.c\n", "é@b.c", "a@é.c", "a+b/c=d?e^f`g{h|i}j~k-l'm@n.o",
	} {
		if got, want := isEmailPB(s), emailRE.MatchString(s); got != want {
			t.Errorf("isEmailPB(%q) = %v, EMAIL_RE says %v", s, got, want)
		}
	}
}

// FuzzNormalize: for every field, no input panics, and what hashAll sends is
// absent or one value of 64 lowercase hex characters.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"", " ", "Ann@Example.com", "a:.b@c.d", "+1 (650) 555-1212", "(650) 555-1212", "020 7946 0958",
		"tel:+1-650-555-1212;phone-context=x", "0", "ΟΔΥΣΣΕΥΣ", "İ", "\u212Aing", "12/31/1990",
		"99999999999999999999999-1-1", "New York", "West Virginia State", "United States of America",
		"SW1A 1AA", "94025-1234", "ma'am", strings.Repeat("a", 64), strings.Repeat("A", 63) + "!",
		"\xff\xfe", "\uFEFF", "😀",
	} {
		f.Add(s, "US")
		f.Add(s, "")
	}
	f.Add("06 12 34 56 78", "France")
	fields := make([]string, 0, len(normalizers))
	for k := range normalizers {
		fields = append(fields, k)
	}
	slices.Sort(fields)
	f.Fuzz(func(t *testing.T, s, country string) {
		check := func(field string, got []string) {
			if len(got) > 1 {
				t.Fatalf("%s(%q): %d values", field, s, len(got))
			}
			for _, h := range got {
				if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
					t.Fatalf("%s(%q) = %q, not 64 lowercase hex", field, s, h)
				}
			}
		}
		for _, field := range fields {
			out, dropped := hashAll(new(arena), []string{s}, normalizers[field])
			check(field, out)
			if dropped && len(out) > 0 {
				t.Fatalf("%s(%q): one value both sent and dropped", field, s)
			}
		}
		region := phoneRegion([]string{country}, normCountry)
		out, _ := hashAll(new(arena), []string{s}, func(v string) string { return normPhoneIn(v, region) })
		check("ph+country", out)
		// The documented mode's normalizers take anything too.
		docRegion := phoneRegion([]string{country}, normCountryDoc)
		for field, norm := range map[string]normalizer{
			"ph": func(v string) string { return normPhoneDoc(v, docRegion) },
			"st": func(v string) string { return normStateDoc(v, docRegion) },
			"zp": func(v string) string { return normZipDoc(v, docRegion) },
			"ct": normLetters, "country": normCountryDoc,
		} {
			out, _ := hashAll(new(arena), []string{s}, norm)
			check("documented "+field, out)
		}
		if utf8.ValidString(s) {
			if v := trimJS(lowerJS(s)); isEmailPB(v) != emailRE.MatchString(v) {
				t.Fatalf("isEmailPB(%q) disagrees with EMAIL_RE", v)
			}
		}
	})
}

// BenchmarkPhone shows what the E.164 addition costs: a number in national
// form with a country goes through phonenumbers, the others do not.
func BenchmarkPhone(b *testing.B) {
	for _, bc := range []struct{ name, in, region string }{
		{"with country code", "+1 (650) 555-1212", "US"},
		{"national form without country", "(650) 555-1212", ""},
		{"national form with country", "(650) 555-1212", "US"},
	} {
		for _, mode := range []struct {
			name string
			norm func(v, region string) string
		}{{"param-builder", normPhoneIn}, {"documented", normPhoneDoc}} {
			b.Run(mode.name+"/"+bc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					hashAll(new(arena), []string{bc.in}, func(v string) string { return mode.norm(v, bc.region) })
				}
			})
		}
	}
}

// Values Meta's parameter builder normalized and hashed already (its
// getNormalizedAndHashedPII, capi-param-builder-nodejs 1.3.2: the SHA-256
// hex, a dot, the appendix) are sent as they are, in every hashed field and
// in external_id hashed or plain. A look-alike whose suffix is no appendix
// is normalized as any value.
func TestParamBuilderHashesPassThrough(t *testing.T) {
	const (
		em = "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d.AQQCAQMC" // jane.doe@example.com
		ph = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176.AQQCAQMC" // +1 (650) 555-1212
		fn = "81f8f6dde88365f3928796ec7aa53f72820b06db8664f5fe76a7eb13e24546a2.AQQCAQMC" // Jane
		id = "c995655d9d4b04d624bc48b0bf3e4e773b6a3ab4dc56e9ec623aebf3ff5be297.BA"       // crm-42, v1 appendix
	)
	raw := `{"event_id":"1","event_name":"Lead","event_time":` + nowS + `,"pixel_id":"7","user":{"email":" ` + em + ` ","phone":"` + ph + `","first_name":"` + fn + `","external_id":"` + id + `"}}`
	for _, plain := range []bool{false, true} {
		e := decode(t, raw)
		ev, err := Map(&e, event.KindCRM, Options{PlainExternalID: plain}, now)
		if err != nil {
			t.Fatalf("Map: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(ev.JSON, &m); err != nil {
			t.Fatal(err)
		}
		eq(t, first(m, "em"), em)
		eq(t, first(m, "ph"), ph)
		eq(t, first(m, "fn"), fn)
		eq(t, first(m, "external_id"), id)
	}

	tests := []struct {
		v    string
		want bool
	}{
		{em, true},
		{id, true},
		{"81F8F6DDE88365F3928796EC7AA53F72820B06DB8664F5FE76A7EB13E24546A2.Ag", true},
		{"81f8f6dde88365f3928796ec7aa53f72820b06db8664f5fe76a7eb13e24546a2.XY", false}, // not a language token
		{"81f8f6dde88365f3928796ec7aa53f72820b06db8664f5fe76a7eb13e24546a2.ABC", false},
		{"81f8f6dde88365f3928796ec7aa53f72820b06db8664f5fe76a7eb13e2454.AQQCAQMC", false}, // 62 hex
		{"0cc175b9c0f1b6a831c399e269772661.AQQCAQMC", false},                              // MD5: not sent as hashed
		{"jane.doe@example.com", false},
		{"fb.1.1554763741205.AQQCAQMC", false},
	}
	for _, tt := range tests {
		if got := builderHashed(tt.v); got != tt.want {
			t.Errorf("builderHashed(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}
