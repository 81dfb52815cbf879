#!/usr/bin/env bash
# Apache Kafka without Docker: jars from Maven Central, the machine's Java, KRaft mode, one node
# (KAFKA_BROKERS=3: three).
#   deploy/kafka.sh install|start|stop|status|clean|add-principal NAME|stop-node I|bootstrap|credentials|compose
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
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
DATA=$MESA_LOCAL/kafka
HEAP=${KAFKA_HEAP:-"-Xms256m -Xmx640m"}
# KAFKA_JIT=c1 (default): the JVM's quick compiler only, which warms at once (tests' brokers live
# minutes, a benchmark starts from `make up`); full: C1 then C2, for a broker that stays up for
# hours: a quarter less CPU per record once C2 has compiled, more while it compiles
# (docs/benchmarks.md, fourteenth round).
JIT=${KAFKA_JIT:-c1}
case $JIT in c1) JIT_FLAGS=-XX:TieredStopAtLevel=1 ;; full) JIT_FLAGS= ;; *) die "KAFKA_JIT is c1 or full" ;; esac
# KAFKA_BROKERS=3: a cluster of three combined broker+controller nodes, node i on PORT + 2(i-1)
# (its controller on the next port), each with its own storage under $DATA/nodes/i. In
# containers (KAFKA_SPREAD=hosts) every node has the same ports and a host of its own: kafka,
# kafka2, kafka3. Credentials are the cluster's, shared by its nodes.
BROKERS=${KAFKA_BROKERS:-1}
[[ $BROKERS =~ ^[1-5]$ ]] || die "KAFKA_BROKERS is a number of nodes from 1 to 5"
SPREAD=${KAFKA_SPREAD:-ports}
if [ "$BROKERS" -ge 3 ]; then RF=3; MIN_ISR=2; else RF=$BROKERS; MIN_ISR=1; fi
CLUSTER=$DATA; [ "$BROKERS" = 1 ] || CLUSTER=$DATA/nodes
# Mesa's services, the other systems (orders), read-only auditors, operators (admin, super user).
PRINCIPALS=(admin intake routing sla notify projections audit mailin orders auditor monitor)

node_host() { if [ "$SPREAD" = hosts ] && [ "$1" != 1 ]; then echo "$HOST$1"; else echo "$HOST"; fi; }
node_port() { if [ "$SPREAD" = hosts ]; then echo "$PORT"; else echo $((PORT + 2 * ($1 - 1))); fi; }
node_cport() { if [ "$SPREAD" = hosts ]; then echo "$CONTROLLER_PORT"; else echo $((CONTROLLER_PORT + 2 * ($1 - 1))); fi; }
node_dir() { if [ "$BROKERS" = 1 ]; then echo "$DATA"; else echo "$CLUSTER/$1"; fi; }
nodes() { seq 1 "$BROKERS"; }
bootstrap() { local i out=(); for i in $(nodes); do out+=("$(node_host "$i"):$(node_port "$i")"); done; (IFS=,; echo "${out[*]}"); }
voters() { local i out=(); for i in $(nodes); do out+=("$i@$(node_host "$i"):$(node_cport "$i")"); done; (IFS=,; echo "${out[*]}"); }

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
bootstrap.servers=$(bootstrap)
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
# each node's server.properties from the template (also what docker-compose's `secrets` job runs).
credentials() {
  mkdir -p "$DATA"
  chmod 700 "$DATA"
  if [ ! -f "$DATA/admin.properties" ]; then
    [ -f "$DATA/log/meta.properties" ] && die "the Kafka storage in $DATA predates authentication (no admin.properties): \`make clean\` starts afresh (local data is lost)"
    for p in "${PRINCIPALS[@]}"; do write_client "$p" "$(new_password)"; done
    (umask 077; new_password > "$DATA/controller.password")
  fi
  local p i dir
  for p in "${PRINCIPALS[@]}"; do [ -f "$DATA/$p.properties" ] || write_client "$p" "$(new_password)"; done
  # the client files name the cluster that runs now (one node or three)
  for p in "${PRINCIPALS[@]}"; do sed -i "s|^bootstrap\.servers=.*|bootstrap.servers=$(bootstrap)|" "$DATA/$p.properties"; done
  java_client admin
  # the cluster's id (a UUID, base64url as Kafka writes it, never starting with '-', which
  # the format tool would read as an option), made here once so that nodes formatting side by
  # side (containers) agree on it
  mkdir -p "$CLUSTER"
  local cid=-
  if [ ! -s "$CLUSTER/cluster.id" ]; then
    while [[ $cid == -* ]]; do cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'); done
    echo "$cid" > "$CLUSTER/cluster.id"
  fi
  for i in $(nodes); do
    dir=$(node_dir "$i"); mkdir -p "$dir"
    (umask 077; sed -e "s|@HOST@|$(node_host "$i")|g" -e "s|@BIND@|$BIND|g" -e "s|@PORT@|$(node_port "$i")|g" \
        -e "s|@CONTROLLER_PORT@|$(node_cport "$i")|g" -e "s|@NODE_DIR@|$dir|g" -e "s|@NODE_ID@|$i|g" \
        -e "s|@VOTERS@|$(voters)|g" -e "s|@RF@|$RF|g" -e "s|@MIN_ISR@|$MIN_ISR|g" \
        -e "s|@ADMIN_PASSWORD@|$(password_of admin)|g" \
        -e "s|@CONTROLLER_PASSWORD@|$(cat "$DATA/controller.password")|g" \
        "$MESA_ROOT/deploy/kafka/server.properties.in" > "$dir/server.properties")
  done
}

