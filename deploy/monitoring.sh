#!/usr/bin/env bash
# Prometheus and Alertmanager from Debian's packages, run as this clone's own processes (not the
# packages' system services), with the configuration ops/monitoring.py generates from the list of
# services: every service's /metrics and the lag watch, the rules in ops/prometheus/rules, alerts
# mailed to the supervisors through notify's SMTP server.
#   deploy/monitoring.sh install|start|stop|status|clean
# Prometheus: http://127.0.0.1:9090   Alertmanager: http://127.0.0.1:9193 (9093 is Kafka's controller)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DATA=$MESA_LOCAL/monitoring
PROM_PORT=${PROMETHEUS_PORT:-9090}
AM_PORT=${ALERTMANAGER_PORT:-9193}
export ALERTMANAGER_PORT=$AM_PORT

install() {
  command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null && return 0
  say "installing Prometheus and Alertmanager from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends prometheus prometheus-alertmanager >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null; apt-get install -y -q --no-install-recommends prometheus prometheus-alertmanager >/dev/null; }
  command -v prometheus >/dev/null || die "prometheus installed but not on PATH"
}

prom_ready() { curl -fsS -o /dev/null "http://127.0.0.1:$PROM_PORT/-/ready" 2>/dev/null; }
am_ready() { curl -fsS -o /dev/null "http://127.0.0.1:$AM_PORT/-/ready" 2>/dev/null; }

start() {
  install
  mkdir -p "$DATA/prometheus" "$DATA/alertmanager"
  "$MESA_ROOT/.venv/bin/python" -m ops.monitoring render "$DATA"
  if pid_alive "$DATA/alertmanager.pid"; then
    curl -fsS -X POST -o /dev/null "http://127.0.0.1:$AM_PORT/-/reload" || true
  else
    port_open 127.0.0.1 "$AM_PORT" && die "port 127.0.0.1:$AM_PORT is taken by another program; set ALERTMANAGER_PORT"
    say "starting Alertmanager on 127.0.0.1:$AM_PORT"
    # no cluster: its default gossip port (9094) is a Kafka broker's in a three-node cluster
    nohup prometheus-alertmanager --config.file="$DATA/alertmanager.yml" --storage.path="$DATA/alertmanager" \
      --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= >"$DATA/alertmanager.log" 2>&1 &
    echo $! >"$DATA/alertmanager.pid"
  fi
  if pid_alive "$DATA/prometheus.pid"; then
    curl -fsS -X POST -o /dev/null "http://127.0.0.1:$PROM_PORT/-/reload" || true
  else
    port_open 127.0.0.1 "$PROM_PORT" && die "port 127.0.0.1:$PROM_PORT is taken by another program; set PROMETHEUS_PORT"
    say "starting Prometheus on 127.0.0.1:$PROM_PORT"
    nohup prometheus --config.file="$DATA/prometheus.yml" --storage.tsdb.path="$DATA/prometheus" \
      --storage.tsdb.retention.time=15d --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-lifecycle \
      >"$DATA/prometheus.log" 2>&1 &
    echo $! >"$DATA/prometheus.pid"
  fi
  wait_for 60 "alertmanager (127.0.0.1:$AM_PORT)" am_ready || { tail -n 20 "$DATA/alertmanager.log" >&2; die "alertmanager does not answer"; }
  wait_for 60 "prometheus (127.0.0.1:$PROM_PORT)" prom_ready || { tail -n 20 "$DATA/prometheus.log" >&2; die "prometheus does not answer"; }
}

stop() { stop_pid "$DATA/prometheus.pid"; stop_pid "$DATA/alertmanager.pid"; say "prometheus and alertmanager stopped"; }

status() {
  local rc=0
  if pid_alive "$DATA/prometheus.pid" && prom_ready; then echo "prometheus: running on http://127.0.0.1:$PROM_PORT"; else echo "prometheus: stopped"; rc=1; fi
  if pid_alive "$DATA/alertmanager.pid" && am_ready; then echo "alertmanager: running on http://127.0.0.1:$AM_PORT"; else echo "alertmanager: stopped"; rc=1; fi
  return $rc
}

clean() { stop; rm -rf "$DATA"; say "monitoring data removed"; }

"${1:-start}"
