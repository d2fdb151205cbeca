#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A local stack on 127.0.0.1 for the tests and the demo:
#   source registry   docker-registry, no auth                     ${SOURCE_PORT:-5101}
#   target registry   docker-registry, htpasswd Basic auth (ECR's   ${TARGET_PORT:-5102}
#                     registry endpoint stand-in)
#   moto_server       ECR / Secrets Manager / CloudWatch APIs       ${MOTO_PORT:-5103}
#
#   scripts/stack.sh start            start what is not running (idempotent), wait until ready
#   scripts/stack.sh stop [--clean]   stop (TERM, then KILL); --clean also removes STACK_DIR
#                                     (the files start made; a nested stack dir is kept)
#   scripts/stack.sh status           what runs where (exit 0: all up, 3: not all up)
#   scripts/stack.sh env              'export' lines for the stack (also in $STACK_DIR/env)
#
# Environment: STACK_DIR (default <repo>/.stack), SOURCE_PORT, TARGET_PORT, MOTO_PORT,
#   TARGET_USERNAME (AWS), TARGET_PASSWORD (123456789012-auth-token: what moto's ECR
#   GetAuthorizationToken returns for account 123456789012), STACK_START_TIMEOUT (20 s),
#   STACK_REGISTRY_LOG_LEVEL (error; distribution accepts error|warn|info|debug).
# Each registry starts with empty storage (moto keeps its state in memory only, so
# a restart of the stack is a fresh stack). Logs in STACK_DIR: source-registry.log
# and target-registry.log hold only the HTTP access lines (Apache combined format,
# one per request); the registries' own messages (errors, start-up failures) go to
# source-registry.err.log / target-registry.err.log; moto.log. The previous run's
# logs are kept as *.prev. Several stacks can run at once with
# different STACK_DIRs and ports.
set -euo pipefail

LOG_PREFIX=stack
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

COMPONENTS=(source-registry target-registry moto)
MARKER=.image-mirror-stack

usage() {
  awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"
}

# ------------------------------------------------------------------ settings
abs_dir() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$PWD" "$1" ;;
  esac
}

STACK_DIR=$(abs_dir "${STACK_DIR:-$REPO_DIR/.stack}")
STACK_DIR=${STACK_DIR%/}
CONF="$STACK_DIR/stack.conf"

# Values asked for by the environment (empty: not set explicitly).
REQ_SOURCE_PORT=${SOURCE_PORT:-}
REQ_TARGET_PORT=${TARGET_PORT:-}
REQ_MOTO_PORT=${MOTO_PORT:-}
REQ_TARGET_USERNAME=${TARGET_USERNAME:-}
REQ_TARGET_PASSWORD=${TARGET_PASSWORD:-}

apply_defaults() {
  SOURCE_PORT=${REQ_SOURCE_PORT:-5101}
  TARGET_PORT=${REQ_TARGET_PORT:-5102}
  MOTO_PORT=${REQ_MOTO_PORT:-5103}
  TARGET_USERNAME=${REQ_TARGET_USERNAME:-AWS}
  TARGET_PASSWORD=${REQ_TARGET_PASSWORD:-123456789012-auth-token}
}

# Settings recorded by the last 'start' in this STACK_DIR.
load_conf() {
  [[ -f "$CONF" ]] || return 1
  # shellcheck source=/dev/null
  source "$CONF"
}

save_conf() {
  {
    printf 'SOURCE_PORT=%q\n' "$SOURCE_PORT"
    printf 'TARGET_PORT=%q\n' "$TARGET_PORT"
    printf 'MOTO_PORT=%q\n' "$MOTO_PORT"
    printf 'TARGET_USERNAME=%q\n' "$TARGET_USERNAME"
    printf 'TARGET_PASSWORD=%q\n' "$TARGET_PASSWORD"
  } >"$CONF"
}

for p in "${REQ_SOURCE_PORT}" "${REQ_TARGET_PORT}" "${REQ_MOTO_PORT}"; do
  [[ -z "$p" || "$p" =~ ^[0-9]+$ ]] || die "ports must be numbers (got '$p')"
done

pidfile() { echo "$STACK_DIR/$1.pid"; }
logfile() { echo "$STACK_DIR/$1.log"; }
# Where a component's own messages go (registries: stderr; moto: its only log).
errlogfile() {
  case "$1" in
    *-registry) echo "$STACK_DIR/$1.err.log" ;;
    *) logfile "$1" ;;
  esac
}

