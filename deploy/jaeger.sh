#!/usr/bin/env bash
# Jaeger (traces) without Docker: built once from the Go module proxy into $MESA_CACHE, started
# with deploy/jaeger/config.yaml (an OTLP collector and a store in memory, loopback only).
#   deploy/jaeger.sh install|path|start|stop|status|clean     (path: the binary, built if need be)
# UI and query API: http://127.0.0.1:16686; OTLP: 4317 (gRPC), 4318 (HTTP).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VERSION=${JAEGER_VERSION:-v1.76.0}  # the module's version (its binary calls itself Jaeger v2)
BIN=$MESA_CACHE/jaeger-$VERSION/jaeger
DATA=$MESA_LOCAL/jaeger
PIDFILE=$DATA/jaeger.pid
LOG=$DATA/jaeger.log
UI_PORT=${JAEGER_UI_PORT:-16686}
OTLP_PORT=${JAEGER_OTLP_HTTP_PORT:-4318}

install() {
  [ -x "$BIN" ] && return 0
  command -v go >/dev/null || die "go is missing: Jaeger is built from the Go module proxy with Go 1.24 or later"
  say "building Jaeger $VERSION from the Go module proxy into $(dirname "$BIN") (once per machine)"
  local work; work=$(mktemp -d)
  (
    cd "$work"
    go mod init mesa.local/jaeger >/dev/null 2>&1
    go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$VERSION" >/dev/null 2>&1
    mkdir -p "$(dirname "$BIN")"
    go build -trimpath -ldflags "-s -w" -o "$BIN.tmp" github.com/jaegertracing/jaeger/cmd/jaeger
  ) || { rm -rf "$work"; die "building Jaeger failed"; }
  rm -rf "$work"
  mv "$BIN.tmp" "$BIN"
}

path() { install; echo "$BIN"; }

ready() { curl -fsS -o /dev/null "http://127.0.0.1:$UI_PORT/api/services" 2>/dev/null; }

start() {
  install
  if pid_alive "$PIDFILE"; then ready && return 0; fi
  port_open 127.0.0.1 "$UI_PORT" && die "port 127.0.0.1:$UI_PORT is taken by another program; set JAEGER_UI_PORT"
  port_open 127.0.0.1 "$OTLP_PORT" && die "port 127.0.0.1:$OTLP_PORT is taken by another program; set JAEGER_OTLP_HTTP_PORT"
  mkdir -p "$DATA"
  say "starting Jaeger (UI on 127.0.0.1:$UI_PORT, OTLP on 4317/$OTLP_PORT)"
  nohup "$BIN" --config "$MESA_ROOT/deploy/jaeger/config.yaml" >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  wait_for 60 "jaeger (127.0.0.1:$UI_PORT)" ready || { tail -n 20 "$LOG" >&2; die "jaeger does not answer; see $LOG"; }
}

stop() { stop_pid "$PIDFILE"; say "jaeger stopped"; }

status() {
  if pid_alive "$PIDFILE" && ready; then echo "jaeger: running, UI on http://127.0.0.1:$UI_PORT"; else echo "jaeger: stopped"; return 1; fi
}

clean() { stop; rm -rf "$DATA"; say "jaeger data removed"; }

"${1:-start}"
