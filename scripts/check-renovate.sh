#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Checks that the Renovate configuration `mirror renovate` writes is one a real Renovate accepts and reads: every
# Dockerfile of a sample images tree must be extracted with its image, and no configuration error or warning raised.
#
#   scripts/check-renovate.sh
#   CHECK_RENOVATE_PREFIX=DIR scripts/check-renovate.sh    installs into DIR (kept, reused when it holds that version)
#
# Renovate $RENOVATE_VERSION (39.x: the last line that runs on Node 20, as self-hosted Renovate often does) is
# installed into a temporary prefix, never into package.json: it is no dependency of this project. Only the npm
# registry is reached; the run itself is `--platform=local --dry-run=extract`, which looks nothing up (the check
# fails if Renovate sends any HTTP request). Any failure exits 1; nothing is skipped.
set -euo pipefail

LOG_PREFIX=check-renovate
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
cd "$REPO_DIR"

RENOVATE_VERSION=39.264.1
CHECK=scripts/lib/renovate-extract-check.mjs

have git || die "git is missing: Renovate's local platform lists the files to extract with git ls-files"
[[ -x node_modules/.bin/tsx ]] || die "node_modules/.bin/tsx is missing: run npm ci (scripts/setup.sh) first"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
repo="$tmp/repo"
prefix="${CHECK_RENOVATE_PREFIX:-$tmp/renovate}"
renovate="$prefix/node_modules/.bin/renovate"
validator="$prefix/node_modules/.bin/renovate-config-validator"

installed_version() { node -p 'require(process.argv[1]).version' "$prefix/node_modules/renovate/package.json" 2>/dev/null || true; }
if [[ "$(installed_version)" == "$RENOVATE_VERSION" ]]; then
  say "using renovate@$RENOVATE_VERSION installed in $prefix"
else
  # re2 (a native addon) would build from source without its install script's download; Renovate falls back to
  # RegExp without it, which the extract step does not mind (the check allows that one warning and no other).
  started=$(now_s)
  mkdir -p "$prefix"
  (cd "$prefix" && npm install --prefix "$prefix" --no-save --no-audit --no-fund --omit=dev --ignore-scripts --loglevel=error "renovate@$RENOVATE_VERSION" >/dev/null) ||
    die "installing renovate@$RENOVATE_VERSION from the npm registry into $prefix failed"
  [[ "$(installed_version)" == "$RENOVATE_VERSION" ]] || die "npm installed renovate $(installed_version), not $RENOVATE_VERSION, into $prefix"
  say "installed renovate@$RENOVATE_VERSION in $(($(now_s) - started)) s"
fi

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

# Renovate in $repo with none of this machine's RENOVATE_* or token variables: no secret can reach its debug log, and
# no setting but the repository's counts. A missing renovate.json is an error (RENOVATE_REQUIRE_CONFIG=required).
renovate_env() {
  (cd "$repo" && env -i PATH="$PATH" HOME="$tmp/home" RENOVATE_BASE_DIR="$tmp/renovate-base" \
    RENOVATE_ONBOARDING=false RENOVATE_REQUIRE_CONFIG=required "$@")
}
# Renovate's own validator on renovate.json; --strict also fails on an option it would have to migrate.
validate() { renovate_env "$validator" --strict renovate.json >"$1" 2>&1; }
# The real run, JSON lines at debug level so the extracted packages are in the log; it exits 0 even when it refuses
# the configuration, so the log is what tells.
extract() { renovate_env LOG_FORMAT=json LOG_LEVEL=debug "$renovate" --platform=local --dry-run=extract >"$1" 2>&1; }

started=$(now_s)
validate "$tmp/validator.out" || die "renovate-config-validator $RENOVATE_VERSION refuses the renovate.json that mirror renovate wrote: $(cat "$tmp/validator.out")"
say "renovate-config-validator --strict accepts renovate.json ($(($(now_s) - started)) s)"
started=$(now_s)
extract "$tmp/renovate.log" || die "Renovate $RENOVATE_VERSION failed on the sample tree: $(tail -n 20 "$tmp/renovate.log")"
node "$CHECK" check "$repo" "$tmp/renovate.log" || die "Renovate $RENOVATE_VERSION did not read the sample tree as expected (above)"
say "renovate --platform=local --dry-run=extract read the sample tree ($(($(now_s) - started)) s)"

# The check must be able to fail: the form this tool used to write (managerFilePatterns, read by Renovate 40.2.0 and
# later only) is refused by Renovate $RENOVATE_VERSION, and both the validator and the log check must say so.
node -e '
  const fs = require("node:fs");
  const path = process.argv[1];
  const config = JSON.parse(fs.readFileSync(path, "utf8"));
  config.dockerfile = { managerFilePatterns: config.dockerfile.fileMatch.map((pattern) => `/${pattern}/`) };
  fs.writeFileSync(path, JSON.stringify(config, null, 2) + "\n");
' "$repo/renovate.json"
git_in_repo commit -qam "managerFilePatterns"
if validate "$tmp/refused.validator"; then
  die "renovate-config-validator $RENOVATE_VERSION accepted dockerfile.managerFilePatterns: it cannot tell a refused configuration"
fi
extract "$tmp/refused.log" || true
if node "$CHECK" check "$repo" "$tmp/refused.log" 2>"$tmp/refused.check"; then
  die "the log check passed a configuration Renovate $RENOVATE_VERSION refuses"
fi
grep -q 'Invalid configuration option: dockerfile.managerFilePatterns' "$tmp/refused.check" ||
  die "the log check failed a refused configuration for another reason: $(cat "$tmp/refused.check")"
say "ok: Renovate $RENOVATE_VERSION accepts what mirror renovate writes and extracts every sample Dockerfile; the check fails on the refused managerFilePatterns form"