# format_storage NODE CLASSPATH: a new node's storage, with a SCRAM user per principal
# (idempotent). The nodes of a cluster share its id (`credentials` makes it).
format_storage() {
  local dir; dir=$(node_dir "$1")
  [ -f "$dir/log/meta.properties" ] && return 0
  mkdir -p "$dir/log"
  local cid scram=()
  for p in "${PRINCIPALS[@]}"; do scram+=(--add-scram "SCRAM-SHA-512=[name=$p,password=$(password_of "$p")]"); done
  cid=$(cat "$CLUSTER/cluster.id")
  say "formatting Kafka storage of node $1 (cluster $cid, ${#PRINCIPALS[@]} SCRAM users)"
  java -cp "$2" -Dlog4j2.configurationFile="$MESA_ROOT/deploy/kafka/log4j2.yaml" \
    kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" "${scram[@]}" >"$dir/format.log" 2>&1 \
    || { cat "$dir/format.log" >&2; die "kafka storage format failed"; }
  for p in "${PRINCIPALS[@]}"; do : > "$CLUSTER/$p.user"; done  # these users exist on the cluster
}

# A log of the other shape already here: the databases hold positions in that log, which a new
# cluster's would not match (consumers would wait past its end). Starting afresh is a decision.
other_shape_formatted() {
  local f
  if [ "$BROKERS" = 1 ]; then for f in "$DATA"/nodes/*/log/meta.properties; do [ -f "$f" ] && return 0; done
  else [ -f "$DATA/log/meta.properties" ] && return 0; fi
  return 1
}

configure() {
  if other_shape_formatted && [ ! -f "$(node_dir 1)/log/meta.properties" ]; then
    die "Kafka data of a cluster with another number of nodes is in $DATA, and the databases hold positions in its log: \`make clean\` first (local data is lost), then KAFKA_BROKERS=$BROKERS make up"
  fi
  credentials
  local i
  for i in $(nodes); do format_storage "$i" "$LIBS/*"; done
}

# compose: inside the apache/kafka image (docker-compose.yml): format node KAFKA_NODE (default 1)
# once, then run it in the foreground.
compose() {
  local i=${KAFKA_NODE:-1}
  format_storage "$i" "/opt/kafka/libs/*"
  exec /opt/kafka/bin/kafka-server-start.sh "$(node_dir "$i")/server.properties"
}

# add-principal NAME: a new SCRAM user on the running broker and its client file (then give it
# ACLs: shared/platform/acls.py and `mesa topics create`).
add_principal() {
  local name=${1:?usage: deploy/kafka.sh add-principal NAME}
  [[ $name =~ ^[a-z][a-z0-9-]{1,30}$ ]] || die "a principal is lowercase letters, digits and dashes"
  pid_alive "$(node_dir 1)/kafka.pid" || die "start Kafka first (make infra)"
  [ -f "$DATA/$name.properties" ] || write_client "$name" "$(new_password)"
  java -cp "$LIBS/*" -Dlog4j2.configurationFile="$MESA_ROOT/deploy/kafka/log4j2.yaml" kafka.admin.ConfigCommand \
    --bootstrap-server "$(bootstrap)" --command-config "$DATA/admin.java.properties" --alter \
    --add-config "SCRAM-SHA-512=[password=$(password_of "$name")]" --entity-type users --entity-name "$name" \
    >"$DATA/add-principal.log" 2>&1 || { cat "$DATA/add-principal.log" >&2; die "could not create the SCRAM user $name"; }
  : > "$CLUSTER/$name.user"
  say "principal $name: $DATA/$name.properties"
}

# ready NODE: it takes connections and has joined the cluster.
ready() { port_open "$(node_host "$1")" "$(node_port "$1")" && grep -q "Kafka Server started" "$(node_dir "$1")/server.log" 2>/dev/null; }

# Principals added to the list after a cluster was formatted (a new service) get their user now
# (`<name>.user` marks a user the cluster has; a cluster formatted before the marks gets each
# user set again once, with the password it has).
missing_principals() {
  local p
  for p in "${PRINCIPALS[@]}"; do [ -f "$CLUSTER/$p.user" ] || add_principal "$p"; done
}

# The pid files of the other shape's nodes (one node when three are asked for, or the reverse):
# both use port 9092, so one must stop before the other starts.
other_shape_running() {
  local f
  if [ "$BROKERS" = 1 ]; then for f in "$DATA"/nodes/*/kafka.pid; do pid_alive "$f" && return 0; done
  else pid_alive "$DATA/kafka.pid" && return 0; fi
  return 1
}

