#!/usr/bin/env bash
# Checks the alert rules with promtool: `promtool check rules` (syntax,
# PromQL, templates) and `promtool test rules` (each alert fires on the
# series it should, and not on healthy ones). `make check-deploy` and CI
# run it.
#
# promtool comes from PATH, else from Debian's prometheus package,
# downloaded and unpacked into a temporary folder: nothing is installed and
# no Prometheus server starts. When it cannot be had (no apt, a slow or
# unreachable mirror), this prints one line saying so and exits 0: the Go
# tests in deploy/ still check the rules' structure, and a package mirror
# must never fail CI.
set -euo pipefail
cd "${0%/*}"

skip() { echo "check-deploy: skipping promtool: $*"; exit 0; }

promtool=$(command -v promtool || true)
if [ -z "$promtool" ]; then
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || skip "no promtool in PATH and no apt-get/dpkg-deb to fetch it"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  fetch() { (cd "$tmp" && timeout 120 apt-get download -qq prometheus >/dev/null 2>&1); }
  if ! fetch; then
    # A fresh machine may have no package lists yet.
    timeout 180 apt-get update -qq >/dev/null 2>&1 || skip "apt-get update failed or timed out"
    fetch || skip "apt-get download prometheus failed or timed out"
  fi
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x" || skip "cannot unpack the prometheus package"
  promtool="$tmp/x/usr/bin/promtool"
  [ -x "$promtool" ] || skip "the prometheus package has no usr/bin/promtool"
fi

echo "check-deploy: $("$promtool" --version 2>&1 | head -1)"
"$promtool" check rules alerts.yml
"$promtool" test rules alerts_test.yml
