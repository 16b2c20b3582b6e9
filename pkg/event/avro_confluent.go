package event

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// ConfluentAvro decodes events in the Confluent wire format (format
// confluent-avro): a magic byte 0, the writer schema's id in the schema
// registry (4 bytes, big-endian), then the Avro binary. The writer schema is
// fetched from the registry once per id and resolved against freight's schema
// of the topic's kind (schemas/*.avsc), so producers may add fields or leave
// out optional ones. It is safe for concurrent use.
//
// Errors: a value without the header, a schema id the registry does not
// know, a writer schema that cannot be read as ours, and a body that does not
// match its writer schema are *DecodeError (dead letters of class decode,
// saying which id). A registry that does not answer is *UnavailableError:
// the record is fine, try again later.
type ConfluentAvro struct {
	reg  *Registry
	base *avroCodec
	// codecs holds a *resolved per schema id. An id's schema never
	// changes, so both outcomes, readable or not, are final.
	codecs sync.Map
}

type resolved struct {
	c   *avroCodec
	err error
}

// NewConfluentAvro returns the decoder of Confluent Avro events of a kind,
// looking writer schemas up in reg (which topics share).
func NewConfluentAvro(kind Kind, reg *Registry) (*ConfluentAvro, error) {
	c, err := newAvroCodec(kind)
	if err != nil {
		return nil, err
	}
	return &ConfluentAvro{reg: reg, base: c}, nil
}

// confluentHeader is the wire format's header: magic byte and schema id.
const confluentHeader = 5

// Decode decodes one record value.
func (d *ConfluentAvro) Decode(value []byte) (Event, error) {
	switch {
	case len(value) < confluentHeader:
		return Event{}, &DecodeError{Format: "confluent-avro", Reason: "the value is shorter than the 5-byte Confluent header"}
	case value[0] != 0:
		return Event{}, &DecodeError{Format: "confluent-avro",
			Reason: "the value does not start with the Confluent magic byte 0 (JSON or bare Avro on a confluent-avro topic?)"}
	}
	id := int(binary.BigEndian.Uint32(value[1:confluentHeader]))
	c, err := d.codec(id)
	if err != nil {
		return Event{}, err
	}
	e, err := c.decode(value[confluentHeader:])
	if err != nil {
		return Event{}, &DecodeError{Format: "confluent-avro", Reason: fmt.Sprintf("schema id %d: %v", id, err)}
	}
	return e, nil
}

func (d *ConfluentAvro) codec(id int) (*avroCodec, error) {
	if v, ok := d.codecs.Load(id); ok {
		r := v.(*resolved)
		return r.c, r.err
	}
	text, err := d.reg.writerSchema(id)
	if err != nil {
		return nil, err // not cached: the registry may answer next time
	}
	r := &resolved{}
	if r.c, err = d.base.forWriter(text); err != nil {
		r.err = &DecodeError{Format: "confluent-avro", Reason: fmt.Sprintf("schema id %d: %v", id, err)}
	}
	v, _ := d.codecs.LoadOrStore(id, r)
	r = v.(*resolved)
	return r.c, r.err
}

// RegistryConfig says how to reach a schema registry that speaks Confluent's
// REST API.
type RegistryConfig struct {
	URL string
	// Username and Password are for HTTP basic auth; none when Username is
	// empty.
	Username, Password string
	// TLS is used for an https URL; nil means the system's roots.
	TLS *tls.Config
	// Timeout bounds one request; 0 means 5s.
	Timeout time.Duration
}

// Registry looks writer schemas up by id in a schema registry (franz-go's
// sr client) and caches them: an id's schema never changes. Lookups of the
// same id at the same time share one request. Only found schemas are kept:
// an unknown id (garbage after a magic byte 0 makes up any id) costs a
// request each time instead of memory forever. It is safe for concurrent
// use and starts no goroutines.
type Registry struct {
	cl      *sr.Client
	timeout time.Duration

	mu      sync.Mutex
	lookups map[int]*lookup

	unavailable atomic.Uint64
}

// lookup is one id's schema, or the error of a lookup in progress.
type lookup struct {
	done chan struct{}
	text string
	err  error
}

// NewRegistry returns a registry client. Nothing connects until a lookup.
func NewRegistry(c RegistryConfig) (*Registry, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	opts := []sr.ClientOpt{
		sr.URLs(c.URL),
		sr.UserAgent("freight"),
		sr.HTTPClient(&http.Client{Timeout: timeout}),
	}
	if c.TLS != nil {
		opts = append(opts, sr.DialTLSConfig(c.TLS))
	}
	if c.Username != "" {
		opts = append(opts, sr.BasicAuth(c.Username, c.Password))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("schema registry client: %w", err)
	}
	return &Registry{cl: cl, timeout: timeout, lookups: map[int]*lookup{}}, nil
}

// Unavailable counts the lookups that failed because the registry did not
// answer usefully (for freight_schema_registry_errors_total).
func (g *Registry) Unavailable() uint64 { return g.unavailable.Load() }

// writerSchema returns the Avro schema registered under id, as JSON text.
// The error is a *DecodeError when the id is unknown or not an Avro schema,
// an *UnavailableError when the registry did not answer.
func (g *Registry) writerSchema(id int) (string, error) {
	g.mu.Lock()
	l, ok := g.lookups[id]
	if ok {
		g.mu.Unlock()
		<-l.done
		return l.text, l.err
	}
	l = &lookup{done: make(chan struct{})}
	g.lookups[id] = l
	g.mu.Unlock()

	l.text, l.err = g.fetch(id)
	if l.err != nil {
		g.mu.Lock()
		delete(g.lookups, id)
		g.mu.Unlock()
	}
	close(l.done)
	return l.text, l.err
}

func (g *Registry) fetch(id int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	s, err := g.cl.SchemaByID(ctx, id)
	var re *sr.ResponseError
	switch {
	case err == nil:
	case errors.As(err, &re) && re.StatusCode == http.StatusNotFound && sr.IsNotFoundError(re.ErrorCode):
		return "", &DecodeError{Format: "confluent-avro", Reason: fmt.Sprintf("schema id %d is not in the schema registry", id)}
	default:
		// Anything else is the registry's or our setup's problem, not the
		// record's: 5xx, timeouts, refused connections, and also 401/403
		// (fix the credentials and the records go through) and a 404 without
		// a registry error code (the URL points elsewhere).
		g.unavailable.Add(1)
		return "", &UnavailableError{Service: "schema registry", SchemaID: id, Reason: describe(err), Err: err}
	}
	switch {
	case s.Type != sr.TypeAvro:
		return "", &DecodeError{Format: "confluent-avro", Reason: fmt.Sprintf("schema id %d is a %s schema, not Avro", id, s.Type)}
	case len(s.References) > 0:
		return "", &DecodeError{Format: "confluent-avro",
			Reason: fmt.Sprintf("schema id %d refers to other registered schemas, which freight does not resolve", id)}
	}
	return s.Schema, nil
}

// describe says what went wrong with a lookup in a line: the registry's
// answer may be a whole HTML page.
func describe(err error) string {
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		return err.Error()
	}
	msg := fmt.Sprintf("HTTP %d %s", re.StatusCode, http.StatusText(re.StatusCode))
	if re.ErrorCode != 0 {
		msg += fmt.Sprintf(" (registry error %d)", re.ErrorCode)
	}
	return msg
}
