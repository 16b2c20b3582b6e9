package iso4217

import (
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"USD", true}, {"eur", true}, {"Jpy", true}, {"XCG", true}, {"ZWG", true},
		{"", false}, {"US", false}, {"USDD", false}, {"ABC", false},
		{"DEM", false}, // withdrawn in 2002
		{"XAU", false}, // gold is no price
		{"D A", false}, {"D\x00A", false}, {"ÜSD", false},
		{"SD ", false}, {" US", false}, // the list's separators must not match
	}
	for _, tt := range tests {
		if got := Valid(tt.code); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestCodesAreThreeUppercaseLettersOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range strings.Split(codes, " ") {
		if len(c) != 3 || strings.ToUpper(c) != c || seen[c] {
			t.Errorf("bad or repeated code %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 150 {
		t.Errorf("only %d codes", len(seen))
	}
}
