package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }

func envMap(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// problemsOf returns the problems of err, which must be a *ValidationError.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error = %v (%T), want a *ValidationError", err, err)
	}
	return verr.Problems
}

func keysOf(ps []Problem) []string {
	keys := make([]string, len(ps))
	for i, p := range ps {
		keys[i] = p.Key
	}
	return keys
}

func TestParseEmptyIsDefault(t *testing.T) {
	for name, doc := range map[string]string{
		"nothing":       "",
		"blank lines":   "\n\n",
		"only comments": "# nothing here\n",
		"empty doc":     "---\n",
		"empty mapping": "{}\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := parse([]byte(doc), noEnv)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !reflect.DeepEqual(cfg, Default()) {
				t.Errorf("parse(%q) = %+v, want Default()", doc, cfg)
			}
		})
	}
}

// The contract's example is the full key set with its defaults, plus one pixel.
func TestParseContractExample(t *testing.T) {
	data, err := os.ReadFile("testdata/contract.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parse(data, noEnv)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := Default()
	want.CAPI.Pixels = []Pixel{{ID: "123456789012345", AccessTokenEnv: "META_TOKEN_123456789012345"}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestParseReplacesDefaults(t *testing.T) {
	doc := `
kafka:
  brokers: [k1:9092, "k2:9092"]
  topics:
    - name: orders
      kind: crm
    - &web
      name: clicks
      kind: web
      format: avro
      default_pixel_id: "42"
  tls: {enabled: true}
redis:
  key_prefix: ""
dedup:
  claim_lease: 10s
identity:
  enabled: false
  link_by: [email]
capi:
  pixels:
    - id: 42
      access_token_file: /run/secrets/meta
log: {level: debug, format: json}
batch:
  max_events: 500
shutdown_timeout: 1m
`
	cfg, err := parse([]byte(doc), noEnv)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := Default()
	want.Kafka.Brokers = []string{"k1:9092", "k2:9092"}
	want.Kafka.Topics = []Topic{
		{Name: "orders", Kind: KindCRM, Format: FormatJSON}, // format defaults to json
		{Name: "clicks", Kind: KindWeb, Format: FormatAvro, DefaultPixelID: "42"},
	}
	want.Kafka.TLS.Enabled = true
	want.Redis.KeyPrefix = ""
	want.Dedup.ClaimLease = 10 * time.Second
	want.Identity.Enabled = false
	want.Identity.LinkBy = []string{"email"}
	want.CAPI.Pixels = []Pixel{{ID: "42", AccessTokenFile: "/run/secrets/meta"}}
	want.Log = Log{Level: "debug", Format: "json"}
	want.Batch.MaxEvents = 500
	want.ShutdownTimeout = time.Minute
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestParseNullKeepsDefault(t *testing.T) {
	cfg, err := parse([]byte("redis:\nkafka:\n  group:\n  topics: ~\n"), noEnv)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("got %+v, want Default()", cfg)
	}
}

func TestParseAliases(t *testing.T) {
	doc := `
capi:
  pixels:
    - &p {id: "1", access_token_env: T1}
    - {id: "2", access_token_env: T2}
kafka:
  brokers: &b [a:1]
  topics:
    - {name: w, kind: web, default_pixel_id: "1"}
`
	cfg, err := parse([]byte(doc), noEnv)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if got := cfg.Kafka.Brokers; !reflect.DeepEqual(got, []string{"a:1"}) {
		t.Errorf("brokers = %v", got)
	}

	// An alias naming its own parent must not make the walk run forever.
	_, err = parse([]byte("kafka: &k\n  tls: *k\n"), noEnv)
	if got := keysOf(problemsOf(t, err)); !reflect.DeepEqual(got, []string{"kafka.tls.tls"}) {
		t.Errorf("keys = %q", got)
	}
}

func TestParseSchemaRegistry(t *testing.T) {
	doc := `
kafka:
  topics:
    - {name: orders, kind: crm, format: confluent-avro}
  schema_registry:
    url: https://registry.example:8081
    username: freight
    password_env: SCHEMA_REGISTRY_PASSWORD
    tls: {ca_file: /tls/ca.pem, cert_file: /tls/client.pem, key_file: /tls/client.key}
`
	cfg, err := parse([]byte(doc), noEnv)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := SchemaRegistry{URL: "https://registry.example:8081", Username: "freight", PasswordEnv: "SCHEMA_REGISTRY_PASSWORD",
		TLS: RegistryTLS{CAFile: "/tls/ca.pem", CertFile: "/tls/client.pem", KeyFile: "/tls/client.key"}}
	if cfg.Kafka.SchemaRegistry != want {
		t.Errorf("schema_registry = %+v, want %+v", cfg.Kafka.SchemaRegistry, want)
	}
}

func TestParseDecodeProblems(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []Problem
	}{
		{"unknown top-level key", "kafak: {}\n",
			[]Problem{{"kafak", "unknown key"}}},
		{"unknown nested key", "kafka:\n  topcs: []\n",
			[]Problem{{"kafka.topcs", "unknown key"}}},
		{"unknown key two levels down", "kafka:\n  tls:\n    enable: true\n",
			[]Problem{{"kafka.tls.enable", "unknown key"}}},
		{"unknown key in a topic", "kafka:\n  topics:\n    - name: a\n      kind: web\n      formt: json\n",
			[]Problem{{"kafka.topics[0].formt", "unknown key"}}},
		{"unknown key in the schema registry's tls", "kafka:\n  schema_registry:\n    tls: {ca: /ca.pem}\n",
			[]Problem{{"kafka.schema_registry.tls.ca", "unknown key"}}},
		{"unknown key in a pixel", "capi:\n  pixels:\n    - {id: '1', access_token_env: T}\n    - {id: '2', token: x}\n",
			[]Problem{
				{"capi.pixels[1].token", "unknown key"},
				{"capi.pixels[1]", "must set access_token_env or access_token_file"},
			}},
		{"integer", "batch:\n  max_events: abc\n",
			[]Problem{{"batch.max_events", `cannot parse "abc" as an integer`}}},
		{"integer given as float", "replay: {max_count: 1.5}\n",
			[]Problem{{"replay.max_count", `cannot parse "1.5" as an integer`}}},
		{"duration", "dedup:\n  window: 2 days\n",
			[]Problem{{"dedup.window", `cannot parse "2 days" as a duration (like 1s, 5m or 48h)`}}},
		{"duration without unit", "shutdown_timeout: 30\n",
			[]Problem{{"shutdown_timeout", `cannot parse "30" as a duration (like 1s, 5m or 48h)`}}},
		{"size", "batch:\n  max_buffered_bytes: 128 megs\n",
			[]Problem{{"batch.max_buffered_bytes", `cannot parse "128 megs" as a size (like 128MiB, 64MB or 1048576)`}}},
		{"size below the minimum", "batch:\n  max_buffered_bytes: 1KiB\n",
			[]Problem{{"batch.max_buffered_bytes", "must be at least 1MiB"}}},
		{"boolean", "identity:\n  enabled: yes\n",
			[]Problem{{"identity.enabled", `cannot parse "yes" as a boolean (true or false)`}}},
		{"list given a value", "kafka:\n  brokers: a:9092\n",
			[]Problem{{"kafka.brokers", "expected a list, found a single value"}}},
		{"section given a value", "redis: redis://h:6379\n",
			[]Problem{{"redis", "expected a mapping, found a single value"}}},
		{"value given a list", "kafka:\n  group: [a, b]\n",
			[]Problem{{"kafka.group", "expected a single value, found a list"}}},
		{"list item of the wrong shape", "kafka:\n  topics: [web-events]\n",
			[]Problem{{"kafka.topics[0]", "expected a mapping, found a single value"}}},
		{"string list item of the wrong shape", "identity:\n  link_by: [email, [phone]]\n",
			[]Problem{{"identity.link_by[1]", "expected a single value, found a list"}}},
		{"duplicate key", "redis:\n  on_error: block\n  on_error: fail_open\n",
			[]Problem{{"redis.on_error", "duplicate key"}}},
		{"merge key", "kafka:\n  <<: {group: g}\n",
			[]Problem{{"kafka.<<", "merge keys are not supported"}}},
		{"not a mapping", "- a\n- b\n",
			[]Problem{{"", "expected a mapping, found a list"}}},
		{"mapping as key", "? [a]\n: b\n",
			[]Problem{{"", "expected a key name, found a list"}}},
		{"all problems at once",
			"kafka:\n  topcs: []\n  topics:\n    - {name: a, kind: mobile}\nbatch: {max_events: x, max_wait: 0s}\nlog: {level: loud}\nextra: 1\n",
			[]Problem{
				{"kafka.topcs", "unknown key"},
				{"batch.max_events", `cannot parse "x" as an integer`},
				{"extra", "unknown key"},
				{"kafka.topics[0].kind", `must be one of web, crm; got "mobile"`},
				{"batch.max_wait", "must be greater than 0"},
				{"log.level", `must be one of debug, info, warn, error; got "loud"`},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse([]byte(tt.doc), noEnv)
			got := problemsOf(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n got  %q\n want %q", got, tt.want)
			}
			if !reflect.DeepEqual(cfg, Config{}) {
				t.Errorf("config on error = %+v, want the zero Config", cfg)
			}
		})
	}
}

func TestParseNotYAML(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"syntax error", "kafka: [\n", "parse config: yaml: "},
		{"tab indentation", "kafka:\n\tgroup: g\n", "parse config: yaml: "},
		{"two documents", "kafka: {}\n---\nredis: {}\n", "parse config: more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse([]byte(tt.doc), noEnv)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to start with %q", err, tt.want)
			}
			var verr *ValidationError
			if errors.As(err, &verr) {
				t.Errorf("error is a *ValidationError, want a plain error")
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "freight.yaml")
	if err := os.WriteFile(path, []byte("kafka:\n  group: g1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"FREIGHT_KAFKA_BROKERS", "FREIGHT_REDIS_URL", "FREIGHT_CAPI_BASE_URL", "FREIGHT_HTTP_LISTEN", "FREIGHT_LOG_LEVEL"} {
		t.Setenv(name, "") // empty: changes nothing
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Kafka.Group != "g1" {
		t.Errorf("group = %q, want g1", cfg.Kafka.Group)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read config: ") {
		t.Errorf("Load(missing) error = %v", err)
	}
}

func TestParseEnvOverlay(t *testing.T) {
	file := "kafka:\n  brokers: [file:9092]\nredis:\n  url: redis://file:6379\nlog:\n  level: warn\n"
	tests := []struct {
		name  string
		env   map[string]string
		check func(Config) any // returns the value under test
		want  any
	}{
		{"no variables", nil,
			func(c Config) any { return c.Kafka.Brokers }, []string{"file:9092"}},
		{"FREIGHT_KAFKA_BROKERS", map[string]string{"FREIGHT_KAFKA_BROKERS": " a:9092, b:9092 ,,c:9092,"},
			func(c Config) any { return c.Kafka.Brokers }, []string{"a:9092", "b:9092", "c:9092"}},
		{"FREIGHT_KAFKA_BROKERS without brokers", map[string]string{"FREIGHT_KAFKA_BROKERS": " , "},
			func(c Config) any { return c.Kafka.Brokers }, []string{"file:9092"}},
		{"FREIGHT_REDIS_URL", map[string]string{"FREIGHT_REDIS_URL": "rediss://env:6380/1"},
			func(c Config) any { return c.Redis.URL }, "rediss://env:6380/1"},
		{"FREIGHT_REDIS_URL empty", map[string]string{"FREIGHT_REDIS_URL": ""},
			func(c Config) any { return c.Redis.URL }, "redis://file:6379"},
		{"FREIGHT_CAPI_BASE_URL", map[string]string{"FREIGHT_CAPI_BASE_URL": "http://127.0.0.1:8085"},
			func(c Config) any { return c.CAPI.BaseURL }, "http://127.0.0.1:8085"},
		{"FREIGHT_HTTP_LISTEN", map[string]string{"FREIGHT_HTTP_LISTEN": " :9999 "},
			func(c Config) any { return c.HTTP.Listen }, ":9999"},
		{"FREIGHT_LOG_LEVEL", map[string]string{"FREIGHT_LOG_LEVEL": "debug"},
			func(c Config) any { return c.Log.Level }, "debug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse([]byte(file), envMap(tt.env))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := tt.check(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseEnvOverlayIsValidated(t *testing.T) {
	_, err := parse(nil, envMap(map[string]string{
		"FREIGHT_KAFKA_BROKERS": "good:9092,bad",
		"FREIGHT_LOG_LEVEL":     "loud",
	}))
	want := []Problem{
		{"kafka.brokers[1]", `must be host:port; got "bad" (from FREIGHT_KAFKA_BROKERS)`},
		{"log.level", `must be one of debug, info, warn, error; got "loud" (from FREIGHT_LOG_LEVEL)`},
	}
	if got := problemsOf(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n got  %q\n want %q", got, want)
	}
}

func TestValidationErrorMessage(t *testing.T) {
	err := &ValidationError{Problems: []Problem{{"kafka.group", "must not be empty"}, {"", "expected a mapping, found a list"}}}
	want := "kafka.group: must not be empty\nexpected a mapping, found a list"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}
