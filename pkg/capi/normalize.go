package capi

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/nyaruka/phonenumbers"
)

// This file holds the normalization freight applies before hashing. It is a
// port of Meta's parameter builder (facebook/capi-param-builder,
// nodejs/capi-param-builder/src/piiUtil/: PIIUtil.js getNormalizedPII and
// emailUtil, phoneUtil, stringUtil, zipCodeUtil, genderUtil, dobUtil), and
// gives the same output for the same input, down to JavaScript's notion of
// white space (\s, String.prototype.trim) and of lowercase
// (String.prototype.toLowerCase: İ and the final sigma included).
// normalize_test.go checks it against the parameter builder's own test cases
// (testdata/capi-param-builder-vectors.json).
//
// Two departures, both from freight's contract: a value is taken as already
// hashed only when it is 64 hex characters (the parameter builder also passes
// 32, MD5, through), and a phone number in national form is first put in
// E.164 for the event's country (normPhoneIn).
//
// The parameter builder's quirks are kept on purpose, since the point is to
// produce the hashes Meta's own code produces: see the comments at
// normEmail, normDOB and abbreviate.

// isHashed reports whether v (already trimmed) is a SHA-256 hex digest: such
// a value is passed through lowercased, never hashed twice.
func isHashed(v string) bool {
	if len(v) != 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// builderHashed reports whether v (trimmed) was normalized and hashed by
// Meta's parameter builder already: a SHA-256 hex digest, a dot and the
// builder's appendix (a language token, or 8 characters since its v2), as
// isAlreadyNormalizedAndHashedByParamBuilder in capi-param-builder's
// PIIUtil. Such a value is sent as it is: normalized again it was dropped
// (an e-mail without an @) or hashed twice. The builder also takes an MD5
// digest so; the Conversions API documents SHA-256 only, so freight does not.
func builderHashed(v string) bool {
	dot := strings.LastIndexByte(v, '.')
	if dot < 0 {
		return false
	}
	switch suffix := v[dot+1:]; {
	case len(suffix) == 8, suffix == "AQ", suffix == "Ag", suffix == "Aw", suffix == "BA", suffix == "BQ", suffix == "Bg":
	default:
		return false
	}
	return isHashed(v[:dot])
}

// normalizer is the normalizer for one match key: it returns the normalized
// value, or "" when nothing usable is left.
type normalizer func(string) string

// hashAll normalizes and hashes values, dropping those that normalize to
// nothing and de-duplicating the rest. It returns nil when none is left, and
// whether a value that was not blank was dropped (bad data a producer should
// hear about).
func hashAll(a *arena, values []string, norm normalizer) (out []string, dropped bool) {
	var seen distinct
	for _, raw := range values {
		v := trimJS(raw)
		var h string
		switch {
		case isHashed(v):
			h = a.lowerHex(v)
		case builderHashed(v):
			h = v
		default:
			n := norm(v)
			if n == "" {
				dropped = dropped || v != ""
				continue
			}
			h = a.sha256Hex(n)
		}
		if out == nil {
			out = a.strings(len(values))
		}
		out = seen.add(out, h)
	}
	return out, dropped
}

// plainAll is hashAll without the hashing: normalized values, de-duplicated;
// a 64-hex value is taken as hashed and lowercased, as by hashAll.
func plainAll(a *arena, values []string, norm normalizer) (out []string) {
	var seen distinct
	for _, raw := range values {
		v := trimJS(raw)
		var n string
		if isHashed(v) {
			n = a.lowerHex(v)
		} else if builderHashed(v) {
			n = v
		} else if n = norm(v); n == "" {
			continue
		}
		if out == nil {
			out = a.strings(len(values))
		}
		out = seen.add(out, n)
	}
	return out
}

// distinct de-duplicates the values of one field in O(n): a scan while
// there are few (no allocation), a set beyond.
type distinct struct{ set map[string]struct{} }

const distinctScan = 8

// add appends h to out unless out holds it already. out has room for h.
func (d *distinct) add(out []string, h string) []string {
	switch {
	case d.set != nil:
		if _, ok := d.set[h]; ok {
			return out
		}
		d.set[h] = struct{}{}
	case len(out) < distinctScan:
		if slices.Contains(out, h) {
			return out
		}
	default:
		d.set = make(map[string]struct{}, cap(out))
		for _, v := range out {
			d.set[v] = struct{}{}
		}
		if _, ok := d.set[h]; ok {
			return out
		}
		d.set[h] = struct{}{}
	}
	return append(out, h)
}

// arena holds one event's hashes and the slices of its match keys: a few
// allocations per event instead of two per value. Bytes written to it are
// never changed, so the strings made from them stay immutable; they keep
// their chunk alive, which is only as long as the event is mapped (the
// encoded JSON is a copy).
type arena struct {
	b []byte
	s []string
}

// arenaHashes is how many hashes one chunk holds: the match keys of a
// typical event.
const arenaHashes = 12

// sha256Hex returns the hex SHA-256 of s, in the arena.
func (a *arena) sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return a.hex(sum[:])
}

