package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			io.WriteString(w, "ready\n")
		default:
			http.Error(w, "not ready: the consumer has not joined its group yet", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	tests := []struct {
		url  string
		want int
	}{
		{srv.URL + "/readyz", 0},
		{srv.URL + "/other", 1},
		{"http://127.0.0.1:1/readyz", 1}, // nothing listens
	}
	for _, tt := range tests {
		if got := probe(tt.url, io.Discard); got != tt.want {
			t.Errorf("probe(%s) = %d, want %d", tt.url, got, tt.want)
		}
	}
}
