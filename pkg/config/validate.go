package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Problem is one thing wrong with a configuration: the key it concerns, in the form
// kafka.topics[1].kind, and what is wrong with it.
type Problem struct {
	Key     string
	Message string
}

func (p Problem) String() string {
	if p.Key == "" {
		return p.Message
	}
	return p.Key + ": " + p.Message
}

// ValidationError lists every problem found in a configuration.
type ValidationError struct {
	Problems []Problem
}

// Error returns one "key: message" line per problem.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects problems; err returns them as a *ValidationError, or nil.
type problems []Problem

func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

func (ps *problems) oneOf(key, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		ps.add(key, "must be one of %s; got %q", strings.Join(allowed, ", "), value)
	}
}

func (ps *problems) positive(key string, d time.Duration) {
	if d <= 0 {
		ps.add(key, "must be greater than 0")
	}
}

func (ps *problems) notEmpty(key, value string) {
	if value == "" {
		ps.add(key, "must not be empty")
	}
}

// Validate checks the configuration and returns a *ValidationError listing every
// problem, or nil. It looks at the configuration only: it neither resolves secrets
// (see ResolveSecrets) nor connects to anything.
func (c Config) Validate() error {
	return c.validate().err()
}

func (c Config) validate() problems {
	var ps problems
	ps.kafka(c.Kafka, c.CAPI.Pixels)
	ps.redis(c.Redis)
	ps.dedup(c.Dedup)
	ps.identity(c.Identity)
	ps.capi(c.CAPI)
	ps.batch(c.Batch)
	ps.retry(c.Retry)
	if c.Replay.MaxCount < 1 {
		ps.add("replay.max_count", "must be at least 1")
	}
	if msg := hostPort(c.HTTP.Listen, false); msg != "" {
		ps.add("http.listen", "%s", msg)
	}
	ps.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	ps.oneOf("log.format", c.Log.Format, "json", "text")
	ps.positive("shutdown_timeout", c.ShutdownTimeout)
	return ps
}

func (ps *problems) kafka(k Kafka, pixels []Pixel) {
	if len(k.Brokers) == 0 {
		ps.add("kafka.brokers", "must list at least one broker")
	}
	for i, b := range k.Brokers {
		if msg := hostPort(b, true); msg != "" {
			ps.add(fmt.Sprintf("kafka.brokers[%d]", i), "%s", msg)
		}
	}
	ps.notEmpty("kafka.group", k.Group)
	ps.notEmpty("kafka.client_id", k.ClientID)
	ps.oneOf("kafka.start_offset", k.StartOffset, StartOffsetEarliest, StartOffsetLatest)
	if k.MaxRecordBytes != 0 && (k.MaxRecordBytes < 1024 || k.MaxRecordBytes > 1<<30) {
		ps.add("kafka.max_record_bytes", "must be 0 (read it from the topics) or from 1024 to 1073741824")
	}
	if k.MaxPollRecords < 1 || k.MaxPollRecords > 100000 {
		ps.add("kafka.max_poll_records", "must be from 1 to 100000")
	}
	ps.positive("kafka.commit_interval", k.CommitInterval)
	// Brokers accept 6s to 30m by default (group.min/max.session.timeout.ms) and may be
	// configured otherwise; 1s lets tests against an in-process broker fail over fast.
	if k.SessionTimeout < time.Second || k.SessionTimeout > 30*time.Minute {
		ps.add("kafka.session_timeout", "must be from 1s to 30m")
	}

	ps.topicName("kafka.dead_letter_topic", k.DeadLetterTopic)
	ps.topicName("kafka.parking_topic", k.ParkingTopic)
	if k.ParkingTopic != "" && k.ParkingTopic == k.DeadLetterTopic {
		ps.add("kafka.parking_topic", "must differ from kafka.dead_letter_topic")
	}

	if len(k.Topics) == 0 {
		ps.add("kafka.topics", "must list at least one topic")
	}
	first := make(map[string]int) // topic name -> index of its first use
	avroTopic := ""
	for i, t := range k.Topics {
		key := fmt.Sprintf("kafka.topics[%d]", i)
		ps.topicName(key+".name", t.Name)
		if j, dup := first[t.Name]; dup && t.Name != "" {
			ps.add(key+".name", "duplicates kafka.topics[%d].name", j)
		} else {
			first[t.Name] = i
		}
		switch t.Name {
		case "":
		case k.DeadLetterTopic:
			ps.add(key+".name", "must differ from kafka.dead_letter_topic")
		case k.ParkingTopic:
			ps.add(key+".name", "must differ from kafka.parking_topic")
		}
		ps.oneOf(key+".kind", t.Kind, KindWeb, KindCRM)
		ps.oneOf(key+".format", t.Format, FormatJSON, FormatAvro, FormatConfluentAvro)
		if t.Format == FormatConfluentAvro && avroTopic == "" {
			avroTopic = key
		}
		if t.DefaultPixelID != "" && !slices.ContainsFunc(pixels, func(p Pixel) bool { return p.ID == t.DefaultPixelID }) {
			ps.add(key+".default_pixel_id", "pixel %q is not in capi.pixels", t.DefaultPixelID)
		}
	}
	ps.schemaRegistry(k.SchemaRegistry, avroTopic)

	if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
		if k.TLS.CertFile == "" {
			ps.add("kafka.tls.cert_file", "must be set with kafka.tls.key_file")
		} else {
			ps.add("kafka.tls.key_file", "must be set with kafka.tls.cert_file")
		}
	}

	switch k.SASL.Mechanism {
	case "":
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		ps.notEmpty("kafka.sasl.username", k.SASL.Username)
		ps.notEmpty("kafka.sasl.password_env", k.SASL.PasswordEnv)
	default:
		ps.add("kafka.sasl.mechanism", "must be empty (no SASL) or one of %s, %s, %s; got %q",
			SASLPlain, SASLScramSHA256, SASLScramSHA512, k.SASL.Mechanism)
	}
	ps.envName("kafka.sasl.password_env", k.SASL.PasswordEnv)
}

