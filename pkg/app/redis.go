package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisClient opens a client for redis.url: redis:// and rediss:// (TLS) for
// one server, redis-cluster://[user:pass@]h1:6379,h2:6379 for a cluster
// (add ?tls=true for TLS).
func RedisClient(raw string) (redis.UniversalClient, error) {
	if rest, ok := strings.CutPrefix(raw, "redis-cluster://"); ok {
		u, err := url.Parse("redis://" + rest)
		if err != nil {
			// url's error quotes the URL, password included: say less.
			return nil, fmt.Errorf("redis.url: not a valid redis-cluster URL")
		}
		opts := &redis.ClusterOptions{Addrs: strings.Split(u.Host, ",")}
		if u.User != nil {
			opts.Username = u.User.Username()
			opts.Password, _ = u.User.Password()
		}
		if u.Query().Get("tls") == "true" {
			o, _ := redis.ParseURL("rediss://" + opts.Addrs[0])
			opts.TLSConfig = o.TLSConfig
		}
		return redis.NewClusterClient(opts), nil
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("redis.url: %w", err)
	}
	return redis.NewClient(opts), nil
}

// redisLogger routes go-redis's own log lines (dial retries and the like) to
// our logger at debug level: freight logs Redis failures itself, with
// context, where it handles them.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
