#!/usr/bin/env bash
# PostgreSQL without Docker: Debian's packages, a cluster of this clone's own under .local/pg.
#   deploy/postgres.sh install|start|stop|status|clean|urls
# Idempotent: `start` on a running cluster returns at once. Creates role and database `mesa`.
# PG_SERVERS=2: a second server on the next port (.local/pg2), for schemas placed apart
# (`urls` prints the <SCHEMA>_DATABASE_URL settings that put intake and routing on it).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HOST=${PGHOST_MESA:-127.0.0.1}
BASE_PORT=${PG_PORT:-15432}
SERVERS=${PG_SERVERS:-1}
[[ $SERVERS =~ ^[12]$ ]] || die "PG_SERVERS is 1 or 2"

# use_server N: the variables below name server N (1: .local/pg on PG_PORT; 2: .local/pg2 on the next)
use_server() {
  PORT=$((BASE_PORT + $1 - 1))
  DATA=$MESA_LOCAL/pg; [ "$1" = 1 ] || DATA=$MESA_LOCAL/pg$1
  PGDATA_DIR=$DATA/data
  RUN=$DATA/run
  LOG=$DATA/postgres.log
}
use_server 1

bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  return 1
}

install() {
  bindir >/dev/null && return 0
  say "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q postgresql >/dev/null
  bindir >/dev/null || die "postgresql installed but pg_ctl not found under /usr/lib/postgresql"
}

# as_owner CMD...: initdb and postgres refuse to run as root; run them as the `postgres` user then.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ready() { as_owner "$(bindir)/pg_isready" -q -h "$HOST" -p "$PORT"; }

# Our settings, written at every start so a cluster made by an older version gets them too (the
# include comes last in postgresql.conf, so it wins); returns 1 when they changed. The address:
# a cluster made when the default port was 55432 moves to today's. Durability: a command
# acknowledged with 201 is on disk; consumers commit asynchronously on their own
# (shared/platform/inbox.py, docs/architecture.md).
our_settings() {
  [ -f "$PGDATA_DIR/postgresql.conf" ] || return 0
  grep -q "^include_if_exists = 'mesa.conf'" "$PGDATA_DIR/postgresql.conf" \
    || echo "include_if_exists = 'mesa.conf'" >> "$PGDATA_DIR/postgresql.conf"
  local want
  want="listen_addresses = '$HOST'"$'\n'"port = $PORT"
  want+=$'\nfsync = on\nfull_page_writes = on\nsynchronous_commit = on'
  # The services' queue-like tables (outboxes, notify's ledger, inboxes) churn all day, and a
  # table that grows from empty (a new deployment, a rebuilt schema) is planned from its first
  # rows until it is first analyzed: looked at every 10 s rather than every minute, dead rows
  # and stale plans (seq scans of a table planned as tiny) last seconds, not minutes.
  want+=$'\nautovacuum_naptime = 10s'
  # PG_STAT_STATEMENTS=1: per-statement costs, for profiling (bench/, docs/benchmarks.md)
  [ "${PG_STAT_STATEMENTS:-0}" = 1 ] && want+=$'\nshared_preload_libraries = \'pg_stat_statements\''
  if [ "$(cat "$PGDATA_DIR/mesa.conf" 2>/dev/null)" != "$want" ]; then
    printf '%s\n' "$want" > "$PGDATA_DIR/mesa.conf"
    [ "$(id -u)" = 0 ] && chown postgres: "$PGDATA_DIR/mesa.conf"
    return 1  # changed
  fi
}

# port_is_ours: true when nothing listens on PORT (this clone may start its server there); false
# when another clone's server (any server that knows role mesa) does: it is used, as kafka.sh
# does. A server that is restarting leaves its port for a moment, so a taken port is watched
# for a while before it is refused.
port_is_ours() {
  local deadline=$((SECONDS + 30))
  while port_open "$HOST" "$PORT"; do
    if PGPASSWORD=mesa psql -X -q -t -A -h "$HOST" -p "$PORT" -U mesa -d mesa -c 'SELECT 1' >/dev/null 2>&1; then
      say "a PostgreSQL server with database mesa already listens on $HOST:$PORT; using it"
      return 1
    fi
    [ $SECONDS -lt $deadline ] || die "port $HOST:$PORT is taken by another program; set PG_PORT to use another"
    sleep 0.5
  done
}

