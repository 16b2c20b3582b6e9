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

func TestAvroTopicsAreRefusedNamingTheKey(t *testing.T) {
	cfg := config.Default()
	cfg.Kafka.Topics[1].Format = config.FormatAvro
	cfg.Redis.URL = "redis://127.0.0.1:1/0"
	cfg.Dedup.ClaimLease = time.Second
	_, err := New(cfg, Options{})
	ve, ok := err.(*config.ValidationError)
	if !ok || len(ve.Problems) != 1 || ve.Problems[0].Key != "kafka.topics[1].format" {
		t.Fatalf("err = %v, want a problem on kafka.topics[1].format", err)
	}
}