// schemaRegistry checks kafka.schema_registry; avroTopic names the first topic of
// format confluent-avro, if any. Messages never repeat the URL.
func (ps *problems) schemaRegistry(sr SchemaRegistry, avroTopic string) {
	const key = "kafka.schema_registry"
	u, err := url.Parse(sr.URL)
	switch {
	case sr.URL == "":
		if avroTopic != "" {
			ps.add(key+".url", "must be set: %s has format confluent-avro", avroTopic)
		}
	case !httpURL(sr.URL):
		ps.add(key+".url", "must be an absolute http or https URL")
	case err == nil && u.User != nil:
		ps.add(key+".url", "must not carry credentials: set %s.username and %s.password_env", key, key)
	}
	if (sr.Username == "") != (sr.PasswordEnv == "") {
		if sr.Username == "" {
			ps.add(key+".username", "must be set with %s.password_env", key)
		} else {
			ps.add(key+".password_env", "must be set with %s.username", key)
		}
	}
	ps.envName(key+".password_env", sr.PasswordEnv)
	if (sr.TLS.CertFile == "") != (sr.TLS.KeyFile == "") {
		if sr.TLS.CertFile == "" {
			ps.add(key+".tls.cert_file", "must be set with %s.tls.key_file", key)
		} else {
			ps.add(key+".tls.key_file", "must be set with %s.tls.cert_file", key)
		}
	}
	if sr.TLS != (RegistryTLS{}) && httpURL(sr.URL) && u.Scheme != "https" {
		ps.add(key+".tls", "needs an https URL in %s.url", key)
	}
}

func (ps *problems) redis(r Redis) {
	// Messages never repeat the URL: it may carry a password.
	u, err := url.Parse(r.URL)
	switch {
	case r.URL == "":
		ps.add("redis.url", "must not be empty")
	case err != nil:
		ps.add("redis.url", "is not a valid URL")
	case u.Scheme == "redis-cluster":
		for node := range strings.SplitSeq(u.Host, ",") {
			if hostPort(node, true) != "" {
				ps.add("redis.url", "must list the cluster's nodes as host:port (redis-cluster://h1:6379,h2:6379)")
				break
			}
		}
	case u.Scheme == "redis" || u.Scheme == "rediss":
		if u.Host == "" {
			ps.add("redis.url", "has no host")
		}
		if db := strings.TrimPrefix(u.Path, "/"); db != "" && !digits(db) {
			ps.add("redis.url", "the path must be a database number")
		}
	default:
		ps.add("redis.url", "must start with redis://, rediss:// or redis-cluster://")
	}
	ps.oneOf("redis.on_error", r.OnError, OnErrorBlock, OnErrorFailOpen)
}

func (ps *problems) dedup(d Dedup) {
	ps.positive("dedup.window", d.Window)
	switch {
	case d.ClaimLease < time.Second:
		ps.add("dedup.claim_lease", "must be at least 1s")
	case d.Window > 0 && d.ClaimLease > d.Window:
		ps.add("dedup.claim_lease", "must not be longer than dedup.window")
	}
}

