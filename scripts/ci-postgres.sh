#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for CI, shared by every test package:
#
#   eval "$(bash scripts/ci-postgres.sh start)"   # exports GLP_TEST_DB_URL and GLP_TEST_PG_DIR
#   go test ./...
#   bash scripts/ci-postgres.sh stop               # stops it and removes its directory
#
# Debian's postgresql package (any version); initdb in a temporary directory, a free loopback
# port, run as the postgres user when this script runs as root (PostgreSQL refuses root).
# The tests make a database of their own on it for each test (internal/pgtest).
set -euo pipefail

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ]; then echo "ci-postgres: no /usr/lib/postgresql/*/bin: apt-get install postgresql" >&2; exit 1; fi

case "${1:-}" in
start)
  dir=$(mktemp -d /tmp/glp-ci-pg.XXXXXX)
  password=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  printf '%s\n' "$password" >"$dir/pw"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
  as_pg "$bin/initdb" -D "$dir/data" -U postgres --pwfile "$dir/pw" --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  rm -f "$dir/pw"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >&2
  echo "export GLP_TEST_PG_DIR=$dir"
  echo "export GLP_TEST_DB_URL=postgres://postgres:$password@127.0.0.1:$port/postgres?sslmode=disable"
  ;;
stop)
  dir=${GLP_TEST_PG_DIR:?set by start}
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
