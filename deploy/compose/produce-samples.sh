#!/bin/sh
# The docker-compose stack's one-shot producer: writes sample web and CRM
# events (timestamped now, so Meta's 7-day limit never bites), a few exact
# duplicates (dropped by freight's dedup) and one record that is not JSON
# (dead-lettered with class decode), then exits 0.
#
# Runs in the apache/kafka image: POSIX sh, date, and the console producer.
set -eu
BOOTSTRAP=${BOOTSTRAP:-kafka:19092}
N=${SAMPLE_EVENTS:-100}
BIN=${KAFKA_BIN:-/opt/kafka/bin}
now=$(date +%s)

web() { # id pixel
  printf '{"event_id":"web-%s","event_name":"Purchase","event_time":%s,"pixel_id":"%s","event_source_url":"https://shop.example.com/checkout","user":{"email":"customer%s@example.com","client_ip_address":"203.0.113.7","client_user_agent":"Mozilla/5.0 (sample)","fbp":"fb.1.1700000000000.%s"},"custom":{"value":%s.99,"currency":"EUR"}}\n' \
    "$1" "$now" "$2" "$1" "$1" "$1"
}
crm() { # id pixel
  printf '{"event_id":"crm-%s","event_name":"Lead","event_time":%s,"pixel_id":"%s","crm_id":"C-%s","lead_event_source":"Sample CRM","user":{"email":"customer%s@example.com","phone":"+1 650 555 %04d"}}\n' \
    "$1" "$now" "$2" "$1" "$1" "$1"
}

i=0
{
  while [ "$i" -lt "$N" ]; do
    if [ $((i % 2)) -eq 0 ]; then web "$i" 111111111111111; else web "$i" 222222222222222; fi
    i=$((i + 1))
  done
  web 0 111111111111111 # a duplicate: freight sends it once
  echo '{not json'      # a dead letter, class decode
} | "$BIN/kafka-console-producer.sh" --bootstrap-server "$BOOTSTRAP" --topic web-events

i=0
while [ "$i" -lt "$((N / 4))" ]; do
  crm "$i" 111111111111111
  i=$((i + 1))
done | "$BIN/kafka-console-producer.sh" --bootstrap-server "$BOOTSTRAP" --topic crm-events

echo "produced $N web events, $((N / 4)) CRM events, 1 duplicate and 1 undecodable record"
