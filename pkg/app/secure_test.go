package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/dedup"
)

const kafkaPassword = "kafka-sasl-pw-0123456789"

// kafkaRoundTrip pings the broker, then produces one record through a
// client made of opts and reads it back: the connection, TLS and SASL all
// worked. The ping reports a refused handshake or login at once (a produce
// would retry until its deadline).
func kafkaRoundTrip(opts []kgo.Opt, topic string, timeout time.Duration) error {
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(topic), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("consume: %w", err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return fmt.Errorf("consume: %w", errs[0].Err)
		}
		if fs.NumRecords() > 0 {
			if v := string(fs.Records()[0].Value); v != "hello" {
				return fmt.Errorf("read %q back", v)
			}
			return nil
		}
	}
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// kafka.sasl through KafkaOpts, against kfake with SASL enabled: every
// mechanism freight offers authenticates and moves records, and a wrong
// password does not.
func TestKafkaSASLMechanisms(t *testing.T) {
	tests := []struct {
		mechanism string
		password  string
		wantErr   bool
	}{
		{mechanism: "PLAIN", password: kafkaPassword},
		{mechanism: "SCRAM-SHA-256", password: kafkaPassword},
		{mechanism: "SCRAM-SHA-512", password: kafkaPassword},
		{mechanism: "PLAIN", password: "wrong", wantErr: true},
		{mechanism: "SCRAM-SHA-512", password: "wrong", wantErr: true},
	}
	for _, tt := range tests {
		name := tt.mechanism
		if tt.wantErr {
			name += " with a wrong password"
		}
		t.Run(name, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
				kfake.Superuser(tt.mechanism, "freight", kafkaPassword), kfake.SeedTopics(1, webTopic))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			k := config.Default().Kafka
			k.Brokers = c.ListenAddrs()
			k.SASL = config.SASL{Mechanism: tt.mechanism, Username: "freight", PasswordEnv: "KAFKA_PASSWORD"}
			opts, err := KafkaOpts(k, lookup(map[string]string{"KAFKA_PASSWORD": tt.password}))
			if err != nil {
				t.Fatal(err)
			}
			// Ping fails at once when the broker refuses the login (kfake
			// closes the connection), so a wrong password needs no timeout.
			err = kafkaRoundTrip(opts, webTopic, 20*time.Second)
			if tt.wantErr != (err != nil) {
				t.Fatalf("round trip: %v, want error %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), tt.password) {
				t.Errorf("the error carries the password: %v", err)
			}
		})
	}
}

// kafka.tls through KafkaOpts, against kfake serving TLS with a CA made
// for the test: the CA file, client certificates (mutual TLS), and TLS with
// SASL together.
func TestKafkaTLS(t *testing.T) {
	pki := newTestPKI(t)
	tests := []struct {
		name          string
		requireClient bool // the broker asks for a client certificate
		sasl          bool
		tls           config.TLS
		wantErr       string // in the error; "" for none
	}{
		{name: "server certificate checked against ca_file",
			tls: config.TLS{Enabled: true, CAFile: pki.caFile}},
		{name: "mutual TLS with a client certificate", requireClient: true,
			tls: config.TLS{Enabled: true, CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}},
		{name: "TLS and SCRAM-SHA-512 together", sasl: true,
			tls: config.TLS{Enabled: true, CAFile: pki.caFile}},
		{name: "no client certificate where the broker wants one", requireClient: true, wantErr: "certificate required",
			tls: config.TLS{Enabled: true, CAFile: pki.caFile}},
		{name: "a CA the system does not know, without ca_file", wantErr: "unknown authority",
			tls: config.TLS{Enabled: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}
			if tt.requireClient {
				sc.ClientAuth, sc.ClientCAs = tls.RequireAndVerifyClientCert, pki.pool
			}
			kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.TLS(sc), kfake.SeedTopics(1, webTopic)}
			if tt.sasl {
				kopts = append(kopts, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "freight", kafkaPassword))
			}
			c, err := kfake.NewCluster(kopts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			k := config.Default().Kafka
			k.Brokers = c.ListenAddrs()
			k.TLS = tt.tls
			if tt.sasl {
				k.SASL = config.SASL{Mechanism: "SCRAM-SHA-512", Username: "freight", PasswordEnv: "KAFKA_PASSWORD"}
			}
			opts, err := KafkaOpts(k, lookup(map[string]string{"KAFKA_PASSWORD": kafkaPassword}))
			if err != nil {
				t.Fatal(err)
			}
			err = kafkaRoundTrip(opts, webTopic, 20*time.Second)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("round trip: %v, want error %q", err, tt.wantErr)
			}
		})
	}
}