func (a *arena) hex(sum []byte) string {
	if cap(a.b)-len(a.b) < 2*len(sum) {
		a.b = make([]byte, 0, arenaHashes*sha256.Size*2)
	}
	start := len(a.b)
	a.b = hex.AppendEncode(a.b, sum)
	return unsafe.String(&a.b[start], len(a.b)-start)
}

// lowerHex returns a hex digest lowercased: v itself when it is already.
func (a *arena) lowerHex(v string) string {
	if strings.IndexFunc(v, func(r rune) bool { return 'A' <= r && r <= 'F' }) < 0 {
		return v
	}
	if cap(a.b)-len(a.b) < len(v) {
		a.b = make([]byte, 0, arenaHashes*sha256.Size*2)
	}
	start := len(a.b)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		a.b = append(a.b, c)
	}
	return unsafe.String(&a.b[start], len(v))
}

// strings returns an empty slice with room for n values, from the arena.
func (a *arena) strings(n int) []string {
	if n > arenaHashes {
		return make([]string, 0, n)
	}
	if cap(a.s)-len(a.s) < n {
		a.s = make([]string, 0, 2*arenaHashes)
	}
	start := len(a.s)
	a.s = a.s[:start+n]
	return a.s[start : start : start+n]
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	var buf [sha256.Size * 2]byte
	hex.Encode(buf[:], sum[:])
	return string(buf[:])
}

// JavaScript's white space: what \s matches and String.prototype.trim
// removes. It differs from unicode.IsSpace: U+FEFF is in, U+0085 is out.
func isSpaceJS(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return 0x2000 <= r && r <= 0x200A
}

// trimJS is String.prototype.trim.
func trimJS(s string) string {
	for len(s) > 0 {
		c := s[0]
		if c < utf8.RuneSelf {
			if c != ' ' && (c < '\t' || c > '\r') {
				break
			}
			s = s[1:]
			continue
		}
		r, size := utf8.DecodeRuneInString(s)
		if !isSpaceJS(r) {
			break
		}
		s = s[size:]
	}
	for len(s) > 0 {
		c := s[len(s)-1]
		if c < utf8.RuneSelf {
			if c != ' ' && (c < '\t' || c > '\r') {
				break
			}
			s = s[:len(s)-1]
			continue
		}
		r, size := utf8.DecodeLastRuneInString(s)
		if !isSpaceJS(r) {
			break
		}
		s = s[:len(s)-size]
	}
	return s
}

