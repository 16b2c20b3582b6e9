package devstack

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/event"
)

// Generator makes realistic web and CRM events: mostly valid ones, some
// exact duplicates (a producer's retry, a browser and a server sending the
// same event), and a few invalid ones of every kind freight must
// dead-letter.
type Generator struct {
	rng      *rand.Rand
	pixels   []string
	web, crm string
	now      func() time.Time
	seq      int
	recent   []*kgo.Record

	// crmAvro, when set, writes CRM events in the Confluent Avro format
	// with this encoder, under crmSchemaID.
	crmAvro     *event.AvroEncoder
	crmSchemaID uint32
}

// Mix is what share of generated records are duplicates and invalid.
const (
	duplicateShare = 0.06
	invalidShare   = 0.03
)

// NewGenerator returns a generator writing to the web and CRM topics for the
// pixels given. The same seed gives the same events.
func NewGenerator(seed uint64, pixels []string, webTopic, crmTopic string, now func() time.Time) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), pixels: pixels,
		web: webTopic, crm: crmTopic, now: now}
}

// CRMAsConfluentAvro makes the generator write CRM events in the Confluent
// Avro format, with freight's CRM schema registered under schemaID, instead
// of JSON: freight dev runs both decoders. The events are the same either
// way (the same seed gives the same events).
func (g *Generator) CRMAsConfluentAvro(schemaID uint32) error {
	enc, err := event.NewAvroEncoder(event.KindCRM)
	if err != nil {
		return err
	}
	g.crmAvro, g.crmSchemaID = enc, schemaID
	return nil
}

var (
	firstNames = []string{"Ann", "Bo", "Chloé", "Dmitri", "Eve", "Fatima", "Gus", "Hiro", "Ines", "José"}
	lastNames  = []string{"Smith", "O'Neil", "García", "Nguyen", "Müller", "Kowalski", "Dubois", "Rossi"}
	cities     = []string{"Menlo Park", "New York", "Austin", "Seattle", "Chicago", "Boston"}
	states     = []string{"CA", "NY", "TX", "WA", "IL", "MA"}
	webNames   = []string{"PageView", "PageView", "PageView", "ViewContent", "ViewContent", "AddToCart", "InitiateCheckout", "Purchase", "Lead", "CompleteRegistration"}
	crmNames   = []string{"Lead", "QualifiedLead", "Purchase", "Subscribe"}
	userAgents = []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	}
)

// asciiFold makes e-mail local parts of names, as mail providers do: the
// parameter builder refuses addresses with accents or apostrophes.
var asciiFold = strings.NewReplacer("é", "e", "í", "i", "ü", "ue", "'", "", "ç", "c", "ó", "o", "á", "a")

// Next returns the next record to produce.
func (g *Generator) Next() *kgo.Record {
	g.seq++
	r := g.rng.Float64()
	switch {
	case r < duplicateShare && len(g.recent) > 0:
		src := g.recent[g.rng.IntN(len(g.recent))]
		return &kgo.Record{Topic: src.Topic, Key: src.Key, Value: src.Value}
	case r < duplicateShare+invalidShare:
		return g.invalid()
	}
	var rec *kgo.Record
	switch k := g.rng.IntN(40); {
	case k < 10:
		rec = g.crmEvent()
	case k < 12:
		rec = g.appEvent()
	case k < 13:
		rec = g.messagingEvent()
	case k < 14:
		rec = g.storeEvent()
	default:
		rec = g.webEvent()
	}
	if len(g.recent) < 256 {
		g.recent = append(g.recent, rec)
	} else {
		g.recent[g.rng.IntN(len(g.recent))] = rec
	}
	return rec
}

func (g *Generator) person() (map[string]any, string) {
	id := g.rng.IntN(5000)
	fn := firstNames[id%len(firstNames)]
	ln := lastNames[id%len(lastNames)]
	u := map[string]any{
		"email":      fmt.Sprintf(" %s.%s%d@Example.com ", asciiFold.Replace(fn), asciiFold.Replace(ln), id),
		"first_name": fn,
		"last_name":  ln,
		"city":       cities[id%len(cities)],
		"state":      states[id%len(states)],
		"country":    "US",
		"zip":        fmt.Sprintf("%05d", 10000+id*7%89999),
	}
	if g.rng.IntN(2) == 0 {
		u["phone"] = fmt.Sprintf("+1 (650) 555-%04d", id)
	}
	return u, "U-" + strconv.Itoa(id)
}

