package event

// This file is the only one that uses github.com/hamba/avro/v2: its README
// says it is no longer maintained, so replacing it (for example with
// github.com/twmb/avro) must stay a change of this file. From hamba it takes
// schema parsing, the schema-compatibility check and the binary reader and
// writer; the walk from Avro values to an Event is our own.
//
// Why not hamba's struct decoding with a resolved schema: where a writer
// schema declares an optional field without the null union (a producer's
// "fbp": "string" against our ["null", "string"]), the resolved schema has a
// plain string, and hamba cannot decode a plain string into the *string an
// optional field needs; it would fail every record of such a writer. Compiling
// the writer schema into a walk that sets Event fields directly handles every
// writer that Avro's resolution rules accept, skips what we do not read,
// needs no reflection and allocates only the event's own values.

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/hamba/avro/v2"

	"github.com/freight-relay/freight/schemas"
)

// Avro decodes events written as bare Avro binary (format avro) with
// freight's own schema of the topic's kind: schemas/web_event.avsc or
// schemas/crm_event.avsc, exactly, since the record carries no schema id to
// resolve another writer schema by. It is safe for concurrent use.
//
// Semantics follow the JSON decoder: null means absent, an empty array of
// user match keys or an empty map is absent too, an empty
// data_processing_options list is kept (it means "not LDU"). A record that
// is cut short or followed by more bytes is a decode error, as are negative
// times and ids and non-finite numbers. Errors are *DecodeError and never
// quote the value.
type Avro struct{ c *avroCodec }

// NewAvro returns the decoder of bare Avro events of a kind.
func NewAvro(kind Kind) (*Avro, error) {
	c, err := newAvroCodec(kind)
	if err != nil {
		return nil, err
	}
	return &Avro{c: c}, nil
}

// Decode decodes one record value.
func (a *Avro) Decode(value []byte) (Event, error) {
	e, err := a.c.decode(value)
	if err != nil {
		return Event{}, &DecodeError{Format: "avro", Reason: err.Error()}
	}
	return e, nil
}

// avroCodec reads Avro binary of one writer schema into events of a kind,
// resolved against freight's reader schema of that kind.
type avroCodec struct {
	reader *avro.RecordSchema // freight's schema of the kind
	read   readFn[Event]      // compiled for the writer schema
	encode writeFn[Event]     // compiled for the reader schema
	name   string             // the reader schema's file, for messages
}

// newAvroCodec returns the codec of a kind whose writer schema is the reader
// schema itself.
func newAvroCodec(kind Kind) (*avroCodec, error) {
	text, name := schemas.WebEvent, "web_event.avsc"
	switch kind {
	case KindWeb:
	case KindCRM:
		text, name = schemas.CRMEvent, "crm_event.avsc"
	default:
		return nil, fmt.Errorf("no Avro schema for events of kind %q", kind)
	}
	s, err := parseSchema(text)
	if err != nil {
		return nil, fmt.Errorf("schemas/%s: %w", name, err)
	}
	rs, ok := s.(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("schemas/%s is not a record schema", name)
	}
	c := &avroCodec{reader: rs, name: name}
	if c.read, err = eventFields.reader(rs, rs, map[string]bool{}); err != nil {
		return nil, fmt.Errorf("schemas/%s: %w", name, err)
	}
	if c.encode, err = eventFields.writer(rs); err != nil {
		return nil, fmt.Errorf("schemas/%s: %w", name, err)
	}
	return c, nil
}

// parseSchema parses a schema with a cache of its own: named types of one
// writer schema must never stand in for those of another (hamba's default
// cache is process-wide).
func parseSchema(text string) (avro.Schema, error) {
	return avro.ParseWithCache(text, "", &avro.SchemaCache{})
}

// forWriter returns the codec of data written with the writer schema given
// (JSON text), resolved against the reader schema by Avro's rules: fields the
// reader lacks are skipped, reader fields the writer lacks keep their
// defaults (all of which mean "absent"), types are promoted (int to long,
// long to double, bytes to string), unions are matched by branch. The error
// says why the writer schema cannot be read; it quotes no data.
func (c *avroCodec) forWriter(text string) (*avroCodec, error) {
	w, err := parseSchema(text)
	if err != nil {
		return nil, fmt.Errorf("the writer schema does not parse: %w", err)
	}
	// Our walk names the field of a type mismatch; hamba's check covers
	// the rest (record names, required fields the writer lacks, nulls where
	// we need a value).
	read, err := eventFields.reader(w, c.reader, map[string]bool{})
	if err == nil {
		err = avro.NewSchemaCompatibility().Compatible(c.reader, w)
	}
	if err != nil {
		return nil, fmt.Errorf("the writer schema cannot be read as freight's %s: %w", c.name, err)
	}
	return &avroCodec{reader: c.reader, read: read, encode: c.encode, name: c.name}, nil
}

// readers are reused: an avro.Reader keeps a slab that short strings are
// cut from, so a pooled one allocates a string's bytes once per kilobyte.
// The slab only moves forward, so strings handed out stay valid.
var readers = sync.Pool{New: func() any { return avro.NewReader(nil, 0) }}

var errTrailing = errors.New("more bytes follow the record (a different writer schema, or two records in one value?)")