// lowerJS is String.prototype.toLowerCase (no locale): Go's simple case
// mapping plus what JavaScript does differently, İ (U+0130) becoming "i̇",
// a capital sigma at the end of a word becoming ς, and the few letters
// given a lowercase after Unicode 15 (Node's ICU is newer than Go's tables).
func lowerJS(s string) string {
	ascii, upper := true, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			upper = true
		}
	}
	if ascii {
		if !upper {
			return s
		}
		// One allocation: the builder's buffer becomes the string.
		var b strings.Builder
		b.Grow(len(s))
		for i := 0; i < len(s); i++ {
			c := s[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		}
		return b.String()
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	for i, r := range s {
		switch {
		case r < utf8.RuneSelf:
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteByte(byte(r))
		case r == 0x130:
			b.WriteString("i\u0307")
		case r == 0x3A3:
			if finalSigma(s, i) {
				b.WriteRune(0x3C2)
			} else {
				b.WriteRune(0x3C3)
			}
		default:
			b.WriteRune(lowerRuneJS(r))
		}
	}
	return b.String()
}

// lowerRuneJS is the simple lowercase mapping of r as Node's ICU has it.
func lowerRuneJS(r rune) rune {
	if r >= 0x1C89 {
		switch {
		case r == 0x1C89:
			return 0x1C8A
		case r == 0xA7CB:
			return 0x264
		case r == 0xA7CC || r == 0xA7CE || r == 0xA7D2 || r == 0xA7D4 || r == 0xA7DA:
			return r + 1
		case r == 0xA7DC:
			return 0x19B
		case 0x10D50 <= r && r <= 0x10D65:
			return r + 0x20
		case 0x16EA0 <= r && r <= 0x16EB8:
			return r + 0x1B
		}
	}
	return unicode.ToLower(r)
}

// finalSigma reports whether the capital sigma at s[i] ends a word, by
// Unicode's Final_Sigma condition: preceded by a cased letter and not
// followed by one, case-ignorable characters skipped.
func finalSigma(s string, i int) bool {
	before := false
	for j := i; j > 0; {
		r, size := utf8.DecodeLastRuneInString(s[:j])
		j -= size
		if caseIgnorable(r) {
			continue
		}
		before = cased(r)
		break
	}
	if !before {
		return false
	}
	for j := i + 2; j < len(s); { // Σ is 2 bytes in UTF-8
		r, size := utf8.DecodeRuneInString(s[j:])
		j += size
		if caseIgnorable(r) {
			continue
		}
		return !cased(r)
	}
	return true
}

func cased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.In(r, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

func caseIgnorable(r rune) bool {
	switch r { // Word_Break MidLetter, MidNumLet and Single_Quote
	case '\'', '.', ':', 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// utf16Len is a JavaScript string's length.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// normEmail (emailUtil): lowercase, trim, and keep it only if it matches the
// parameter builder's EMAIL_RE (see isEmailPB).
func normEmail(v string) string {
	v = trimJS(lowerJS(v))
	if !isEmailPB(v) {
		return ""
	}
	return v
}

// isEmailPB matches what emailUtil's EMAIL_RE matches (case-insensitively):
//
//	^[\w!#\$%&'\*\+\/\=\?\^`\{\|\}~\-]+(:?\.[\w!#\$%&'\*\+\/\=\?\^`\{\|\}~\-]+)*@(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?$
//
// Its "(:?" was surely meant as "(?:", but as written a colon may stand
// before a dot in the local part ("a:.b@x.com" passes); Meta's code accepts
// such addresses, so freight does too.
func isEmailPB(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 {
		return false
	}
	// Local part: atom (":"? "." atom)*.
	prev := byte(0) // 'a' after an atom character, else the last separator
	for i := 0; i < at; i++ {
		switch c := s[i]; {
		case isAtomChar(c):
			if prev == ':' {
				return false
			}
			prev = 'a'
		case c == ':':
			if prev != 'a' {
				return false
			}
			prev = ':'
		case c == '.':
			if prev != 'a' && prev != ':' {
				return false
			}
			prev = '.'
		default:
			return false
		}
	}
	if prev != 'a' {
		return false
	}
	// Domain: two labels or more, of letters, digits and inner dashes.
	labels := 0
	for rest := s[at+1:]; ; {
		label := rest
		dot := strings.IndexByte(rest, '.')
		if dot >= 0 {
			label, rest = rest[:dot], rest[dot+1:]
		}
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnumASCII(c) && c != '-' {
				return false
			}
		}
		labels++
		if dot < 0 {
			break
		}
	}
	return labels >= 2
}

func isAlnumASCII(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isAtomChar(c byte) bool {
	if isAlnumASCII(c) {
		return true
	}
	switch c {
	case '_', '!', '#', '$', '%', '&', '\'', '*', '+', '/', '=', '?', '^', '`', '{', '|', '}', '~', '-':
		return true
	}
	return false
}

// normPhone (phoneUtil) keeps the ASCII digits and drops leading zeros.
func normPhone(v string) string {
	start := 0
	for start < len(v) && (v[start] < '1' || v[start] > '9') {
		start++
	}
	v = v[start:]
	clean := true
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			clean = false
			break
		}
	}
	if clean {
		return v
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if c := v[i]; '0' <= c && c <= '9' {
			b = append(b, c)
		}
	}
	return string(b)
}

// normPhoneIn is normPhone with freight's one addition to the parameter
// builder: when the event has a country (region, upper case) and the number
// is in national form and valid there, it is put in E.164 for that country
// first ("(650) 555-1212" in US gives 16505551212). A number that carries
// its country code (with +, an international prefix, or the calling code
// without +) or is not valid for the region follows normPhone alone.
func normPhoneIn(v, region string) string {
	if region == "" {
		return normPhone(v)
	}
	for _, r := range v {
		if r == '+' || r == '\uFF0B' {
			return normPhone(v) // has a country code
		}
		if '0' <= r && r <= '9' {
			break
		}
	}
	if e := nationalToE164(v, region); e != "" {
		return e
	}
	return normPhone(v)
}

// nationalToE164 returns the digits of v in E.164 when v parses as a valid
// number in national form for region, else "".
func nationalToE164(v, region string) (e164 string) {
	defer func() {
		if recover() != nil { // never let a library bug take the relay down
			e164 = ""
		}
	}()
	num := &phonenumbers.PhoneNumber{}
	if err := phonenumbers.ParseAndKeepRawInputToNumber(v, region, num); err != nil {
		return ""
	}
	if num.GetCountryCodeSource() != phonenumbers.PhoneNumber_FROM_DEFAULT_COUNTRY {
		return ""
	}
	// Valid for the region, or for another one sharing its calling code (a
	// Canadian number with country US). The first test alone is the cheap
	// common case; either implies the number is valid.
	if !phonenumbers.IsValidNumberForRegion(num, region) && !phonenumbers.IsValidNumber(num) {
		return ""
	}
	return strconv.Itoa(int(num.GetCountryCode())) + phonenumbers.GetNationalSignificantNumber(num)
}

// phoneRegion returns the first of an event's countries that normalizes to a
// 2-letter code, upper case (the form phonenumbers takes), or "".
func phoneRegion(countries []string, normCountry normalizer) string {
	for _, c := range countries {
		v := trimJS(c)
		if isHashed(v) {
			continue
		}
		if n := normCountry(v); len(n) == 2 && n[0] >= 'a' && n[0] <= 'z' && n[1] >= 'a' && n[1] <= 'z' {
			return upperPairs[(int(n[0]-'a'))*26+int(n[1]-'a')]
		}
	}
	return ""
}

// normName (stringUtil getNormalizedName, for fn and ln): white space and
// ASCII punctuation removed, then lowercased; other characters are kept.
func normName(v string) string {
	return stripLower(v, true)
}

// normExternalID (stringUtil getNormalizedExternalID): white space removed
// (inside too), then lowercased.
func normExternalID(v string) string {
	return stripLower(v, false)
}

// stripLower removes JavaScript white space (and ASCII punctuation when
// punct is set), then lowercases as JavaScript does, in that order, as
// getNormalizeString does (the order matters to the final sigma).
func stripLower(v string, punct bool) string {
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
			if c == ' ' || '\t' <= c && c <= '\r' || punct && isPunctASCII(c) {
				continue
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
		}
		return string(b)
	}
	var b strings.Builder
	b.Grow(len(v))
	for _, r := range v {
		if isSpaceJS(r) || punct && r < utf8.RuneSelf && isPunctASCII(byte(r)) {
			continue
		}
		b.WriteRune(r)
	}
	return lowerJS(b.String())
}

// isPunctASCII: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~
func isPunctASCII(c byte) bool {
	return '!' <= c && c <= '/' || ':' <= c && c <= '@' || '[' <= c && c <= '`' || '{' <= c && c <= '~'
}

// normAlnum is the city normalizer (stringUtil getNormalizedCity): ASCII
// letters and digits only, lowercased; it must begin with a letter.
func normAlnum(v string) string {
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
	if len(b) == 0 || b[0] < 'a' || b[0] > 'z' {
		return ""
	}
	return string(b)
}

// normState (stringUtil getNormalizedState): letters only, US state and
// Canadian province names mapped to their codes, otherwise the first two
// letters.
func normState(v string) string {
	return abbreviate(v, stateCodes, stateNames)
}

// normCountry (stringUtil getNormalizedCountry): letters only, country names
// mapped to their ISO 3166-1 alpha-2 codes, otherwise the first two letters.
func normCountry(v string) string {
	return abbreviate(v, countryCodes, countryNames)
}

// abbreviate is normalizeTwoLetterAbbreviations and getFromMap: keep the
// letters a-z after lowercasing; two letters are taken as a code; a known
// name gives its code; else the first name of the table found inside the
// input gives its code; else the input; then at most two letters.
//
// Meta's quirks kept: the search inside is in table order and takes the
// first match ("West Virginia State" gives va, "Federal Republic of Nigeria"
// ne, "Republic of Indonesia" in, for "ind" comes early), and an unknown
// name is cut to its first two letters ("Tex." gives te, "Bavaria" ba).
func abbreviate(v string, codes map[string]string, names []codeName) string {
	var buf [32]byte
	b := buf[:0]
	for _, r := range v {
		switch {
		case 'a' <= r && r <= 'z':
			b = append(b, byte(r))
		case 'A' <= r && r <= 'Z':
			b = append(b, byte(r)+'a'-'A')
		case r == 0x130: // İ lowercases to i and a combining dot
			b = append(b, 'i')
		case r == 0x212A: // Kelvin sign lowercases to k
			b = append(b, 'k')
		}
	}
	switch len(b) {
	case 0:
		return ""
	case 1:
		return singles[b[0]-'a']
	case 2:
		return pairs[int(b[0]-'a')*26+int(b[1]-'a')]
	}
	if code, ok := codes[string(b)]; ok {
		return code
	}
	s := string(b)
	for _, n := range names {
		if strings.Contains(s, n.name) {
			return n.code
		}
	}
	return pairs[int(b[0]-'a')*26+int(b[1]-'a')]
}

// normZip (zipCodeUtil): lowercased, what stands before the first dash,
// trimmed; at least two characters (JavaScript's length) or nothing. Inner
// spaces and other characters are kept.
func normZip(v string) string {
	if i := strings.IndexByte(v, '-'); i >= 0 {
		v = v[:i] // lowercasing never makes or moves a dash
	}
	v = trimJS(lowerJS(v))
	if utf16Len(v) < 2 {
		return ""
	}
	return v
}

// normGender (genderUtil): the lowercased, trimmed word looked up among the
// parameter builder's male and female words.
func normGender(v string) string {
	return genders[trimJS(lowerJS(v))]
}

// currentYear is the year dates of birth may not go past (by one); a
// variable for tests.
var currentYear = func() int { return time.Now().Year() }

// normDOB (dobUtil): the first three groups of ASCII digits are read as a
// date: a number over 31 is the year (first, second or else the third
// group), and of the other two a number over 12 is the day, else the month
// comes first. Valid when the year is 1800 to next year, the month 1 to 12
// and the day 1 to 31 (Meta checks no more than that: 1990-02-31 passes).
// Failing that, a lone group of 8 digits is returned as it is, unchecked.
func normDOB(v string) string {
	var n [3]uint64
	groups, eight, lone := 0, false, ""
	for i := 0; i < len(v); {
		if v[i] < '0' || v[i] > '9' {
			i++
			continue
		}
		j := i
		var x uint64
		for ; j < len(v) && '0' <= v[j] && v[j] <= '9'; j++ {
			if x < 1e15 { // past that only "big" matters
				x = x*10 + uint64(v[j]-'0')
			}
		}
		if groups < 3 {
			n[groups] = x
		}
		if groups == 0 {
			eight, lone = j-i == 8, v[i:j]
		}
		groups++
		i = j
	}
	if groups >= 3 {
		if d := dateFromNumbers(n[0], n[1], n[2]); d != "" {
			return d
		}
	}
	if groups == 1 && eight {
		return lone
	}
	return ""
}

func dateFromNumbers(n1, n2, n3 uint64) string {
	var year, month, day uint64
	switch {
	case n1 > 31:
		year = n1
		if n2 > 12 {
			month, day = n3, n2
		} else {
			month, day = n2, n3
		}
	case n2 > 31:
		year = n2
		if n3 > 12 {
			month, day = n1, n3
		} else {
			month, day = n3, n1
		}
	default:
		year = n3
		if n1 > 12 {
			month, day = n2, n1
		} else {
			month, day = n1, n2
		}
	}
	if year < 1800 || year > uint64(currentYear()+1) || month < 1 || month > 12 || day < 1 || day > 31 {
		return ""
	}
	var b [8]byte
	y, m, d := int(year), int(month), int(day)
	b[0], b[1], b[2], b[3] = byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10)
	b[4], b[5] = byte('0'+m/10), byte('0'+m%10)
	b[6], b[7] = byte('0'+d/10), byte('0'+d%10)
	return string(b[:])
}

