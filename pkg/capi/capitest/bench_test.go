package capitest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// BenchmarkServeEvents measures the stand-in's cost per accepted event for
// full 1000-event requests, so that benchmarks of the relay can tell it apart.
func BenchmarkServeEvents(b *testing.B) {
	opts := testOptions()
	opts.MaxRecorded = 10000
	s := New(opts)
	events := make([]map[string]any, maxEvents)
	for i := range events {
		events[i] = webEvent("e" + strconv.Itoa(i))
	}
	body, err := json.Marshal(jsonBody(tokenA, events...))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v25.0/"+pixelA+"/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.N*maxEvents)/b.Elapsed().Seconds(), "events/s")
}
