#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Checks that image-mirror installs as a `mirror` command the ways the README says, run from another directory:
#
#   1. `npm pack` (its `prepare` script builds dist/) holds the bundle and nothing else of the repository, and the
#      bundle runs with no node_modules anywhere near it: a plan, and an ECR call (the AWS SDK chunk loads)
#   2. the tarball installed into an empty prefix (`npm install -g --prefix`): `mirror --version` is package.json's
#      version, and `mirror plan` on a small tree names its image
#   3. `npx` of the tarball runs `mirror`
#   4. `npx` of a git URL (a commit of this tree): npm clones it, runs `prepare` (the build), and runs `mirror`.
#      `npm install -g <git URL>` itself fails on npm up to at least 11.19 for any package that builds in `prepare`
#      (npm/cli#8440: the global flag reaches the install in the clone); the README gives `npm pack <git URL>`, then
#      `npm install -g` of that tarball, which is what 1 and 2 check.
#
# Needs the npm registry (the tarball's runtime dependencies; the git install's build tools). Fails, never skips.
# Run from CI (.ci/run) or by hand: bash scripts/check-install.sh
set -euo pipefail

LOG_PREFIX=check-install
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

have npm || die "npm is missing"
have git || die "git is missing"
cd "$REPO_DIR"
version=$(node -p 'require("./package.json").version')
tmp=$(mktemp -d "${TMPDIR:-/tmp}/image-mirror-install.XXXXXX")
on_exit "rm -rf '$tmp'"
# Quiet npm: no audit, no funding notes, no update check; errors still shown.
npm_quiet=(--no-audit --no-fund --no-update-notifier --loglevel=error)

# A one-image tree, and a directory apart from the repository to run the command from.
mkdir -p "$tmp/tree/docker.io/library/redis" "$tmp/elsewhere"
printf 'FROM redis:7\n' >"$tmp/tree/docker.io/library/redis/Dockerfile"

# Fails unless `$@` prints the version, and a plan of the tree names its image.
check_command() {
  local label=$1 out
  shift
  out=$(cd "$tmp/elsewhere" && "$@" --version) || die "$label: '$* --version' failed"
  [[ "$out" == "$version" ]] || die "$label: '$* --version' printed \"$out\", not package.json's $version"
  out=$(cd "$tmp/elsewhere" && "$@" plan --images "$tmp/tree") || die "$label: '$* plan --images …' failed: $out"
  [[ "$out" == *"docker.io/library/redis:7"* ]] || die "$label: 'mirror plan' did not name docker.io/library/redis:7; it printed: $out"
  say "$label: mirror $version runs, and plans the tree"
}

# 1. The tarball, its contents, and the bundle alone.
say "npm pack (prepare builds dist/)"
npm pack --pack-destination "$tmp" "${npm_quiet[@]}" >/dev/null || die "npm pack failed"
tarballs=("$tmp"/image-mirror-*.tgz)
[[ ${#tarballs[@]} == 1 && -f "${tarballs[0]}" ]] || die "npm pack made no image-mirror-*.tgz in $tmp"
tarball=${tarballs[0]}
contents=$(tar -tzf "$tarball")
grep -qx 'package/dist/mirror.mjs' <<<"$contents" || die "$tarball has no package/dist/mirror.mjs"
others=$(grep -vE '^package/(dist/.*|package\.json|README\.md)$' <<<"$contents" || true)
[[ -z "$others" ]] || die "$tarball ships more than dist/: $others"
mkdir -p "$tmp/bare"
tar -xzf "$tarball" -C "$tmp/bare"
check_command "bundle alone" node "$tmp/bare/package/dist/mirror.mjs"
# An ECR call loads the AWS SDK chunk; a closed local port makes it fail fast, after the chunk has loaded.
ecr_out=$(cd "$tmp/elsewhere" && AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_MAX_ATTEMPTS=1 \
  node "$tmp/bare/package/dist/mirror.mjs" orphans --images "$tmp/tree" --target 123456789012.dkr.ecr.eu-west-1.amazonaws.com/m 2>&1) && die "bundle alone: orphans against a closed port succeeded: $ecr_out"
[[ "$ecr_out" == *"listing ECR repositories"*"ECONNREFUSED"* ]] || die "bundle alone: the ECR call did not reach the AWS SDK: $ecr_out"
say "bundle alone: the AWS SDK chunk loads"

# 2. npm install -g of the tarball, into an empty prefix.
say "npm install -g --prefix … $(basename "$tarball")"
(cd "$tmp/elsewhere" && npm install -g --prefix "$tmp/prefix" "${npm_quiet[@]}" "$tarball") || die "npm install -g of $tarball failed"
[[ -x "$tmp/prefix/bin/mirror" ]] || die "npm install -g put no bin/mirror in $tmp/prefix"
check_command "npm install -g (tarball)" "$tmp/prefix/bin/mirror"

# 3. npx of the tarball.
check_command "npx (tarball)" npx --yes --package "$tarball" -- mirror

# 4. npx of a git URL: a commit of the tree as it is now, in a repository of its own (the checkout's own history and
#    index stay untouched). npm clones it, installs the build tools and runs `prepare`, as for a GitHub URL.
say "npx git+file://… (npm clones, installs the build tools, runs prepare)"
while IFS= read -r -d '' file; do
  [[ -e "$file" ]] || continue # deleted in the work tree, not yet in the index
  mkdir -p "$tmp/git/$(dirname "$file")"
  cp -p -- "$file" "$tmp/git/$file"
done < <(git ls-files -z --cached --others --exclude-standard)
git_as_checker=(git -C "$tmp/git" -c user.name=check-install -c user.email=check-install@example.com -c commit.gpgsign=false)
"${git_as_checker[@]}" init --quiet --initial-branch=main
"${git_as_checker[@]}" add --all
"${git_as_checker[@]}" commit --quiet -m 'image-mirror as checked out'
check_command "npx (git)" npx --yes "git+file://$tmp/git#main"
say "ok: image-mirror $version installs as a command from its tarball, and runs with npx from the tarball and from git"
