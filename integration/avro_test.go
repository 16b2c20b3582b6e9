package integration

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/deadletter"
	"github.com/freight-relay/freight/pkg/event"
	"github.com/freight-relay/freight/pkg/kafkatest"
	"github.com/freight-relay/freight/schemas"
)

// avroT is a third input topic, of web events in bare Avro.
const avroT = "web-avro"

// The ids of freight's schemas in the test registry.
const (
	webSchemaID = 1
	crmSchemaID = 2
)

// registry is an in-memory schema registry (franz-go's srfake) with
// freight's schemas; down makes it answer 503.
type registry struct {
	fake *srfake.Registry
	down atomic.Bool
}

func newRegistry(t *testing.T) *registry {
	t.Helper()
	r := &registry{fake: srfake.New()}
	t.Cleanup(r.fake.Close)
	r.fake.SeedSchema(avroT+"-value", 1, webSchemaID, sr.Schema{Schema: schemas.WebEvent})
	r.fake.SeedSchema(crmT+"-value", 1, crmSchemaID, sr.Schema{Schema: schemas.CRMEvent})
	r.fake.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
		if r.down.Load() {
			http.Error(w, "registry down for maintenance", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	return r
}

// evolve registers a CRM writer schema derived from freight's: change edits
// its top-level fields.
func (r *registry) evolve(t *testing.T, change func(fields []any) []any) int {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal([]byte(schemas.CRMEvent), &s); err != nil {
		t.Fatal(err)
	}
	s["namespace"] = "com.acme.crm" // a producer's own namespace
	s["fields"] = change(s["fields"].([]any))
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := r.fake.RegisterSchema(crmT+"-value", sr.Schema{Schema: string(b)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// avroConfig reads web-events as JSON, web-avro as bare Avro and crm-events
// as Confluent Avro, with the registry given.
func (e *env) avroConfig(reg *registry) config.Config {
	cfg := e.config()
	cfg.Kafka.Topics = []config.Topic{
		{Name: webT, Kind: config.KindWeb, Format: config.FormatJSON},
		{Name: avroT, Kind: config.KindWeb, Format: config.FormatAvro},
		{Name: crmT, Kind: config.KindCRM, Format: config.FormatConfluentAvro},
	}
	cfg.Kafka.SchemaRegistry.URL = reg.fake.URL()
	return cfg
}

func newAvroEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, avroT); err != nil {
		t.Fatalf("create %s: %v", avroT, err)
	}
	return e
}

// avroBody encodes a raw event with freight's schema of kind.
func avroBody(t *testing.T, kind event.Kind, x ev) []byte {
	t.Helper()
	raw, err := event.JSON{}.Decode(mustJSON(x))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := event.NewAvroEncoder(kind)
	if err != nil {
		t.Fatal(err)
	}
	b, err := enc.AppendEncode(nil, &raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func confluentValue(id int, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(id)), body...)
}

func rec(topic string, partition int32, key string, value []byte) *kgo.Record {
	return &kgo.Record{Topic: topic, Partition: partition, Key: []byte(key), Value: value}
}

func (e *env) waitAvroCaughtUp(cfg config.Config) {
	e.t.Helper()
	kafkatest.Eventually(e.t, wait, "the group to commit every input record", func() bool {
		return e.kafka.CaughtUp(cfg.Kafka.Group, webT, avroT, crmT)
	})
}

// TestAvroFormatsOnOnePipeline: one relay reads JSON, bare Avro and
// Confluent Avro topics; writer schemas with an extra field or without
// optional fields decode; an unknown schema id and garbage are dead-lettered
// with class decode; every good event reaches Meta once.
func TestAvroFormatsOnOnePipeline(t *testing.T) {
	e := newAvroEnv(t)
	reg := newRegistry(t)
	// A producer that added a field at the end of the record...
	extraID := reg.evolve(t, func(fs []any) []any {
		return append(fs, map[string]any{"name": "schema_version", "type": "int"})
	})
	// ... and one that never sends crm_id and lead_event_source.
	fewerID := reg.evolve(t, func(fs []any) []any { return fs[:len(fs)-2] })

	var recs []*kgo.Record
	var want []string // event ids that must reach Meta, all for pixelA
	for i := range 20 {
		p := int32(i % 2)
		id := fmt.Sprintf("json-%d", i)
		recs = append(recs, webEvent(id, pixelA).record(webT, p))
		want = append(want, id)

		id = fmt.Sprintf("avro-%d", i)
		recs = append(recs, rec(avroT, p, id, avroBody(t, event.KindWeb, webEvent(id, pixelA))))
		want = append(want, id)

		id = fmt.Sprintf("conf-%d", i)
		recs = append(recs, rec(crmT, p, id, confluentValue(crmSchemaID, avroBody(t, event.KindCRM, crmEvent(id, pixelA)))))
		want = append(want, id)

		// The extra field, an int 21, is the last thing written: zigzag 42.
		id = fmt.Sprintf("extra-%d", i)
		body := append(avroBody(t, event.KindCRM, crmEvent(id, pixelA)), 42)
		recs = append(recs, rec(crmT, p, id, confluentValue(extraID, body)))
		want = append(want, id)

		// Without crm_id and lead_event_source, the two last fields (both
		// null here, one byte each), the writer schema's encoding is ours
		// cut by two bytes.
		id = fmt.Sprintf("fewer-%d", i)
		x := crmEvent(id, pixelA)
		delete(x, "crm_id")
		delete(x, "lead_event_source")
		body = avroBody(t, event.KindCRM, x)
		recs = append(recs, rec(crmT, p, id, confluentValue(fewerID, body[:len(body)-2])))
		want = append(want, id)
	}
	good := avroBody(t, event.KindCRM, crmEvent("never", pixelA))
	bad := []struct {
		rec  *kgo.Record
		want string // in the dead letter's message
	}{
		{rec(crmT, 0, "unknown-id", confluentValue(9999, good)), "schema id 9999 is not in the schema registry"},
		{rec(crmT, 1, "garbage-body", confluentValue(crmSchemaID, []byte{0xff, 0xff, 0xff, 0x13})), fmt.Sprintf("schema id %d:", crmSchemaID)},
		{rec(crmT, 0, "json-on-avro", mustJSON(crmEvent("json", pixelA))), "magic byte"},
		{rec(avroT, 1, "garbage", []byte("\x13\x37 not avro at all")), "not a valid avro event"},
		{rec(avroT, 0, "cut-short", good[:len(good)/2]), "cut short"},
	}
	for _, b := range bad {
		recs = append(recs, b.rec)
	}
	e.kafka.Produce(recs...)

	cfg := e.avroConfig(reg)
	in := e.start(cfg)
	e.waitAvroCaughtUp(cfg)

	e.assertOnce(pixelA, want...)
	if got, n := e.meta.Total(), len(want); got != n {
		t.Errorf("Meta received %d events, want %d", got, n)
	}
	dls := e.kafka.ReadAll(dlqT)
	if len(dls) != len(bad) {
		t.Errorf("%d dead letters, want %d", len(dls), len(bad))
	}
	byKey := map[string]*kgo.Record{}
	for _, r := range dls {
		byKey[string(r.Key)] = r
	}
	for _, b := range bad {
		dl := byKey[string(b.rec.Key)]
		if dl == nil {
			t.Errorf("%s: no dead letter", b.rec.Key)
			continue
		}
		class, msg := deadletter.Header(dl, deadletter.HeaderClass), deadletter.Header(dl, deadletter.HeaderMessage)
		if class != deadletter.ClassDecode || !strings.Contains(msg, b.want) {
			t.Errorf("%s: dead letter class %q message %q; want class decode and a message saying %q", b.rec.Key, class, msg, b.want)
		}
		if string(dl.Value) != string(b.rec.Value) {
			t.Errorf("%s: the dead letter's value is not the record's", b.rec.Key)
		}
	}
	if n := in.counter("freight_schema_registry_errors_total"); n != 0 {
		t.Errorf("freight_schema_registry_errors_total = %v with the registry up", n)
	}
}

// TestAvroRegistryOutageLosesNothing: while the schema registry answers 503,
// Confluent Avro records wait (no dead letter, nothing sent); they go through
// once it answers again, and an instance stopped during the outage leaves
// them uncommitted for the next one. Nothing is lost, nothing is sent twice.
func TestAvroRegistryOutageLosesNothing(t *testing.T) {
	e := newAvroEnv(t)
	reg := newRegistry(t)
	cfg := e.avroConfig(reg)
	crmBatch := func(prefix string, schemaID int) ([]*kgo.Record, []string) {
		var recs []*kgo.Record
		var ids []string
		for i := range 30 {
			id := fmt.Sprintf("%s-%d", prefix, i)
			recs = append(recs, rec(crmT, int32(i%2), id, confluentValue(schemaID, avroBody(t, event.KindCRM, crmEvent(id, pixelA)))))
			ids = append(ids, id)
		}
		return recs, ids
	}
	noneSent := func(ids []string) {
		t.Helper()
		for _, id := range ids {
			if n := e.meta.Count(pixelA, "Purchase", id); n != 0 {
				t.Fatalf("event %s reached Meta %d times during the registry outage", id, n)
			}
		}
	}

	// An outage while running: the records wait, then go through.
	reg.down.Store(true)
	recs1, ids1 := crmBatch("first", crmSchemaID)
	e.kafka.Produce(recs1...)
	in := e.start(cfg)
	kafkatest.Eventually(t, wait, "the relay to retry the registry", func() bool {
		return in.counter("freight_schema_registry_errors_total") >= 3
	})
	noneSent(ids1)
	reg.down.Store(false)
	e.waitAvroCaughtUp(cfg)
	e.assertOnce(pixelA, ids1...)

	// An outage, and the instance stops during it: nothing of the waiting
	// poll is committed or dead-lettered. A new writer schema id, so that
	// the lookup is not in the cache.
	secondID := reg.evolve(t, func(fs []any) []any { return fs })
	reg.down.Store(true)
	before := in.counter("freight_schema_registry_errors_total")
	recs2, ids2 := crmBatch("second", secondID)
	e.kafka.Produce(recs2...)
	kafkatest.Eventually(t, wait, "the relay to retry the registry again", func() bool {
		return in.counter("freight_schema_registry_errors_total") >= before+3
	})
	if err := in.stop(); err != nil {
		t.Fatalf("stop during the outage: %v", err)
	}
	noneSent(ids2)
	if e.kafka.CaughtUp(cfg.Kafka.Group, crmT) {
		t.Fatal("the waiting records were committed")
	}

	reg.down.Store(false)
	e.start(cfg)
	e.waitAvroCaughtUp(cfg)
	e.assertOnce(pixelA, ids1...)
	e.assertOnce(pixelA, ids2...)
	if dls := e.kafka.ReadAll(dlqT); len(dls) != 0 {
		t.Errorf("%d dead letters, want none: %s", len(dls), deadletter.Header(dls[0], deadletter.HeaderMessage))
	}
	if got, n := e.meta.Total(), len(ids1)+len(ids2); got != n {
		t.Errorf("Meta received %d events, want %d", got, n)
	}
}
