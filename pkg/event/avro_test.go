package event

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/freight-relay/freight/schemas"
)

// The ids freight's own schemas have in the test registry.
const (
	webSchemaID = 1
	crmSchemaID = 2
)

// testRegistry is an in-memory schema registry (franz-go's srfake) holding
// freight's schemas, and a client of it. down makes it answer 503; gets
// counts the schema lookups it served.
type testRegistry struct {
	fake *srfake.Registry
	reg  *Registry
	down atomic.Bool
	gets atomic.Int64
}

func newTestRegistry(t testing.TB, opts ...srfake.Option) *testRegistry {
	t.Helper()
	tr := &testRegistry{fake: srfake.New(opts...)}
	t.Cleanup(tr.fake.Close)
	tr.fake.SeedSchema("web-events-value", 1, webSchemaID, sr.Schema{Schema: schemas.WebEvent})
	tr.fake.SeedSchema("crm-events-value", 1, crmSchemaID, sr.Schema{Schema: schemas.CRMEvent})
	tr.fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			tr.gets.Add(1)
		}
		if tr.down.Load() {
			http.Error(w, "<html>maintenance</html>", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	reg, err := NewRegistry(RegistryConfig{URL: tr.fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	tr.reg = reg
	return tr
}

// register adds a writer schema under a new id.
func (tr *testRegistry) register(t testing.TB, subject, schema string) int {
	t.Helper()
	id, _, err := tr.fake.RegisterSchema(subject, sr.Schema{Schema: schema})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return id
}

func confluent(id int, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(id)), body...)
}

// avroOf encodes the JSON event in with freight's schema of kind.
func avroOf(t testing.TB, kind Kind, in string) []byte {
	t.Helper()
	e, err := JSON{}.Decode([]byte(in))
	if err != nil {
		t.Fatalf("JSON decode: %v", err)
	}
	enc, err := NewAvroEncoder(kind)
	if err != nil {
		t.Fatal(err)
	}
	b, err := enc.AppendEncode(nil, &e)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

// asAvroReads is what the Avro decoders give for an event the JSON decoder
// gave: the same, except that an empty array of match keys or an empty map
// is absent (Avro's defaults), and user is never nil (the schema requires
// it).
func asAvroReads(e Event) Event {
	if e.User == nil {
		e.User = &User{}
	}
	u := *e.User
	for _, s := range []*Strings{&u.Email, &u.Phone, &u.FirstName, &u.LastName, &u.Gender, &u.DateOfBirth,
		&u.City, &u.State, &u.Zip, &u.Country, &u.ExternalID} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	e.User = &u
	if len(e.CustomerSegmentation) == 0 {
		e.CustomerSegmentation = nil
	}
	if e.Custom != nil && len(e.Custom.Properties) == 0 {
		c := *e.Custom
		c.Properties = nil
		e.Custom = &c
	}
	return e
}

// roundTrips are JSON events that the Avro formats must carry unchanged.
var roundTrips = []struct {
	name string
	kind Kind
	in   string
}{
	{"full web event", KindWeb, webEvent},
	{"CRM event", KindCRM, crmEvent},
	{"minimal", KindWeb, `{"event_id":"e","event_name":"PageView","event_time":1767225600,"user":{"fbp":"fb.1.1.1"}}`},
	{"milliseconds kept", KindWeb, `{"event_id":"e","event_name":"Lead","event_time":1767225600123,"user":{}}`},
	{"milliseconds of whole seconds", KindWeb, `{"event_id":"e","event_name":"Lead","event_time":1767225600000,"user":{}}`},
	{"event_time 0", KindWeb, `{"event_id":"e","event_name":"Lead","event_time":0,"user":{}}`},
	{"empty data_processing_options kept", KindWeb, `{"event_id":"e","event_name":"Lead","event_time":1,"data_processing_options":[],"data_processing_options_country":0,"user":{}}`},
	{"empty strings and zero values kept", KindWeb, `{"event_id":"","event_name":"","event_time":1,"user":{"email":["",""]},"custom":{"value":0,"num_items":0,"contents":[],"content_ids":[]},"app_data":{"extinfo":[],"advertiser_tracking_enabled":false}}`},
	{"empty objects", KindCRM, `{"event_id":"e","event_name":"Lead","event_time":1,"user":{},"custom":{},"app_data":{},"original_event_data":{}}`},
	{"unicode", KindCRM, `{"event_id":"é","event_name":"Kauf","event_time":1,"crm_id":"C-Ø","user":{"city":"M\u00fcnchen","last_name":["Ø\"q"]}}`},
	{"largest ids", KindCRM, `{"event_id":"e","event_name":"Lead","event_time":1700000000000000,"user":{"lead_id":"9223372036854775807","fb_login_id":1}}`},
}

// TestAvroRoundTrip: a JSON event encoded with freight's schema decodes, bare
// and in the Confluent format, to what the JSON decoder gives for it.
func TestAvroRoundTrip(t *testing.T) {
	tr := newTestRegistry(t)
	for _, tt := range roundTrips {
		t.Run(tt.name, func(t *testing.T) {
			want, err := JSON{}.Decode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			want = asAvroReads(want)
			body := avroOf(t, tt.kind, tt.in)

			bare, err := NewAvro(tt.kind)
			if err != nil {
				t.Fatal(err)
			}
			got, err := bare.Decode(body)
			if err != nil {
				t.Fatalf("avro: %v", err)
			}
			diff(t, "avro", got, want)

			id := webSchemaID
			if tt.kind == KindCRM {
				id = crmSchemaID
			}
			conf, err := NewConfluentAvro(tt.kind, tr.reg)
			if err != nil {
				t.Fatal(err)
			}
			got, err = conf.Decode(confluent(id, body))
			if err != nil {
				t.Fatalf("confluent-avro: %v", err)
			}
			diff(t, "confluent-avro", got, want)
		})
	}
}

func diff(t *testing.T, format string, got, want Event) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	t.Errorf("%s decodes to\n%s\nwant\n%s", format, g, w)
}

// TestAvroWireFollowsTheSchema reads what the encoder wrote with hamba's own
// generic decoder, independently of our field tables, and compares every
// value with the JSON event it came from: a field written under another
// field's name, or in another order, would show here.
func TestAvroWireFollowsTheSchema(t *testing.T) {
	for _, tt := range []struct {
		kind   Kind
		in     string
		schema string
	}{{KindWeb, webEvent, schemas.WebEvent}, {KindCRM, crmEvent, schemas.CRMEvent}} {
		t.Run(string(tt.kind), func(t *testing.T) {
			s := avro.MustParse(tt.schema)
			var generic any
			if err := avro.Unmarshal(s, avroOf(t, tt.kind, tt.in), &generic); err != nil {
				t.Fatal(err)
			}
			var fromJSON any
			if err := json.Unmarshal([]byte(tt.in), &fromJSON); err != nil {
				t.Fatal(err)
			}
			compareGeneric(t, "", fromJSON, unwrapUnions(generic))
		})
	}
}

// unwrapUnions removes hamba's generic union wrappers ({"string": v},
// {"dev.freight.Custom": {...}}, {"array": [...]}).
func unwrapUnions(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 1 {
			for k, inner := range v {
				if k == "array" || k == "map" || strings.HasPrefix(k, "dev.freight.") {
					return unwrapUnions(inner)
				}
			}
		}
		out := map[string]any{}
		for k, x := range v {
			out[k] = unwrapUnions(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = unwrapUnions(x)
		}
		return out
	}
	return v
}

// compareGeneric checks that every value of the JSON event is in the Avro
// record at the same path. A JSON string where Avro has an array of strings
// stands for a one-item array, JSON numbers compare by value, and JSON
// numbers of ids compare with their decimal strings.
func compareGeneric(t *testing.T, path string, j, a any) {
	t.Helper()
	switch j := j.(type) {
	case map[string]any:
		am, ok := a.(map[string]any)
		if !ok {
			t.Errorf("%s: Avro has %T, JSON an object", path, a)
			return
		}
		for k, jv := range j {
			av, ok := am[k]
			if !ok {
				t.Errorf("%s.%s: missing in the Avro record", path, k)
				continue
			}
			compareGeneric(t, path+"."+k, jv, av)
		}
	case []any:
		aa, ok := a.([]any)
		if !ok || len(aa) != len(j) {
			t.Errorf("%s: Avro has %v, JSON %v", path, a, j)
			return
		}
		for i := range j {
			compareGeneric(t, fmt.Sprintf("%s[%d]", path, i), j[i], aa[i])
		}
	default:
		if aa, ok := a.([]any); ok && len(aa) == 1 {
			a = aa[0]
		}
		if fmt.Sprint(scalar(j)) != fmt.Sprint(scalar(a)) {
			t.Errorf("%s: Avro has %v (%T), JSON %v (%T)", path, a, a, j, j)
		}
	}
}

func scalar(v any) any {
	switch v := v.(type) {
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v)
		}
	case int:
		return int64(v)
	case int32:
		return int64(v)
	case string:
		return v
	}
	return v
}

