package capi

import (
	"net/url"
	"testing"
)

var urlSeeds = []string{
	"https://shop.example.com/checkout?utm_source=fb&fbclid=IwAR1#top",
	"http://localhost:8080/", "https://a.b", "https://a.b:", "https://a.b:x/", "https://a_b-c.example",
	"https://user@host/", "https://[::1]:80/", "https://host/p%20q", "https://host/p%zz", "https://host/a b",
	"https://host/\x7f", "shop.example.com/x", "/relative", "", "https://", "https:///path", "h2://x",
	"https://host?q", "https://host#f", "https://ex\u00e4mple.com/", "mailto:a@b.c", "javascript://x",
}

// The fast path never accepts what url.Parse refuses, and absoluteURL
// agrees with url.Parse on every seed.
func TestAbsoluteURLAgreesWithURLParse(t *testing.T) {
	for _, s := range urlSeeds {
		u, err := url.Parse(s)
		want := err == nil && u.Scheme != "" && u.Host != ""
		if got := absoluteURL(s); got != want {
			t.Errorf("absoluteURL(%q) = %v, url.Parse says %v", s, got, want)
		}
		if simpleAbsoluteURL(s) && !want {
			t.Errorf("simpleAbsoluteURL(%q) accepts what url.Parse refuses", s)
		}
	}
	if n := testing.AllocsPerRun(100, func() { absoluteURL(urlSeeds[0]) }); n != 0 {
		t.Errorf("absoluteURL of a plain URL allocates %v times, want 0", n)
	}
}

func FuzzAbsoluteURL(f *testing.F) {
	for _, s := range urlSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		want := err == nil && u.Scheme != "" && u.Host != ""
		if simpleAbsoluteURL(s) && !want {
			t.Fatalf("simpleAbsoluteURL(%q) accepts what url.Parse refuses (%v)", s, err)
		}
		if absoluteURL(s) != want {
			t.Fatalf("absoluteURL(%q) disagrees with url.Parse", s)
		}
	})
}