start_server() {
  use_server "$1"
  local bin; bin=$(bindir)
  if [ -f "$PGDATA_DIR/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
    if our_settings; then
      wait_for 60 "postgres ($HOST:$PORT)" ready || die "postgres does not answer on $HOST:$PORT; see $LOG"
      return 0
    fi
    say "PostgreSQL settings changed: restarting it on $HOST:$PORT"
    as_owner "$bin/pg_ctl" -D "$PGDATA_DIR" -l "$LOG" -w -t 60 restart >/dev/null \
      || { tail -n 20 "$LOG" >&2; die "postgres did not restart; see $LOG"; }
    return 0
  fi
  port_is_ours || return 0
  mkdir -p "$DATA" "$RUN"
  [ "$(id -u)" = 0 ] && chown postgres: "$DATA" "$RUN"
  if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
    say "creating PostgreSQL cluster in $PGDATA_DIR"
    as_owner "$bin/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$PGDATA_DIR/postgresql.conf" <<CONF
unix_socket_directories = '$RUN'
max_connections = 300
shared_buffers = 128MB
CONF
  fi
  our_settings || true
  say "starting PostgreSQL on $HOST:$PORT"
  local deadline=$((SECONDS + 30)) logged
  while true; do
    logged=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
    as_owner "$bin/pg_ctl" -D "$PGDATA_DIR" -l "$LOG" -w -t 60 start >/dev/null 2>&1 && break
    # the port was free when looked at and taken when bound: another server came up in between,
    # or is restarting, so look again rather than fail at once (only this attempt's lines count)
    if ! tail -c +$((logged + 1)) "$LOG" | grep -q "Address already in use" || [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$LOG" >&2; die "postgres did not start; see $LOG"
    fi
    port_is_ours || return 0
    sleep 0.5
  done
  wait_for 60 "postgres ($HOST:$PORT)" ready || die "postgres does not answer"
  psql_ "SELECT 1 FROM pg_roles WHERE rolname='mesa'" | grep -q 1 \
    || psql_ "CREATE ROLE mesa LOGIN SUPERUSER PASSWORD 'mesa'" >/dev/null
  psql_ "SELECT 1 FROM pg_database WHERE datname='mesa'" | grep -q 1 \
    || psql_ "CREATE DATABASE mesa OWNER mesa" >/dev/null
}

psql_() { psql -X -q -t -A -h "$HOST" -p "$PORT" -U postgres -d postgres -c "$1"; }

start() {
  install
  local i
  for i in $(seq 1 "$SERVERS"); do start_server "$i"; done
}

# every server this clone has made, whatever PG_SERVERS says now
made() { local i; for i in 1 2; do use_server "$i"; [ -d "$PGDATA_DIR" ] && echo "$i"; done; return 0; }

stop() {
  local bin i; bin=$(bindir) || return 0
  for i in $(made); do
    use_server "$i"
    [ -f "$PGDATA_DIR/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
  done
  say "postgres stopped"
}

status() {
  local i rc=0
  for i in $(seq 1 "$SERVERS"); do
    use_server "$i"
    if ready 2>/dev/null; then echo "postgres $i: running on $HOST:$PORT"; else echo "postgres $i: stopped"; rc=1; fi
  done
  return $rc
}

# urls: the settings that place each schema (PG_SERVERS=2: intake and routing on the second)
urls() {
  use_server 1
  echo "DATABASE_URL=postgresql://mesa:mesa@$HOST:$PORT/mesa"
  if [ "$SERVERS" = 2 ]; then
    use_server 2
    echo "INTAKE_DATABASE_URL=postgresql://mesa:mesa@$HOST:$PORT/mesa"
    echo "ROUTING_DATABASE_URL=postgresql://mesa:mesa@$HOST:$PORT/mesa"
  fi
}

clean() { stop; local i; for i in 1 2; do use_server "$i"; rm -rf "$DATA"; done; say "postgres data removed"; }

"${1:-start}"
