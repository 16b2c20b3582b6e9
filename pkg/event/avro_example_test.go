package event_test

// The producer's side, as a data platform team writes it in Go with franz-go:
// docs/producing.md shows these declarations, and TestProducerExamples runs
// them against an in-process broker and schema registry and reads the
// records back with freight's decoders, so that the guide's code cannot rot.

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/freight-relay/freight/pkg/event"
	"github.com/freight-relay/freight/pkg/kafkatest"
	"github.com/freight-relay/freight/schemas"
)

// WebEvent is a producer's own type for freight's web event, with only the
// fields it sends: the tags name the fields of the JSON format and of
// schemas/web_event.avsc, and hamba/avro writes the schema's default for
// the fields the type leaves out. Optional fields are pointers (Avro unions
// with null).
type WebEvent struct {
	EventID        string  `json:"event_id" avro:"event_id"` // the Pixel's eventID
	EventName      string  `json:"event_name" avro:"event_name"`
	EventTime      int64   `json:"event_time" avro:"event_time"` // unix seconds
	PixelID        *string `json:"pixel_id,omitempty" avro:"pixel_id"`
	EventSourceURL *string `json:"event_source_url,omitempty" avro:"event_source_url"`
	User           User    `json:"user" avro:"user"`
	Custom         *Custom `json:"custom,omitempty" avro:"custom"`
}

// User is raw customer information: freight normalizes and hashes it.
type User struct {
	Email           []string `json:"email,omitempty" avro:"email"`
	Phone           []string `json:"phone,omitempty" avro:"phone"`
	ExternalID      []string `json:"external_id,omitempty" avro:"external_id"`
	ClientIPAddress *string  `json:"client_ip_address,omitempty" avro:"client_ip_address"`
	ClientUserAgent *string  `json:"client_user_agent,omitempty" avro:"client_user_agent"`
	FBP             *string  `json:"fbp,omitempty" avro:"fbp"`
}

// Custom is custom_data.
type Custom struct {
	Value    *float64 `json:"value,omitempty" avro:"value"`
	Currency *string  `json:"currency,omitempty" avro:"currency"`
}

// produceJSON writes an event to a topic of format json.
func produceJSON(ctx context.Context, cl *kgo.Client, topic string, ev WebEvent) error {
	value, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	// The key is free; keying by the user keeps one person's events in order.
	rec := &kgo.Record{Topic: topic, Key: []byte(ev.User.ExternalID[0]), Value: value}
	return cl.ProduceSync(ctx, rec).FirstErr()
}

// newAvroSerde registers freight's web event schema (the text of
// schemas/web_event.avsc) for a topic of format confluent-avro, under the
// subject "<topic>-value", and returns a serde that writes WebEvent in the
// Confluent wire format: magic byte 0, the schema id, the Avro binary.
func newAvroSerde(ctx context.Context, registry *sr.Client, topic, webEventAVSC string) (*sr.Serde, error) {
	subject, err := registry.CreateSchema(ctx, topic+"-value", sr.Schema{Schema: webEventAVSC, Type: sr.TypeAvro})
	if err != nil {
		return nil, err
	}
	schema, err := avro.Parse(webEventAVSC)
	if err != nil {
		return nil, err
	}
	serde := sr.NewSerde()
	serde.Register(subject.ID, WebEvent{}, sr.EncodeFn(func(v any) ([]byte, error) {
		return avro.Marshal(schema, v)
	}))
	return serde, nil
}

// produceAvro writes an event to a topic of format confluent-avro.
func produceAvro(ctx context.Context, cl *kgo.Client, serde *sr.Serde, topic string, ev WebEvent) error {
	value, err := serde.Encode(ev)
	if err != nil {
		return err
	}
	rec := &kgo.Record{Topic: topic, Key: []byte(ev.User.ExternalID[0]), Value: value}
	return cl.ProduceSync(ctx, rec).FirstErr()
}

func ptr[T any](v T) *T { return &v }

// A Purchase, produced as JSON to web-events and as Confluent Avro to
// web-events-avro (configured with format confluent-avro).
func Example_produce() {
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:9092"))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	registry, err := sr.NewClient(sr.URLs("http://127.0.0.1:8081"))
	if err != nil {
		panic(err)
	}
	avsc, err := os.ReadFile("schemas/web_event.avsc")
	if err != nil {
		panic(err)
	}

	ev := WebEvent{
		EventID:        "order-1001", // the same eventID the Pixel sent for this purchase
		EventName:      "Purchase",
		EventTime:      time.Now().Unix(),
		PixelID:        ptr("123456789012345"),
		EventSourceURL: ptr("https://shop.example.com/checkout/done"),
		User: User{
			Email:           []string{"Ann@Example.com"}, // raw: freight normalizes and hashes
			ExternalID:      []string{"U-42"},
			ClientIPAddress: ptr("203.0.113.7"),
			ClientUserAgent: ptr("Mozilla/5.0 (X11; Linux x86_64)"),
		},
		Custom: &Custom{Value: ptr(129.99), Currency: ptr("EUR")},
	}
	if err := produceJSON(ctx, cl, "web-events", ev); err != nil {
		panic(err)
	}
	serde, err := newAvroSerde(ctx, registry, "web-events-avro", string(avsc))
	if err != nil {
		panic(err)
	}
	if err := produceAvro(ctx, cl, serde, "web-events-avro", ev); err != nil {
		panic(err)
	}
}

// TestProducerExamples runs the producer code of docs/producing.md against
// an in-process broker and registry: freight's decoders read both records
// as the same event.
func TestProducerExamples(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kafka := kafkatest.New(t, 1, "web-events", "web-events-avro")
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fake := srfake.New()
	defer fake.Close()
	registry, err := sr.NewClient(sr.URLs(fake.URL()))
	if err != nil {
		t.Fatal(err)
	}

	ev := WebEvent{
		EventID: "order-1001", EventName: "Purchase", EventTime: 1767225600,
		PixelID: ptr("123456789012345"), EventSourceURL: ptr("https://shop.example.com/checkout/done"),
		User:   User{Email: []string{"Ann@Example.com"}, ExternalID: []string{"U-42"}, FBP: ptr("fb.1.1767225000000.1")},
		Custom: &Custom{Value: ptr(129.99), Currency: ptr("EUR")},
	}
	if err := produceJSON(ctx, cl, "web-events", ev); err != nil {
		t.Fatal(err)
	}
	serde, err := newAvroSerde(ctx, registry, "web-events-avro", schemas.WebEvent)
	if err != nil {
		t.Fatal(err)
	}
	if err := produceAvro(ctx, cl, serde, "web-events-avro", ev); err != nil {
		t.Fatal(err)
	}

	reg, err := event.NewRegistry(event.RegistryConfig{URL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := event.NewConfluentAvro(event.KindWeb, reg)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := event.JSON{}.Decode(kafka.ReadAll("web-events")[0].Value)
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	fromAvro, err := conf.Decode(kafka.ReadAll("web-events-avro")[0].Value)
	if err != nil {
		t.Fatalf("Confluent Avro: %v", err)
	}
	want := event.Event{EventID: "order-1001", EventName: "Purchase", EventTime: event.TimeOf(1767225600),
		PixelID: "123456789012345", EventSourceURL: "https://shop.example.com/checkout/done",
		User:   &event.User{Email: event.Strings{"Ann@Example.com"}, ExternalID: event.Strings{"U-42"}, FBP: "fb.1.1767225000000.1"},
		Custom: &event.Custom{Value: ptr(129.99), Currency: "EUR"}}
	for name, got := range map[string]event.Event{"json": fromJSON, "confluent-avro": fromAvro} {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}
}
