#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Installs what the tests and the demo need, on a Debian/Ubuntu machine, as root.
# Idempotent: a rerun on a ready machine only checks (a few seconds).
#
#   scripts/setup.sh [--no-npm]
#
#   apt packages   docker-registry apache2-utils golang-go skopeo curl jq ca-certificates openssl shellcheck
#   crane          built offline from Debian's go-containerregistry source into
#                  ${CRANE:-/usr/local/bin/crane} (skipped when it already works)
#   moto_server    checked: starts and answers on a free loopback port
#   cfn-lint       checked (test/serverless.test.ts lints the packaged template with it);
#                  pip-installed at $CFN_LINT_VERSION only when missing
#   node/npm       node >= 20 checked; 'npm ci' when node_modules is missing or stale
#                  (skipped by --no-npm)
#
# Nothing is downloaded from the internet: only apt and the npm registry are used.
set -euo pipefail

LOG_PREFIX=setup
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/apt.sh
source "$REPO_DIR/scripts/lib/apt.sh"
# shellcheck source=lib/crane.sh
source "$REPO_DIR/scripts/lib/crane.sh"

CRANE=${CRANE:-/usr/local/bin/crane}
MOTO_VERSION=5.2.1
CFN_LINT_VERSION=1.51.0
NODE_MIN_MAJOR=20
APT_PACKAGES=(docker-registry apache2-utils golang-go skopeo curl jq ca-certificates openssl shellcheck)

usage() {
  awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"
}

DO_NPM=1
for arg in "$@"; do
  case "$arg" in
    --no-npm) DO_NPM=0 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $arg" ;;
  esac
done

T0=$(now_s)

# ---------------------------------------------------------------- apt packages
if ! have dpkg-query || ! have apt-get; then die "apt/dpkg not found: this script supports Debian/Ubuntu only"; fi

crane_works() {
  [[ -x "$CRANE" ]] && "$CRANE" version >/dev/null 2>&1
}

need_crane=1
crane_works && need_crane=0

missing=$(apt_missing "${APT_PACKAGES[@]}" | tr '\n' ' ')
if [[ -n "${missing// /}" ]]; then
  # One apt-get update for everything: add backports first when crane needs it.
  if [[ "$need_crane" == 1 ]] && [[ "$(os_id)" == debian ]] && [[ -z "$(apt_candidate "$CRANE_DEV_PKG")" ]]; then
    apt_add_backports
  fi
  apt_install "${APT_PACKAGES[@]}"
fi
say "apt packages ok (${APT_PACKAGES[*]})"

# ----------------------------------------------------------------------- crane
if [[ "$need_crane" == 1 ]]; then
  t=$(now_s)
  crane_build_offline "$CRANE"
  crane_works || die "$CRANE was built but '$CRANE version' does not work"
  say "crane $("$CRANE" version) built in $(($(now_s) - t)) s -> $CRANE"
else
  say "crane $("$CRANE" version) already at $CRANE"
fi

# --------------------------------------------------------------------- moto
moto_try_start() {
  # Starts moto_server on a free loopback port, waits until it answers, stops it.
  local port pid log code i
  port=$(free_port) || die "no free TCP port on 127.0.0.1"
  log=$(mktemp "${TMPDIR:-/tmp}/moto-check.XXXXXX")
  moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 </dev/null &
  pid=$!
  on_exit "kill $pid 2>/dev/null; rm -f '$log'"
  code=000
  for ((i = 0; i < 200; i++)); do # 20 s
    code=$(http_code "http://127.0.0.1:$port/")
    [[ "$code" != 000 ]] && break
    pid_alive "$pid" || break
    sleep 0.1
  done
  stop_pid "$pid" 3 || true
  wait "$pid" 2>/dev/null || true
  if [[ "$code" == 000 ]]; then
    MOTO_FAIL_LOG=$(tail -n 15 "$log")
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
  MOTO_PORT_SEEN=$port
}