// decode reads one record. The error is a reason for a *DecodeError.
func (c *avroCodec) decode(body []byte) (Event, error) {
	r := readers.Get().(*avro.Reader)
	r.Reset(body)
	var e Event
	c.read(r, &e)
	err := r.Error
	if err == nil {
		// hamba swallows io.EOF in Unmarshal, so that a record cut short
		// looks whole; with a Reader we see it. Peek at the end sets
		// io.EOF: anything else means bytes are left over.
		if r.Peek(); r.Error == nil {
			err = errTrailing
		}
	}
	r.Error = nil
	r.Reset(nil)
	readers.Put(r)
	if err != nil {
		return Event{}, reason(err)
	}
	return e, nil
}

// fieldError is a value the schema allows but an event must not have.
type fieldError struct{ field, want string }

func (e *fieldError) Error() string { return "field " + e.field + " must be " + e.want }

// reason turns a read error into a decode reason. hamba's messages name
// types and operations, never data.
func reason(err error) error {
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		return fe
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errors.New("the record is cut short")
	}
	return fmt.Errorf("malformed Avro data: %w", err)
}

// fail records a field error on the reader, unless an earlier error stands.
func fail(r *avro.Reader, field, want string) {
	if r.Error == nil {
		r.Error = &fieldError{field: field, want: want}
	}
}

// AvroEncoder writes events as Avro binary with freight's schema of a kind:
// what format avro reads, and, after the 5-byte Confluent header, what
// confluent-avro reads when the schema is registered as is. freight dev's
// generator uses it. It is safe for concurrent use.
type AvroEncoder struct{ c *avroCodec }

// NewAvroEncoder returns the encoder of events of a kind.
func NewAvroEncoder(kind Kind) (*AvroEncoder, error) {
	c, err := newAvroCodec(kind)
	if err != nil {
		return nil, err
	}
	return &AvroEncoder{c: c}, nil
}

// AppendEncode appends the Avro encoding of e to dst. An event without
// event_time cannot be encoded: the schema requires it. Absent values (empty
// strings, nil pointers, zero ids) are written as null.
func (a *AvroEncoder) AppendEncode(dst []byte, e *Event) ([]byte, error) {
	if !e.EventTime.Set {
		return dst, errors.New("avro: event_time is required")
	}
	w := avro.NewWriter(nil, 512)
	a.c.encode(w, e)
	if w.Error != nil {
		return dst, w.Error
	}
	return append(dst, w.Buffer()...), nil
}

// ---- compiling schemas into walks ----

// readFn reads one Avro value into a T; writeFn writes one from a T.
type (
	readFn[T any]  func(r *avro.Reader, t *T)
	writeFn[T any] func(w *avro.Writer, t *T)
)

// field is how one field of a record reads into, and is written from, the Go
// struct T holding it.
type field[T any] struct {
	// read compiles the reading of the field as the writer schema w types
	// it; rd is the reader schema's type of the field.
	read func(w, rd avro.Schema) (readFn[T], error)
	// write compiles the writing of the field as the reader schema rd types
	// it.
	write func(rd avro.Schema) (writeFn[T], error)
}

// fields maps a record's field names to their fields.
type fields[T any] map[string]field[T]

// reader compiles the reading of a record written with writer schema w into
// a T, as the reader record schema rd has it. Writer fields that the reader
// lacks are skipped; reader fields the writer lacks keep their zero value,
// which is what every default of ours means.
func (fs fields[T]) reader(w, rd avro.Schema, visiting map[string]bool) (readFn[T], error) {
	wr, ok := deref(w).(*avro.RecordSchema)
	rr, ok2 := deref(rd).(*avro.RecordSchema)
	if !ok || !ok2 {
		return nil, fmt.Errorf("%s where a record is expected", deref(w).Type())
	}
	if visiting[wr.FullName()] {
		return nil, fmt.Errorf("record %s is recursive", wr.FullName())
	}
	visiting[wr.FullName()] = true
	defer delete(visiting, wr.FullName())
	ops := make([]readFn[T], 0, len(wr.Fields()))
	for _, wf := range wr.Fields() {
		var rf *avro.Field
		for _, f := range rr.Fields() {
			if f.Name() == wf.Name() {
				rf = f
			}
		}
		f, known := fs[wf.Name()]
		if rf == nil || !known {
			skip, err := skipper(wf.Type(), visiting)
			if err != nil {
				return nil, inField(wf.Name(), err)
			}
			ops = append(ops, func(r *avro.Reader, _ *T) { skip(r) })
			continue
		}
		op, err := f.read(wf.Type(), rf.Type())
		if err != nil {
			return nil, inField(wf.Name(), err)
		}
		ops = append(ops, op)
	}
	return func(r *avro.Reader, t *T) {
		for _, op := range ops {
			if op(r, t); r.Error != nil {
				return
			}
		}
	}, nil
}

// writer compiles the writing of a T as the reader record schema rd has it,
// field by field in the schema's order.
func (fs fields[T]) writer(rd avro.Schema) (writeFn[T], error) {
	rr, ok := deref(rd).(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("%s where a record is expected", deref(rd).Type())
	}
	ops := make([]writeFn[T], 0, len(rr.Fields()))
	for _, rf := range rr.Fields() {
		f, ok := fs[rf.Name()]
		if !ok {
			return nil, fmt.Errorf("field %s of %s has no Go counterpart", rf.Name(), rr.FullName())
		}
		op, err := f.write(rf.Type())
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", rf.Name(), err)
		}
		ops = append(ops, op)
	}
	return func(w *avro.Writer, t *T) {
		for _, op := range ops {
			op(w, t)
		}
	}, nil
}