// Tables, built once.

type codeName struct{ name, code string }

// pairs and singles hold every lowercase one- and two-letter string, so
// that state and country codes come back without allocating; upperPairs
// holds the two-letter ones in upper case.
var pairs, upperPairs, singles = letterStrings()

var (
	stateCodes   = codeMap(stateNames)
	countryCodes = codeMap(countryNames)
	genders      = genderMap()
)

func letterStrings() (pairs, upperPairs [26 * 26]string, singles [26]string) {
	for i := range 26 {
		singles[i] = string(rune('a' + i))
		for j := range 26 {
			pairs[i*26+j] = string([]byte{byte('a' + i), byte('a' + j)})
			upperPairs[i*26+j] = string([]byte{byte('A' + i), byte('A' + j)})
		}
	}
	return pairs, upperPairs, singles
}

func genderMap() map[string]string {
	m := make(map[string]string, len(maleWords)+len(femaleWords))
	for _, w := range maleWords {
		m[w] = "m"
	}
	for _, w := range femaleWords {
		m[w] = "f"
	}
	return m
}

func codeMap(names []codeName) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n.name] = n.code
	}
	return m
}

// genderUtil's MALE_SET and FEMALE_SET.
var (
	maleWords = []string{
		"man", "male", "boy", "gentleman", "guy", "sir", "mister", "mr", "son", "father", "dad",
		"daddy", "papa", "uncle", "nephew", "brother", "husband", "boyfriend", "groom", "widower",
		"king", "prince", "duke", "count", "emperor", "god", "lord", "lad", "fellow", "chap",
		"bloke", "dude", "he", "him", "his", "himself", "m",
	}
	femaleWords = []string{
		"woman", "female", "girl", "lady", "miss", "ms", "mrs", "madam", "ma'am", "daughter",
		"mother", "mom", "mama", "mommy", "aunt", "niece", "sister", "wife", "girlfriend", "bride",
		"widow", "queen", "princess", "duchess", "countess", "empress", "goddess", "maiden", "lass",
		"gal", "chick", "dame", "belle", "she", "her", "hers", "herself", "f",
	}
)

