package relay

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/dedup"
	"github.com/freight-relay/freight/pkg/event"
)

// The byte bound holds only if an item's footprint covers the heap it
// really holds. Prepare 20,000 typical records (a purchase with every
// match key, as the dev generator writes them), keep the items, and compare
// the heap they take with the sum of their footprints: it must cover it,
// without counting so much more that the bound wastes the memory it
// allows.
func TestFootprintCoversTheHeap(t *testing.T) {
	const n = 20000
	r := &Relay{now: time.Now,
		topics: map[string]*Topic{"web-events": {Name: "web-events", Kind: event.KindWeb, Decoder: event.JSON{}}},
		pixels: map[string]*pixelState{"111111111111111": {}},
		deps:   Deps{Dedup: dedup.New(nil, dedup.Config{KeyPrefix: "freight:"})},
	}
	now := time.Unix(1796622400, 0)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "web-events", Partition: 3, Offset: int64(i), Key: fmt.Appendf(nil, "U-%d", i),
			Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("web")}},
			Value: fmt.Appendf(nil, `{"custom":{"content_ids":["SKU-345"],"content_type":"product","contents":[{"id":"SKU-345","item_price":64.21,"quantity":3}],"currency":"USD","num_items":3,"value":192.63},"event_id":"web-2-%d","event_name":"Purchase","event_source_url":"https://shop.example.com/p/416","event_time":1796622367,"pixel_id":"111111111111111","user":{"city":"Austin","client_ip_address":"203.0.113.4","client_user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148","country":"US","email":" Ann.Dubois%d@Example.com ","external_id":"U-%d","fbp":"fb.1.1796620793345.1882506235","first_name":"Ann","last_name":"Dubois","phone":"+1 (650) 555-%04d","state":"TX","zip":"35970"}}`,
				i, i, i, i%10000)}
	}
	items := make([]*item, n)
	before := heapInUse()
	var counted int64
	for i, rec := range recs {
		it := r.prepare(context.Background(), rec, now)
		if it == nil || it.fail != nil {
			t.Fatalf("record %d not prepared: %+v", i, it)
		}
		it.size = it.footprint()
		counted += it.size
		items[i] = it
	}
	held := heapInUse() - before
	runtime.KeepAlive(items)
	runtime.KeepAlive(recs)
	t.Logf("%d items: heap %d bytes (%d each), footprints %d (%d each)", n, held, held/n, counted, counted/n)
	if counted < held {
		t.Errorf("footprints count %d bytes, the items hold %d: the byte bound would be exceeded", counted, held)
	}
	if counted > 2*held {
		t.Errorf("footprints count %d bytes, more than twice the %d the items hold: the bound wastes memory", counted, held)
	}
}

func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