// fieldPathError is a problem with the field at path (user.email).
type fieldPathError struct {
	path string
	err  error
}

func (e *fieldPathError) Error() string { return "field " + e.path + ": " + e.err.Error() }
func (e *fieldPathError) Unwrap() error { return e.err }

// inField puts err in the field name, under the field it already names.
func inField(name string, err error) error {
	var pe *fieldPathError
	if errors.As(err, &pe) {
		return &fieldPathError{path: name + "." + pe.path, err: pe.err}
	}
	return &fieldPathError{path: name, err: err}
}

func deref(s avro.Schema) avro.Schema {
	if ref, ok := s.(*avro.RefSchema); ok {
		return ref.Schema()
	}
	return s
}

// optional compiles the reading of a value of writer type w, which may be a
// union with null: ok is false for null. prim compiles each non-null type.
func optional[V any](w avro.Schema, prim func(avro.Schema) (func(*avro.Reader) V, error)) (func(*avro.Reader) (V, bool), error) {
	u, ok := deref(w).(*avro.UnionSchema)
	if !ok {
		read, err := prim(deref(w))
		if err != nil {
			return nil, err
		}
		return func(r *avro.Reader) (V, bool) { return read(r), true }, nil
	}
	branches := make([]func(*avro.Reader) V, len(u.Types()))
	for i, b := range u.Types() {
		if b.Type() == avro.Null {
			continue
		}
		read, err := prim(deref(b))
		if err != nil {
			return nil, err
		}
		branches[i] = read
	}
	return func(r *avro.Reader) (v V, ok bool) {
		i := r.ReadLong()
		switch {
		case r.Error != nil:
		case i < 0 || i >= int64(len(branches)):
			r.ReportError("union", "branch index out of range")
		case branches[i] != nil:
			return branches[i](r), true
		}
		return v, false
	}, nil
}

// The readers of single values, by the writer's type; a promotion that
// Avro's resolution allows is accepted (int and long to double, bytes to
// string).

func stringValue(w avro.Schema) (func(*avro.Reader) string, error) {
	switch w.Type() {
	case avro.String:
		return (*avro.Reader).ReadString, nil
	case avro.Bytes:
		return func(r *avro.Reader) string { return string(r.ReadBytes()) }, nil
	}
	return nil, mismatch(w, "string")
}

func longValue(w avro.Schema) (func(*avro.Reader) int64, error) {
	switch w.Type() {
	case avro.Int:
		return func(r *avro.Reader) int64 { return int64(r.ReadInt()) }, nil
	case avro.Long:
		return (*avro.Reader).ReadLong, nil
	}
	return nil, mismatch(w, "long")
}

func intValue(w avro.Schema) (func(*avro.Reader) int, error) {
	if w.Type() == avro.Int {
		return func(r *avro.Reader) int { return int(r.ReadInt()) }, nil
	}
	return nil, mismatch(w, "int")
}

func doubleValue(w avro.Schema) (func(*avro.Reader) float64, error) {
	switch w.Type() {
	case avro.Int:
		return func(r *avro.Reader) float64 { return float64(r.ReadInt()) }, nil
	case avro.Long:
		return func(r *avro.Reader) float64 { return float64(r.ReadLong()) }, nil
	case avro.Float:
		return func(r *avro.Reader) float64 { return float64(r.ReadFloat()) }, nil
	case avro.Double:
		return (*avro.Reader).ReadDouble, nil
	}
	return nil, mismatch(w, "double")
}

func boolValue(w avro.Schema) (func(*avro.Reader) bool, error) {
	if w.Type() == avro.Boolean {
		return (*avro.Reader).ReadBool, nil
	}
	return nil, mismatch(w, "boolean")
}

func stringsValue(w avro.Schema) (func(*avro.Reader) []string, error) {
	a, ok := w.(*avro.ArraySchema)
	if !ok {
		return nil, mismatch(w, "array of strings")
	}
	item, err := stringValue(deref(a.Items()))
	if err != nil {
		return nil, err
	}
	return func(r *avro.Reader) []string { return readArray(r, item) }, nil
}

func stringMapValue(w avro.Schema) (func(*avro.Reader) map[string]string, error) {
	m, ok := w.(*avro.MapSchema)
	if !ok {
		return nil, mismatch(w, "map of strings")
	}
	value, err := stringValue(deref(m.Values()))
	if err != nil {
		return nil, err
	}
	return func(r *avro.Reader) map[string]string {
		out := map[string]string{}
		for r.Error == nil {
			n, _ := r.ReadBlockHeader()
			if n <= 0 {
				badCount(r, n)
				break
			}
			for ; n > 0 && r.Error == nil; n-- {
				k := r.ReadString()
				out[k] = value(r)
			}
		}
		return out
	}, nil
}