// stateNames is stringUtil's STATE_MAPPINGS ({...CA_PROVINCES, ...US_STATES}),
// in its key order, which the search inside a name follows.
var stateNames = slices.Concat(caProvinceNames, usStateNames)

var caProvinceNames = []codeName{
	{"ontario", "on"}, {"quebec", "qc"}, {"britishcolumbia", "bc"}, {"alberta", "ab"},
	{"saskatchewan", "sk"}, {"manitoba", "mb"}, {"novascotia", "ns"}, {"newbrunswick", "nb"},
	{"princeedwardisland", "pe"}, {"newfoundlandandlabrador", "nl"}, {"yukon", "yt"},
	{"northwestterritories", "nt"}, {"nunavut", "nu"},
}

var usStateNames = []codeName{
	{"alabama", "al"}, {"alaska", "ak"}, {"arizona", "az"}, {"arkansas", "ar"},
	{"california", "ca"}, {"colorado", "co"}, {"connecticut", "ct"}, {"delaware", "de"},
	{"florida", "fl"}, {"georgia", "ga"}, {"hawaii", "hi"}, {"idaho", "id"},
	{"illinois", "il"}, {"indiana", "in"}, {"iowa", "ia"}, {"kansas", "ks"},
	{"kentucky", "ky"}, {"louisiana", "la"}, {"maine", "me"}, {"maryland", "md"},
	{"massachusetts", "ma"}, {"michigan", "mi"}, {"minnesota", "mn"}, {"mississippi", "ms"},
	{"missouri", "mo"}, {"montana", "mt"}, {"nebraska", "ne"}, {"nevada", "nv"},
	{"newhampshire", "nh"}, {"newjersey", "nj"}, {"newmexico", "nm"}, {"newyork", "ny"},
	{"northcarolina", "nc"}, {"northdakota", "nd"}, {"ohio", "oh"}, {"oklahoma", "ok"},
	{"oregon", "or"}, {"pennsylvania", "pa"}, {"rhodeisland", "ri"}, {"southcarolina", "sc"},
	{"southdakota", "sd"}, {"tennessee", "tn"}, {"texas", "tx"}, {"utah", "ut"},
	{"vermont", "vt"}, {"virginia", "va"}, {"washington", "wa"}, {"westvirginia", "wv"},
	{"wisconsin", "wi"}, {"wyoming", "wy"},
}