port_of() {
  case "$1" in
    source-registry) echo "$SOURCE_PORT" ;;
    target-registry) echo "$TARGET_PORT" ;;
    moto) echo "$MOTO_PORT" ;;
  esac
}

# The URL polled for readiness, and the HTTP code that means "ready" for a component.
ready_url() {
  case "$1" in
    moto) echo "http://127.0.0.1:$(port_of "$1")/" ;;
    *) echo "http://127.0.0.1:$(port_of "$1")/v2/" ;;
  esac
}
is_ready_code() {
  case "$1" in
    source-registry) [[ "$2" == 200 ]] ;;
    target-registry) [[ "$2" == 401 ]] ;;
    moto) [[ "$2" != 000 ]] ;;
  esac
}

# Pid of component $1 when it runs (and is really ours), else status 1.
running_pid() {
  local pid cmd
  pid=$(pidfile_alive "$(pidfile "$1")") || return 1
  cmd=$(pid_cmdline "$pid")
  case "$1" in
    source-registry | target-registry) [[ "$cmd" == *"$STACK_DIR/$1.yml"* ]] || return 1 ;;
    moto) [[ "$cmd" == *moto_server* ]] || return 1 ;;
  esac
  echo "$pid"
}

any_running() {
  local c
  for c in "${COMPONENTS[@]}"; do
    running_pid "$c" >/dev/null && return 0
  done
  return 1
}

# Settings in force: those recorded by 'start' while something runs, else the
# environment's (with defaults).
resolve_settings() {
  apply_defaults
  if any_running; then load_conf || true; fi
}

env_lines() {
  printf 'export SOURCE_REGISTRY=%q\n' "127.0.0.1:$SOURCE_PORT"
  printf 'export TARGET_REGISTRY=%q\n' "127.0.0.1:$TARGET_PORT"
  printf 'export TARGET_USERNAME=%q\n' "$TARGET_USERNAME"
  printf 'export TARGET_PASSWORD=%q\n' "$TARGET_PASSWORD"
  printf 'export AWS_ENDPOINT_URL=%q\n' "http://127.0.0.1:$MOTO_PORT"
  printf 'export AWS_REGION=%q\n' us-east-1
  printf 'export AWS_ACCESS_KEY_ID=%q\n' testing
  printf 'export AWS_SECRET_ACCESS_KEY=%q\n' testing
  printf 'export STACK_DIR=%q\n' "$STACK_DIR"
  printf 'export SOURCE_LOG=%q\n' "$(logfile source-registry)"
  printf 'export TARGET_LOG=%q\n' "$(logfile target-registry)"
  printf 'export MOTO_LOG=%q\n' "$(logfile moto)"
}

# ------------------------------------------------------------------- configs
yaml_str() { printf "'%s'" "${1//\'/\'\'}"; }

write_registry_config() {
  local name=$1 port=$2 auth=$3 data="$STACK_DIR/${1%-registry}-data" secret
  secret=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  {
    cat <<EOF
# Generated by scripts/stack.sh: do not edit (rewritten on each start).
version: 0.1
log:
  level: ${STACK_REGISTRY_LOG_LEVEL:-error}
  formatter: text
  accesslog:
    disabled: false
  fields:
    service: $name
storage:
  filesystem:
    rootdirectory: $(yaml_str "$data")
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: $secret
  headers:
    X-Content-Type-Options: [nosniff]
EOF
    if [[ "$auth" == htpasswd ]]; then
      cat <<EOF
auth:
  htpasswd:
    realm: basic-realm
    path: $(yaml_str "$STACK_DIR/target.htpasswd")
EOF
    fi
  } >"$STACK_DIR/$name.yml"
}

