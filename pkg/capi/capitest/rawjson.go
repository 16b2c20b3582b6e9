package capitest

import (
	"bytes"
	"encoding/json"
	"iter"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// The stand-in sits in the relay's benchmarks, so it does not decode request
// bodies into maps. It checks a body once (validJSON, as strict as
// encoding/json) and then reads it in place with the helpers below, which
// trust that what they read is valid JSON: each event is a slice of the body
// as sent, and only the values the validation looks at are decoded, as
// encoding/json would decode them.

// maxNesting is encoding/json's limit on nested arrays and objects.
const maxNesting = 10000

// validJSON reports whether encoding/json would accept b as one JSON value.
// fastjson.ValidateBytes, quicker, does the work, but it misses two things
// that checkFastjsonMisses sees to: it looks for control characters in a
// string only after the string's last escape, and it recurses without a
// limit (a deep enough body would overflow the stack). Only a body with an
// escape or with more than maxNesting brackets needs that extra pass.
func validJSON(b []byte) bool {
	escapes := bytes.IndexByte(b, '\\') >= 0
	brackets := bytes.Count(b, []byte("{")) + bytes.Count(b, []byte("["))
	if (escapes || brackets > maxNesting) && !checkFastjsonMisses(b) {
		return false
	}
	return fastjson.ValidateBytes(b) == nil
}

// checkFastjsonMisses reports whether b, valid JSON or not, has no control
// characters in its strings and nests arrays and objects at most maxNesting
// deep.
func checkFastjsonMisses(b []byte) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end := skipString(b, i)
			for _, c := range b[i+1 : end] {
				if c < 0x20 {
					return false
				}
			}
			i = end - 1
		case '{', '[':
			if depth++; depth > maxNesting {
				return false
			}
		case '}', ']':
			depth--
		}
	}
	return true
}

// rawValue is one valid JSON value exactly as sent, without the whitespace
// around it. A nil rawValue stands for an absent or null value.
type rawValue []byte

// trimJSON returns the value of a valid JSON text.
func trimJSON(b []byte) rawValue {
	start := skipSpace(b, 0)
	end := len(b)
	for end > start && isSpace(b[end-1]) {
		end--
	}
	return rawValue(b[start:end])
}

func (v rawValue) is(first byte) bool { return len(v) > 0 && v[0] == first }

func (v rawValue) isNull() bool   { return v.is('n') }
func (v rawValue) isString() bool { return v.is('"') }
func (v rawValue) isObject() bool { return v.is('{') }
func (v rawValue) isArray() bool  { return v.is('[') }
func (v rawValue) isBool() bool   { return v.is('t') || v.is('f') }
func (v rawValue) isNumber() bool { return len(v) > 0 && (v[0] == '-' || '0' <= v[0] && v[0] <= '9') }

// text decodes a string as encoding/json does (invalid UTF-8 and lone
// surrogates become U+FFFD); ok is false for any other value. The result may
// share memory with v.
func (v rawValue) text() (s []byte, ok bool) {
	if !v.isString() {
		return nil, false
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner, true
	}
	var decoded string
	if err := json.Unmarshal(v, &decoded); err != nil {
		return nil, false
	}
	return []byte(decoded), true
}

// isPlain reports whether the inside of a string is as it decodes: ASCII
// without escapes. On short strings such as keys, it is quicker than text.
func isPlain(s []byte) bool {
	for _, c := range s {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// integer accepts a number written as an integer, as strconv.ParseInt does.
func (v rawValue) integer() (int64, bool) {
	if !v.isNumber() {
		return 0, false
	}
	i, err := strconv.ParseInt(string(v), 10, 64)
	return i, err == nil
}

// elements yields the values of an array.
func (v rawValue) elements() iter.Seq[rawValue] {
	return func(yield func(rawValue) bool) {
		for i := skipSpace(v, 1); v[i] != ']'; {
			end := skipValue(v, i)
			if !yield(v[i:end]) {
				return
			}
			i = skipSeparator(v, end)
		}
	}
}

// members yields the keys, decoded, and the values of an object in order,
// repeated keys and null values included.
func (v rawValue) members() iter.Seq2[[]byte, rawValue] {
	return func(yield func([]byte, rawValue) bool) {
		for i := skipSpace(v, 1); v[i] != '}'; {
			keyEnd := skipString(v, i)
			key := v[i+1 : keyEnd-1]
			if !isPlain(key) {
				key, _ = v[i:keyEnd].text()
			}
			i = skipSpace(v, skipSpace(v, keyEnd)+1) // past the colon
			end := skipValue(v, i)
			if !yield(key, v[i:end]) {
				return
			}
			i = skipSeparator(v, end)
		}
	}
}

// member is one key of an object and its value.
type member struct {
	key []byte
	val rawValue
}

// fields is an object as encoding/json decodes it into a map and the
// validation reads it: a repeated key has its last value, and a key whose
// value is null is absent.
type fields []member

// fields reads an object, reusing buf's memory: an array on the caller's
// stack spares an allocation for each object.
func (v rawValue) fields(buf []member) fields {
	all := buf[:0]
	for key, val := range v.members() {
		all = append(all, member{key, val})
	}
	f := all[:0]
	for i, m := range all {
		if !m.val.isNull() && !fields(all[i+1:]).has(m.key) {
			f = append(f, m)
		}
	}
	return f
}

func (f fields) has(key []byte) bool {
	for _, m := range f {
		if bytes.Equal(m.key, key) {
			return true
		}
	}
	return false
}

// get returns the value of key, or nil if it is absent (or null).
func (f fields) get(key string) rawValue {
	for _, m := range f {
		if string(m.key) == key {
			return m.val
		}
	}
	return nil
}

// skipValue returns the end of the value that starts at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		for depth := 0; ; i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	default: // a number, true, false or null
		for i < len(b) && !isSpace(b[i]) && b[i] != ',' && b[i] != ']' && b[i] != '}' {
			i++
		}
		return i
	}
}

// skipString returns the end of the string that starts at b[i], or len(b)
// if it does not end.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			break
		}
		i += q
		// The quote ends the string unless an odd number of backslashes escape it.
		escapes := 0
		for b[i-1-escapes] == '\\' {
			escapes++
		}
		if escapes%2 == 0 {
			return i + 1
		}
	}
	return len(b)
}

// skipSeparator skips the whitespace and comma after an element or member.
func skipSeparator(b []byte, i int) int {
	i = skipSpace(b, i)
	if b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	return i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