// countryNames is stringUtil's COUNTRY_MAPPINGS, in its key order (Meta's
// spellings kept, "sintmaartenductchpart" included).
var countryNames = []codeName{
	{"unitedstates", "us"}, {"usa", "us"}, {"ind", "in"}, {"afghanistan", "af"},
	{"alandislands", "ax"}, {"albania", "al"}, {"algeria", "dz"}, {"americansamoa", "as"},
	{"andorra", "ad"}, {"angola", "ao"}, {"anguilla", "ai"}, {"antarctica", "aq"},
	{"antiguaandbarbuda", "ag"}, {"argentina", "ar"}, {"armenia", "am"}, {"aruba", "aw"},
	{"australia", "au"}, {"austria", "at"}, {"azerbaijan", "az"}, {"bahamas", "bs"},
	{"bahrain", "bh"}, {"bangladesh", "bd"}, {"barbados", "bb"}, {"belarus", "by"},
	{"belgium", "be"}, {"belize", "bz"}, {"benin", "bj"}, {"bermuda", "bm"},
	{"bhutan", "bt"}, {"boliviaplurinationalstateof", "bo"}, {"bolivia", "bo"},
	{"bonairesinteustatinsandsaba", "bq"}, {"bosniaandherzegovina", "ba"}, {"botswana", "bw"},
	{"bouvetisland", "bv"}, {"brazil", "br"}, {"britishindianoceanterritory", "io"},
	{"bruneidarussalam", "bn"}, {"brunei", "bn"}, {"bulgaria", "bg"}, {"burkinafaso", "bf"},
	{"burundi", "bi"}, {"cambodia", "kh"}, {"cameroon", "cm"}, {"canada", "ca"},
	{"capeverde", "cv"}, {"caymanislands", "ky"}, {"centralafricanrepublic", "cf"},
	{"chad", "td"}, {"chile", "cl"}, {"china", "cn"}, {"christmasisland", "cx"},
	{"cocoskeelingislands", "cc"}, {"colombia", "co"}, {"comoros", "km"}, {"congo", "cg"},
	{"congothedemocraticrepublicofthe", "cd"}, {"democraticrepublicofthecongo", "cd"},
	{"cookislands", "ck"}, {"costarica", "cr"}, {"cotedivoire", "ci"}, {"ivorycoast", "ci"},
	{"croatia", "hr"}, {"cuba", "cu"}, {"curacao", "cw"}, {"cyprus", "cy"},
	{"czechrepublic", "cz"}, {"denmark", "dk"}, {"djibouti", "dj"}, {"dominica", "dm"},
	{"dominicanrepublic", "do"}, {"ecuador", "ec"}, {"egypt", "eg"}, {"elsalvador", "sv"},
	{"equatorialguinea", "gq"}, {"eritrea", "er"}, {"estonia", "ee"}, {"ethiopia", "et"},
	{"falklandislandsmalvinas", "fk"}, {"faroeislands", "fo"}, {"fiji", "fj"}, {"finland", "fi"},
	{"france", "fr"}, {"frenchguiana", "gf"}, {"frenchpolynesia", "pf"},
	{"frenchsouthernterritories", "tf"}, {"gabon", "ga"}, {"gambia", "gm"}, {"georgia", "ge"},
	{"germany", "de"}, {"ghana", "gh"}, {"gibraltar", "gi"}, {"greece", "gr"},
	{"greenland", "gl"}, {"grenada", "gd"}, {"guadeloupe", "gp"}, {"guam", "gu"},
	{"guatemala", "gt"}, {"guernsey", "gg"}, {"guinea", "gn"}, {"guineabissau", "gw"},
	{"guyana", "gy"}, {"haiti", "ht"}, {"heardislandandmcdonaldislands", "hm"},
	{"holyseevaticancitystate", "va"}, {"vatican", "va"}, {"honduras", "hn"},
	{"hongkong", "hk"}, {"hungary", "hu"}, {"iceland", "is"}, {"india", "in"},
	{"indonesia", "id"}, {"iranislamicrepublicof", "ir"}, {"iran", "ir"}, {"iraq", "iq"},
	{"ireland", "ie"}, {"isleofman", "im"}, {"israel", "il"}, {"italy", "it"},
	{"jamaica", "jm"}, {"japan", "jp"}, {"jersey", "je"}, {"jordan", "jo"},
	{"kazakhstan", "kz"}, {"kenya", "ke"}, {"kiribati", "ki"},
	{"koreademocraticpeoplesrepublicof", "kp"}, {"northkorea", "kp"},
	{"korearepublicof", "kr"}, {"southkorea", "kr"}, {"kuwait", "kw"}, {"kyrgyzstan", "kg"},
	{"laopeoplesdemocraticrepublic", "la"}, {"laos", "la"}, {"latvia", "lv"},
	{"lebanon", "lb"}, {"lesotho", "ls"}, {"liberia", "lr"}, {"libya", "ly"},
	{"liechtenstein", "li"}, {"lithuania", "lt"}, {"luxembourg", "lu"}, {"macao", "mo"},
	{"macedoniatheformeryugoslavrepublicof", "mk"}, {"macedonia", "mk"}, {"madagascar", "mg"},
	{"malawi", "mw"}, {"malaysia", "my"}, {"maldives", "mv"}, {"mali", "ml"},
	{"malta", "mt"}, {"marshallislands", "mh"}, {"martinique", "mq"}, {"mauritania", "mr"},
	{"mauritius", "mu"}, {"mayotte", "yt"}, {"mexico", "mx"},
	{"micronesiafederatedstatesof", "fm"}, {"micronesia", "fm"}, {"moldovarepublicof", "md"},
	{"moldova", "md"}, {"monaco", "mc"}, {"mongolia", "mn"}, {"montenegro", "me"},
	{"montserrat", "ms"}, {"morocco", "ma"}, {"mozambique", "mz"}, {"myanmar", "mm"},
	{"namibia", "na"}, {"nauru", "nr"}, {"nepal", "np"}, {"netherlands", "nl"},
	{"newcaledonia", "nc"}, {"newzealand", "nz"}, {"nicaragua", "ni"}, {"niger", "ne"},
	{"nigeria", "ng"}, {"niue", "nu"}, {"norfolkisland", "nf"},
	{"northernmarianaislands", "mp"}, {"norway", "no"}, {"oman", "om"}, {"pakistan", "pk"},
	{"palau", "pw"}, {"palestinestateof", "ps"}, {"palestine", "ps"}, {"panama", "pa"},
	{"papuanewguinea", "pg"}, {"paraguay", "py"}, {"peru", "pe"}, {"philippines", "ph"},
	{"pitcairn", "pn"}, {"poland", "pl"}, {"portugal", "pt"}, {"puertorico", "pr"},
	{"qatar", "qa"}, {"reunion", "re"}, {"romania", "ro"}, {"russianfederation", "ru"},
	{"russia", "ru"}, {"rwanda", "rw"}, {"saintbarthelemy", "bl"},
	{"sainthelenaascensionandtristandacunha", "sh"}, {"saintkittsandnevis", "kn"},
	{"saintlucia", "lc"}, {"saintmartinfrenchpart", "mf"}, {"saintpierreandmiquelon", "pm"},
	{"saintvincentandthegrenadines", "vc"}, {"samoa", "ws"}, {"sanmarino", "sm"},
	{"saotomeandprincipe", "st"}, {"saudiarabia", "sa"}, {"senegal", "sn"}, {"serbia", "rs"},
	{"seychelles", "sc"}, {"sierraleone", "sl"}, {"singapore", "sg"},
	{"sintmaartenductchpart", "sx"}, {"slovakia", "sk"}, {"slovenia", "si"},
	{"solomonislands", "sb"}, {"somalia", "so"}, {"southafrica", "za"},
	{"southgeorgiaandthesouthsandwichislands", "gs"}, {"southsudan", "ss"}, {"spain", "es"},
	{"srilanka", "lk"}, {"sudan", "sd"}, {"suriname", "sr"}, {"svalbardandjanmayen", "sj"},
	{"eswatini", "sz"}, {"swaziland", "sz"}, {"sweden", "se"}, {"switzerland", "ch"},
	{"syrianarabrepublic", "sy"}, {"syria", "sy"}, {"taiwanprovinceofchina", "tw"},
	{"taiwan", "tw"}, {"tajikistan", "tj"}, {"tanzaniaunitedrepublicof", "tz"},
	{"tanzania", "tz"}, {"thailand", "th"}, {"timorleste", "tl"}, {"easttimor", "tl"},
	{"togo", "tg"}, {"tokelau", "tk"}, {"tonga", "to"}, {"trinidadandtobago", "tt"},
	{"tunisia", "tn"}, {"turkey", "tr"}, {"turkmenistan", "tm"},
	{"turksandcaicosislands", "tc"}, {"tuvalu", "tv"}, {"uganda", "ug"}, {"ukraine", "ua"},
	{"unitedarabemirates", "ae"}, {"unitedkingdom", "gb"}, {"unitedstatesofamerica", "us"},
	{"unitedstatesminoroutlyingislands", "um"}, {"uruguay", "uy"}, {"uzbekistan", "uz"},
	{"vanuatu", "vu"}, {"venezuelabolivarianrepublicof", "ve"}, {"venezuela", "ve"},
	{"vietnam", "vn"}, {"virginislandsbritish", "vg"}, {"virginislandsus", "vi"},
	{"wallisandfutuna", "wf"}, {"westernsahara", "eh"}, {"yemen", "ye"}, {"zambia", "zm"},
	{"zimbabwe", "zw"},
}
