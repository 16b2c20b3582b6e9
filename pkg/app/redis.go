package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

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

// ErrRedisTooOld is returned by Run when Redis is older than freight needs.
var ErrRedisTooOld = errors.New("redis is too old")

// checkRedisVersion refuses a Redis older than 7.0: the dedup claim is SET
// with both NX and GET, which older versions refuse as a syntax error, so
// every claim would fail and the relay would hold its events forever. A
// Redis that does not say its version (INFO disabled, an emulation such as
// freight dev's) or does not answer yet is let through: an outage is the
// relay's to wait out, and a refused command shows in its errors.
func checkRedisVersion(ctx context.Context, rdb redis.UniversalClient, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		log.Debug("cannot read the redis version; going on", "err", err)
		return nil
	}
	v := redisVersion(info)
	if v == "" {
		return nil
	}
	if !versionAtLeast(v, 7, 0) {
		return fmt.Errorf("%w: version %s found, freight needs 7.0 or later (its dedup claim is SET with NX and GET)", ErrRedisTooOld, v)
	}
	return nil
}

// redisVersion is redis_version from INFO's text, "" when absent.
func redisVersion(info string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return ""
}

// versionAtLeast compares a dotted version's first two numbers; a version
// that does not parse is taken as new enough.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	maj, err := strconv.Atoi(parts[0])
	if err != nil {
		return true
	}
	mnr := 0
	if len(parts) > 1 {
		if mnr, err = strconv.Atoi(parts[1]); err != nil {
			return true
		}
	}
	return maj > major || maj == major && mnr >= minor
}