// schemaField is a field path of a schema and whether it has a doc.
type schemaField struct {
	path string
	doc  bool
}

func schemaFields(s avro.Schema, prefix string) []schemaField {
	var out []schemaField
	rec, ok := recordIn(s).(*avro.RecordSchema)
	if !ok {
		return nil
	}
	for _, f := range rec.Fields() {
		p := prefix + f.Name()
		out = append(out, schemaField{p, f.Doc() != ""})
		out = append(out, schemaFields(f.Type(), p+".")...)
	}
	return out
}

// jsonFields lists the JSON field paths of a Go type, as the JSON decoder
// reads them.
func jsonFields(typ reflect.Type, prefix string) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := f.Tag.Get("json")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, prefix+name)
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Time]() {
			out = append(out, jsonFields(ft, prefix+name+".")...)
		}
	}
	return out
}

// TestSchemasMirrorTheEvent: the schemas have exactly the JSON format's
// fields (the CRM schema adds crm_id and lead_event_source), each with a
// doc.
func TestSchemasMirrorTheEvent(t *testing.T) {
	all := jsonFields(reflect.TypeFor[Event](), "")
	crmOnly := []string{"crm_id", "lead_event_source"}
	for _, tt := range []struct {
		name, text string
		want       []string
	}{
		{"web_event.avsc", schemas.WebEvent, slices.DeleteFunc(slices.Clone(all), func(p string) bool { return slices.Contains(crmOnly, p) })},
		{"crm_event.avsc", schemas.CRMEvent, all},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := avro.Parse(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range schemaFields(s, "") {
				got = append(got, f.path)
				if !f.doc {
					t.Errorf("field %s has no doc", f.path)
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("schema fields\n%v\nJSON fields\n%v", got, want)
			}
			if s.(*avro.RecordSchema).Doc() == "" {
				t.Error("the record has no doc")
			}
		})
	}
}