# ------------------------------------------------------------------- commands
check_tools() {
  local t missing=()
  for t in docker-registry moto_server htpasswd curl setsid flock; do
    have "$t" || missing+=("$t")
  done
  [[ ${#missing[@]} -eq 0 ]] || die "missing: ${missing[*]} (run scripts/setup.sh as root)"
}

# Starts component $1 in the background, in its own session; its pid goes to
# its pid file (written by the process itself, before exec). Its stdout goes to
# <name>.log; its stderr to <name>.err.log when $2 is "split", else to <name>.log.
launch() {
  local name=$1 split=$2 log errlog pf i f
  shift 2
  log=$(logfile "$name")
  errlog=$log
  [[ "$split" == split ]] && errlog=$(errlogfile "$name")
  pf=$(pidfile "$name")
  rm -f "$pf"
  local files=("$log")
  [[ "$errlog" != "$log" ]] && files+=("$errlog")
  for f in "${files[@]}"; do
    [[ -f "$f" ]] && mv -f "$f" "$f.prev"
    : >"$f"
  done
  # Registry settings could be overridden by REGISTRY_* variables: drop them.
  local unset_args=() v
  for v in $(compgen -e | grep '^REGISTRY_' || true); do unset_args+=(-u "$v"); done
  # shellcheck disable=SC2016 # $$, $0 and $@ are for the inner bash
  env "${unset_args[@]}" setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$pf" "$@" \
    >>"$log" 2>>"$errlog" </dev/null 9>&- &
  for ((i = 0; i < 50; i++)); do
    [[ -s "$pf" ]] && return 0
    sleep 0.1
  done
  die "$name did not start (no pid file $pf); log: $errlog"
}

STARTED=()
cleanup_failed_start() {
  local c pid
  for c in "${STARTED[@]}"; do
    if pid=$(running_pid "$c"); then stop_pid "$pid" 3 || true; fi
    rm -f "$(pidfile "$c")"
  done
}

cmd_start() {
  check_tools
  mkdir -p "$STACK_DIR"
  touch "$STACK_DIR/$MARKER"
  exec 9>"$STACK_DIR/.lock"
  flock -w 60 9 || die "another start/stop holds $STACK_DIR/.lock"

  apply_defaults
  if any_running; then
    load_conf || die "processes run in $STACK_DIR but $CONF is missing: run '$0 stop' first"
    local k want have_v mismatch=""
    for k in SOURCE_PORT TARGET_PORT MOTO_PORT TARGET_USERNAME TARGET_PASSWORD; do
      want=REQ_$k
      have_v=${!k}
      [[ -z "${!want}" || "${!want}" == "$have_v" ]] || mismatch+=" $k=${!want} (running: $have_v)"
    done
    [[ -z "$mismatch" ]] || die "a stack already runs in $STACK_DIR with other settings:$mismatch; run '$0 stop' first or use another STACK_DIR"
  fi

  local c all=1
  for c in "${COMPONENTS[@]}"; do running_pid "$c" >/dev/null || all=0; done
  if [[ "$all" == 1 ]]; then
    say "already running in $STACK_DIR"
    cmd_status || true
    env_lines >"$STACK_DIR/env"
    return 0
  fi

  # Ports of the components to start must be free.
  local port owner
  for c in "${COMPONENTS[@]}"; do
    running_pid "$c" >/dev/null && continue
    port=$(port_of "$c")
    if port_in_use "$port"; then
      owner=$(port_owner "$port")
      die "port 127.0.0.1:$port (for $c) is already in use${owner:+ by $owner}: stop it or choose another port (SOURCE_PORT/TARGET_PORT/MOTO_PORT)"
    fi
  done
  [[ "$SOURCE_PORT" != "$TARGET_PORT" && "$SOURCE_PORT" != "$MOTO_PORT" && "$TARGET_PORT" != "$MOTO_PORT" ]] ||
    die "SOURCE_PORT, TARGET_PORT and MOTO_PORT must differ"

  save_conf
  on_exit cleanup_failed_start
  for c in "${COMPONENTS[@]}"; do
    if running_pid "$c" >/dev/null; then
      say "$c already running (pid $(running_pid "$c"))"
      continue
    fi
    case "$c" in
      source-registry)
        rm -rf "$STACK_DIR/source-data"
        mkdir -p "$STACK_DIR/source-data"
        write_registry_config source-registry "$SOURCE_PORT" none
        launch source-registry split docker-registry serve "$STACK_DIR/source-registry.yml"
        ;;
      target-registry)
        rm -rf "$STACK_DIR/target-data"
        mkdir -p "$STACK_DIR/target-data"
        htpasswd -Bbn "$TARGET_USERNAME" "$TARGET_PASSWORD" >"$STACK_DIR/target.htpasswd" 2>/dev/null ||
          die "htpasswd failed"
        write_registry_config target-registry "$TARGET_PORT" htpasswd
        launch target-registry split docker-registry serve "$STACK_DIR/target-registry.yml"
        ;;
      moto)
        launch moto same moto_server -H 127.0.0.1 -p "$MOTO_PORT"
        ;;
    esac
    STARTED+=("$c")
  done

  # Readiness: poll each component until it answers as expected.
  local timeout=${STACK_START_TIMEOUT:-20} deadline code pending
  deadline=$(($(now_s) + timeout))
  pending=("${COMPONENTS[@]}")
  while [[ ${#pending[@]} -gt 0 ]]; do
    local still=()
    for c in "${pending[@]}"; do
      code=$(http_code "$(ready_url "$c")")
      if is_ready_code "$c" "$code"; then
        continue
      fi
      if ! running_pid "$c" >/dev/null; then
        start_failed "$c" "exited during start-up"
      fi
      still+=("$c")
    done
    pending=("${still[@]+"${still[@]}"}")
    [[ ${#pending[@]} -eq 0 ]] && break
    if [[ $(now_s) -ge $deadline ]]; then
      c=${pending[0]}
      start_failed "$c" "not ready within ${timeout} s ($(ready_url "$c") answered HTTP $(http_code "$(ready_url "$c")"))"
    fi
    sleep 0.1
  done
  STARTED=()
  env_lines >"$STACK_DIR/env"
  say "started in $STACK_DIR"
  cmd_status
}

start_failed() {
  local c=$1 why=$2 log
  log=$(errlogfile "$c")
  {
    printf 'stack: error: %s on 127.0.0.1:%s %s. Last lines of %s:\n' "$c" "$(port_of "$c")" "$why" "$log"
    if [[ -s "$log" ]]; then tail -n 20 "$log" | sed 's/^/  | /'; else echo "  (empty)"; fi
  } >&2
  exit 1
}

cmd_stop() {
  local clean=0 a
  for a in "$@"; do
    case "$a" in
      --clean) clean=1 ;;
      *) die "unknown option for stop: $a" ;;
    esac
  done
  if [[ ! -e "$STACK_DIR/$MARKER" ]]; then
    say "no stack in $STACK_DIR (no $MARKER): nothing to stop"
    return 0
  fi
  exec 9>"$STACK_DIR/.lock"
  flock -w 60 9 || die "another start/stop holds $STACK_DIR/.lock"
  local c pid
  for c in "${COMPONENTS[@]}"; do
    if pid=$(running_pid "$c"); then
      if stop_pid "$pid" 5; then
        say "stopped $c (pid $pid)"
      else
        warn "$c (pid $pid) did not die"
      fi
    fi
    rm -f "$(pidfile "$c")"
  done
  if [[ "$clean" == 1 ]]; then
    # Remove what start made, not the whole tree: another stack may live in a
    # sub-directory (e.g. STACK_DIR=<repo>/.stack/test beside the default one).
    local f
    for c in "${COMPONENTS[@]}"; do
      for f in "$c.pid" "$c.yml" "$c.log" "$c.log.prev" "$c.err.log" "$c.err.log.prev"; do
        rm -f "$STACK_DIR/$f"
      done
    done
    rm -rf "$STACK_DIR/source-data" "$STACK_DIR/target-data"
    rm -f "$STACK_DIR/target.htpasswd" "$STACK_DIR/env" "$CONF" "$STACK_DIR/.lock" "$STACK_DIR/$MARKER"
    if rmdir "$STACK_DIR" 2>/dev/null; then
      say "removed $STACK_DIR"
    else
      say "cleaned $STACK_DIR (kept: it holds other files: $(find "$STACK_DIR" -mindepth 1 -maxdepth 1 -printf '%f ' | head -c 200))"
    fi
  fi
  return 0
}

cmd_status() {
  resolve_settings
  local c pid port code all=0 state
  printf 'stack dir: %s\n' "$STACK_DIR"
  for c in "${COMPONENTS[@]}"; do
    port=$(port_of "$c")
    if pid=$(running_pid "$c"); then
      code=$(http_code "$(ready_url "$c")")
      if is_ready_code "$c" "$code"; then state="up"; else state="NOT READY"; all=3; fi
      printf '  %-16s %-9s pid %-7s %-26s HTTP %s  log %s\n' "$c" "$state" "$pid" "$(ready_url "$c")" "$code" "$(logfile "$c")"
    else
      all=3
      printf '  %-16s %-9s %-11s %s\n' "$c" stopped "" "127.0.0.1:$port"
    fi
  done
  return "$all"
}

cmd_env() {
  resolve_settings
  env_lines
}

case "${1:-}" in
  start) shift; [[ $# -eq 0 ]] || die "start takes no arguments"; cmd_start ;;
  stop) shift; cmd_stop "$@" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
