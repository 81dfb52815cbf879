# Sourced by the deploy scripts: where things live, and small helpers.
# Data of this clone lives under .local/ (git-ignored); downloads are cached outside the clone so a
# fresh clone on a machine that has fetched them once starts in seconds.
set -euo pipefail
MESA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MESA_LOCAL=${MESA_LOCAL:-$MESA_ROOT/.local}
MESA_CACHE=${MESA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mesa}
mkdir -p "$MESA_LOCAL" "$MESA_CACHE"

say() { printf '\033[1m[mesa]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[mesa] %s\033[0m\n' "$*" >&2; exit 1; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# pid_alive FILE: true when FILE names a running process.
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds or the deadline passes.
wait_for() {
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
  say "$what ready"
}

# stop_pid FILE: SIGTERM the process named in FILE (never by name), wait up to 30 s, then SIGKILL.
stop_pid() {
  local file=$1 pid
  pid_alive "$file" || { rm -f "$file"; return 0; }
  pid=$(cat "$file")
  kill -TERM "$pid"
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$file"
}