# start_node NODE: its JVM, if it does not run (a node killed in a cluster comes back this way).
start_node() {
  local dir; dir=$(node_dir "$1")
  pid_alive "$dir/kafka.pid" && return 0
  say "starting Kafka $VERSION node $1 on $(node_host "$1"):$(node_port "$1")"
  # the last three runs' logs are kept (server.log.1 is the one before); `ready` reads this run's
  local n
  for n in 2 1; do [ -f "$dir/server.log.$n" ] && mv "$dir/server.log.$n" "$dir/server.log.$((n + 1))"; done
  [ -f "$dir/server.log" ] && mv "$dir/server.log" "$dir/server.log.1"
  : > "$dir/server.log"
  # setsid: the broker must outlive the shell (and make) that started it.
  setsid nohup java $HEAP -XX:+UseSerialGC $JIT_FLAGS -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$MESA_ROOT/deploy/kafka/log4j2.yaml" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" >>"$dir/server.log" 2>&1 < /dev/null &
  echo $! > "$dir/kafka.pid"
}

start() {
  local i all=1
  for i in $(nodes); do pid_alive "$(node_dir "$i")/kafka.pid" || all=0; done
  if [ $all = 1 ]; then
    for i in $(nodes); do
      wait_for 60 "kafka node $i ($(node_host "$i"):$(node_port "$i"))" ready "$i" \
        || die "kafka node $i does not answer; see $(node_dir "$i")/server.log"
    done
    missing_principals
    return 0
  fi
  other_shape_running && die "Kafka runs here with another number of nodes than KAFKA_BROKERS=$BROKERS: \`make down\` first"
  if [ "$BROKERS" = 1 ] && ! pid_alive "$DATA/kafka.pid" && port_open "$HOST" "$PORT"; then
    say "something already listens on $HOST:$PORT; using it as the Kafka broker"
    return 0
  fi
  install
  configure
  # a cluster's nodes wait for each other (a quorum of controllers): start them all, then wait
  for i in $(nodes); do start_node "$i"; done
  for i in $(nodes); do
    wait_for 120 "kafka node $i ($(node_host "$i"):$(node_port "$i"))" ready "$i" \
      || { tail -n 40 "$(node_dir "$i")/server.log" >&2; die "kafka node $i did not start; see $(node_dir "$i")/server.log"; }
  done
  missing_principals
}

# stop: every node of either shape, all asked at once (a node stopping alone waits for a
# controller quorum that its peers, stopping one by one, would take away).
stop() {
  local f pids=()
  for f in "$DATA/kafka.pid" "$DATA"/nodes/*/kafka.pid; do
    pid_alive "$f" && { kill -TERM "$(cat "$f")"; pids+=("$f"); }
  done
  for f in "${pids[@]}"; do stop_pid "$f"; done
  say "kafka stopped"
}

# stop-node NODE: one node, gracefully (its partitions' leadership moves first): a rolling
# restart is `stop-node i; start` for each node in turn.
stop_node() {
  local i=${1:?usage: deploy/kafka.sh stop-node NODE}
  stop_pid "$(node_dir "$i")/kafka.pid"
  say "kafka node $i stopped"
}

status() {
  local i rc=0
  for i in $(nodes); do
    local dir; dir=$(node_dir "$i")
    if pid_alive "$dir/kafka.pid" && ready "$i"; then
      echo "kafka node $i: running on $(node_host "$i"):$(node_port "$i") (pid $(cat "$dir/kafka.pid"))"
    else echo "kafka node $i: stopped"; rc=1; fi
  done
  # who leads which partitions, and which have fewer replicas in sync than they should
  if [ "$BROKERS" -gt 1 ] && [ -x "$MESA_ROOT/.venv/bin/mesa" ]; then
    KAFKA_BOOTSTRAP_SERVERS=$(bootstrap) MESA_KAFKA_CREDENTIALS=$DATA "$MESA_ROOT/.venv/bin/mesa" cluster || rc=1
  fi
  return $rc
}

clean() { stop; rm -rf "$DATA"; say "kafka data removed"; }

case "${1:-start}" in
  add-principal) shift; add_principal "$@" ;;
  stop-node) shift; stop_node "$@" ;;
  bootstrap) bootstrap ;;
  *) "${1:-start}" ;;
esac
