package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
)

// ErrNoToken is wrapped by the errors of TokenSource.Token: the pixel's access token
// cannot be had (variable unset or empty, file missing, unreadable or empty).
var ErrNoToken = errors.New("no access token")

const redacted = "[redacted]"

// Secret holds a secret value. Every way of printing or encoding it (fmt with any
// verb, encoding.TextMarshaler and so JSON and YAML, slog) gives "[redacted]"; only
// Reveal gives the value. fmt cannot call its methods when it sits in an unexported
// struct field, so keep it in exported fields or in variables.
type Secret string

// Reveal returns the secret value, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

func (Secret) String() string   { return redacted }
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter, so that no verb (%v %s %q %x %#v ...) prints the value.
func (Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		io.WriteString(f, strconv.Quote(redacted))
		return
	}
	io.WriteString(f, redacted)
}

// MarshalText implements encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// LookupSecret returns the value of the environment variable name, trimmed of white
// space, through lookupEnv (os.LookupEnv when nil). It is an error when the variable
// is unset or empty; the error names the variable.
func LookupSecret(name string, lookupEnv func(string) (string, bool)) (Secret, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	v, ok := lookupEnv(name)
	if !ok {
		return "", fmt.Errorf("environment variable %s is not set", name)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("environment variable %s is empty", name)
	}
	return Secret(v), nil
}

// TokenSource gives a pixel's access token, from the environment variable or the
// file the pixel names. It is safe for concurrent use.
//
// A variable is looked up on every call. A file is read on the first call and again
// whenever os.Stat shows it changed (another file, size or modification time), so a
// token rotated in place, as Kubernetes does with mounted secrets, is used from the
// next call on without a restart. Callers ask for the token for each request rather
// than keeping it.
type TokenSource struct {
	pixelID   string
	envName   string
	file      string
	lookupEnv func(string) (string, bool)

	mu    sync.Mutex
	info  os.FileInfo // of the file when token was read; nil before
	token Secret
}

// NewTokenSource returns the token source of pixel p. lookupEnv reads environment
// variables; nil means os.LookupEnv. Nothing is read until Token is called.
func NewTokenSource(p Pixel, lookupEnv func(string) (string, bool)) *TokenSource {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	return &TokenSource{
		pixelID:   p.ID,
		envName:   p.AccessTokenEnv,
		file:      p.AccessTokenFile,
		lookupEnv: lookupEnv,
	}
}

// Token returns the pixel's current access token, trimmed of white space. Its error
// wraps ErrNoToken and names the pixel and the variable or file, never a value.
func (ts *TokenSource) Token() (Secret, error) {
	tok, err := ts.get()
	if err != nil {
		return "", fmt.Errorf("%w for pixel %s: %w", ErrNoToken, ts.pixelID, err)
	}
	return tok, nil
}

func (ts *TokenSource) get() (Secret, error) {
	switch {
	case ts.envName != "" && ts.file != "":
		return "", errors.New("both access_token_env and access_token_file are set")
	case ts.envName != "":
		return LookupSecret(ts.envName, ts.lookupEnv)
	case ts.file != "":
		return ts.fromFile()
	default:
		return "", errors.New("neither access_token_env nor access_token_file is set")
	}
}

func (ts *TokenSource) fromFile() (Secret, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()

	info, err := os.Stat(ts.file)
	if err != nil {
		return "", err // a *PathError: operation, path and reason, no content
	}
	if ts.info != nil && os.SameFile(ts.info, info) &&
		ts.info.Size() == info.Size() && ts.info.ModTime().Equal(info.ModTime()) {
		return ts.token, nil
	}
	// Should the file change between Stat and ReadFile, the next call sees another
	// Stat than the one kept here and reads it again.
	data, err := os.ReadFile(ts.file)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("file %s is empty", ts.file)
	}
	ts.info, ts.token = info, Secret(tok)
	return ts.token, nil
}

// ResolveSecrets checks that every secret the configuration names can be had now:
// each pixel's token, the app secret when capi.app_secret_env is set, the SASL
// password when kafka.sasl.mechanism is set, and the schema registry's password when
// kafka.schema_registry.password_env is set. It returns a *ValidationError with a
// problem per secret that cannot, naming the key and the variable or file, or nil.
// lookupEnv reads environment variables; nil means os.LookupEnv.
func (c Config) ResolveSecrets(lookupEnv func(string) (string, bool)) error {
	var ps problems
	for i, p := range c.CAPI.Pixels {
		key := fmt.Sprintf("capi.pixels[%d]", i)
		switch {
		case p.AccessTokenEnv != "" && p.AccessTokenFile == "":
			key += ".access_token_env"
		case p.AccessTokenEnv == "" && p.AccessTokenFile != "":
			key += ".access_token_file"
		}
		if _, err := NewTokenSource(p, lookupEnv).get(); err != nil {
			ps.add(key, "%v", err)
		}
	}
	if name := c.CAPI.AppSecretEnv; name != "" {
		if _, err := LookupSecret(name, lookupEnv); err != nil {
			ps.add("capi.app_secret_env", "%v", err)
		}
	}
	if name := c.Kafka.SASL.PasswordEnv; c.Kafka.SASL.Mechanism != "" && name != "" {
		if _, err := LookupSecret(name, lookupEnv); err != nil {
			ps.add("kafka.sasl.password_env", "%v", err)
		}
	}
	if name := c.Kafka.SchemaRegistry.PasswordEnv; name != "" {
		if _, err := LookupSecret(name, lookupEnv); err != nil {
			ps.add("kafka.schema_registry.password_env", "%v", err)
		}
	}
	return ps.err()
}
