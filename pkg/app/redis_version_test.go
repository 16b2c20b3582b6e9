package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/freight-relay/freight/pkg/redistest"
)

func TestRedisVersion(t *testing.T) {
	tests := []struct {
		info string
		want string
		ok   bool // at least 7.0
	}{
		{"# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n", "7.0.15", true},
		{"# Server\r\nredis_version:7.2.4\r\n", "7.2.4", true},
		{"# Server\r\nredis_version:8.0.0\r\n", "8.0.0", true},
		{"# Server\r\nredis_version:6.2.14\r\n", "6.2.14", false},
		{"# Server\r\nredis_version:5.0.7\r\n", "5.0.7", false},
		{"# Server\r\nredis_version:7\r\n", "7", true},
		{"# Clients\r\nconnected_clients:1\r\n", "", true},
	}
	for _, tt := range tests {
		v := redisVersion(tt.info)
		if v != tt.want {
			t.Errorf("redisVersion(%q) = %q, want %q", tt.info, v, tt.want)
		}
		if v != "" && versionAtLeast(v, 7, 0) != tt.ok {
			t.Errorf("versionAtLeast(%q, 7, 0) = %v", v, !tt.ok)
		}
	}
}

// The machine's Redis (7) passes; a server that says it is Redis 6.2 is
// refused, naming the version. Redis 6 cannot be installed here, so the
// second is a few lines of RESP that answer INFO as Redis 6.2 does.
func TestCheckRedisVersion(t *testing.T) {
	rdb, _ := redistest.New(t)
	log := slog.New(slog.DiscardHandler)
	if err := checkRedisVersion(context.Background(), rdb, log); err != nil {
		t.Fatalf("the machine's Redis: %v", err)
	}
	old := redis.NewClient(&redis.Options{Addr: respServer(t, "redis_version:6.2.14"), Protocol: 2, DisableIdentity: true})
	defer old.Close()
	err := checkRedisVersion(context.Background(), old, log)
	if !errors.Is(err, ErrRedisTooOld) || !strings.Contains(err.Error(), "6.2.14") {
		t.Fatalf("Redis 6.2: err = %v, want ErrRedisTooOld naming 6.2.14", err)
	}
}

// respServer answers INFO with the given line and every other command with
// an error, in RESP2.
func respServer(t *testing.T, infoLine string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				rd := bufio.NewReader(conn)
				for {
					args, err := readCommand(rd)
					if err != nil {
						return
					}
					if strings.EqualFold(args[0], "INFO") {
						body := "# Server\r\n" + infoLine + "\r\n"
						fmt.Fprintf(conn, "$%d\r\n%s\r\n", len(body), body)
					} else {
						fmt.Fprint(conn, "-ERR unknown command\r\n")
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

func readCommand(rd *bufio.Reader) ([]string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("not a RESP array: %q", line)
	}
	args := make([]string, n)
	for i := range args {
		if _, err := rd.ReadString('\n'); err != nil { // $len
			return nil, err
		}
		s, err := rd.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args[i] = strings.TrimRight(s, "\r\n")
	}
	return args, nil
}
