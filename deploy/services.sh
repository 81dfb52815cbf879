#!/usr/bin/env bash
# Starts, stops and lists Mesa's processes: the dev mail sink, the services and the lag watch
# (ops/lagwatch.py), each its own OS process with a pid file under .local/run and a log under
# .local/log. Services send their traces to Jaeger (deploy/jaeger.sh) unless MESA_OTLP_ENDPOINT
# says otherwise (empty: none).
#   deploy/services.sh start|stop|status|urls
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cd "$MESA_ROOT"
RUN=$MESA_LOCAL/run
LOGS=$MESA_LOCAL/log
PY=$MESA_ROOT/.venv/bin/python
mkdir -p "$RUN" "$LOGS" "$MESA_LOCAL/mail"

# name:port:module, the services from the one list (shared/platform/topology.py); <NAME>_PORT overrides
SERVICES=("mailsink:${NOTIFY_SMTP_PORT:-8025}:services.notify.mailsink")
SUMMARIES=()
while IFS=$'\t' read -r name port summary; do
  var="${name^^}_PORT"
  SERVICES+=("$name:${!var:-$port}:services.$name")
  SUMMARIES+=("$(printf '  %-14s %-46s http://127.0.0.1:%s/docs' "$name" "$summary" "${!var:-$port}")")
done < <("$PY" -m shared.platform.topology)
SERVICES+=("lagwatch:${MESA_LAGWATCH_PORT:-8089}:ops.lagwatch")

start_one() {
  local name=$1 port=$2 module=$3 pidfile=$RUN/$1.pid
  if pid_alive "$pidfile"; then return 0; fi
  port_open 127.0.0.1 "$port" && die "port $port (for $name) is taken by another program"
  # setsid: the service outlives the shell (and make) that started it; $! is the python process
  MESA_ENV="${MESA_ENV:-development}" MESA_DEV_LOGIN="${MESA_DEV_LOGIN:-1}" MESA_MAIL_DIR="$MESA_LOCAL/mail" \
    MESA_OTLP_ENDPOINT="${MESA_OTLP_ENDPOINT-http://127.0.0.1:4318}" \
    setsid nohup "$PY" -m "$module" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
}

ready_one() {
  local name=$1 port=$2
  if [ "$name" = mailsink ]; then port_open 127.0.0.1 "$port"; return; fi
  if [ "$name" = lagwatch ]; then curl -fsS -o /dev/null "http://127.0.0.1:$port/metrics" 2>/dev/null; return; fi
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ]
}

start() {
  for s in "${SERVICES[@]}"; do IFS=: read -r name port module <<<"$s"; start_one "$name" "$port" "$module"; done
  for s in "${SERVICES[@]}"; do
    IFS=: read -r name port module <<<"$s"
    wait_for 90 "$name (:$port)" ready_one "$name" "$port" \
      || { tail -n 30 "$LOGS/$name.log" >&2; die "$name did not become ready; see $LOGS/$name.log"; }
  done
}

stop() {
  for s in "${SERVICES[@]}"; do IFS=: read -r name _ _ <<<"$s"; stop_pid "$RUN/$name.pid"; done
  say "services stopped"
}

status() {
  local rc=0
  for s in "${SERVICES[@]}"; do
    IFS=: read -r name port _ <<<"$s"
    if pid_alive "$RUN/$name.pid"; then echo "$name: running on :$port (pid $(cat "$RUN/$name.pid"))"
    else echo "$name: stopped"; rc=1; fi
  done
  return $rc
}

urls() {
  cat <<TXT

Mesa está en marcha / Mesa is up:
$(printf '%s\n' "${SUMMARIES[@]}")
  auditoría: mesa audit verify
  correo de desarrollo            $MESA_LOCAL/mail/*.eml   (SMTP 127.0.0.1:${NOTIFY_SMTP_PORT:-8025})
  kafka ${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}   postgresql ${DATABASE_URL:-postgresql://mesa:mesa@127.0.0.1:15432/mesa}$(
    [ -n "${INTAKE_DATABASE_URL:-}" ] && printf '\n  intake, routing: postgresql %s' "$INTAKE_DATABASE_URL")
  trazas / traces (Jaeger)        http://127.0.0.1:16686
  métricas / metrics (Prometheus) http://127.0.0.1:9090   alertas / alerts http://127.0.0.1:9193
  registros / logs                $LOGS/
TXT
}

"${1:-start}"