// readArray reads an array's blocks. It grows the slice as items arrive
// instead of trusting a block count, which garbage can make enormous; an
// empty array comes back empty, not nil.
func readArray[V any](r *avro.Reader, item func(*avro.Reader) V) []V {
	var out []V
	for r.Error == nil {
		n, _ := r.ReadBlockHeader()
		if n <= 0 {
			badCount(r, n)
			break
		}
		if out == nil {
			out = make([]V, 0, min(n, 16))
		}
		for ; n > 0 && r.Error == nil; n-- {
			out = append(out, item(r))
		}
	}
	if out == nil {
		out = []V{}
	}
	return out
}

// badCount flags a negative block count: only garbage has one (a negative
// count on the wire is made positive by ReadBlockHeader, but for MinInt64).
func badCount(r *avro.Reader, n int64) {
	if n < 0 {
		r.ReportError("read block", "invalid item count")
	}
}

func mismatch(w avro.Schema, want string) error {
	return fmt.Errorf("the writer has %s where freight reads %s", w.Type(), want)
}

// maxEmptyItems bounds arrays and maps of values that take no bytes (null,
// empty records): their item count is the only thing that costs, and garbage
// can claim billions.
const maxEmptyItems = 1 << 16

// skipper compiles the skipping of a value of type s, for writer fields the
// reader does not know.
func skipper(s avro.Schema, visiting map[string]bool) (func(*avro.Reader), error) {
	s = deref(s)
	switch s.Type() {
	case avro.Null:
		return func(*avro.Reader) {}, nil
	case avro.Boolean:
		return (*avro.Reader).SkipBool, nil
	case avro.Int, avro.Enum:
		return (*avro.Reader).SkipInt, nil
	case avro.Long:
		return (*avro.Reader).SkipLong, nil
	case avro.Float:
		return (*avro.Reader).SkipFloat, nil
	case avro.Double:
		return (*avro.Reader).SkipDouble, nil
	case avro.String:
		return (*avro.Reader).SkipString, nil
	case avro.Bytes:
		return (*avro.Reader).SkipBytes, nil
	case avro.Fixed:
		size := s.(*avro.FixedSchema).Size()
		return func(r *avro.Reader) { r.SkipNBytes(size) }, nil
	case avro.Record:
		rs := s.(*avro.RecordSchema)
		if visiting[rs.FullName()] {
			return nil, fmt.Errorf("record %s is recursive", rs.FullName())
		}
		visiting[rs.FullName()] = true
		defer delete(visiting, rs.FullName())
		skips := make([]func(*avro.Reader), len(rs.Fields()))
		for i, f := range rs.Fields() {
			skip, err := skipper(f.Type(), visiting)
			if err != nil {
				return nil, err
			}
			skips[i] = skip
		}
		return func(r *avro.Reader) {
			for _, skip := range skips {
				skip(r)
			}
		}, nil
	case avro.Array, avro.Map:
		isMap := s.Type() == avro.Map
		var items avro.Schema
		if isMap {
			items = s.(*avro.MapSchema).Values()
		} else {
			items = s.(*avro.ArraySchema).Items()
		}
		skip, err := skipper(items, visiting)
		if err != nil {
			return nil, err
		}
		empty := !isMap && takesNoBytes(items, map[string]bool{})
		return func(r *avro.Reader) {
			for r.Error == nil {
				n, size := r.ReadBlockHeader()
				switch {
				case n <= 0:
					badCount(r, n)
					return
				case size > 0:
					r.SkipNBytes(int(size))
					continue
				case empty && n > maxEmptyItems:
					r.ReportError("skip array", "too many items")
					return
				}
				for ; n > 0 && r.Error == nil; n-- {
					if isMap {
						r.SkipString()
					}
					skip(r)
				}
			}
		}, nil
	case avro.Union:
		branches := s.(*avro.UnionSchema).Types()
		skips := make([]func(*avro.Reader), len(branches))
		for i, b := range branches {
			skip, err := skipper(b, visiting)
			if err != nil {
				return nil, err
			}
			skips[i] = skip
		}
		return func(r *avro.Reader) {
			i := r.ReadLong()
			if r.Error == nil && (i < 0 || i >= int64(len(skips))) {
				r.ReportError("skip union", "branch index out of range")
				return
			}
			if r.Error == nil {
				skips[i](r)
			}
		}, nil
	}
	return nil, fmt.Errorf("cannot skip a value of type %s", s.Type())
}

// takesNoBytes reports whether values of s are encoded in zero bytes.
func takesNoBytes(s avro.Schema, visiting map[string]bool) bool {
	s = deref(s)
	switch s.Type() {
	case avro.Null:
		return true
	case avro.Fixed:
		return s.(*avro.FixedSchema).Size() == 0
	case avro.Record:
		rs := s.(*avro.RecordSchema)
		if visiting[rs.FullName()] {
			return false
		}
		visiting[rs.FullName()] = true
		for _, f := range rs.Fields() {
			if !takesNoBytes(f.Type(), visiting) {
				return false
			}
		}
		return true
	}
	return false
}

// ---- the fields of our records ----

