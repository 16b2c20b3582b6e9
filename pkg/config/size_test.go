package config

import "testing"

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"134217728", 128 << 20, true},
		{"128MiB", 128 << 20, true},
		{"128 MiB", 128 << 20, true},
		{"64MB", 64_000_000, true},
		{"512KiB", 512 << 10, true},
		{"2KB", 2000, true},
		{"1GiB", 1 << 30, true},
		{"3GB", 3_000_000_000, true},
		{"100B", 100, true},
		{"0", 0, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"-1MiB", 0, false},
		{"1.5GiB", 0, false},
		{"128mib", 0, false}, // units are case-sensitive, as in Kubernetes
		{"9223372036854775807GiB", 0, false},
		{"12 parsecs", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
