#!/usr/bin/env bash
# Apache Kafka without Docker: jars from Maven Central, the machine's Java, KRaft mode, one node.
#   deploy/kafka.sh install|start|stop|status|clean|add-principal NAME|credentials|compose
# Idempotent: `start` on a running broker returns at once; jars are fetched once into $MESA_CACHE.
# Nobody is anonymous: when it formats the storage it creates a SCRAM-SHA-512 user per principal
# and writes, mode 0600, a librdkafka-style file for each (.local/kafka/<principal>.properties:
# `kcat -F` reads it as is; Mesa's processes read theirs). What each may do: shared/platform/acls.py.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

POM=$MESA_ROOT/deploy/kafka/pom.xml
VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
LIBS=$MESA_CACHE/kafka-$VERSION/libs
HOST=${KAFKA_HOST:-127.0.0.1}
BIND=${KAFKA_BIND:-$HOST}
PORT=${KAFKA_PORT:-9092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
DATA=$MESA_LOCAL/kafka
PIDFILE=$DATA/kafka.pid
LOG=$DATA/server.log
HEAP=${KAFKA_HEAP:-"-Xms256m -Xmx640m"}
# Mesa's services, the other systems (orders), read-only auditors, operators (admin, super user).
PRINCIPALS=(admin intake routing sla notify projections audit mailin orders auditor monitor)

install() {
  [ -f "$LIBS/.complete" ] && return 0
  command -v java >/dev/null || die "java is missing: install a JDK 17+ (apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null || { say "installing maven"; apt-get install -y -q maven >/dev/null; }
  say "fetching Kafka $VERSION jars from Maven Central into $LIBS"
  rm -rf "$LIBS"; mkdir -p "$LIBS"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS"
  touch "$LIBS/.complete"
}

new_password() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32; }

# password_of NAME: the password in NAME's client file.
password_of() { sed -n 's/^sasl\.password=//p' "$DATA/$1.properties"; }

# write_client NAME PASSWORD: NAME's librdkafka-style client file (kcat -F FILE), mode 0600.
write_client() {
  (umask 077; cat > "$DATA/$1.properties" <<PROPS
# Kafka client settings of principal '$1' (librdkafka style: kcat -F this-file).
bootstrap.servers=$HOST:$PORT
security.protocol=SASL_PLAINTEXT
sasl.mechanisms=SCRAM-SHA-512
sasl.username=$1
sasl.password=$2
PROPS
  )
}

# java_client NAME: the same for Kafka's own Java tools (--command-config).
java_client() {
  (umask 077; cat > "$DATA/$1.java.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$1" password="$(password_of "$1")";
PROPS
  )
}

