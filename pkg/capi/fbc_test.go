package capi

import (
	"strings"
	"testing"
)

func TestValidFBC(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"fb.1.1554763741205.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk", true},
		{"fb.0.1554763741205.abc", true},
		{"fb.2.1554763741205.abc", true},
		{"fb.1.1554763741205.abc.BA", true},       // v1 appendix (Node.js)
		{"fb.1.1554763741205.abc.AQQCAQMC", true}, // v2 appendix
		{"fb.1.1554763741205.abc.XY", false},      // no language token
		{"fb.1.1554763741205.abc.AAAAAAAA", false},
		{"fb.1.1554763741205.fb.1.1554763741205.abc", false}, // an fbclid that held a cookie
		{"fb.3.1554763741205.abc", false},
		{"fb.1.15547637412x5.abc", false},
		{"fb.1..abc", false},
		{"fb.1.1554763741205.", false},
		{"fb.1.1554763741205", false},
		{"FB.1.1554763741205.abc", false},
		{"junk", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := validFBC(tt.s); got != tt.want {
			t.Errorf("validFBC(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestFBCFor(t *testing.T) {
	const ms = 1554763741205
	const cookie = "fb.1.1554000000000.IwAR2F4"
	tests := []struct {
		name, fbc, fbclid string
		urls              []string
		want              string
		dropped           bool
	}{
		{"a well-formed fbc as it is", " " + cookie + " ", "", nil, cookie, false},
		{"an fbc with the builder's appendix", cookie + ".AQQCAQMC", "", nil, cookie + ".AQQCAQMC", false},
		{"the fbc wins over the fbclid", cookie, "other", nil, cookie, false},
		{"built from the fbclid", "", "IwAR2F4", nil, "fb.1.1554763741205.IwAR2F4", false},
		{"the fbclid keeps its case", "", "IwAr-_x", nil, "fb.1.1554763741205.IwAr-_x", false},
		{"an fbclid that holds a cookie is the cookie", "", cookie, nil, cookie, false},
		{"a malformed fbc is dropped, the fbclid used", "junk", "IwAR2F4", nil, "fb.1.1554763741205.IwAR2F4", true},
		{"a malformed fbc alone is dropped", "fb.1.x.abc", "", nil, "", true},
		{"an fbclid with dots cannot be valid", "", "fb.1.abc", nil, "", true},
		{"from event_source_url", "", "", []string{"https://shop.example.com/p?utm=1&fbclid=IwAR9", ""}, "fb.1.1554763741205.IwAR9", false},
		{"from referrer_url when the page has none", "", "", []string{"https://shop.example.com/p", "shop.example.com/?fbclid=IwAR8"}, "fb.1.1554763741205.IwAR8", false},
		{"the page's before the referrer's", "", "", []string{"https://a.example/?fbclid=A1", "https://b.example/?fbclid=B2"}, "fb.1.1554763741205.A1", false},
		{"the event's fbclid before the URLs'", "", "E1", []string{"https://a.example/?fbclid=A1"}, "fb.1.1554763741205.E1", false},
		{"a URL that does not parse", "", "", []string{"http://[::1/?fbclid=A1"}, "", false},
		{"nothing", "", "", []string{"https://a.example/"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dropped := fbcFor(tt.fbc, tt.fbclid, ms, tt.urls...)
			if got != tt.want || dropped != tt.dropped {
				t.Errorf("fbcFor = %q, dropped %v; want %q, %v", got, dropped, tt.want, tt.dropped)
			}
		})
	}
}

func FuzzFBCFor(f *testing.F) {
	f.Add("fb.1.1554763741205.abc", "IwAR", "https://x.example/?fbclid=A")
	f.Add("junk", "fb.1.2.3", "x?fbclid=fb.1.2.3.BA")
	f.Fuzz(func(t *testing.T, fbc, fbclid, u string) {
		out, _ := fbcFor(fbc, fbclid, 1554763741205, u)
		if out != "" && !validFBC(out) {
			t.Fatalf("fbcFor(%q, %q, %q) = %q, which is not a valid fbc", fbc, fbclid, u, out)
		}
	})
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		in, want string
		dropped  bool
	}{
		{" 203.0.113.7 ", "203.0.113.7", false},
		{"2001:db8::1", "2001:db8::1", false},
		{"203.0.113.7, 10.0.0.1, 10.0.0.2", "203.0.113.7", false},
		{"unknown, 198.51.100.4", "198.51.100.4", false},
		{"203.0.113.7:443", "203.0.113.7", false},
		{"[2001:db8::1]:443", "2001:db8::1", false},
		{"0.0.0.0", "", true},
		{"unknown", "", true},
		{"", "", false},
	}
	for _, tt := range tests {
		if got, dropped := clientIP(tt.in); got != tt.want || dropped != tt.dropped {
			t.Errorf("clientIP(%q) = %q, %v; want %q, %v", tt.in, got, dropped, tt.want, tt.dropped)
		}
	}
}

// A hostile fbc of 100,000 dots is refused without splitting it into as
// many strings.
func TestValidFBCOfAHostileValueAllocatesNothing(t *testing.T) {
	hostile := "fb." + strings.Repeat(".", 100_000)
	if validFBC(hostile) {
		t.Fatal("a value of dots is a valid fbc")
	}
	if n := testing.AllocsPerRun(10, func() { validFBC(hostile) }); n != 0 {
		t.Errorf("validFBC of 100,000 dots: %v allocations, want 0", n)
	}
}