// redisURL builds a redis.url with the ACL user's credentials, escaped as
// an operator must escape them.
func redisURL(scheme, host string, port int, user, password string) string {
	u := url.URL{Scheme: scheme, Host: host + ":" + strconv.Itoa(port), Path: "/0"}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// An ACL user and password in redis.url, against a private redis-server
// whose default user is disabled.
func TestRedisACLUser(t *testing.T) {
	srv := startRedis(t, nil)
	tests := []struct {
		name     string
		user, pw string
		wantErr  string
	}{
		{name: "ACL user and password", user: aclUser, pw: aclPassword},
		{name: "wrong password", user: aclUser, pw: "not-the-password", wantErr: "WRONGPASS"},
		{name: "no user: the default user is disabled", wantErr: "NOAUTH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb, err := RedisClient(redisURL("redis", "127.0.0.1", srv.port, tt.user, tt.pw))
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = rdb.Set(ctx, "freight-acl-test", "1", time.Minute).Err()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %s", err, tt.wantErr)
			}
			if tt.pw != "" && strings.Contains(err.Error(), tt.pw) {
				t.Errorf("the error carries the password: %v", err)
			}
		})
	}
}

// redis-cluster:// with an ACL user, against a one-node Redis Cluster
// holding every slot: the dedup store's pipelines span many slots, which a
// cluster client must route (a plain client would get CROSSSLOT or MOVED).
func TestRedisClusterURL(t *testing.T) {
	// The cluster bus port defaults to the port + 10000, which a random
	// port can push past 65535: name one.
	srv := startRedis(t, nil, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-announce-ip", "127.0.0.1", "--cluster-port", strconv.Itoa(freePort(t)))
	admin := redis.NewClient(&redis.Options{Addr: srv.addr(), Username: aclUser, Password: aclPassword})
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	eventually(t, "the one-node cluster to be ok", func() bool {
		info, _ := admin.ClusterInfo(ctx).Result()
		return strings.Contains(info, "cluster_state:ok")
	}, nil)

	u := "redis-cluster://" + url.UserPassword(aclUser, aclPassword).String() + "@" + srv.addr()
	rdb, err := RedisClient(u)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("RedisClient(%s) is a %T, want a cluster client", "redis-cluster://...", rdb)
	}
	store := dedup.New(rdb, dedup.Config{KeyPrefix: "freight-cluster-test:", Window: time.Hour, Lease: time.Minute})
	var keys []string
	for i := range 50 {
		keys = append(keys, store.Key(testPixel, "Purchase", fmt.Sprint("e", i)))
	}
	st, err := store.Claim(ctx, keys)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	if len(st) != len(keys) {
		t.Fatalf("%d statuses for %d keys", len(st), len(keys))
	}
	if err := store.Confirm(ctx, keys); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	st, err = store.Claim(ctx, keys)
	if err != nil {
		t.Fatalf("second claim: %v", err)
	}
	for i, s := range st {
		if s != dedup.Duplicate {
			t.Fatalf("key %d: %v after confirm, want %v", i, s, dedup.Duplicate)
		}
	}
}