# credentials: every principal's client file and the controller's password, made once; then
# server.properties from the template (also what docker-compose's `secrets` job runs).
credentials() {
  mkdir -p "$DATA"
  chmod 700 "$DATA"
  if [ ! -f "$DATA/admin.properties" ]; then
    [ -f "$DATA/log/meta.properties" ] && die "the Kafka storage in $DATA predates authentication (no admin.properties): \`make clean\` starts afresh (local data is lost)"
    for p in "${PRINCIPALS[@]}"; do write_client "$p" "$(new_password)"; done
    (umask 077; new_password > "$DATA/controller.password")
  fi
  for p in "${PRINCIPALS[@]}"; do [ -f "$DATA/$p.properties" ] || write_client "$p" "$(new_password)"; done
  java_client admin
  (umask 077; sed -e "s|@HOST@|$HOST|g" -e "s|@BIND@|$BIND|g" -e "s|@PORT@|$PORT|g" \
      -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@DATA@|$DATA|g" \
      -e "s|@ADMIN_PASSWORD@|$(password_of admin)|g" \
      -e "s|@CONTROLLER_PASSWORD@|$(cat "$DATA/controller.password")|g" \
      "$MESA_ROOT/deploy/kafka/server.properties.in" > "$DATA/server.properties")
}

# format_storage CLASSPATH: a new node's storage, with a SCRAM user per principal (idempotent).
format_storage() {
  [ -f "$DATA/log/meta.properties" ] && return 0
  mkdir -p "$DATA/log"
  local cid scram=()
  for p in "${PRINCIPALS[@]}"; do scram+=(--add-scram "SCRAM-SHA-512=[name=$p,password=$(password_of "$p")]"); done
  cid=$(java -cp "$1" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
  say "formatting Kafka storage (cluster $cid, ${#PRINCIPALS[@]} SCRAM users)"
  java -cp "$1" -Dlog4j2.configurationFile="$MESA_ROOT/deploy/kafka/log4j2.yaml" \
    kafka.tools.StorageTool format -t "$cid" -c "$DATA/server.properties" "${scram[@]}" >"$DATA/format.log" 2>&1 \
    || { cat "$DATA/format.log" >&2; die "kafka storage format failed"; }
  for p in "${PRINCIPALS[@]}"; do : > "$DATA/$p.user"; done  # these users exist on the broker
}

configure() {
  credentials
  format_storage "$LIBS/*"
}

# compose: inside the apache/kafka image (docker-compose.yml): format once, then run in the foreground.
compose() {
  format_storage "/opt/kafka/libs/*"
  exec /opt/kafka/bin/kafka-server-start.sh "$DATA/server.properties"
}

# add-principal NAME: a new SCRAM user on the running broker and its client file (then give it
# ACLs: shared/platform/acls.py and `mesa topics create`).
add_principal() {
  local name=${1:?usage: deploy/kafka.sh add-principal NAME}
  [[ $name =~ ^[a-z][a-z0-9-]{1,30}$ ]] || die "a principal is lowercase letters, digits and dashes"
  pid_alive "$PIDFILE" || die "start Kafka first (make infra)"
  [ -f "$DATA/$name.properties" ] || write_client "$name" "$(new_password)"
  java -cp "$LIBS/*" -Dlog4j2.configurationFile="$MESA_ROOT/deploy/kafka/log4j2.yaml" kafka.admin.ConfigCommand \
    --bootstrap-server "$HOST:$PORT" --command-config "$DATA/admin.java.properties" --alter \
    --add-config "SCRAM-SHA-512=[password=$(password_of "$name")]" --entity-type users --entity-name "$name" \
    >"$DATA/add-principal.log" 2>&1 || { cat "$DATA/add-principal.log" >&2; die "could not create the SCRAM user $name"; }
  : > "$DATA/$name.user"
  say "principal $name: $DATA/$name.properties"
}

ready() { port_open "$HOST" "$PORT" && grep -q "Kafka Server started" "$LOG" 2>/dev/null; }

# Principals added to the list after a cluster was formatted (a new service) get their user now
# (`<name>.user` marks a user the broker has; a cluster formatted before the marks gets each
# user set again once, with the password it has).
missing_principals() {
  local p
  for p in "${PRINCIPALS[@]}"; do [ -f "$DATA/$p.user" ] || add_principal "$p"; done
}

start() {
  if pid_alive "$PIDFILE"; then
    wait_for 60 "kafka ($HOST:$PORT)" ready || die "kafka (pid $(cat "$PIDFILE")) does not answer; see $LOG"
    missing_principals
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
  missing_principals
}

stop() { stop_pid "$PIDFILE"; say "kafka stopped"; }

status() {
  if pid_alive "$PIDFILE" && ready; then echo "kafka: running on $HOST:$PORT (pid $(cat "$PIDFILE"))"
  else echo "kafka: stopped"; return 1; fi
}

clean() { stop; rm -rf "$DATA"; say "kafka data removed"; }

case "${1:-start}" in
  add-principal) shift; add_principal "$@" ;;
  *) "${1:-start}" ;;
esac
