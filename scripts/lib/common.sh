# shellcheck shell=bash
# Small helpers shared by scripts/*.sh. Source it; do not run it.
# Callers set LOG_PREFIX (e.g. "setup") before using say/die.

# Repository root, derived from this file's location (scripts/lib/..).
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_DIR

say() { printf '%s: %s\n' "${LOG_PREFIX:-script}" "$*"; }
warn() { printf '%s: warning: %s\n' "${LOG_PREFIX:-script}" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "${LOG_PREFIX:-script}" "$*" >&2
  exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

# Whole seconds since the epoch, for durations.
now_s() { date +%s; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Who listens on 127.0.0.1:$1 (best effort, for error messages).
port_owner() {
  if have ss; then
    ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n1
  fi
}

# A free TCP port on 127.0.0.1 (asked from the kernel).
free_port() {
  local py
  for py in python3 python; do
    if have "$py"; then
      "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' && return 0
    fi
  done
  # Fallback: probe a random high port range.
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  return 1
}

# HTTP status code of a request to $1 ("000" when nothing answers). Extra args go to curl.
http_code() {
  local url=$1
  shift
  curl -s -o /dev/null -m 2 -w '%{http_code}' "$@" "$url" 2>/dev/null || true
}

# True when $1 is a pid of a live (not zombie) process.
pid_alive() {
  [[ -n "${1:-}" && "$1" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$1" 2>/dev/null || return 1
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null || true)
  [[ -n "$st" && "$st" != Z* ]]
}

# Command line of process $1, arguments separated by spaces.
pid_cmdline() {
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
}

# Pid stored in file $1 when that process is alive, else nothing (and status 1).
pidfile_alive() {
  local pid
  [[ -f "$1" ]] || return 1
  pid=$(cat "$1" 2>/dev/null || true)
  pid_alive "$pid" || return 1
  echo "$pid"
}

# Stop process $1 (and its process group, when it leads one): TERM, wait up to
# ${2:-5} seconds, then KILL.
stop_pid() {
  local pid=$1 wait_s=${2:-5} i pgid
  pid_alive "$pid" || return 0
  pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)
  if [[ "$pgid" == "$pid" ]]; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  for ((i = 0; i < wait_s * 10; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
  if [[ "$pgid" == "$pid" ]]; then
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
  return 1
}

# Commands to run when the script exits (in order of registration).
_ON_EXIT=()
_run_on_exit() {
  local c
  for c in "${_ON_EXIT[@]}"; do eval "$c" || true; done
}
on_exit() {
  _ON_EXIT+=("$1")
  trap _run_on_exit EXIT
}
