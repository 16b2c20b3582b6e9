package app

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/freight-relay/freight/pkg/config"
)

func TestRedisClientURLs(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		cluster bool
		addrs   []string
		user    string
		tls     bool
		wantErr bool
	}{
		{name: "one server", url: "redis://127.0.0.1:6379/0", addrs: []string{"127.0.0.1:6379"}},
		{name: "TLS with ACL user", url: "rediss://app:s3cret@redis.internal:6380/2", addrs: []string{"redis.internal:6380"}, user: "app", tls: true},
		{name: "cluster", url: "redis-cluster://h1:6379,h2:6379", cluster: true, addrs: []string{"h1:6379", "h2:6379"}},
		{name: "cluster with ACL user and TLS", url: "redis-cluster://app:s3cret@h1:6379,h2:6379?tls=true", cluster: true,
			addrs: []string{"h1:6379", "h2:6379"}, user: "app", tls: true},
		{name: "unknown scheme", url: "http://s3cret@h:1", wantErr: true},
		{name: "cluster URL that does not parse", url: "redis-cluster://app:s3cret@h1:6379%zz", wantErr: true},
		// url.Parse's errors quote the whole URL, password included.
		{name: "bad port", url: "redis://app:s3cret@127.0.0.1:notaport/0", wantErr: true},
		{name: "bad escape", url: "rediss://app:s3cret@h%zz:6380/0", wantErr: true},
		{name: "bad escape in the password", url: "redis://app:s3cret%zz@h:6379/0", wantErr: true},
		{name: "unknown option", url: "redis://app:s3cret@h:6379/0?tls=true", wantErr: true},
		{name: "unknown cluster option", url: "redis-cluster://app:s3cret@h1:6379?db=2", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := RedisClient(tt.url)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("the error carries the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			switch cl := c.(type) {
			case *redis.Client:
				o := cl.Options()
				if tt.cluster || o.Addr != tt.addrs[0] || o.Username != tt.user || (o.TLSConfig != nil) != tt.tls {
					t.Errorf("got addr %s user %q tls %v", o.Addr, o.Username, o.TLSConfig != nil)
				}
			case *redis.ClusterClient:
				o := cl.Options()
				if !tt.cluster || strings.Join(o.Addrs, ",") != strings.Join(tt.addrs, ",") || o.Username != tt.user ||
					(o.TLSConfig != nil) != tt.tls {
					t.Errorf("got addrs %v user %q tls %v", o.Addrs, o.Username, o.TLSConfig != nil)
				}
				// Each node is verified against its own name, not the first seed's.
				if o.TLSConfig != nil && o.TLSConfig.ServerName != "" {
					t.Errorf("cluster TLS ServerName %q, want none", o.TLSConfig.ServerName)
				}
			}
		})
	}
}

func TestKafkaOptsNeedsTheSASLPassword(t *testing.T) {
	k := config.Default().Kafka
	k.SASL = config.SASL{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordEnv: "KAFKA_PW"}
	if _, err := KafkaOpts(k, func(string) (string, bool) { return "", false }); err == nil ||
		!strings.Contains(err.Error(), "kafka.sasl.password_env") {
		t.Fatalf("err = %v, want one naming kafka.sasl.password_env", err)
	}
	if _, err := KafkaOpts(k, func(string) (string, bool) { return "pw", true }); err != nil {
		t.Fatal(err)
	}
	k.TLS = config.TLS{Enabled: true, CAFile: "/does/not/exist.pem"}
	if _, err := KafkaOpts(k, func(string) (string, bool) { return "pw", true }); err == nil ||
		!strings.Contains(err.Error(), "kafka.tls.ca_file") {
		t.Fatalf("err = %v, want one naming kafka.tls.ca_file", err)
	}
}

// Avro topics build (nothing connects before Run); the schema registry's
// password is resolved like the SASL one, and its error metric registered.
func TestAvroTopicFormats(t *testing.T) {
	cfg := config.Default()
	cfg.Kafka.Topics[0].Format = config.FormatAvro
	cfg.Kafka.Topics[1].Format = config.FormatConfluentAvro
	cfg.Kafka.SchemaRegistry = config.SchemaRegistry{URL: "http://127.0.0.1:1", Username: "freight", PasswordEnv: "SR_PASSWORD"}
	cfg.Redis.URL = "redis://127.0.0.1:1/0"
	cfg.Dedup.ClaimLease = time.Second
	noEnv := func(string) (string, bool) { return "", false }
	if _, err := New(cfg, Options{LookupEnv: noEnv}); err == nil || !strings.Contains(err.Error(), "kafka.schema_registry.password_env") {
		t.Fatalf("err = %v, want one naming kafka.schema_registry.password_env", err)
	}
	a, err := New(cfg, Options{LookupEnv: func(k string) (string, bool) { return "s3cret", k == "SR_PASSWORD" }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer a.redis.Close()
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "freight_schema_registry_errors_total"
	}
	if !found {
		t.Error("freight_schema_registry_errors_total is not registered")
	}
}