// plain is a field whose Go value is the Avro value as read: strings, and
// lists whose emptiness means something (data_processing_options: [] is
// "not LDU"). Absent ("" or nil) is written as null when the reader schema
// has a union.
func plain[T any, V comparable](get func(*T) *V, value func(avro.Schema) (func(*avro.Reader) V, error), write func(*avro.Writer, V)) field[T] {
	var zero V
	return field[T]{
		read: func(w, _ avro.Schema) (readFn[T], error) {
			read, err := optional(w, value)
			if err != nil {
				return nil, err
			}
			return func(r *avro.Reader, t *T) {
				if v, ok := read(r); ok {
					*get(t) = v
				}
			}, nil
		},
		write: func(rd avro.Schema) (writeFn[T], error) {
			if deref(rd).Type() != avro.Union {
				return func(w *avro.Writer, t *T) { write(w, *get(t)) }, nil
			}
			return func(w *avro.Writer, t *T) {
				if v := *get(t); v != zero {
					w.WriteLong(1)
					write(w, v)
					return
				}
				w.WriteLong(0)
			}, nil
		},
	}
}

func str[T any](get func(*T) *string) field[T] {
	return plain(get, stringValue, (*avro.Writer).WriteString)
}

func boolean[T any](get func(*T) *bool) field[T] {
	return plain(get, boolValue, (*avro.Writer).WriteBool)
}

// nullable is a field whose Go value is a pointer, nil for null; check
// refuses values an event must not have.
func nullable[T, V any](get func(*T) **V, value func(avro.Schema) (func(*avro.Reader) V, error), write func(*avro.Writer, V), check func(*avro.Reader, V) bool) field[T] {
	return field[T]{
		read: func(w, _ avro.Schema) (readFn[T], error) {
			read, err := optional(w, value)
			if err != nil {
				return nil, err
			}
			return func(r *avro.Reader, t *T) {
				if v, ok := read(r); ok && (check == nil || check(r, v)) {
					*get(t) = &v
				}
			}, nil
		},
		write: func(rd avro.Schema) (writeFn[T], error) {
			return func(w *avro.Writer, t *T) {
				if p := *get(t); p != nil {
					w.WriteLong(1)
					write(w, *p)
					return
				}
				w.WriteLong(0)
			}, nil
		},
	}
}

func finite(name string) func(*avro.Reader, float64) bool {
	return func(r *avro.Reader, f float64) bool {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			fail(r, name, "a finite number")
			return false
		}
		return true
	}
}

// eventTime is event_time, required or not: non-negative unix seconds, or
// milliseconds above 10^12, as in JSON.
func eventTime[T any](name string, get func(*T) *Time) field[T] {
	return field[T]{
		read: func(w, _ avro.Schema) (readFn[T], error) {
			read, err := optional(w, longValue)
			if err != nil {
				return nil, err
			}
			return func(r *avro.Reader, t *T) {
				v, ok := read(r)
				switch {
				case !ok:
				case v < 0:
					fail(r, name, "a non-negative integer (unix seconds or milliseconds)")
				default:
					*get(t) = TimeOf(v)
				}
			}, nil
		},
		write: func(rd avro.Schema) (writeFn[T], error) {
			union := deref(rd).Type() == avro.Union
			return func(w *avro.Writer, t *T) {
				tm := *get(t)
				if union {
					if !tm.Set {
						w.WriteLong(0)
						return
					}
					w.WriteLong(1)
				}
				w.WriteLong(timeValue(tm))
			}, nil
		},
	}
}

// timeValue is a value that reads back as tm: the seconds when they do
// (they are not above 10^12 and carry the milliseconds), else the
// milliseconds.
func timeValue(tm Time) int64 {
	if tm.Unix <= msThreshold && tm.Millis == tm.Unix*1000 {
		return tm.Unix
	}
	return tm.Millis
}

// id is lead_id or fb_login_id: a non-negative long, zero meaning absent.
func id[T any](name string, get func(*T) *Integer) field[T] {
	return field[T]{
		read: func(w, _ avro.Schema) (readFn[T], error) {
			read, err := optional(w, longValue)
			if err != nil {
				return nil, err
			}
			return func(r *avro.Reader, t *T) {
				if v, ok := read(r); ok {
					if v < 0 {
						fail(r, name, "a non-negative integer")
						return
					}
					*get(t) = Integer(v)
				}
			}, nil
		},
		write: func(avro.Schema) (writeFn[T], error) {
			return func(w *avro.Writer, t *T) {
				if v := *get(t); v != 0 {
					w.WriteLong(1)
					w.WriteLong(int64(v))
					return
				}
				w.WriteLong(0)
			}, nil
		},
	}
}

// matchKeys is a user match key: an array of strings, empty meaning absent.
func matchKeys[T any](get func(*T) *Strings) field[T] {
	return field[T]{
		read: func(w, _ avro.Schema) (readFn[T], error) {
			read, err := optional(w, stringsValue)
			if err != nil {
				return nil, err
			}
			return func(r *avro.Reader, t *T) {
				if v, ok := read(r); ok && len(v) > 0 {
					*get(t) = v
				}
			}, nil
		},
		write: func(avro.Schema) (writeFn[T], error) {
			return func(w *avro.Writer, t *T) { writeStrings(w, *get(t)) }, nil
		},
	}
}

