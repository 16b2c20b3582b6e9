package capitest

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		want    Faults
		wantErr string // substring of the error; "" for success
	}{
		{name: "empty", spec: "", want: Faults{}},
		{name: "blank", spec: "  ", want: Faults{}},
		{name: "cli example", spec: "5xx=0.2,throttle=0.1,slow=0.05", want: Faults{Err5xx: 0.2, Throttle: 0.1, Slow: 0.05}},
		{name: "all", spec: "5xx=0.1,throttle=0.1,auth=0.01,slow=1,slow_delay=2s", want: Faults{Err5xx: 0.1, Throttle: 0.1, Auth: 0.01, Slow: 1, SlowDelay: 2 * time.Second}},
		{name: "spaces and case", spec: " 5XX = 0.5 , Slow_Delay=150ms ", want: Faults{Err5xx: 0.5, SlowDelay: 150 * time.Millisecond}},
		{name: "bounds", spec: "5xx=0,throttle=1", want: Faults{Throttle: 1}},
		{name: "exponent", spec: "auth=1e-3", want: Faults{Auth: 0.001}},
		{name: "unknown name", spec: "5xx=0.1,timeout=0.2", wantErr: `"timeout=0.2": unknown fault "timeout"`},
		{name: "no value", spec: "throttle", wantErr: `"throttle": want name=value`},
		{name: "empty value", spec: "throttle=", wantErr: `"throttle=": want name=value`},
		{name: "empty name", spec: "=0.1", wantErr: `"=0.1": want name=value`},
		{name: "empty item", spec: "5xx=0.1,,slow=0.1", wantErr: "item 2 is empty"},
		{name: "trailing comma", spec: "5xx=0.1,", wantErr: "item 2 is empty"},
		{name: "not a number", spec: "5xx=lots", wantErr: `"5xx=lots": 5xx wants a probability between 0 and 1`},
		{name: "above 1", spec: "slow=1.5", wantErr: `"slow=1.5"`},
		{name: "negative", spec: "auth=-0.1", wantErr: `"auth=-0.1"`},
		{name: "NaN", spec: "5xx=NaN", wantErr: `"5xx=NaN"`},
		{name: "Inf", spec: "5xx=Inf", wantErr: `"5xx=Inf"`},
		{name: "percent", spec: "5xx=20%", wantErr: `"5xx=20%"`},
		{name: "duplicate", spec: "5xx=0.1,5xx=0.2", wantErr: "5xx given twice"},
		{name: "sum above 1", spec: "5xx=0.6,throttle=0.3,auth=0.2", wantErr: "add up to"},
		{name: "slow does not count in the sum", spec: "5xx=0.6,throttle=0.4,slow=1", want: Faults{Err5xx: 0.6, Throttle: 0.4, Slow: 1}},
		{name: "bad duration", spec: "slow_delay=2", wantErr: `"slow_delay=2": slow_delay wants a non-negative duration`},
		{name: "negative duration", spec: "slow_delay=-1s", wantErr: `"slow_delay=-1s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFaults(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFaults(%q) = %+v, %v; want error containing %q", tt.spec, got, err, tt.wantErr)
				}
				if got != (Faults{}) {
					t.Errorf("ParseFaults returned %+v with its error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseFaults(%q) = %+v, %v; want %+v", tt.spec, got, err, tt.want)
			}
			if back, err := ParseFaults(got.String()); err != nil || back != got {
				t.Errorf("round trip through %q: %+v, %v", got.String(), back, err)
			}
		})
	}
}

func TestFaultsValidate(t *testing.T) {
	tests := []struct {
		name string
		f    Faults
		ok   bool
	}{
		{"zero", Faults{}, true},
		{"sum exactly 1", Faults{Err5xx: 0.7, Throttle: 0.2, Auth: 0.1}, true},
		{"NaN", Faults{Slow: math.NaN()}, false},
		{"negative delay", Faults{SlowDelay: -time.Second}, false},
		{"above 1", Faults{Auth: 1.01}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestFaultString(t *testing.T) {
	for f := FaultNone; f <= FaultReject; f++ {
		if s := f.String(); s == "" || strings.HasPrefix(s, "Fault(") {
			t.Errorf("Fault %d has no name", int(f))
		}
	}
	if Fault(42).String() != "Fault(42)" {
		t.Errorf("Fault(42).String() = %q", Fault(42).String())
	}
}

func FuzzParseFaults(f *testing.F) {
	for _, seed := range []string{
		"", "5xx=0.2,throttle=0.1,slow=0.05", "auth=0.01,slow_delay=2s", "5xx=1", "slow_delay=1h2m3.5s",
		"5xx=0.5,5xx=0.5", "x=1", "5xx=NaN", ",", "=", "throttle=0x1p-2", "slow=.5,slow_delay=0",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got, err := ParseFaults(spec)
		if err != nil {
			if got != (Faults{}) {
				t.Errorf("error %v with non-zero result %+v", err, got)
			}
			if !strings.HasPrefix(err.Error(), "capitest: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("ParseFaults(%q) = %+v, which does not validate: %v", spec, got, err)
		}
		back, err := ParseFaults(got.String())
		if err != nil || back != got {
			t.Fatalf("round trip of %q through %q: %+v, %v; want %+v", spec, got.String(), back, err, got)
		}
	})
}