func (g *Generator) webEvent() *kgo.Record {
	u, uid := g.person()
	u["client_user_agent"] = userAgents[g.rng.IntN(len(userAgents))]
	u["client_ip_address"] = fmt.Sprintf("203.0.113.%d", g.rng.IntN(254)+1)
	u["external_id"] = uid
	u["fbp"] = fmt.Sprintf("fb.1.%d.%d", g.now().Add(-time.Hour).UnixMilli(), g.rng.Uint32())
	if g.rng.IntN(3) == 0 {
		u["fbclid"] = "IwAR" + strconv.FormatUint(g.rng.Uint64(), 36)
	}
	name := webNames[g.rng.IntN(len(webNames))]
	e := map[string]any{
		"event_id":         fmt.Sprintf("web-%d-%d", g.seq, g.rng.Uint32()),
		"event_name":       name,
		"event_time":       g.eventTime(),
		"pixel_id":         g.pixels[g.rng.IntN(len(g.pixels))],
		"event_source_url": "https://shop.example.com/p/" + strconv.Itoa(g.rng.IntN(500)),
		"user":             u,
	}
	if name == "Purchase" || name == "AddToCart" || name == "InitiateCheckout" {
		e["custom"] = g.cart()
	}
	if g.rng.IntN(4) == 0 {
		e["referrer_url"] = "https://www.example.org/search?q=boots"
	}
	if g.rng.IntN(10) == 0 { // California Limited Data Use
		e["data_processing_options"] = []string{"LDU"}
		e["data_processing_options_country"] = 1
		e["data_processing_options_state"] = 1000
	}
	return g.record(g.web, uid, e)
}

func (g *Generator) cart() map[string]any {
	sku := "SKU-" + strconv.Itoa(g.rng.IntN(900))
	n := 1 + g.rng.IntN(3)
	price := float64(1+g.rng.IntN(20000)) / 100
	return map[string]any{
		"value":        price * float64(n),
		"currency":     "USD",
		"content_ids":  []string{sku},
		"contents":     []map[string]any{{"id": sku, "quantity": n, "item_price": price}},
		"content_type": "product",
		"num_items":    n,
	}
}

// appEvent is an app install or in-app purchase, as a mobile backend sends
// it to the web topic: app_data with the 16 extinfo values, device ids.
func (g *Generator) appEvent() *kgo.Record {
	u, uid := g.person()
	platform, os, model := "a2", "14", "Pixel 8"
	if g.rng.IntN(2) == 0 {
		platform, os, model = "i2", "17.5", "iPhone15,2"
	}
	u["madid"] = fmt.Sprintf("%08x-8cf0-11bd-b23e-%012x", g.rng.Uint32(), g.rng.Uint64()&0xffffffffffff)
	u["anon_id"] = "XZ" + strconv.FormatUint(g.rng.Uint64(), 16)
	u["client_ip_address"] = fmt.Sprintf("198.51.100.%d", g.rng.IntN(254)+1)
	name := "ActivateApp"
	e := map[string]any{
		"event_id":      fmt.Sprintf("app-%d-%d", g.seq, g.rng.Uint32()),
		"event_time":    g.eventTime(),
		"pixel_id":      g.pixels[g.rng.IntN(len(g.pixels))],
		"action_source": "app",
		"app_data": map[string]any{
			"advertiser_tracking_enabled":  g.rng.IntN(3) > 0,
			"application_tracking_enabled": true,
			"extinfo": []string{platform, "com.example.shop", "4.2", "4.2 (311)", os, model, "en_US", "PST", "",
				"1080", "2400", "2.75", "8", "128", "61", "America/Los_Angeles"},
		},
		"user": u,
	}
	if g.rng.IntN(3) == 0 {
		name = "Purchase"
		e["custom"] = g.cart()
	}
	e["event_name"] = name
	return g.record(g.web, uid, e)
}

// messagingEvent is a sale closed in a click-to-WhatsApp conversation.
func (g *Generator) messagingEvent() *kgo.Record {
	u, uid := g.person()
	u["ctwa_clid"] = "ARA" + strconv.FormatUint(g.rng.Uint64(), 36)
	e := map[string]any{
		"event_id":          fmt.Sprintf("msg-%d-%d", g.seq, g.rng.Uint32()),
		"event_name":        "Purchase",
		"event_time":        g.eventTime(),
		"pixel_id":          g.pixels[g.rng.IntN(len(g.pixels))],
		"action_source":     "business_messaging",
		"messaging_channel": "whatsapp",
		"crm_id":            "C-" + uid,
		"user":              u,
		"custom":            g.cart(),
	}
	return g.record(g.crm, uid, e)
}