// list is a nullable array of strings whose emptiness is kept.
func list[T any](get func(*T) *[]string) field[T] {
	return field[T]{
		read: func(w, _ avro.Schema) (readFn[T], error) {
			read, err := optional(w, stringsValue)
			if err != nil {
				return nil, err
			}
			return func(r *avro.Reader, t *T) {
				if v, ok := read(r); ok {
					*get(t) = v
				}
			}, nil
		},
		write: func(avro.Schema) (writeFn[T], error) {
			return func(w *avro.Writer, t *T) {
				if v := *get(t); v != nil {
					w.WriteLong(1)
					writeStrings(w, v)
					return
				}
				w.WriteLong(0)
			}, nil
		},
	}
}

// stringMap is a map of strings, empty meaning absent.
func stringMap[T any](get func(*T) *map[string]string) field[T] {
	return field[T]{
		read: func(w, _ avro.Schema) (readFn[T], error) {
			read, err := optional(w, stringMapValue)
			if err != nil {
				return nil, err
			}
			return func(r *avro.Reader, t *T) {
				if v, ok := read(r); ok && len(v) > 0 {
					*get(t) = v
				}
			}, nil
		},
		write: func(avro.Schema) (writeFn[T], error) {
			return func(w *avro.Writer, t *T) {
				m := *get(t)
				if len(m) > 0 {
					w.WriteBlockHeader(int64(len(m)), 0)
					for k, v := range m {
						w.WriteString(k)
						w.WriteString(v)
					}
				}
				w.WriteLong(0)
			}, nil
		},
	}
}

func writeStrings(w *avro.Writer, v []string) {
	if len(v) > 0 {
		w.WriteBlockHeader(int64(len(v)), 0)
		for _, s := range v {
			w.WriteString(s)
		}
	}
	w.WriteLong(0)
}

// nested is a record field (a pointer to a U), in a union with null or not.
func nested[T, U any](get func(*T) **U, fs fields[U]) field[T] {
	return field[T]{
		read: func(w, rd avro.Schema) (readFn[T], error) {
			rdRec := recordIn(rd)
			read, err := optional(w, func(w avro.Schema) (func(*avro.Reader) *U, error) {
				read, err := fs.reader(w, rdRec, map[string]bool{})
				if err != nil {
					return nil, err
				}
				return func(r *avro.Reader) *U {
					u := new(U)
					read(r, u)
					return u
				}, nil
			})
			if err != nil {
				return nil, err
			}
			return func(r *avro.Reader, t *T) {
				if u, ok := read(r); ok {
					*get(t) = u
				}
			}, nil
		},
		write: func(rd avro.Schema) (writeFn[T], error) {
			write, err := fs.writer(recordIn(rd))
			if err != nil {
				return nil, err
			}
			if deref(rd).Type() != avro.Union {
				return func(w *avro.Writer, t *T) {
					u := *get(t)
					if u == nil {
						u = new(U)
					}
					write(w, u)
				}, nil
			}
			return func(w *avro.Writer, t *T) {
				if u := *get(t); u != nil {
					w.WriteLong(1)
					write(w, u)
					return
				}
				w.WriteLong(0)
			}, nil
		},
	}
}

// records is a nullable array of records, whose emptiness is kept.
func records[T, U any](get func(*T) *[]U, fs fields[U]) field[T] {
	return field[T]{
		read: func(w, rd avro.Schema) (readFn[T], error) {
			rdItems := recordIn(rd)
			read, err := optional(w, func(w avro.Schema) (func(*avro.Reader) []U, error) {
				a, ok := w.(*avro.ArraySchema)
				if !ok {
					return nil, mismatch(w, "array of records")
				}
				read, err := fs.reader(a.Items(), rdItems, map[string]bool{})
				if err != nil {
					return nil, err
				}
				return func(r *avro.Reader) []U {
					return readArray(r, func(r *avro.Reader) (u U) {
						read(r, &u)
						return u
					})
				}, nil
			})
			if err != nil {
				return nil, err
			}
			return func(r *avro.Reader, t *T) {
				if v, ok := read(r); ok {
					*get(t) = v
				}
			}, nil
		},
		write: func(rd avro.Schema) (writeFn[T], error) {
			write, err := fs.writer(recordIn(rd))
			if err != nil {
				return nil, err
			}
			return func(w *avro.Writer, t *T) {
				v := *get(t)
				if v == nil {
					w.WriteLong(0)
					return
				}
				w.WriteLong(1)
				if len(v) > 0 {
					w.WriteBlockHeader(int64(len(v)), 0)
					for i := range v {
						write(w, &v[i])
					}
				}
				w.WriteLong(0)
			}, nil
		},
	}
}

// recordIn finds the record in a reader type: the type itself, the non-null
// branch of a union, or the items of an array (possibly in a union).
func recordIn(s avro.Schema) avro.Schema {
	s = deref(s)
	if u, ok := s.(*avro.UnionSchema); ok {
		for _, b := range u.Types() {
			if b.Type() != avro.Null {
				s = deref(b)
			}
		}
	}
	if a, ok := s.(*avro.ArraySchema); ok {
		s = deref(a.Items())
	}
	return s
}

func writeInt(w *avro.Writer, v int) { w.WriteInt(int32(v)) }

