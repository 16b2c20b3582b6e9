package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/freight-relay/freight/pkg/config"
)

// KafkaOpts turns the kafka section into the franz-go options every client
// of ours shares: where the brokers are and how to talk to them. Callers
// append their role's options (ConsumerOpts for the relay).
func KafkaOpts(k config.Kafka, lookupEnv func(string) (string, bool)) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.Brokers...),
		kgo.ClientID(k.ClientID),
	}
	if k.TLS.Enabled {
		tc, err := tlsConfig(k.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if k.SASL.Mechanism != "" {
		pw, err := config.LookupSecret(k.SASL.PasswordEnv, lookupEnv)
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl.password_env: %w", err)
		}
		user := k.SASL.Username
		switch k.SASL.Mechanism {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pw.Reveal()}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pw.Reveal()}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pw.Reveal()}.AsSha512Mechanism()))
		}
	}
	return opts, nil
}

// ConsumerOpts are the consumer-group options of the kafka section.
func ConsumerOpts(k config.Kafka) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ConsumerGroup(k.Group),
		kgo.SessionTimeout(k.SessionTimeout),
		kgo.AutoCommitInterval(k.CommitInterval),
		// Answer a poll promptly when little is flowing.
		kgo.FetchMaxWait(500 * time.Millisecond),
		// franz-go decodes a whole fetch response into records before we
		// poll them, outside batch.max_buffered_events. Its default (50 MB
		// compressed per broker) can hold several times our cap once
		// decompressed; 4 MB keeps memory bounded by the cap and is still
		// tens of thousands of events per fetch.
		kgo.FetchMaxBytes(4 << 20),
	}
	if k.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(k.InstanceID))
	}
	// The reset offset is where a partition without a commit starts, and
	// where one whose committed offset is out of range (retention deleted
	// it) goes: the start for every topic, so that a reset never skips a
	// retained record. start_offset: latest is for the input topics without
	// a commit only, and the relay applies it when it joins
	// (relay.Config.StartAtEnd); the parking topic always starts at its
	// beginning.
	opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	return opts
}

func tlsConfig(t config.TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file: no PEM certificate in %s", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// kafkaLogger routes franz-go's log lines to ours, tagged component=kafka.
// franz-go's info lines (every connection, every heartbeat round) are debug
// for us; its warnings and errors stay what they are.
type kafkaLogger struct{ log *slog.Logger }

func (l kafkaLogger) Level() kgo.LogLevel {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func (l kafkaLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		lv = slog.LevelError
	case kgo.LogLevelWarn:
		lv = slog.LevelWarn
	}
	l.log.Log(context.Background(), lv, msg, append(keyvals, "component", "kafka")...)
}