# pip_install TOOL SPEC: installs SPEC with whichever pip there is, for a TOOL found missing; dies saying why.
pip_install() {
  local tool=$1 spec=$2 pip_cmd=()
  if have pip; then pip_cmd=(pip); elif have pip3; then pip_cmd=(pip3); elif have python3; then pip_cmd=(python3 -m pip); fi
  [[ ${#pip_cmd[@]} -gt 0 ]] || die "$tool is missing and no pip to install \"$spec\""
  "${pip_cmd[@]}" install --quiet "$spec" || die "$tool is missing and 'pip install \"$spec\"' failed"
  if have pyenv; then pyenv rehash 2>/dev/null || true; fi
  hash -r
}

MOTO_FAIL_LOG=
if ! have curl; then die "curl is missing (apt package curl)"; fi
if have moto_server && moto_try_start; then
  say "moto_server ok (answered on 127.0.0.1:$MOTO_PORT_SEEN)"
else
  [[ -n "$MOTO_FAIL_LOG" ]] && printf '%s\n' "$MOTO_FAIL_LOG" >&2
  say "moto_server missing or not starting: trying pip install \"moto[server]==$MOTO_VERSION\""
  pip_install moto_server "moto[server]==$MOTO_VERSION"
  have moto_server || die "moto_server still not on PATH after pip install"
  MOTO_FAIL_LOG=
  if ! moto_try_start; then
    printf '%s\n' "$MOTO_FAIL_LOG" >&2
    die "moto_server does not start and answer on 127.0.0.1 (log above)"
  fi
  say "moto_server ok after pip install (answered on 127.0.0.1:$MOTO_PORT_SEEN)"
fi

# ------------------------------------------------------------------ cfn-lint
if have cfn-lint && cfn-lint --version >/dev/null 2>&1; then
  say "$(cfn-lint --version) ok"
else
  say "cfn-lint missing: trying pip install \"cfn-lint==$CFN_LINT_VERSION\""
  pip_install cfn-lint "cfn-lint==$CFN_LINT_VERSION"
  have cfn-lint && cfn-lint --version >/dev/null 2>&1 || die "cfn-lint still does not run after pip install"
  say "$(cfn-lint --version) installed"
fi

# ---------------------------------------------------------------- node / npm
have node || die "node is missing: Node.js >= $NODE_MIN_MAJOR is needed (Debian 12's nodejs is 18, too old)"
have npm || die "npm is missing (it comes with Node.js >= $NODE_MIN_MAJOR)"
node_version=$(node -p 'process.versions.node')
[[ "${node_version%%.*}" -ge "$NODE_MIN_MAJOR" ]] ||
  die "node $node_version is too old: Node.js >= $NODE_MIN_MAJOR is needed"
say "node $node_version, npm $(npm --version)"

# True when node_modules holds exactly what package-lock.json asks for (checked
# against npm's own record, node_modules/.package-lock.json, and the folders).
node_modules_fresh() {
  (cd "$REPO_DIR" && node -e '
    const fs = require("fs");
    const read = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
    let lock, hidden, pkg;
    try {
      pkg = read("package.json");
      lock = read("package-lock.json");
      hidden = read("node_modules/.package-lock.json");
    } catch { process.exit(1); }
    const sorted = (o) => JSON.stringify(Object.entries(o || {}).sort());
    const root = (lock.packages || {})[""] || {};
    for (const k of ["dependencies", "devDependencies", "optionalDependencies"])
      if (sorted(pkg[k]) !== sorted(root[k])) process.exit(1);
    const have = hidden.packages || {};
    for (const [path, want] of Object.entries(lock.packages || {})) {
      if (path === "") continue;
      const got = have[path];
      if (!got || !fs.existsSync(path)) {
        if (want.optional || want.peer) continue;
        process.exit(1);
      }
      if (got.version !== want.version) process.exit(1);
    }
  ' 2>/dev/null)
}

if [[ "$DO_NPM" == 1 ]]; then
  if [[ ! -f "$REPO_DIR/package.json" ]]; then
    die "no package.json in $REPO_DIR: nothing for npm to install (use --no-npm to skip this step)"
  fi
  t=$(now_s)
  if [[ -f "$REPO_DIR/package-lock.json" ]]; then
    if node_modules_fresh; then
      say "node_modules up to date with package-lock.json"
    else
      say "npm ci"
      (cd "$REPO_DIR" && npm ci --no-audit --no-fund) ||
        die "npm ci failed (is package-lock.json in sync with package.json?)"
      say "node modules installed in $(($(now_s) - t)) s"
    fi
  elif [[ -d "$REPO_DIR/node_modules" && "$REPO_DIR/node_modules/.package-lock.json" -nt "$REPO_DIR/package.json" ]]; then
    say "node_modules newer than package.json (no package-lock.json)"
  else
    say "npm install (no package-lock.json)"
    (cd "$REPO_DIR" && npm install --no-audit --no-fund) || die "npm install failed"
    say "node modules installed in $(($(now_s) - t)) s"
  fi
else
  say "npm step skipped (--no-npm)"
fi

say "done in $(($(now_s) - T0)) s"
