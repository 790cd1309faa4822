#!/usr/bin/env bash
# Make sure the test tools are installed (Debian's docker-compose validates docker-compose.yml offline, Debian's
# chromium runs the dashboard's browser tests, Debian's prometheus brings promtool) and
# Redis (6379) and PostgreSQL (5432, trust auth for local TCP, database `test`) answer on 127.0.0.1.
# Installs Debian's packages only when a service is missing, and starts what is installed but stopped.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose
# The dashboard's browser tests drive Debian's Chromium through Playwright (never `playwright install`).
[ -x /usr/bin/chromium ] || apt_install chromium
# `promtool check metrics` lints /metrics in the tests; Debian ships promtool only inside its prometheus package
# (about 20 MB with its web assets; recommends left out).
command -v promtool >/dev/null 2>&1 || apt_install --no-install-recommends prometheus

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done
  echo "service on port $1 did not come up" >&2; return 1
}

if ! port_open 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  echo "starting redis-server on 127.0.0.1:6379" >&2
  mkdir -p /tmp/cratedigger-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/cratedigger-redis --logfile /tmp/cratedigger-redis/redis.log
  wait_port 6379
fi

if ! port_open 5432; then
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then apt_install postgresql; fi
  version=$(ls /usr/lib/postgresql | sort -V | tail -1)
  if ! ls /etc/postgresql/"$version"/main >/dev/null 2>&1; then
    $SUDO pg_createcluster "$version" main >/dev/null
  fi
  hba=/etc/postgresql/$version/main/pg_hba.conf
  # Tests connect as postgres over TCP without a password (a throwaway local cluster).
  if ! grep -q "cratedigger-test" "$hba"; then
    printf '# cratedigger-test\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' | $SUDO tee /tmp/hba.head >/dev/null
    $SUDO sh -c "cat /tmp/hba.head '$hba' > '$hba.new' && mv '$hba.new' '$hba'"
  fi
  echo "starting PostgreSQL $version on 127.0.0.1:5432" >&2
  # The package's install script may already have started the cluster: start if stopped, then reload the
  # trust rules above either way.
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
  wait_port 5432
fi

if command -v psql >/dev/null && ! psql -h 127.0.0.1 -U postgres -d test -qtAc 'select 1' >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE test' >/dev/null 2>&1 || true
fi