func (ps *problems) identity(id Identity) {
	for i, name := range id.LinkBy {
		key := fmt.Sprintf("identity.link_by[%d]", i)
		if slices.Index(id.LinkBy, name) < i {
			ps.add(key, "duplicates identity.link_by[%d]", slices.Index(id.LinkBy, name))
			continue
		}
		ps.oneOf(key, name, "external_id", "email", "phone", "crm_id")
	}
	ps.positive("identity.ttl", id.TTL)
	ps.oneOf("identity.external_id_hashing", id.ExternalIDHashing, HashingSHA256, HashingNone)
}

func (ps *problems) capi(c CAPI) {
	if !httpURL(c.BaseURL) {
		ps.add("capi.base_url", "must be an absolute http or https URL")
	}
	if major, minor, ok := strings.Cut(strings.TrimPrefix(c.APIVersion, "v"), "."); !ok ||
		!strings.HasPrefix(c.APIVersion, "v") || !digits(major) || !digits(minor) {
		ps.add("capi.api_version", "must look like v25.0; got %q", c.APIVersion)
	}
	ps.positive("capi.timeout", c.Timeout)
	if c.Normalization != NormalizationDocumented && c.Normalization != NormalizationParamBuilder {
		ps.add("capi.normalization", "must be documented or param-builder; got %q", c.Normalization)
	}
	ps.envName("capi.app_secret_env", c.AppSecretEnv)

	first := make(map[string]int) // pixel id -> index of its first use
	for i, p := range c.Pixels {
		key := fmt.Sprintf("capi.pixels[%d]", i)
		switch j, dup := first[p.ID]; {
		case p.ID == "":
			ps.add(key+".id", "must not be empty")
		case !digits(p.ID):
			ps.add(key+".id", "must be the pixel's numeric id")
		case dup:
			ps.add(key+".id", "duplicates capi.pixels[%d].id", j)
		default:
			first[p.ID] = i
		}
		switch {
		case p.AccessTokenEnv == "" && p.AccessTokenFile == "":
			ps.add(key, "must set access_token_env or access_token_file")
		case p.AccessTokenEnv != "" && p.AccessTokenFile != "":
			ps.add(key, "must set only one of access_token_env and access_token_file")
		}
		ps.envName(key+".access_token_env", p.AccessTokenEnv)
	}
}

func (ps *problems) batch(b Batch) {
	if b.MaxEvents < 1 || b.MaxEvents > 1000 {
		ps.add("batch.max_events", "must be from 1 to 1000 (Meta's limit per request)")
	}
	ps.positive("batch.max_wait", b.MaxWait)
	if b.MaxInFlightRequests < 1 {
		ps.add("batch.max_in_flight_requests", "must be at least 1")
	}
	if b.MaxBufferedEvents < b.MaxEvents {
		ps.add("batch.max_buffered_events", "must be at least batch.max_events")
	}
	if b.MaxBufferedBytes < minBufferedBytes {
		ps.add("batch.max_buffered_bytes", "must be at least 1MiB")
	}
}

func (ps *problems) retry(r Retry) {
	ps.positive("retry.initial_backoff", r.InitialBackoff)
	if r.MaxBackoff < r.InitialBackoff {
		ps.add("retry.max_backoff", "must be at least retry.initial_backoff")
	}
	ps.positive("retry.give_up_after", r.GiveUpAfter)
	ps.positive("retry.park_after", r.ParkAfter)
}

// topicName checks a Kafka topic name as the brokers do.
func (ps *problems) topicName(key, name string) {
	switch {
	case name == "":
		ps.add(key, "must not be empty")
	case len(name) > 249 || name == "." || name == ".." ||
		strings.IndexFunc(name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
		}) >= 0:
		ps.add(key, "must be a Kafka topic name: up to 249 of a-z A-Z 0-9 . _ -")
	}
}

// envName checks the name of an environment variable, if set. The message does not
// repeat the value: a token pasted in by mistake must not end up in a log.
func (ps *problems) envName(key, name string) {
	if name == "" {
		return
	}
	ok := strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
	}) < 0
	if !ok || name[0] >= '0' && name[0] <= '9' {
		ps.add(key, "must be the name of an environment variable (letters, digits and _)")
	}
}

// hostPort returns what is wrong with a host:port address, or "". A listen address
// may leave the host out (all interfaces) and use port 0 (any free port).
func hostPort(addr string, needHost bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("must be host:port; got %q", addr)
	}
	n, err := strconv.Atoi(port)
	switch {
	case needHost && host == "":
		return fmt.Sprintf("must be host:port, with a host; got %q", addr)
	case err != nil || n < 0 || n > 65535 || needHost && n == 0:
		return fmt.Sprintf("must be host:port, with a port number; got %q", addr)
	}
	return ""
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