// The whole relay over secure connections: Kafka over TLS with
// SCRAM-SHA-512 (kfake), Redis over TLS as an ACL user (rediss://), the
// server certificates issued by a CA made for the test. Redis's CA is
// trusted the way deploy/README.md tells operators to: SSL_CERT_DIR. Go
// reads that once per process, so the relay runs in a child process of
// this test binary.
func TestSecureConnectionsEndToEnd(t *testing.T) {
	if os.Getenv("FREIGHT_SECURE_CHILD") == "1" {
		secureChild(t)
		return
	}
	pki := newTestPKI(t)
	srv := startRedis(t, pki)
	caDir := t.TempDir()
	if err := os.Link(pki.caFile, caDir+"/ca.pem"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestSecureConnectionsEndToEnd$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(),
		"FREIGHT_SECURE_CHILD=1",
		"SSL_CERT_DIR="+caDir,
		"FREIGHT_TEST_PKI_DIR="+pki.dir,
		"FREIGHT_TEST_REDIS_URL="+redisURL("rediss", "localhost", srv.tlsPort, aclUser, aclPassword),
	)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestSecureConnectionsEndToEnd") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, secret := range []string{aclPassword, url.UserPassword("", aclPassword).String()[1:], kafkaPassword, testToken} {
		if strings.Contains(string(out), secret) {
			t.Errorf("a secret (%.6s...) appears in the relay's debug output:\n%s", secret, out)
		}
	}
}

func secureChild(t *testing.T) {
	dir := os.Getenv("FREIGHT_TEST_PKI_DIR")
	server, err := tls.LoadX509KeyPair(dir+"/server.pem", dir+"/server-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, webTopic, crmTopic, dlqTopic, parkTopic),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{server}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "freight", kafkaPassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after the relay's final commit: cleanups run last first
	meta, metaURL := capitest.NewHTTPTest(t, capitest.Options{Tokens: map[string]string{testPixel: testToken}})
	cfg := testConfig(t, c.ListenAddrs(), os.Getenv("FREIGHT_TEST_REDIS_URL"), metaURL)
	cfg.Redis.KeyPrefix = "freight-secure-test:"
	cfg.Kafka.TLS = config.TLS{Enabled: true, CAFile: dir + "/ca.pem"}
	cfg.Kafka.SASL = config.SASL{Mechanism: "SCRAM-SHA-512", Username: "freight", PasswordEnv: "KAFKA_PASSWORD"}
	// Debug, so that franz-go's and go-redis's own lines are in the output
	// the parent greps for the passwords.
	appLogLevel = slog.LevelDebug
	app := startApp(t, cfg, map[string]string{"TOKEN": testToken, "KAFKA_PASSWORD": kafkaPassword})

	eventually(t, "/readyz to answer 200 (joined the group, Redis answers over TLS)", func() bool {
		resp, err := http.Get("http://" + app.Addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, nil)
	if r := app.Series(t, "freight_ready")[""]; r != 1 {
		t.Errorf("freight_ready = %v while /readyz answers 200", r)
	}

	// Produce through the same secure options the relay uses.
	opts, err := KafkaOpts(cfg.Kafka, lookup(map[string]string{"KAFKA_PASSWORD": kafkaPassword}))
	if err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	recs := append(webRecords("tls", webTopic, 0, 3), webRecords("tls-dup", webTopic, 1, 1)...)
	recs = append(recs, webRecord("tls-0", webTopic, 1)) // a duplicate on another partition
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	eventually(t, "the events to reach the stand-in, deduplicated through Redis", func() bool {
		return meta.Total() == 4 && app.Series(t, "freight_events_deduplicated_total")[""] == 1
	}, func() any {
		return fmt.Sprint(meta.Total(), " sent, ", app.Series(t, "freight_events_deduplicated_total"), " deduplicated")
	})
	if n := meta.Count(testPixel, "Purchase", "tls-0"); n != 1 {
		t.Errorf("tls-0 reached Meta %d times, want once", n)
	}
	// kprom's franz-go metrics are on the same registry.
	if len(app.Series(t, "freight_kafka_connects_total", "node_id")) == 0 {
		t.Error("no freight_kafka_connects_total: the kprom hooks are not on the served registry")
	}
}
