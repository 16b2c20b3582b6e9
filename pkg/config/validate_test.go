package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if n := len(Default().CAPI.Pixels); n != 0 {
		t.Errorf("Default() has %d pixels, want none", n)
	}
}

func TestValidate(t *testing.T) {
	pixel := Pixel{ID: "123456789012345", AccessTokenEnv: "META_TOKEN"}
	tests := []struct {
		name   string
		change func(*Config)
		keys   []string // the keys of the problems, in order; none for a valid config
	}{
		// kafka
		{"no brokers", func(c *Config) { c.Kafka.Brokers = nil }, []string{"kafka.brokers"}},
		{"broker without port", func(c *Config) { c.Kafka.Brokers = []string{"a:9092", "kafka"} }, []string{"kafka.brokers[1]"}},
		{"broker without host", func(c *Config) { c.Kafka.Brokers = []string{":9092"} }, []string{"kafka.brokers[0]"}},
		{"broker port not a number", func(c *Config) { c.Kafka.Brokers = []string{"kafka:http"} }, []string{"kafka.brokers[0]"}},
		{"broker port 0", func(c *Config) { c.Kafka.Brokers = []string{"kafka:0"} }, []string{"kafka.brokers[0]"}},
		{"broker port too big", func(c *Config) { c.Kafka.Brokers = []string{"kafka:65536"} }, []string{"kafka.brokers[0]"}},
		{"broker IPv6", func(c *Config) { c.Kafka.Brokers = []string{"[::1]:9092"} }, nil},
		{"no group", func(c *Config) { c.Kafka.Group = "" }, []string{"kafka.group"}},
		{"no client id", func(c *Config) { c.Kafka.ClientID = "" }, []string{"kafka.client_id"}},
		{"start offset", func(c *Config) { c.Kafka.StartOffset = "newest" }, []string{"kafka.start_offset"}},
		{"start offset latest", func(c *Config) { c.Kafka.StartOffset = StartOffsetLatest }, nil},
		{"max record bytes too small", func(c *Config) { c.Kafka.MaxRecordBytes = 100 }, []string{"kafka.max_record_bytes"}},
		{"max record bytes negative", func(c *Config) { c.Kafka.MaxRecordBytes = -1 }, []string{"kafka.max_record_bytes"}},
		{"max record bytes set", func(c *Config) { c.Kafka.MaxRecordBytes = 2 << 20 }, nil},
		{"max poll records zero", func(c *Config) { c.Kafka.MaxPollRecords = 0 }, []string{"kafka.max_poll_records"}},
		{"max poll records too many", func(c *Config) { c.Kafka.MaxPollRecords = 100001 }, []string{"kafka.max_poll_records"}},
		{"commit interval 0", func(c *Config) { c.Kafka.CommitInterval = 0 }, []string{"kafka.commit_interval"}},
		{"session timeout too short", func(c *Config) { c.Kafka.SessionTimeout = 500 * time.Millisecond }, []string{"kafka.session_timeout"}},
		{"session timeout too long", func(c *Config) { c.Kafka.SessionTimeout = 31 * time.Minute }, []string{"kafka.session_timeout"}},
		{"session timeout 1s", func(c *Config) { c.Kafka.SessionTimeout = time.Second }, nil},
		{"no topics", func(c *Config) { c.Kafka.Topics = nil }, []string{"kafka.topics"}},
		{"topic without name", func(c *Config) { c.Kafka.Topics[1].Name = "" }, []string{"kafka.topics[1].name"}},
		{"topic name with a space", func(c *Config) { c.Kafka.Topics[0].Name = "web events" }, []string{"kafka.topics[0].name"}},
		{"topic name too long", func(c *Config) { c.Kafka.Topics[0].Name = strings.Repeat("a", 250) }, []string{"kafka.topics[0].name"}},
		{"duplicate topic", func(c *Config) { c.Kafka.Topics[1].Name = "web-events" }, []string{"kafka.topics[1].name"}},
		{"topic is the dead-letter topic", func(c *Config) { c.Kafka.Topics[1].Name = "freight-dlq" }, []string{"kafka.topics[1].name"}},
		{"topic is the parking topic", func(c *Config) { c.Kafka.Topics[0].Name = "freight-parking" }, []string{"kafka.topics[0].name"}},
		{"topic kind", func(c *Config) { c.Kafka.Topics[1].Kind = "app" }, []string{"kafka.topics[1].kind"}},
		{"topic format", func(c *Config) { c.Kafka.Topics[0].Format = "protobuf" }, []string{"kafka.topics[0].format"}},
		{"topic format avro", func(c *Config) { c.Kafka.Topics[0].Format = FormatAvro }, nil},
		{"confluent-avro without registry", func(c *Config) { c.Kafka.Topics[1].Format = FormatConfluentAvro }, []string{"kafka.schema_registry.url"}},
		{"confluent-avro with registry", func(c *Config) {
			c.Kafka.Topics[1].Format = FormatConfluentAvro
			c.Kafka.SchemaRegistry.URL = "http://registry:8081"
		}, nil},
		{"registry not http", func(c *Config) { c.Kafka.SchemaRegistry.URL = "registry:8081" }, []string{"kafka.schema_registry.url"}},
		{"registry url with credentials", func(c *Config) { c.Kafka.SchemaRegistry.URL = "https://key:hunter2@registry:8081" },
			[]string{"kafka.schema_registry.url"}},
		{"registry basic auth and TLS", func(c *Config) {
			c.Kafka.Topics[1].Format = FormatConfluentAvro
			c.Kafka.SchemaRegistry = SchemaRegistry{URL: "https://registry:8081", Username: "key", PasswordEnv: "SR_SECRET",
				TLS: RegistryTLS{CAFile: "/tls/ca", CertFile: "/tls/crt", KeyFile: "/tls/key"}}
		}, nil},
		{"registry username without password", func(c *Config) {
			c.Kafka.SchemaRegistry = SchemaRegistry{URL: "http://registry:8081", Username: "key"}
		}, []string{"kafka.schema_registry.password_env"}},
		{"registry password without username", func(c *Config) {
			c.Kafka.SchemaRegistry = SchemaRegistry{URL: "http://registry:8081", PasswordEnv: "SR_SECRET"}
		}, []string{"kafka.schema_registry.username"}},
		{"registry password_env not a name", func(c *Config) {
			c.Kafka.SchemaRegistry = SchemaRegistry{URL: "http://registry:8081", Username: "key", PasswordEnv: "sr-secret pasted"}
		}, []string{"kafka.schema_registry.password_env"}},
		{"registry tls cert without key", func(c *Config) {
			c.Kafka.SchemaRegistry = SchemaRegistry{URL: "https://registry:8081", TLS: RegistryTLS{CertFile: "/tls/crt"}}
		}, []string{"kafka.schema_registry.tls.key_file"}},
		{"registry tls key without cert", func(c *Config) {
			c.Kafka.SchemaRegistry = SchemaRegistry{URL: "https://registry:8081", TLS: RegistryTLS{KeyFile: "/tls/key"}}
		}, []string{"kafka.schema_registry.tls.cert_file"}},
		{"registry tls over http", func(c *Config) {
			c.Kafka.SchemaRegistry = SchemaRegistry{URL: "http://registry:8081", TLS: RegistryTLS{CAFile: "/tls/ca"}}
		}, []string{"kafka.schema_registry.tls"}},
		{"default pixel not configured", func(c *Config) { c.Kafka.Topics[0].DefaultPixelID = "42" }, []string{"kafka.topics[0].default_pixel_id"}},
		{"default pixel configured", func(c *Config) {
			c.CAPI.Pixels = []Pixel{pixel}
			c.Kafka.Topics[0].DefaultPixelID = pixel.ID
		}, nil},
		{"no dead-letter topic", func(c *Config) { c.Kafka.DeadLetterTopic = "" }, []string{"kafka.dead_letter_topic"}},
		{"no parking topic", func(c *Config) { c.Kafka.ParkingTopic = "" }, []string{"kafka.parking_topic"}},
		{"bad dead-letter topic name", func(c *Config) { c.Kafka.DeadLetterTopic = "dlq/1" }, []string{"kafka.dead_letter_topic"}},
		{"parking is the dead-letter topic", func(c *Config) { c.Kafka.ParkingTopic = "freight-dlq" }, []string{"kafka.parking_topic"}},
		{"tls cert without key", func(c *Config) { c.Kafka.TLS.CertFile = "/tls/crt" }, []string{"kafka.tls.key_file"}},
		{"tls key without cert", func(c *Config) { c.Kafka.TLS.KeyFile = "/tls/key" }, []string{"kafka.tls.cert_file"}},
		{"tls cert and key", func(c *Config) {
			c.Kafka.TLS = TLS{Enabled: true, CAFile: "/tls/ca", CertFile: "/tls/crt", KeyFile: "/tls/key"}
		}, nil},
		{"sasl mechanism", func(c *Config) { c.Kafka.SASL.Mechanism = "GSSAPI" }, []string{"kafka.sasl.mechanism"}},
		{"sasl without credentials", func(c *Config) { c.Kafka.SASL.Mechanism = SASLPlain }, []string{"kafka.sasl.username", "kafka.sasl.password_env"}},
		{"sasl password_env not a name", func(c *Config) {
			c.Kafka.SASL = SASL{Mechanism: SASLScramSHA512, Username: "u", PasswordEnv: "KAFKA PASSWORD"}
		}, []string{"kafka.sasl.password_env"}},
		{"sasl complete", func(c *Config) {
			c.Kafka.SASL = SASL{Mechanism: SASLScramSHA256, Username: "u", PasswordEnv: "KAFKA_PASSWORD"}
		}, nil},

		// redis
		{"redis url empty", func(c *Config) { c.Redis.URL = "" }, []string{"redis.url"}},
		{"redis url scheme", func(c *Config) { c.Redis.URL = "http://h:6379" }, []string{"redis.url"}},
		{"redis url unparsable", func(c *Config) { c.Redis.URL = "redis://h:6379/%zz" }, []string{"redis.url"}},
		{"redis url without host", func(c *Config) { c.Redis.URL = "redis:///0" }, []string{"redis.url"}},
		{"redis url database not a number", func(c *Config) { c.Redis.URL = "redis://h:6379/cache" }, []string{"redis.url"}},
		{"rediss url", func(c *Config) { c.Redis.URL = "rediss://user:pw@h:6380/2" }, nil},
		{"redis-cluster url", func(c *Config) { c.Redis.URL = "redis-cluster://h1:6379,h2:6379" }, nil},
		{"redis-cluster node without port", func(c *Config) { c.Redis.URL = "redis-cluster://h1:6379,h2" }, []string{"redis.url"}},
		{"redis-cluster without nodes", func(c *Config) { c.Redis.URL = "redis-cluster://" }, []string{"redis.url"}},
		{"empty key prefix", func(c *Config) { c.Redis.KeyPrefix = "" }, nil},
		{"redis on_error", func(c *Config) { c.Redis.OnError = "skip" }, []string{"redis.on_error"}},
		{"redis on_error fail_open", func(c *Config) { c.Redis.OnError = OnErrorFailOpen }, nil},

		// dedup
		{"dedup window 0", func(c *Config) { c.Dedup.Window = 0 }, []string{"dedup.window"}},
		{"claim lease under 1s", func(c *Config) { c.Dedup.ClaimLease = 999 * time.Millisecond }, []string{"dedup.claim_lease"}},
		{"claim lease over window", func(c *Config) { c.Dedup.ClaimLease = 49 * time.Hour }, []string{"dedup.claim_lease"}},
		{"claim lease equal to window", func(c *Config) { c.Dedup.ClaimLease = c.Dedup.Window }, nil},

		// identity
		{"link_by unknown identifier", func(c *Config) { c.Identity.LinkBy = []string{"email", "ip"} }, []string{"identity.link_by[1]"}},
		{"link_by duplicate", func(c *Config) { c.Identity.LinkBy = []string{"email", "phone", "email"} }, []string{"identity.link_by[2]"}},
		{"link_by empty", func(c *Config) { c.Identity.LinkBy = nil }, nil},
		{"identity ttl 0", func(c *Config) { c.Identity.TTL = 0 }, []string{"identity.ttl"}},
		{"external_id hashing", func(c *Config) { c.Identity.ExternalIDHashing = "md5" }, []string{"identity.external_id_hashing"}},
		{"external_id hashing none", func(c *Config) { c.Identity.ExternalIDHashing = HashingNone }, nil},

		// capi
		{"base url without scheme", func(c *Config) { c.CAPI.BaseURL = "graph.facebook.com" }, []string{"capi.base_url"}},
		{"base url not http", func(c *Config) { c.CAPI.BaseURL = "ftp://graph.facebook.com" }, []string{"capi.base_url"}},
		{"base url local http", func(c *Config) { c.CAPI.BaseURL = "http://127.0.0.1:8085" }, nil},
		{"api version without v", func(c *Config) { c.CAPI.APIVersion = "25.0" }, []string{"capi.api_version"}},
		{"api version without minor", func(c *Config) { c.CAPI.APIVersion = "v25" }, []string{"capi.api_version"}},
		{"api version not numbers", func(c *Config) { c.CAPI.APIVersion = "v25.x" }, []string{"capi.api_version"}},
		{"capi timeout 0", func(c *Config) { c.CAPI.Timeout = 0 }, []string{"capi.timeout"}},
		{"unknown normalization", func(c *Config) { c.CAPI.Normalization = "builder" }, []string{"capi.normalization"}},
		{"app_secret_env not a name", func(c *Config) { c.CAPI.AppSecretEnv = "1SECRET" }, []string{"capi.app_secret_env"}},
		{"pixel", func(c *Config) { c.CAPI.Pixels = []Pixel{pixel} }, nil},
		{"pixel with token file", func(c *Config) {
			c.CAPI.Pixels = []Pixel{{ID: "1", AccessTokenFile: "/run/secrets/t", TestEventCode: "TEST1", IdentityGroup: "g"}}
		}, nil},
		{"pixel without id", func(c *Config) { c.CAPI.Pixels = []Pixel{{AccessTokenEnv: "T"}} }, []string{"capi.pixels[0].id"}},
		{"pixel id not digits", func(c *Config) { c.CAPI.Pixels = []Pixel{{ID: "px-1", AccessTokenEnv: "T"}} }, []string{"capi.pixels[0].id"}},
		{"duplicate pixel", func(c *Config) { c.CAPI.Pixels = []Pixel{pixel, pixel} }, []string{"capi.pixels[1].id"}},
		{"pixel without token", func(c *Config) { c.CAPI.Pixels = []Pixel{{ID: "1"}} }, []string{"capi.pixels[0]"}},
		{"pixel with two tokens", func(c *Config) {
			c.CAPI.Pixels = []Pixel{{ID: "1", AccessTokenEnv: "T", AccessTokenFile: "/t"}}
		}, []string{"capi.pixels[0]"}},
		{"pixel token env not a name", func(c *Config) {
			c.CAPI.Pixels = []Pixel{pixel, {ID: "2", AccessTokenEnv: "EAAB-token-pasted"}}
		}, []string{"capi.pixels[1].access_token_env"}},

		// batch
		{"max events 0", func(c *Config) { c.Batch.MaxEvents = 0 }, []string{"batch.max_events"}},
		{"max events over Meta's limit", func(c *Config) { c.Batch.MaxEvents = 1001 }, []string{"batch.max_events"}},
		{"max events 1", func(c *Config) { c.Batch.MaxEvents = 1 }, nil},
		{"max wait 0", func(c *Config) { c.Batch.MaxWait = 0 }, []string{"batch.max_wait"}},
		{"no requests in flight", func(c *Config) { c.Batch.MaxInFlightRequests = 0 }, []string{"batch.max_in_flight_requests"}},
		{"buffer below a batch", func(c *Config) { c.Batch.MaxBufferedEvents = 999 }, []string{"batch.max_buffered_events"}},

		// retry
		{"initial backoff 0", func(c *Config) { c.Retry.InitialBackoff = 0 }, []string{"retry.initial_backoff"}},
		{"max backoff below initial", func(c *Config) { c.Retry.MaxBackoff = 500 * time.Millisecond }, []string{"retry.max_backoff"}},
		{"give up after 0", func(c *Config) { c.Retry.GiveUpAfter = 0 }, []string{"retry.give_up_after"}},
		{"park after negative", func(c *Config) { c.Retry.ParkAfter = -time.Second }, []string{"retry.park_after"}},

		// the rest
		{"replay max count 0", func(c *Config) { c.Replay.MaxCount = 0 }, []string{"replay.max_count"}},
		{"http listen without port", func(c *Config) { c.HTTP.Listen = "localhost" }, []string{"http.listen"}},
		{"http listen port too big", func(c *Config) { c.HTTP.Listen = "localhost:99999" }, []string{"http.listen"}},
		{"http listen all interfaces, any port", func(c *Config) { c.HTTP.Listen = ":0" }, nil},
		{"log level", func(c *Config) { c.Log.Level = "INFO" }, []string{"log.level"}},
		{"log format", func(c *Config) { c.Log.Format = "logfmt" }, []string{"log.format"}},
		{"shutdown timeout 0", func(c *Config) { c.ShutdownTimeout = 0 }, []string{"shutdown_timeout"}},

		{"several problems", func(c *Config) {
			c.Kafka.Group = ""
			c.Batch.MaxEvents = 5000
			c.ShutdownTimeout = 0
		}, []string{"kafka.group", "batch.max_events", "shutdown_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			tt.change(&cfg)
			err := cfg.Validate()
			if tt.keys == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			ps := problemsOf(t, err)
			if got := keysOf(ps); !reflect.DeepEqual(got, tt.keys) {
				t.Errorf("keys = %q, want %q\n%v", got, tt.keys, err)
			}
			for _, p := range ps {
				if p.Message == "" {
					t.Errorf("problem %q has no message", p.Key)
				}
			}
		})
	}
}

// Messages never repeat a URL (a Redis URL may carry a password) or the value of a
// key that should have named an environment variable (it may be a pasted token).
func TestValidateDoesNotRepeatSecrets(t *testing.T) {
	cfg := Default()
	cfg.Redis.URL = "redis://:hunter2@h:6379/%zz"
	cfg.CAPI.Pixels = []Pixel{{ID: "1", AccessTokenEnv: "EAAB-hunter2"}}
	cfg.CAPI.AppSecretEnv = "hunter2 secret"
	cfg.Kafka.SchemaRegistry = SchemaRegistry{URL: "https://key:hunter2@registry:8081", Username: "key", PasswordEnv: "hunter2 x"}
	err := cfg.Validate()
	if n := len(problemsOf(t, err)); n != 5 {
		t.Errorf("got %d problems, want 5:\n%v", n, err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error repeats a secret:\n%v", err)
	}
}