// webWriterExtra is a producer's schema of its own: another namespace, fields
// freight does not know (at the top, inside user, a nested record, a map of
// arrays, an enum, a fixed), optional fields declared without the null union,
// and types Avro promotes (bytes to string, float and int to double, int to
// long).
const webWriterExtra = `{"type":"record","name":"WebEvent","namespace":"com.acme.events","fields":[
 {"name":"schema_version","type":"int"},
 {"name":"event_id","type":"string"},
 {"name":"event_name","type":"string"},
 {"name":"event_time","type":"int"},
 {"name":"pixel_id","type":"string"},
 {"name":"user","type":{"type":"record","name":"User","fields":[
   {"name":"loyalty","type":{"type":"record","name":"Loyalty","fields":[
     {"name":"tier","type":{"type":"enum","name":"Tier","symbols":["GOLD","SILVER"]}},
     {"name":"points","type":["null","long"]},
     {"name":"card","type":{"type":"fixed","name":"Card","size":4}}]}},
   {"name":"email","type":{"type":"array","items":"string"}},
   {"name":"fbp","type":"bytes"},
   {"name":"lead_id","type":"int"}]}},
 {"name":"custom","type":["null",{"type":"record","name":"Custom","fields":[
   {"name":"value","type":"float"},
   {"name":"num_items","type":"int"},
   {"name":"currency","type":["null","string"]}]}]},
 {"name":"tags","type":{"type":"map","values":{"type":"array","items":["null","int"]}}}
]}`

