package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const token = "EAABsecretTOKEN"

func TestSecretRedacted(t *testing.T) {
	s := Secret(token)
	holder := struct{ Token Secret }{s}
	inner := fmt.Errorf("send with token %v: %w", s, errors.New("http 401"))
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"%v", fmt.Sprintf("%v", s), "[redacted]"},
		{"%s", fmt.Sprintf("%s", s), "[redacted]"},
		{"%q", fmt.Sprintf("%q", s), `"[redacted]"`},
		{"%+v", fmt.Sprintf("%+v", s), "[redacted]"},
		{"%#v", fmt.Sprintf("%#v", s), "[redacted]"},
		{"%x", fmt.Sprintf("%x", s), "[redacted]"},
		{"%10s", fmt.Sprintf("%10s", s), "[redacted]"},
		{"Sprint", fmt.Sprint(s), "[redacted]"},
		{"String", s.String(), "[redacted]"},
		{"GoString", s.GoString(), "[redacted]"},
		{"in a struct %+v", fmt.Sprintf("%+v", holder), "{Token:[redacted]}"},
		{"in a struct %#v", fmt.Sprintf("%#v", holder), "struct { Token config.Secret }{Token:[redacted]}"},
		{"in a slice", fmt.Sprintf("%v", []Secret{s}), "[[redacted]]"},
		{"in a wrapped error", fmt.Errorf("pixel 1: %w", inner).Error(), "pixel 1: send with token [redacted]: http 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	if s.Reveal() != token {
		t.Errorf("Reveal() = %q, want the value", s.Reveal())
	}
}

func TestSecretEncodings(t *testing.T) {
	s := Secret(token)
	js, err := json.Marshal(map[string]any{"token": s})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("m", "token", s)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("m", "token", s)
	text, _ := s.MarshalText()
	for name, out := range map[string]string{"json": string(js), "slog": logs.String(), "text": string(text)} {
		if strings.Contains(out, token) || !strings.Contains(out, "[redacted]") {
			t.Errorf("%s: %s", name, out)
		}
	}
}

func TestTokenFromEnv(t *testing.T) {
	p := Pixel{ID: "1", AccessTokenEnv: "META_TOKEN_1"}
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"set", map[string]string{"META_TOKEN_1": token}, token, ""},
		{"trimmed", map[string]string{"META_TOKEN_1": " " + token + "\n"}, token, ""},
		{"unset", nil, "", "no access token for pixel 1: environment variable META_TOKEN_1 is not set"},
		{"empty", map[string]string{"META_TOKEN_1": " \n"}, "", "no access token for pixel 1: environment variable META_TOKEN_1 is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewTokenSource(p, envMap(tt.env)).Token()
			if tt.wantErr != "" {
				if !errors.Is(err, ErrNoToken) || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q wrapping ErrNoToken", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Reveal() != tt.want {
				t.Fatalf("Token() = %q, %v; want %q", got.Reveal(), err, tt.want)
			}
		})
	}
}

func TestTokenSourceMisconfigured(t *testing.T) {
	for name, p := range map[string]Pixel{
		"neither": {ID: "1"},
		"both":    {ID: "1", AccessTokenEnv: "T", AccessTokenFile: "/t"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewTokenSource(p, envMap(map[string]string{"T": token})).Token()
			if !errors.Is(err, ErrNoToken) {
				t.Errorf("error = %v, want ErrNoToken", err)
			}
		})
	}
}

// writeToken writes content to path and sets its modification time.
func writeToken(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestTokenFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	ts := NewTokenSource(Pixel{ID: "7", AccessTokenFile: path}, noEnv)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	// Each step changes the file, then asks for the token.
	steps := []struct {
		name    string
		change  func()
		want    string
		wantErr string
	}{
		{"missing", func() {}, "", "no access token for pixel 7: stat " + path + ": no such file or directory"},
		{"written", func() { writeToken(t, path, token+"\n", t0) }, token, ""},
		{"rotated in place", func() { writeToken(t, path, "  EAABrotatedTOKEN\n", t0.Add(time.Minute)) }, "EAABrotatedTOKEN", ""},
		// Same size and modification time: the cached token is kept, nothing is read.
		{"unchanged stat", func() { writeToken(t, path, "  EAABxxxxxxxTOKEN\n", t0.Add(time.Minute)) }, "EAABrotatedTOKEN", ""},
		{"same size, new time", func() { writeToken(t, path, "  EAAByyyyyyyTOKEN\n", t0.Add(2*time.Minute)) }, "EAAByyyyyyyTOKEN", ""},
		{"replaced by another file", func() {
			tmp := filepath.Join(dir, "token.new")
			writeToken(t, tmp, "  EAABzzzzzzzTOKEN\n", t0.Add(2*time.Minute)) // same size and time
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, "EAABzzzzzzzTOKEN", ""},
		{"emptied", func() { writeToken(t, path, " \n", t0.Add(3*time.Minute)) }, "", "no access token for pixel 7: file " + path + " is empty"},
		{"filled again", func() { writeToken(t, path, token, t0.Add(4*time.Minute)) }, token, ""},
		{"removed", func() { os.Remove(path) }, "", "no access token for pixel 7: stat " + path + ": no such file or directory"},
	}
	for _, s := range steps {
		s.change()
		got, err := ts.Token()
		if s.wantErr != "" {
			if !errors.Is(err, ErrNoToken) || err.Error() != s.wantErr {
				t.Fatalf("%s: error = %v, want %q wrapping ErrNoToken", s.name, err, s.wantErr)
			}
			continue
		}
		if err != nil || got.Reveal() != s.want {
			t.Fatalf("%s: Token() = %q, %v; want %q", s.name, got.Reveal(), err, s.want)
		}
	}
}

func TestTokenFromFileMissingIsNotExist(t *testing.T) {
	_, err := NewTokenSource(Pixel{ID: "1", AccessTokenFile: filepath.Join(t.TempDir(), "none")}, nil).Token()
	if !errors.Is(err, ErrNoToken) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error = %v, want ErrNoToken and fs.ErrNotExist", err)
	}
}

