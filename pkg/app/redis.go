package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisClient opens a client for redis.url: redis:// and rediss:// (TLS) for
// one server, redis-cluster://[user:pass@]h1:6379,h2:6379 for a cluster
// (add ?tls=true for TLS). A user and password in the URL authenticate as
// that ACL user; characters such as @ : / in them must be percent-encoded.
//
// TLS verifies the server against the system's roots; a private CA is
// added with SSL_CERT_DIR (see deploy/README.md). Errors never quote the
// URL: it may carry a password.
func RedisClient(raw string) (redis.UniversalClient, error) {
	if rest, ok := strings.CutPrefix(raw, "redis-cluster://"); ok {
		u, err := url.Parse("redis://" + rest)
		if err != nil {
			return nil, fmt.Errorf("redis.url: not a valid redis-cluster URL: %s", urlProblem(err, raw))
		}
		opts := &redis.ClusterOptions{Addrs: strings.Split(u.Host, ",")}
		if u.User != nil {
			opts.Username = u.User.Username()
			opts.Password, _ = u.User.Password()
		}
		for k := range u.Query() {
			if k != "tls" {
				return nil, fmt.Errorf("redis.url: unknown redis-cluster option %q (only tls=true)", k)
			}
		}
		if u.Query().Get("tls") == "true" {
			// No ServerName: each node is verified against its own host
			// name (crypto/tls takes it from the address dialed), not
			// against the first seed's.
			opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		return redis.NewClusterClient(opts), nil
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("redis.url: %s", urlProblem(err, raw))
	}
	return redis.NewClient(opts), nil
}

// urlProblem describes why a URL did not parse without quoting it: a
// *url.Error carries the whole URL, password included.
func urlProblem(err error, raw string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	// Belt and braces: whatever the parser said, never repeat the password.
	if i := strings.Index(raw, "://"); i >= 0 {
		userinfo, _, found := strings.Cut(raw[i+3:], "@")
		if _, pw, ok := strings.Cut(userinfo, ":"); found && ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// redisLogger routes go-redis's own log lines (dial retries and the like) to
// our logger at debug level: freight logs Redis failures itself, with
// context, where it handles them.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