// storeEvent is an in-store sale uploaded weeks later: physical_store
// events may be up to 62 days old.
func (g *Generator) storeEvent() *kgo.Record {
	u, uid := g.person()
	t := g.now().Add(-time.Duration(8+g.rng.IntN(40)) * 24 * time.Hour)
	e := map[string]any{
		"event_id":      fmt.Sprintf("store-%d-%d", g.seq, g.rng.Uint32()),
		"event_name":    "Purchase",
		"event_time":    t.Unix(),
		"pixel_id":      g.pixels[g.rng.IntN(len(g.pixels))],
		"action_source": "physical_store",
		"crm_id":        "C-" + uid,
		"user":          u,
		"custom":        g.cart(),
	}
	if g.rng.IntN(4) == 0 { // a refund refers to the sale it undoes
		e["event_name"] = "Refund"
		e["original_event_data"] = map[string]any{"event_name": "Purchase", "event_time": t.Add(-time.Hour).Unix(),
			"order_id": "O-" + uid}
	}
	return g.record(g.crm, uid, e)
}

func (g *Generator) crmEvent() *kgo.Record {
	u, uid := g.person()
	e := map[string]any{
		"event_id":          fmt.Sprintf("crm-%d-%d", g.seq, g.rng.Uint32()),
		"event_name":        crmNames[g.rng.IntN(len(crmNames))],
		"event_time":        g.eventTime(),
		"pixel_id":          g.pixels[g.rng.IntN(len(g.pixels))],
		"crm_id":            "C-" + uid,
		"lead_event_source": "Acme CRM",
		"user":              u,
	}
	if g.rng.IntN(3) == 0 {
		u["lead_id"] = strconv.FormatInt(100000000000000+g.rng.Int64N(899999999999999), 10)
	}
	if e["event_name"] == "Purchase" {
		e["custom"] = g.cart()
	}
	return g.record(g.crm, uid, e)
}

// eventTime is within the last hour, in seconds or (sometimes) milliseconds,
// as producers write it.
func (g *Generator) eventTime() int64 {
	t := g.now().Add(-time.Duration(g.rng.IntN(3600)) * time.Second)
	if g.rng.IntN(5) == 0 {
		return t.UnixMilli()
	}
	return t.Unix()
}

func (g *Generator) invalid() *kgo.Record {
	u, uid := g.person()
	u["client_user_agent"] = userAgents[0]
	base := map[string]any{
		"event_id": fmt.Sprintf("bad-%d", g.seq), "event_name": "Lead", "event_time": g.eventTime(),
		"pixel_id": g.pixels[0], "event_source_url": "https://shop.example.com/", "user": u,
	}
	switch g.rng.IntN(5) {
	case 0: // malformed JSON
		return &kgo.Record{Topic: g.web, Key: []byte(uid), Value: []byte(`{"event_id": "x", "event_name": `)}
	case 1: // missing event_id
		delete(base, "event_id")
	case 2: // older than Meta accepts
		base["event_time"] = g.now().Add(-8 * 24 * time.Hour).Unix()
	case 3: // unknown pixel
		base["pixel_id"] = "999999999999999"
	case 4: // no usable customer information
		base["user"] = map[string]any{"client_user_agent": userAgents[0], "email": "not-an-email"}
	}
	return g.record(g.web, uid, base)
}

func (g *Generator) record(topic, key string, e map[string]any) *kgo.Record {
	b, _ := json.Marshal(e) // maps of strings and numbers always encode
	if topic == g.crm && g.crmAvro != nil {
		b = g.confluent(b)
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: b}
}

// confluent re-encodes a generated JSON event as Confluent Avro. It goes
// through the JSON decoder, so the Avro record holds what freight reads
// from the JSON one. The CRM events generated always decode and have an
// event_time; should one not, its JSON stays, and freight dead-letters it
// as decode (not Confluent Avro), which the summary would show.
func (g *Generator) confluent(value []byte) []byte {
	e, err := event.JSON{}.Decode(value)
	if err != nil {
		return value
	}
	out := binary.BigEndian.AppendUint32([]byte{0}, g.crmSchemaID)
	out, err = g.crmAvro.AppendEncode(out, &e)
	if err != nil {
		return value
	}
	return out
}
