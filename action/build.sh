#!/usr/bin/env bash
# Makes the mirror CLI (dist/mirror.mjs) for the image-mirror Action (action.yml) from the Action's own checkout.
# A checkout that holds dist/mirror.mjs already (a release with the bundle in it, a second use in the same job)
# is used as it is. Otherwise: the runtime dependencies exactly as package-lock.json pins them, with no install
# script run, then esbuild at the version package-lock.json pins, apart in $RUNNER_TEMP, for `npm run build`.
# The other dev dependencies (serverless, vitest, typescript, …) are not needed for the bundle.
#
#   ACTION_PATH                          the Action's checkout (github.action_path)
#   RUNNER_TEMP, GITHUB_OUTPUT           set by the runner
#
# Step output: cli, the path of dist/mirror.mjs.
set -euo pipefail

# shellcheck source=action/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FAIL_TITLE='image-mirror: building the CLI'

dir=${ACTION_PATH:?ACTION_PATH is not set}
cli="$dir/dist/mirror.mjs"
command -v node >/dev/null 2>&1 || fail "node is missing on the runner: add actions/setup-node (Node.js 20 or later) before this action"
major=$(node -p 'process.versions.node.split(".")[0]')
((major >= 20)) || fail "the mirror CLI needs Node.js 20 or later, the runner has $(node --version): add actions/setup-node before this action"

if [[ -f "$cli" ]]; then
  echo "using the bundled CLI already in the action: $cli"
else
  cd "$dir"
  echo "installing the runtime dependencies (npm ci --omit=dev --ignore-scripts)"
  npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error || fail "npm ci in $dir failed"
  esbuild=$(node -p 'require("./package-lock.json").packages["node_modules/esbuild"]?.version ?? ""')
  [[ "$esbuild" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "package-lock.json in $dir pins no esbuild version"
  tools=$(mktemp -d "${RUNNER_TEMP:?RUNNER_TEMP is not set}/image-mirror-esbuild.XXXXXX")
  echo "installing esbuild $esbuild"
  npm install --prefix "$tools" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel=error "esbuild@$esbuild" ||
    fail "installing esbuild $esbuild failed"
  PATH="$tools/node_modules/.bin:$PATH" npm run --silent build || fail "npm run build in $dir failed"
  rm -rf "$tools"
  [[ -f "$cli" ]] || fail "npm run build made no $cli"
fi
echo "cli=$cli" >>"${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