type writerExtra struct {
	SchemaVersion int32  `avro:"schema_version"`
	EventID       string `avro:"event_id"`
	EventName     string `avro:"event_name"`
	EventTime     int32  `avro:"event_time"`
	PixelID       string `avro:"pixel_id"`
	User          struct {
		Loyalty struct {
			Tier   string  `avro:"tier"`
			Points *int64  `avro:"points"`
			Card   [4]byte `avro:"card"`
		} `avro:"loyalty"`
		Email  []string `avro:"email"`
		FBP    []byte   `avro:"fbp"`
		LeadID int32    `avro:"lead_id"`
	} `avro:"user"`
	Custom *struct {
		Value    float32 `avro:"value"`
		NumItems int32   `avro:"num_items"`
		Currency *string `avro:"currency"`
	} `avro:"custom"`
	Tags map[string][]*int32 `avro:"tags"`
}

// crmWriterMinimal has only the required fields.
const crmWriterMinimal = `{"type":"record","name":"CrmEvent","fields":[
 {"name":"event_id","type":"string"},{"name":"event_name","type":"string"},{"name":"event_time","type":"long"},
 {"name":"user","type":{"type":"record","name":"User","fields":[]}}]}`

type writerMinimal struct {
	EventID   string   `avro:"event_id"`
	EventName string   `avro:"event_name"`
	EventTime int64    `avro:"event_time"`
	User      struct{} `avro:"user"`
}

// TestConfluentSchemaEvolution: writer schemas that add fields or leave out
// optional ones decode; incompatible ones are decode errors naming the id.
func TestConfluentSchemaEvolution(t *testing.T) {
	tr := newTestRegistry(t)
	web, err := NewConfluentAvro(KindWeb, tr.reg)
	if err != nil {
		t.Fatal(err)
	}
	crm, err := NewConfluentAvro(KindCRM, tr.reg)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("writer with extra fields and other types", func(t *testing.T) {
		id := tr.register(t, "web-events-value", webWriterExtra)
		var w writerExtra
		w.SchemaVersion, w.EventID, w.EventName, w.EventTime, w.PixelID = 7, "evt-1", "Purchase", 1767225600, "123"
		w.User.Loyalty.Tier, w.User.Loyalty.Card = "GOLD", [4]byte{1, 2, 3, 4}
		w.User.Email, w.User.FBP, w.User.LeadID = []string{"ann.secret@example.com"}, []byte("fb.1.1.1"), 42
		w.Custom = &struct {
			Value    float32 `avro:"value"`
			NumItems int32   `avro:"num_items"`
			Currency *string `avro:"currency"`
		}{Value: 12.5, NumItems: 3}
		one := int32(1)
		w.Tags = map[string][]*int32{"a": {&one, nil}, "b": {}}
		body, err := avro.Marshal(avro.MustParse(webWriterExtra), w)
		if err != nil {
			t.Fatal(err)
		}
		got, err := web.Decode(confluent(id, body))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		want := Event{EventID: "evt-1", EventName: "Purchase", EventTime: TimeOf(1767225600), PixelID: "123",
			User:   &User{Email: Strings{"ann.secret@example.com"}, FBP: "fb.1.1.1", LeadID: 42},
			Custom: &Custom{Value: ptr(12.5), NumItems: ptr(int64(3))}}
		diff(t, "confluent-avro", got, want)
	})

	t.Run("writer without the optional fields", func(t *testing.T) {
		id := tr.register(t, "crm-events-value", crmWriterMinimal)
		body, err := avro.Marshal(avro.MustParse(crmWriterMinimal), writerMinimal{EventID: "lead-1", EventName: "Lead", EventTime: 1767225600123})
		if err != nil {
			t.Fatal(err)
		}
		got, err := crm.Decode(confluent(id, body))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		diff(t, "confluent-avro", got, Event{EventID: "lead-1", EventName: "Lead", EventTime: TimeOf(1767225600123), User: &User{}})
	})

	for _, tt := range []struct {
		name, schema, want string
	}{
		{"event_time is a string", strings.Replace(crmWriterMinimal, `"event_time","type":"long"`, `"event_time","type":"string"`, 1), "event_time"},
		{"event_id is missing", strings.Replace(crmWriterMinimal, `{"name":"event_id","type":"string"},`, "", 1), "event_id"},
		{"event_id may be null", strings.Replace(crmWriterMinimal, `"event_id","type":"string"`, `"event_id","type":["null","string"]`, 1), "cannot be read"},
		{"another record name", strings.Replace(crmWriterMinimal, `"name":"CrmEvent"`, `"name":"Order"`, 1), "names do not match"},
		{"a web event on a CRM topic", schemas.WebEvent, "names do not match"},
		{"a recursive extra field", strings.Replace(crmWriterMinimal, `"fields":[]`,
			`"fields":[{"name":"next","type":["null","User"]}]`, 1), "recursive"},
	} {
		t.Run("incompatible: "+tt.name, func(t *testing.T) {
			id := tr.register(t, "crm-events-value", tt.schema)
			_, err := crm.Decode(confluent(id, []byte{2, 'e'}))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a *DecodeError", err)
			}
			if !strings.Contains(de.Reason, fmt.Sprintf("schema id %d:", id)) || !strings.Contains(de.Reason, tt.want) {
				t.Errorf("reason %q does not name the id and say %q", de.Reason, tt.want)
			}
		})
	}
}