// Run with -race: readers and a rotating writer at once.
func TestTokenSourceConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	writeToken(t, path, "EAAB0", t0)
	ts := NewTokenSource(Pixel{ID: "1", AccessTokenFile: path}, nil)

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				// A reader may catch the file truncated and not yet written: empty is
				// the one error allowed.
				if _, err := ts.Token(); err != nil && !strings.Contains(err.Error(), "is empty") {
					t.Errorf("Token: %v", err)
					return
				}
			}
		})
	}
	for i := range 50 {
		writeToken(t, path, fmt.Sprintf("EAAB%d", i+1), t0.Add(time.Duration(i+1)*time.Second))
	}
	wg.Wait()
	if tok, err := ts.Token(); err != nil || tok.Reveal() != "EAAB50" {
		t.Errorf("after rotations: Token() = %q, %v; want EAAB50", tok.Reveal(), err)
	}
}

func TestResolveSecrets(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	empty := filepath.Join(dir, "empty")
	writeToken(t, good, token, time.Now())
	writeToken(t, empty, "\n", time.Now())
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name   string
		change func(*Config)
		env    map[string]string
		want   []Problem
	}{
		{"no pixels", func(*Config) {}, nil, nil},
		{"all resolved", func(c *Config) {
			c.CAPI.Pixels = []Pixel{{ID: "1", AccessTokenEnv: "META_1"}, {ID: "2", AccessTokenFile: good}}
			c.CAPI.AppSecretEnv = "APP_SECRET"
			c.Kafka.SASL = SASL{Mechanism: SASLPlain, Username: "u", PasswordEnv: "KAFKA_PW"}
		}, map[string]string{"META_1": token, "APP_SECRET": token, "KAFKA_PW": token}, nil},
		{"pixel tokens missing", func(c *Config) {
			c.CAPI.Pixels = []Pixel{
				{ID: "1", AccessTokenEnv: "META_X"},
				{ID: "2", AccessTokenFile: missing},
				{ID: "3", AccessTokenFile: empty},
				{ID: "4", AccessTokenEnv: "META_4"},
				{ID: "5"},
			}
		}, map[string]string{"META_4": token}, []Problem{
			{"capi.pixels[0].access_token_env", "environment variable META_X is not set"},
			{"capi.pixels[1].access_token_file", "stat " + missing + ": no such file or directory"},
			{"capi.pixels[2].access_token_file", "file " + empty + " is empty"},
			{"capi.pixels[4]", "neither access_token_env nor access_token_file is set"},
		}},
		{"app secret missing", func(c *Config) { c.CAPI.AppSecretEnv = "APP_SECRET" }, map[string]string{"APP_SECRET": "  "},
			[]Problem{{"capi.app_secret_env", "environment variable APP_SECRET is empty"}}},
		{"sasl password missing", func(c *Config) {
			c.Kafka.SASL = SASL{Mechanism: SASLScramSHA512, Username: "u", PasswordEnv: "KAFKA_PW"}
		}, nil, []Problem{{"kafka.sasl.password_env", "environment variable KAFKA_PW is not set"}}},
		{"sasl off: password not needed", func(c *Config) { c.Kafka.SASL.PasswordEnv = "KAFKA_PW" }, nil, nil},
		{"schema registry password", func(c *Config) {
			c.Kafka.SchemaRegistry = SchemaRegistry{URL: "http://registry:8081", Username: "key", PasswordEnv: "SR_PW"}
		}, map[string]string{"SR_PW": token}, nil},
		{"schema registry password missing", func(c *Config) {
			c.Kafka.SchemaRegistry = SchemaRegistry{URL: "http://registry:8081", Username: "key", PasswordEnv: "SR_PW"}
		}, nil, []Problem{{"kafka.schema_registry.password_env", "environment variable SR_PW is not set"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			tt.change(&cfg)
			err := cfg.ResolveSecrets(envMap(tt.env))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ResolveSecrets() = %v, want nil", err)
				}
				return
			}
			if got := problemsOf(t, err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n got  %q\n want %q", got, tt.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error carries the token: %v", err)
			}
		})
	}
}