var eventFields = fields[Event]{
	"event_id":                str(func(e *Event) *string { return &e.EventID }),
	"event_name":              str(func(e *Event) *string { return &e.EventName }),
	"event_time":              eventTime("event_time", func(e *Event) *Time { return &e.EventTime }),
	"pixel_id":                str(func(e *Event) *string { return &e.PixelID }),
	"event_source_url":        str(func(e *Event) *string { return &e.EventSourceURL }),
	"action_source":           str(func(e *Event) *string { return &e.ActionSource }),
	"referrer_url":            str(func(e *Event) *string { return &e.ReferrerURL }),
	"opt_out":                 boolean(func(e *Event) *bool { return &e.OptOut }),
	"data_processing_options": list(func(e *Event) *[]string { return &e.DataProcessingOptions }),
	"data_processing_options_country": nullable(func(e *Event) **int { return &e.DataProcessingOptionsCountry },
		intValue, writeInt, nil),
	"data_processing_options_state": nullable(func(e *Event) **int { return &e.DataProcessingOptionsState },
		intValue, writeInt, nil),
	"user":                  nested(func(e *Event) **User { return &e.User }, userFields),
	"custom":                nested(func(e *Event) **Custom { return &e.Custom }, customFields),
	"app_data":              nested(func(e *Event) **AppData { return &e.AppData }, appDataFields),
	"messaging_channel":     str(func(e *Event) *string { return &e.MessagingChannel }),
	"original_event_data":   nested(func(e *Event) **OriginalEventData { return &e.OriginalEventData }, originalFields),
	"attribution_data":      nested(func(e *Event) **AttributionData { return &e.AttributionData }, attributionFields),
	"customer_segmentation": stringMap(func(e *Event) *map[string]string { return &e.CustomerSegmentation }),
	"test_event_code":       str(func(e *Event) *string { return &e.TestEventCode }),
	"namespace_id":          str(func(e *Event) *string { return &e.NamespaceID }),
	"upload_id":             str(func(e *Event) *string { return &e.UploadID }),
	"upload_tag":            str(func(e *Event) *string { return &e.UploadTag }),
	"upload_source":         str(func(e *Event) *string { return &e.UploadSource }),
	"crm_id":                str(func(e *Event) *string { return &e.CRMID }),
	"lead_event_source":     str(func(e *Event) *string { return &e.LeadEventSource }),
}

var userFields = fields[User]{
	"email":               matchKeys(func(u *User) *Strings { return &u.Email }),
	"phone":               matchKeys(func(u *User) *Strings { return &u.Phone }),
	"first_name":          matchKeys(func(u *User) *Strings { return &u.FirstName }),
	"last_name":           matchKeys(func(u *User) *Strings { return &u.LastName }),
	"gender":              matchKeys(func(u *User) *Strings { return &u.Gender }),
	"date_of_birth":       matchKeys(func(u *User) *Strings { return &u.DateOfBirth }),
	"city":                matchKeys(func(u *User) *Strings { return &u.City }),
	"state":               matchKeys(func(u *User) *Strings { return &u.State }),
	"zip":                 matchKeys(func(u *User) *Strings { return &u.Zip }),
	"country":             matchKeys(func(u *User) *Strings { return &u.Country }),
	"external_id":         matchKeys(func(u *User) *Strings { return &u.ExternalID }),
	"client_ip_address":   str(func(u *User) *string { return &u.ClientIPAddress }),
	"client_user_agent":   str(func(u *User) *string { return &u.ClientUserAgent }),
	"fbp":                 str(func(u *User) *string { return &u.FBP }),
	"fbc":                 str(func(u *User) *string { return &u.FBC }),
	"fbclid":              str(func(u *User) *string { return &u.FBCLID }),
	"subscription_id":     str(func(u *User) *string { return &u.SubscriptionID }),
	"lead_id":             id("user.lead_id", func(u *User) *Integer { return &u.LeadID }),
	"fb_login_id":         id("user.fb_login_id", func(u *User) *Integer { return &u.FBLoginID }),
	"anon_id":             str(func(u *User) *string { return &u.AnonID }),
	"madid":               str(func(u *User) *string { return &u.MADID }),
	"page_id":             str(func(u *User) *string { return &u.PageID }),
	"page_scoped_user_id": str(func(u *User) *string { return &u.PageScopedUserID }),
	"ctwa_clid":           str(func(u *User) *string { return &u.CTWAClid }),
	"ig_account_id":       str(func(u *User) *string { return &u.IGAccountID }),
	"ig_sid":              str(func(u *User) *string { return &u.IGSID }),
}

var customFields = fields[Custom]{
	"value": nullable(func(c *Custom) **float64 { return &c.Value },
		doubleValue, (*avro.Writer).WriteDouble, finite("custom.value")),
	"currency":         str(func(c *Custom) *string { return &c.Currency }),
	"content_ids":      list(func(c *Custom) *[]string { return &c.ContentIDs }),
	"contents":         records(func(c *Custom) *[]Content { return &c.Contents }, contentFields),
	"content_type":     str(func(c *Custom) *string { return &c.ContentType }),
	"content_name":     str(func(c *Custom) *string { return &c.ContentName }),
	"content_category": str(func(c *Custom) *string { return &c.ContentCategory }),
	"order_id":         str(func(c *Custom) *string { return &c.OrderID }),
	"num_items": nullable(func(c *Custom) **int64 { return &c.NumItems },
		longValue, (*avro.Writer).WriteLong, nil),
	"predicted_ltv": nullable(func(c *Custom) **float64 { return &c.PredictedLTV },
		doubleValue, (*avro.Writer).WriteDouble, finite("custom.predicted_ltv")),
	"net_revenue": nullable(func(c *Custom) **float64 { return &c.NetRevenue },
		doubleValue, (*avro.Writer).WriteDouble, finite("custom.net_revenue")),
	"search_string":     str(func(c *Custom) *string { return &c.SearchString }),
	"status":            str(func(c *Custom) *string { return &c.Status }),
	"delivery_category": str(func(c *Custom) *string { return &c.DeliveryCategory }),
	"properties":        stringMap(func(c *Custom) *map[string]string { return &c.Properties }),
}

