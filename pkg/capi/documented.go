package capi

import (
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
	"golang.org/x/text/unicode/norm"
)

// This file holds capi.normalization: documented, the default: Meta's
// written rules for customer information (CAPI.md, "Customer information
// parameters"), where its parameter builder (normalize.go, the
// param-builder mode) breaks them on inputs platforms send every day.
// Only country, state, phone, zip, city and names differ; docs/
// normalization.md lists each difference with its rule.

// Normalization names how customer data is normalized before hashing.
type Normalization string

const (
	// Documented follows Meta's written rules (the default).
	Documented Normalization = "documented"
	// ParamBuilder reproduces Meta's parameter builder exactly.
	ParamBuilder Normalization = "param-builder"
)

// normLetters is the documented rule for names and cities: lowercase
// letters of any script (with their combining marks) and digits, without
// spaces, punctuation or symbols. "São Paulo" gives "sãopaulo", "Москва"
// "москва"; never dropped for being non-Latin.
func normLetters(v string) string {
	ascii := true
	for i := 0; i < len(v); i++ {
		if v[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		b := make([]byte, 0, len(v))
		for i := 0; i < len(v); i++ {
			c := v[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
				b = append(b, c)
			}
		}
		return string(b)
	}
	var b strings.Builder
	b.Grow(len(v))
	for _, r := range v {
		if unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return lowerJS(b.String())
}

// usStates are the US states, DC and the territories with an ANSI code, by
// name letters: the only names the documented rule turns into codes.
var usStates = func() map[string]string {
	m := map[string]string{"districtofcolumbia": "dc", "washingtondc": "dc", "puertorico": "pr", "guam": "gu",
		"usvirginislands": "vi", "virginislandsus": "vi", "americansamoa": "as", "northernmarianaislands": "mp"}
	for _, n := range usStateNames {
		m[n.name] = n.code
	}
	return m
}()

// normStateDoc is the documented rule for st: the 2-letter ANSI code for a
// US state (by code or by name, when the event's country is the US or not
// given), otherwise the state lowercased without spaces, punctuation or
// special characters ("Bavaria" gives "bavaria", not the builder's "ba").
func normStateDoc(v, region string) string {
	s := normLetters(v)
	if utf8.RuneCountInString(s) <= 2 {
		return s
	}
	if region == "" || region == "US" {
		var buf [64]byte
		k, ok := foldASCII(buf[:0], s)
		if !ok {
			k = []byte(foldName(s))
		}
		if code, ok := usStates[string(k)]; ok {
			return code
		}
	}
	return s
}

// normCountryDoc is the documented rule for country: the ISO 3166-1
// alpha-2 code, lowercase, from a code (alpha-2 or alpha-3) or from the
// country's name in English, in its own language or in one of Europe's
// large ones ("UK", "Great Britain" and "England" give gb, "Österreich"
// at). A value that names no country gives "" (it is left out and counted):
// the builder's first two letters of it would name another country.
func normCountryDoc(v string) string {
	var buf [64]byte
	s, ok := foldASCII(buf[:0], v)
	if !ok {
		s = []byte(foldName(v))
	}
	switch len(s) {
	case 0:
		return ""
	case 2, 3:
		if string(s) == "uk" {
			return "gb"
		}
		if r, err := language.ParseRegion(string(s)); err == nil && r.IsCountry() && isLettersASCII(s) {
			c := r.Canonicalize().String() // DD gives DE
			return pairs[int(c[0]-'A')*26+int(c[1]-'A')]
		}
	}
	return countryByName()[string(s)]
}

// foldASCII is foldName for an ASCII v that fits b's capacity, without
// allocating; ok is false otherwise.
func foldASCII(b []byte, v string) (_ []byte, ok bool) {
	if len(v) > cap(b) {
		return b, false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= utf8.RuneSelf:
			return b, false
		case 'a' <= c && c <= 'z':
			b = append(b, c)
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		}
	}
	return b, true
}

func isLettersASCII(s []byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// foldName is the form names are looked up by: lowercase letters only,
// accents removed ("Côte d’Ivoire" gives "cotedivoire").
func foldName(v string) string {
	ascii := true
	for i := 0; i < len(v); i++ {
		if v[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		v = norm.NFD.String(v)
	}
	var b strings.Builder
	b.Grow(len(v))
	for _, r := range v {
		if unicode.IsLetter(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// countryNameLanguages are the languages whose country names are looked up
// besides English and each country's own.
var countryNameLanguages = []language.Tag{language.French, language.German, language.Spanish, language.Italian,
	language.Portuguese, language.Dutch, language.Polish, language.Swedish, language.Turkish, language.Russian}

// countryAliases are names in daily use that are not a country's name in
// any table: the UK's nations and short forms.
var countryAliases = map[string]string{
	"greatbritain": "gb", "britain": "gb", "england": "gb", "scotland": "gb", "wales": "gb",
	"northernireland": "gb", "unitedkingdomofgreatbritainandnorthernireland": "gb",
	"america": "us", "unitedstatesofamerica": "us", "holland": "nl", "korea": "kr",
	"czechia": "cz", "turkiye": "tr", "macau": "mo", "burma": "mm", "vaticancity": "va",
}

// countryByName maps folded country names to alpha-2 codes, built once on
// first use: the builder's English table, the aliases, then the names
// golang.org/x/text knows in English, in each country's own language and in
// countryNameLanguages. The first name wins where two would collide.
var countryByName = sync.OnceValue(buildCountryNames)

func buildCountryNames() map[string]string {
	m := make(map[string]string, 4096)
	add := func(name, code string) {
		if k := foldName(name); k != "" {
			if _, ok := m[k]; !ok {
				m[k] = code
			}
		}
	}
	for _, n := range countryNames {
		add(n.name, n.code)
	}
	for k, code := range countryAliases {
		add(k, code)
	}
	var namers []display.Namer
	for _, t := range countryNameLanguages {
		if n := display.Regions(t); n != nil {
			namers = append(namers, n)
		}
	}
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			code := string([]rune{a, b})
			r, err := language.ParseRegion(code)
			if err != nil || !r.IsCountry() || r.String() != code || r.Canonicalize() != r {
				continue // not a country, or a code no longer in use (DD, YU)
			}
			lower := strings.ToLower(code)
			add(display.English.Regions().Name(r), lower)
			if base, conf := language.Make("und-" + code).Base(); conf != language.No {
				if own := display.Regions(language.Make(base.String())); own != nil { // nil: no names in that language
					add(own.Name(r), lower)
				}
			}
			for _, n := range namers {
				add(n.Name(r), lower)
			}
		}
	}
	return m
}

// normZipDoc is the documented rule for zp: lowercase, without spaces or
// dashes; a US zip (the event's country is the US, or none is given and
// the zip is ZIP+4's nine digits) is its first five digits. At least two
// characters, as in the builder.
func normZipDoc(v, region string) string {
	s := lowerJS(v)
	if strings.ContainsFunc(s, func(r rune) bool { return r == '-' || isSpaceJS(r) }) {
		var b strings.Builder
		b.Grow(len(s))
		for _, r := range s {
			if r != '-' && !isSpaceJS(r) {
				b.WriteRune(r)
			}
		}
		s = b.String()
	}
	if allDigits(s) && (region == "US" && len(s) > 5 || region == "" && len(s) == 9) {
		s = s[:5]
	}
	if utf16Len(s) < 2 {
		return ""
	}
	return s
}

// normPhoneDoc is the documented rule for ph: E.164 digits. A number with
// its country code (+) that is valid is written in E.164, which drops a
// trunk prefix written after the code ("+44 (0)20 7946 0958" gives
// 442079460958, the builder 4402079460958); a national one takes the
// event's country, as in both modes; the rest follows the builder.
func normPhoneDoc(v, region string) string {
	for _, r := range v {
		if r == '+' || r == '\uFF0B' {
			if d := normPhone(v); !afterCodeZero(d) {
				return d // the digits are E.164 already: nothing to parse
			}
			if e := internationalToE164(v); e != "" {
				return e
			}
			break
		}
		if '0' <= r && r <= '9' {
			break
		}
	}
	return normPhoneIn(v, region)
}

// afterCodeZero reports whether the digits of an international number have
// a 0 right after the country calling code: a trunk prefix written in
// ("+44 (0)20 ...") or a national number that begins with 0 (Italy's). Only
// then can the E.164 form differ from the digits, and only then is the
// number parsed (phonenumbers costs about 25 us a number).
func afterCodeZero(d string) bool {
	for n := 1; n <= 3 && n < len(d); n++ {
		cc, err := strconv.Atoi(d[:n])
		if err == nil && len(phonenumbers.GetRegionCodesForCountryCode(cc)) > 0 {
			return d[n] == '0' // calling codes are prefix-free: the first that exists is it
		}
	}
	return false
}

// internationalToE164 returns the digits of v in E.164 when v parses as a
// valid number with its country code, else "".
func internationalToE164(v string) (e164 string) {
	defer func() {
		if recover() != nil { // never let a library bug take the relay down
			e164 = ""
		}
	}()
	num := &phonenumbers.PhoneNumber{}
	if err := phonenumbers.ParseToNumber(v, "ZZ", num); err != nil || !phonenumbers.IsValidNumber(num) {
		return ""
	}
	return phonenumbers.Format(num, phonenumbers.E164)[1:]
}
