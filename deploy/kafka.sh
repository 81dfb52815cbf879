#!/usr/bin/env bash
# Apache Kafka without Docker: jars from Maven Central, the machine's Java, KRaft mode, one node.
#   deploy/kafka.sh install|start|stop|status|clean
# Idempotent: `start` on a running broker returns at once; jars are fetched once into $MESA_CACHE.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

POM=$MESA_ROOT/deploy/kafka/pom.xml
VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
LIBS=$MESA_CACHE/kafka-$VERSION/libs
HOST=${KAFKA_HOST:-127.0.0.1}
PORT=${KAFKA_PORT:-9092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
DATA=$MESA_LOCAL/kafka
PIDFILE=$DATA/kafka.pid
LOG=$DATA/server.log
HEAP=${KAFKA_HEAP:-"-Xms256m -Xmx640m"}

install() {
  [ -f "$LIBS/.complete" ] && return 0
  command -v java >/dev/null || die "java is missing: install a JDK 17+ (apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null || { say "installing maven"; apt-get install -y -q maven >/dev/null; }
  say "fetching Kafka $VERSION jars from Maven Central into $LIBS"
  rm -rf "$LIBS"; mkdir -p "$LIBS"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS"
  touch "$LIBS/.complete"
}

configure() {
  mkdir -p "$DATA/log"
  sed -e "s|@HOST@|$HOST|g" -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
      -e "s|@DATA@|$DATA|g" "$MESA_ROOT/deploy/kafka/server.properties.in" > "$DATA/server.properties"
  if [ ! -f "$DATA/log/meta.properties" ]; then
    local cid
    cid=$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    say "formatting Kafka storage (cluster $cid)"
    java -cp "$LIBS/*" -Dlog4j2.configurationFile="$MESA_ROOT/deploy/kafka/log4j2.yaml" \
      kafka.tools.StorageTool format -t "$cid" -c "$DATA/server.properties" >"$DATA/format.log" 2>&1 \
      || { cat "$DATA/format.log" >&2; die "kafka storage format failed"; }
  fi
}

ready() { port_open "$HOST" "$PORT" && grep -q "Kafka Server started" "$LOG" 2>/dev/null; }

start() {
  if pid_alive "$PIDFILE"; then
    wait_for 60 "kafka ($HOST:$PORT)" ready || die "kafka (pid $(cat "$PIDFILE")) does not answer; see $LOG"
    return 0
  fi
  if port_open "$HOST" "$PORT"; then
    say "something already listens on $HOST:$PORT; using it as the Kafka broker"
    return 0
  fi
  install
  configure
  say "starting Kafka $VERSION on $HOST:$PORT"
  : > "$LOG"
  # setsid: the broker must outlive the shell (and make) that started it.
  setsid nohup java $HEAP -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$MESA_ROOT/deploy/kafka/log4j2.yaml" \
    -cp "$LIBS/*" kafka.Kafka "$DATA/server.properties" >>"$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  wait_for 120 "kafka ($HOST:$PORT)" ready || { tail -n 40 "$LOG" >&2; die "kafka did not start; see $LOG"; }
}

stop() { stop_pid "$PIDFILE"; say "kafka stopped"; }

status() {
  if pid_alive "$PIDFILE" && ready; then echo "kafka: running on $HOST:$PORT (pid $(cat "$PIDFILE"))"
  else echo "kafka: stopped"; return 1; fi
}

clean() { stop; rm -rf "$DATA"; say "kafka data removed"; }

"${1:-start}"
