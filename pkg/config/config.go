package config

import "time"

// Values of the enumerated keys.
const (
	StartOffsetEarliest = "earliest"
	StartOffsetLatest   = "latest"

	KindWeb = "web"
	KindCRM = "crm"

	FormatJSON          = "json"
	FormatAvro          = "avro"
	FormatConfluentAvro = "confluent-avro"

	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"

	OnErrorBlock    = "block"
	OnErrorFailOpen = "fail_open"

	HashingSHA256 = "sha256"
	HashingNone   = "none"
)

// Config is freight's whole configuration. Its yaml tags are the keys of the file.
type Config struct {
	Kafka    Kafka    `yaml:"kafka"`
	Redis    Redis    `yaml:"redis"`
	Dedup    Dedup    `yaml:"dedup"`
	Identity Identity `yaml:"identity"`
	CAPI     CAPI     `yaml:"capi"`
	Batch    Batch    `yaml:"batch"`
	Retry    Retry    `yaml:"retry"`
	Replay   Replay   `yaml:"replay"`
	HTTP     HTTP     `yaml:"http"`
	Log      Log      `yaml:"log"`
	// ShutdownTimeout bounds the drain after SIGINT/SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Kafka configures the consumer group, the topics it reads and the topics it writes.
type Kafka struct {
	Brokers  []string `yaml:"brokers"`
	Group    string   `yaml:"group"` // consumer group id
	ClientID string   `yaml:"client_id"`
	// StartOffset is where a group without committed offsets starts on the
	// input topics: earliest | latest. The parking topic always starts at
	// its beginning.
	StartOffset string `yaml:"start_offset"`
	// MaxRecordBytes is the largest record the broker takes on the
	// dead-letter and parking topics; 0 reads it from their
	// max.message.bytes.
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// MaxPollRecords is the most records one poll takes: decoded, looked up
	// and claimed together, in one Redis pipeline per stage.
	MaxPollRecords int `yaml:"max_poll_records"`
	// CommitInterval: done offsets are committed at least this often.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// SessionTimeout is how long the group waits for a member that stopped answering.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// InstanceID enables static membership (e.g. the pod name): a restart takes its
	// partitions back at once instead of after SessionTimeout.
	InstanceID      string  `yaml:"instance_id"`
	Topics          []Topic `yaml:"topics"`
	DeadLetterTopic string  `yaml:"dead_letter_topic"`
	// ParkingTopic holds the events of a pixel that cannot be served now.
	ParkingTopic   string         `yaml:"parking_topic"`
	SchemaRegistry SchemaRegistry `yaml:"schema_registry"`
	TLS            TLS            `yaml:"tls"`
	SASL           SASL           `yaml:"sasl"`
}

// Topic is one source topic.
type Topic struct {
	Name   string `yaml:"name"`
	Kind   string `yaml:"kind"`   // web | crm
	Format string `yaml:"format"` // json | avro | confluent-avro; json when not given
	// DefaultPixelID is used when an event carries no pixel_id.
	DefaultPixelID string `yaml:"default_pixel_id"`
}

// SchemaRegistry is where topics of format confluent-avro find the writer schemas
// of their records (a registry speaking Confluent's REST API).
type SchemaRegistry struct {
	// URL is http:// or https://, without credentials in it.
	URL string `yaml:"url"`
	// Username and PasswordEnv enable HTTP basic auth (on Confluent Cloud: the API
	// key, and the environment variable holding its secret).
	Username    string      `yaml:"username"`
	PasswordEnv string      `yaml:"password_env"`
	TLS         RegistryTLS `yaml:"tls"`
}

// RegistryTLS configures TLS to an https schema registry: a CA to trust instead of
// the system's, and a client certificate.
type RegistryTLS struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// TLS configures TLS to the brokers.
type TLS struct {
	Enabled  bool   `yaml:"enabled"`
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// SASL configures SASL authentication to the brokers; an empty Mechanism means none.
type SASL struct {
	Mechanism   string `yaml:"mechanism"` // "" | PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"` // the environment variable holding the password
}

// Redis configures the store of dedup claims and the identity graph.
type Redis struct {
	// URL is redis://, rediss:// (TLS) or redis-cluster://h1:6379,h2:6379.
	URL       string `yaml:"url"`
	KeyPrefix string `yaml:"key_prefix"`
	// OnError is block (pause, retry, never skip) or fail_open (send without dedup).
	OnError string `yaml:"on_error"`
}

// Dedup configures deduplication.
type Dedup struct {
	// Window: an event reaches Meta once within it. Meta deduplicates within 48h.
	Window time.Duration `yaml:"window"`
	// ClaimLease is how long a dedup claim lives before the send is confirmed. The
	// holder renews it while it keeps trying, so it runs out only when the holder died,
	// and a new owner waits at most this long for the old owner's sends.
	ClaimLease time.Duration `yaml:"claim_lease"`
}

// Identity configures the external_id graph.
type Identity struct {
	Enabled bool `yaml:"enabled"`
	// LinkBy names the identifiers that join one person: external_id, email, phone, crm_id.
	LinkBy []string      `yaml:"link_by"`
	TTL    time.Duration `yaml:"ttl"`
	// ExternalIDHashing is sha256 or none; it must match what the Pixel sends.
	ExternalIDHashing string `yaml:"external_id_hashing"`
}

// Values of capi.normalization.
const (
	NormalizationDocumented   = "documented"
	NormalizationParamBuilder = "param-builder"
)

// CAPI configures the Conversions API client and the pixels it serves.
type CAPI struct {
	BaseURL      string        `yaml:"base_url"`
	APIVersion   string        `yaml:"api_version"`
	PartnerAgent string        `yaml:"partner_agent"`
	Timeout      time.Duration `yaml:"timeout"`
	// Normalization is documented (Meta's written rules, the default) or
	// param-builder (Meta's parameter builder, exactly).
	Normalization string `yaml:"normalization"`
	// AppSecretEnv names the environment variable holding the app secret; when set,
	// every request carries appsecret_proof.
	AppSecretEnv string  `yaml:"app_secret_env"`
	Pixels       []Pixel `yaml:"pixels"`
}

// Pixel is one Meta pixel (dataset). Exactly one of AccessTokenEnv and
// AccessTokenFile names where its token is; see TokenSource.
type Pixel struct {
	ID              string `yaml:"id"`
	AccessTokenEnv  string `yaml:"access_token_env"`
	AccessTokenFile string `yaml:"access_token_file"`
	// TestEventCode is only for testing: Meta counts these events too.
	TestEventCode string `yaml:"test_event_code"`
	// IdentityGroup: pixels naming the same group share one identity graph.
	IdentityGroup string `yaml:"identity_group"`
}

// Batch configures per-pixel batching and the memory bound.
type Batch struct {
	MaxEvents           int           `yaml:"max_events"`             // per request; Meta's limit is 1000
	MaxWait             time.Duration `yaml:"max_wait"`               // a batch is sent when full or this old
	MaxInFlightRequests int           `yaml:"max_in_flight_requests"` // per pixel
	MaxBufferedEvents   int           `yaml:"max_buffered_events"`    // fetching pauses above this
	// MaxBufferedBytes: or above this many bytes held; every record held
	// counts, done ones not yet committable too.
	MaxBufferedBytes ByteSize `yaml:"max_buffered_bytes"`
}

// Retry configures backoff, giving up and parking.
type Retry struct {
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
	// GiveUpAfter: then the event is dead-lettered (retries_exhausted, or auth).
	GiveUpAfter time.Duration `yaml:"give_up_after"`
	// ParkAfter: a pixel blocked this long with the buffer over half full has its
	// events parked.
	ParkAfter time.Duration `yaml:"park_after"`
}

// Replay configures freight dlq replay.
type Replay struct {
	MaxCount int `yaml:"max_count"` // records replayed this often are skipped
}

// HTTP configures the /metrics, /healthz and /readyz listener.
type HTTP struct {
	Listen string `yaml:"listen"`
	// Pprof serves /debug/pprof on Listen. Off by default: profiles expose
	// heap contents (customer data in buffered events) to anyone who can
	// reach the address.
	Pprof bool `yaml:"pprof"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // json | text
}

// Default returns the configuration that works for freight dev: every key of the
// contract at its default, and no pixels.
func Default() Config {
	return Config{
		Kafka: Kafka{
			Brokers:        []string{"127.0.0.1:9092"},
			Group:          "freight",
			ClientID:       "freight",
			StartOffset:    StartOffsetEarliest,
			MaxPollRecords: 5000,
			CommitInterval: time.Second,
			SessionTimeout: 45 * time.Second,
			Topics: []Topic{
				{Name: "web-events", Kind: KindWeb, Format: FormatJSON},
				{Name: "crm-events", Kind: KindCRM, Format: FormatJSON},
			},
			DeadLetterTopic: "freight-dlq",
			ParkingTopic:    "freight-parking",
		},
		Redis: Redis{
			URL:       "redis://127.0.0.1:6379/0",
			KeyPrefix: "freight:",
			OnError:   OnErrorBlock,
		},
		Dedup: Dedup{
			Window:     48 * time.Hour,
			ClaimLease: 30 * time.Second,
		},
		Identity: Identity{
			Enabled:           true,
			LinkBy:            []string{"external_id", "email", "phone", "crm_id"},
			TTL:               8760 * time.Hour,
			ExternalIDHashing: HashingSHA256,
		},
		CAPI: CAPI{
			BaseURL:       "https://graph.facebook.com",
			APIVersion:    "v25.0",
			PartnerAgent:  "freight",
			Normalization: NormalizationDocumented,
			Timeout:       10 * time.Second,
		},
		Batch: Batch{
			MaxEvents:           1000,
			MaxWait:             time.Second,
			MaxInFlightRequests: 16,
			MaxBufferedEvents:   100000,
			MaxBufferedBytes:    128 << 20,
		},
		Retry: Retry{
			InitialBackoff: time.Second,
			MaxBackoff:     5 * time.Minute,
			GiveUpAfter:    6 * time.Hour,
			ParkAfter:      30 * time.Second,
		},
		Replay:          Replay{MaxCount: 3},
		HTTP:            HTTP{Listen: "127.0.0.1:9464"},
		Log:             Log{Level: "info", Format: "text"},
		ShutdownTimeout: 30 * time.Second,
	}
}