var contentFields = fields[Content]{
	"id": str(func(c *Content) *string { return &c.ID }),
	"quantity": nullable(func(c *Content) **int64 { return &c.Quantity },
		longValue, (*avro.Writer).WriteLong, nil),
	"item_price": nullable(func(c *Content) **float64 { return &c.ItemPrice },
		doubleValue, (*avro.Writer).WriteDouble, finite("custom.contents[].item_price")),
	"delivery_category": str(func(c *Content) *string { return &c.DeliveryCategory }),
	"title":             str(func(c *Content) *string { return &c.Title }),
	"description":       str(func(c *Content) *string { return &c.Description }),
	"brand":             str(func(c *Content) *string { return &c.Brand }),
	"category":          str(func(c *Content) *string { return &c.Category }),
}

var appDataFields = fields[AppData]{
	"advertiser_tracking_enabled": nullable(func(a *AppData) **bool { return &a.AdvertiserTrackingEnabled },
		boolValue, (*avro.Writer).WriteBool, nil),
	"application_tracking_enabled": nullable(func(a *AppData) **bool { return &a.ApplicationTrackingEnabled },
		boolValue, (*avro.Writer).WriteBool, nil),
	"extinfo":                list(func(a *AppData) *[]string { return &a.Extinfo }),
	"campaign_ids":           str(func(a *AppData) *string { return &a.CampaignIDs }),
	"install_referrer":       str(func(a *AppData) *string { return &a.InstallReferrer }),
	"installer_package":      str(func(a *AppData) *string { return &a.InstallerPackage }),
	"url_schemes":            list(func(a *AppData) *[]string { return &a.URLSchemes }),
	"windows_attribution_id": str(func(a *AppData) *string { return &a.WindowsAttributionID }),
}

var attributionFields = fields[AttributionData]{
	"scope":       str(func(a *AttributionData) *string { return &a.Scope }),
	"visit_time":  nullable(func(a *AttributionData) **int64 { return &a.VisitTime }, longValue, (*avro.Writer).WriteLong, nil),
	"ad_id":       str(func(a *AttributionData) *string { return &a.AdID }),
	"adset_id":    str(func(a *AttributionData) *string { return &a.AdsetID }),
	"campaign_id": str(func(a *AttributionData) *string { return &a.CampaignID }),
	"attribution_share": nullable(func(a *AttributionData) **float64 { return &a.AttributionShare },
		doubleValue, (*avro.Writer).WriteDouble, finite("attribution_data.attribution_share")),
	"attribution_model": str(func(a *AttributionData) *string { return &a.AttributionModel }),
	"attr_window":       nullable(func(a *AttributionData) **int64 { return &a.AttrWindow }, longValue, (*avro.Writer).WriteLong, nil),
	"attribution_value": nullable(func(a *AttributionData) **float64 { return &a.AttributionValue },
		doubleValue, (*avro.Writer).WriteDouble, finite("attribution_data.attribution_value")),
	"attribution_source":  str(func(a *AttributionData) *string { return &a.AttributionSource }),
	"touchpoint_type":     str(func(a *AttributionData) *string { return &a.TouchpointType }),
	"touchpoint_ts":       nullable(func(a *AttributionData) **int64 { return &a.TouchpointTS }, longValue, (*avro.Writer).WriteLong, nil),
	"attribution_method":  str(func(a *AttributionData) *string { return &a.AttributionMethod }),
	"decline_reason":      str(func(a *AttributionData) *string { return &a.DeclineReason }),
	"auditing_token":      str(func(a *AttributionData) *string { return &a.AuditingToken }),
	"linkage_key":         str(func(a *AttributionData) *string { return &a.LinkageKey }),
	"attribution_setting": nested(func(a *AttributionData) **AttributionSetting { return &a.AttributionSetting }, attributionSettingFields),
}

var attributionSettingFields = fields[AttributionSetting]{
	"inactivity_window_hours": nullable(func(s *AttributionSetting) **int64 { return &s.InactivityWindowHours },
		longValue, (*avro.Writer).WriteLong, nil),
	"reattribution_window_hours": nullable(func(s *AttributionSetting) **int64 { return &s.ReattributionWindowHours },
		longValue, (*avro.Writer).WriteLong, nil),
}

var originalFields = fields[OriginalEventData]{
	"event_name": str(func(o *OriginalEventData) *string { return &o.EventName }),
	"event_time": eventTime("original_event_data.event_time", func(o *OriginalEventData) *Time { return &o.EventTime }),
	"order_id":   str(func(o *OriginalEventData) *string { return &o.OrderID }),
	"event_id":   str(func(o *OriginalEventData) *string { return &o.EventID }),
}
