#!/usr/bin/env bash
# Makes sure the tests have what they need from Redis: redis-server
# installed (the outage tests start private servers) and a server answering
# on 127.0.0.1:6379. Used by `make test` and by .ci/run.
set -euo pipefail

redis_answers() {
  # PING over bash's /dev/tcp: works before redis-cli is installed.
  (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && IFS= read -r -t 2 line <&3 && [[ $line == +PONG* ]]) 2>/dev/null
}

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "redis.sh: installing redis-server from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis.sh: redis-server is missing; install it (Debian/Ubuntu: apt-get install redis-server, macOS: brew install redis)" >&2
    exit 1
  fi
fi
if ! redis_answers; then
  echo "redis.sh: starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 50); do redis_answers && break; sleep 0.1; done
  redis_answers || { echo "redis.sh: redis-server does not answer on 6379" >&2; exit 1; }
fi
