// Package redistest gives tests a connection to the real Redis of the
// development and CI machines (DESIGN.md section 3) and a key prefix of
// their own, whose keys are deleted when the test ends.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Addr is where the tests expect Redis (`make redis` starts it).
const Addr = "127.0.0.1:6379"

// New returns a client and a fresh key prefix; it fails the test when Redis
// does not answer.
func New(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: Addr})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		tb.Fatalf("Redis at %s does not answer (%v): these tests need the real Redis; start redis-server on 6379", Addr, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "freight-test:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var cursor uint64
		for {
			keys, next, err := rdb.Scan(ctx, cursor, prefix+"*", 1000).Result()
			if err != nil {
				tb.Errorf("cleanup: scan %s*: %v", prefix, err)
				return
			}
			if len(keys) > 0 {
				if err := rdb.Del(ctx, keys...).Err(); err != nil {
					tb.Errorf("cleanup: del: %v", err)
					return
				}
			}
			if cursor = next; cursor == 0 {
				return
			}
		}
	})
	return rdb, prefix
}