// TestConfluentLooksUpEachSchemaOnce: found schemas and their resolution are
// cached, and concurrent lookups of a new id share one request.
func TestConfluentLooksUpEachSchemaOnce(t *testing.T) {
	tr := newTestRegistry(t)
	dec, err := NewConfluentAvro(KindWeb, tr.reg)
	if err != nil {
		t.Fatal(err)
	}
	value := confluent(webSchemaID, avroOf(t, KindWeb, webEvent))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				if _, err := dec.Decode(value); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// A second decoder of the same registry finds the schema in its cache.
	other, err := NewConfluentAvro(KindWeb, tr.reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Decode(value); err != nil {
		t.Fatal(err)
	}
	if n := tr.gets.Load(); n != 1 {
		t.Errorf("the registry was asked %d times, want once", n)
	}
}

// TestConfluentRegistryUnavailable: a registry that does not answer gives a
// retryable *UnavailableError, never a decode error, and is asked again.
func TestConfluentRegistryUnavailable(t *testing.T) {
	tr := newTestRegistry(t)
	dec, err := NewConfluentAvro(KindWeb, tr.reg)
	if err != nil {
		t.Fatal(err)
	}
	value := confluent(webSchemaID, avroOf(t, KindWeb, webEvent))

	tr.down.Store(true)
	for range 2 {
		_, err := dec.Decode(value)
		var ue *UnavailableError
		if !errors.As(err, &ue) {
			t.Fatalf("err = %v (%T), want an *UnavailableError", err, err)
		}
		if ue.SchemaID != webSchemaID || !strings.Contains(ue.Error(), "HTTP 503") || strings.Contains(ue.Error(), "html") {
			t.Errorf("error %q: want schema id %d and the status, without the page", ue, webSchemaID)
		}
		var de *DecodeError
		if errors.As(err, &de) {
			t.Errorf("an outage is a decode error: %v", err)
		}
	}
	if n := tr.reg.Unavailable(); n != 2 {
		t.Errorf("Unavailable() = %d, want 2", n)
	}

	tr.down.Store(false)
	if _, err := dec.Decode(value); err != nil {
		t.Fatalf("after the outage: %v", err)
	}

	// Nothing listening at all.
	tr.fake.Close()
	reg, err := NewRegistry(RegistryConfig{URL: tr.fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	dec2, _ := NewConfluentAvro(KindWeb, reg)
	var ue *UnavailableError
	if _, err := dec2.Decode(value); !errors.As(err, &ue) {
		t.Errorf("closed registry: err = %v, want an *UnavailableError", err)
	}
}

// TestRegistryBasicAuth: credentials are sent; wrong ones make the registry
// unavailable (an operator fixes them), not the records undecodable.
func TestRegistryBasicAuth(t *testing.T) {
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("freight:s3cret"))
	tr := newTestRegistry(t, srfake.WithAuth(auth))
	value := confluent(webSchemaID, avroOf(t, KindWeb, webEvent))
	for _, tt := range []struct {
		name, user, pass string
		ok               bool
	}{
		{"right credentials", "freight", "s3cret", true},
		{"wrong password", "freight", "guess", false},
		{"no credentials", "", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := NewRegistry(RegistryConfig{URL: tr.fake.URL(), Username: tt.user, Password: tt.pass})
			if err != nil {
				t.Fatal(err)
			}
			dec, _ := NewConfluentAvro(KindWeb, reg)
			_, err = dec.Decode(value)
			var ue *UnavailableError
			switch {
			case tt.ok && err != nil:
				t.Fatalf("Decode: %v", err)
			case !tt.ok && !errors.As(err, &ue):
				t.Fatalf("err = %v, want an *UnavailableError", err)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Errorf("error carries the password: %v", err)
			}
		})
	}
}

// TestRegistryTLS: an https registry is reached with the TLS configuration
// given (here, trusting the test server's certificate), and not without it.
func TestRegistryTLS(t *testing.T) {
	fake := srfake.NewRegistry()
	fake.SeedSchema("web-events-value", 1, webSchemaID, sr.Schema{Schema: schemas.WebEvent})
	srv := httptest.NewUnstartedServer(fake.Handler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	value := confluent(webSchemaID, avroOf(t, KindWeb, webEvent))
	trusting := srv.Client().Transport.(*http.Transport).TLSClientConfig
	for _, tt := range []struct {
		name string
		tls  *tls.Config
		ok   bool
	}{{"trusting the server", trusting, true}, {"system roots only", nil, false}} {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := NewRegistry(RegistryConfig{URL: srv.URL, TLS: tt.tls})
			if err != nil {
				t.Fatal(err)
			}
			dec, _ := NewConfluentAvro(KindWeb, reg)
			_, err = dec.Decode(value)
			var ue *UnavailableError
			if tt.ok && err != nil || !tt.ok && !errors.As(err, &ue) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// TestAvroDecodeInvalid: values that are not events are decode errors that
// quote nothing of the value and return no partial event.
func TestAvroDecodeInvalid(t *testing.T) {
	tr := newTestRegistry(t)
	const jsonSchemaID = 77
	tr.fake.SeedSchema("json-value", 1, jsonSchemaID, sr.Schema{Schema: `{"type":"object"}`, Type: sr.TypeJSON})

	valid := avroOf(t, KindWeb, withUser(`,"event_name":"Lead","event_time":1767225600`, ""))
	// The first fields as the schema orders them: event_id "e",
	// event_name "Lead", then event_time.
	head := []byte{2, 'e', 8, 'L', 'e', 'a', 'd'}
	withTime := func(v int64) []byte {
		b := avroOf(t, KindWeb, `{"event_id":"e","event_name":"Lead","event_time":1,"user":{"email":"ann.secret@example.com"}}`)
		return slices.Concat(head, avroLong(v), b[len(head)+1:])
	}
	// event_time 1, and null for the 8 optional fields up to user.
	beforeUser := slices.Concat(head, []byte{2}, make([]byte, 8))
	tests := []struct {
		name       string
		value      []byte
		confluent  bool // only for confluent-avro
		bare       bool // only for avro
		wantReason string
	}{
		{name: "empty", value: []byte{}, wantReason: ""},
		{name: "JSON on an Avro topic", value: []byte(withUser(`,"event_time":1`, "")), wantReason: ""},
		{name: "one byte more", value: append(slices.Clone(valid), 0), bare: true, wantReason: "more bytes follow"},
		{name: "cut short", value: valid[:len(valid)-3], bare: true, wantReason: "cut short"},
		{name: "negative event_time", value: withTime(-5551234567), bare: true, wantReason: "event_time must be a non-negative"},
		{name: "string length beyond the value", value: []byte{0x80, 0x80, 0x80, 0x80, 0x08, 'a'}, bare: true, wantReason: ""},
		{name: "huge array count", value: slices.Concat(beforeUser, []byte{0xfe, 0xff, 0xff, 0xff, 0x0f}), bare: true, wantReason: "cut short"},
		{name: "union index out of range", value: slices.Concat(head, []byte{2, 9}), bare: true, wantReason: "branch index"},
		{name: "short header", value: []byte{0, 0, 0}, confluent: true, wantReason: "shorter than the 5-byte"},
		{name: "wrong magic byte", value: append([]byte{1, 0, 0, 0, 1}, valid...), confluent: true, wantReason: "magic byte"},
		{name: "unknown schema id", value: confluent(9999, valid), confluent: true, wantReason: "schema id 9999 is not in the schema registry"},
		{name: "not an Avro schema", value: confluent(jsonSchemaID, valid), confluent: true, wantReason: "JSON schema, not Avro"},
		{name: "garbage after the header", value: confluent(webSchemaID, []byte{0xff, 0xff, 0xff}), confluent: true, wantReason: fmt.Sprintf("schema id %d:", webSchemaID)},
		{name: "garbage", value: []byte{0, 0, 0, 0, webSchemaID, 0x13, 0x37, 'A', 'n', 'n'}, wantReason: ""},
	}
	bare, _ := NewAvro(KindWeb)
	conf, _ := NewConfluentAvro(KindWeb, tr.reg)
	for _, tt := range tests {
		for _, d := range []struct {
			format string
			dec    Decoder
			value  []byte
			skip   bool
		}{
			{"avro", bare, tt.value, tt.confluent},
			{"confluent-avro", conf, tt.value, tt.bare},
			{"confluent-avro", conf, confluent(webSchemaID, tt.value), !tt.bare},
		} {
			if d.skip {
				continue
			}
			t.Run(tt.name+"/"+d.format, func(t *testing.T) {
				got, err := d.dec.Decode(d.value)
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("err = %v (%T), want a *DecodeError", err, err)
				}
				if de.Format != d.format || !strings.Contains(de.Reason, tt.wantReason) {
					t.Errorf("error %+v: want format %s and a reason saying %q", de, d.format, tt.wantReason)
				}
				for _, p := range pii {
					if strings.Contains(err.Error(), p) {
						t.Errorf("error %q carries customer data %q", err, p)
					}
				}
				if !reflect.DeepEqual(got, Event{}) {
					t.Errorf("partial event returned: %+v", got)
				}
			})
		}
	}
}

func avroLong(v int64) []byte {
	w := avro.NewWriter(nil, 16)
	w.WriteLong(v)
	return w.Buffer()
}

// TestAvroRejectsValuesJSONRejects: what the JSON decoder refuses for its
// value, the Avro decoders refuse too.
func TestAvroRejectsValuesJSONRejects(t *testing.T) {
	dec, _ := NewAvro(KindWeb)
	for _, tt := range []struct {
		name string
		set  func(e *Event)
		want string
	}{
		{"NaN value", func(e *Event) { e.Custom = &Custom{Value: ptr(math.NaN())} }, "custom.value must be a finite number"},
		{"infinite predicted_ltv", func(e *Event) { e.Custom = &Custom{PredictedLTV: ptr(math.Inf(1))} }, "custom.predicted_ltv"},
		{"infinite item_price", func(e *Event) { e.Custom = &Custom{Contents: []Content{{ID: "s", ItemPrice: ptr(math.Inf(-1))}}} }, "item_price"},
		{"negative lead_id", func(e *Event) { e.User.LeadID = -1 }, "user.lead_id must be a non-negative integer"},
		{"negative fb_login_id", func(e *Event) { e.User.FBLoginID = -7 }, "user.fb_login_id"},
		{"negative original event_time", func(e *Event) {
			e.OriginalEventData = &OriginalEventData{EventTime: Time{Unix: -1, Millis: -1000, Set: true}}
		}, "original_event_data.event_time"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := Event{EventID: "e", EventName: "Lead", EventTime: TimeOf(1), User: &User{}}
			tt.set(&e)
			enc, _ := NewAvroEncoder(KindWeb)
			b, err := enc.AppendEncode(nil, &e)
			if err != nil {
				t.Fatal(err)
			}
			_, err = dec.Decode(b)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestAvroEncoderNeedsEventTime(t *testing.T) {
	enc, _ := NewAvroEncoder(KindCRM)
	if _, err := enc.AppendEncode(nil, &Event{EventID: "e", User: &User{}}); err == nil {
		t.Error("an event without event_time was encoded")
	}
	if _, err := NewAvro("app"); err == nil {
		t.Error("NewAvro accepted an unknown kind")
	}
}

// Every truncation of a valid record is an error, never a panic or a
// half-empty event.
func TestAvroEveryTruncationFails(t *testing.T) {
	for _, tt := range roundTrips[:2] {
		dec, _ := NewAvro(tt.kind)
		b := avroOf(t, tt.kind, tt.in)
		for n := range len(b) {
			if e, err := dec.Decode(b[:n]); err == nil {
				t.Fatalf("%s cut to %d of %d bytes decodes: %+v", tt.name, n, len(b), e)
			}
		}
	}
}

// fuzzAvroSeeds are encoded events and their damaged variants.
func fuzzAvroSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, tt := range roundTrips {
		b := avroOf(t, tt.kind, tt.in)
		out = append(out, b, b[:len(b)/2], append(slices.Clone(b), 0))
	}
	return append(out, nil, []byte{0}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
}

// checkFuzzResult: a failure is a *DecodeError of the format with no
// partial event; a success keeps the invariants the JSON fuzz test checks.
func checkFuzzResult(t *testing.T, format string, e Event, err error) {
	t.Helper()
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) || de.Format != format || de.Reason == "" {
			t.Fatalf("error %T %q is not a *DecodeError of %s with a reason", err, err, format)
		}
		if !reflect.DeepEqual(e, Event{}) {
			t.Fatalf("partial event returned with an error: %+v", e)
		}
		return
	}
	if tm := e.EventTime; !tm.Set || tm.Unix < 0 || tm.Millis/1000 != tm.Unix {
		t.Fatalf("bad event_time %+v", tm)
	}
	if e.User == nil || e.User.LeadID < 0 || e.User.FBLoginID < 0 {
		t.Fatalf("bad user %+v", e.User)
	}
	if c := e.Custom; c != nil && c.Value != nil && (math.IsNaN(*c.Value) || math.IsInf(*c.Value, 0)) {
		t.Fatalf("non-finite value %v", *c.Value)
	}
}

// FuzzAvroDecode: the bare Avro decoder never panics, never hangs on a huge
// count, and keeps the invariants.
func FuzzAvroDecode(f *testing.F) {
	for _, s := range fuzzAvroSeeds(f) {
		f.Add(s, false)
		f.Add(s, true)
	}
	web, _ := NewAvro(KindWeb)
	crm, _ := NewAvro(KindCRM)
	f.Fuzz(func(t *testing.T, in []byte, isCRM bool) {
		dec := web
		if isCRM {
			dec = crm
		}
		e, err := dec.Decode(in)
		checkFuzzResult(t, "avro", e, err)
		if err == nil {
			again, err := dec.Decode(in)
			if err != nil || !reflect.DeepEqual(e, again) {
				t.Fatalf("decoding the same bytes twice differs: %v", err)
			}
		}
	})
}

// FuzzConfluentDecode: the Confluent decoder, with freight's schemas and an
// evolved writer schema in the registry, never panics and keeps the
// invariants; it never reports the registry unavailable while it answers.
func FuzzConfluentDecode(f *testing.F) {
	tr := newTestRegistry(f)
	evolved := tr.register(f, "web-events-value", webWriterExtra)
	for _, s := range fuzzAvroSeeds(f) {
		for _, id := range []int{webSchemaID, crmSchemaID, evolved, 4242} {
			f.Add(confluent(id, s))
		}
	}
	f.Add([]byte{0, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 1, 2})
	web, _ := NewConfluentAvro(KindWeb, tr.reg)
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := web.Decode(in)
		var ue *UnavailableError
		if errors.As(err, &ue) {
			t.Fatalf("registry reported unavailable: %v", err)
		}
		checkFuzzResult(t, "confluent-avro", e, err)
	})
}

// BenchmarkDecode compares the formats on the same events: events/s and
// allocations per event (allocs/op).
func BenchmarkDecode(b *testing.B) {
	tr := newTestRegistry(b)
	for _, ev := range []struct {
		kind Kind
		in   string
		id   int
	}{{KindWeb, webEvent, webSchemaID}, {KindCRM, crmEvent, crmSchemaID}} {
		body := avroOf(b, ev.kind, ev.in)
		bare, _ := NewAvro(ev.kind)
		conf, _ := NewConfluentAvro(ev.kind, tr.reg)
		for _, f := range []struct {
			format string
			dec    Decoder
			value  []byte
		}{
			{"json", JSON{}, []byte(ev.in)},
			{"avro", bare, body},
			{"confluent-avro", conf, confluent(ev.id, body)},
		} {
			b.Run(string(ev.kind)+"/"+f.format, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(f.value)))
				for b.Loop() {
					if _, err := f.dec.Decode(f.value); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
