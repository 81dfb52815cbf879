#!/usr/bin/env bash
# kcat against Mesa's broker: `bash deploy/kcat.sh -F .local/kafka/auditor.properties -C -t ticket.events -e`
# Debian 12's kcat links librdkafka 2.0.2, whose SCRAM client repeats the client nonce: Kafka 4
# checks the nonce strictly (RFC 5802) and refuses it (fixed in librdkafka 2.6.1). So this runs
# the machine's kcat with the newer librdkafka that the pinned confluent-kafka wheel ships in
# the project's venv (make venv installs it); the client files are used as they are.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
command -v kcat >/dev/null || { say "installing kcat"; apt-get install -y -q kcat >/dev/null; }
lib=$(ls "$MESA_ROOT"/.venv/lib/python3*/site-packages/confluent_kafka.libs/librdkafka-*.so.1 2>/dev/null | head -n 1)
[ -n "$lib" ] || die "no librdkafka in .venv: run make venv first"
mkdir -p "$MESA_CACHE/librdkafka"
ln -sf "$lib" "$MESA_CACHE/librdkafka/librdkafka.so.1"
LD_LIBRARY_PATH="$MESA_CACHE/librdkafka${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec kcat "$@"
