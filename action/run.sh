#!/usr/bin/env bash
# Runs `mirror` for the image-mirror Action (action.yml). Every input arrives in an environment variable that the
# step's `env:` sets, never in the script text, so that no input (a branch name, a pull request's title) becomes code.
#
#   MIRROR_CLI               the bundled CLI, dist/mirror.mjs (from the build step)
#   MIRROR_COMMAND           plan, sync, orphans or gate: run with --json and --summary-file for the outputs. Another
#                            mirror command (dependabot --check, …) gets only --images and MIRROR_ARGS, and no report outputs
#   MIRROR_IMAGES            the images tree
#   MIRROR_TARGET            --target, when not empty (plan, sync, orphans; a usage error for another command)
#   MIRROR_BASE              plan, gate: --base, when not empty
#   MIRROR_CREDENTIALS       JSON text of registry logins, for --credentials (plan with a base, sync): written to a
#                            file only this user can read, removed when the step ends; unset once written, so that
#                            neither node nor what it starts (git, crane, credential helpers) inherits it. A usage
#                            error for gate, which reads files only
#   MIRROR_TRIVY             gate: Trivy JSON reports, files or directories of *.json, split on whitespace, each passed
#                            as --trivy; nothing expanded (a usage error for another command)
#   MIRROR_SEVERITY          gate: --severity, when not empty (a usage error for another command)
#   MIRROR_ECR               true: --ecr (sync, orphans)
#   MIRROR_CRANE             sync: --crane, when not empty
#   MIRROR_ARGS              more options, split on whitespace: no quoting, nothing expanded
#   MIRROR_FAIL_ON_DEFERRED  false: exit 3 (images deferred to keep a source's pull budget) ends the step green
#   RUNNER_TEMP, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY   set by the runner
#
# Step outputs: exit-code, json and markdown (multi-line, each closed by a random delimiter), json-file and
# markdown-file. For gate, json stays empty: its report grows with the findings (thousands in an old image), past what
# an output holds; json-file has it. The step exits with mirror's exit code.
set -euo pipefail

# shellcheck source=action/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A usage error of the action's inputs, exit 2 as mirror's own usage errors; exit-code is the only output set.
usage_error() {
  annotate error image-mirror "$@"
  echo "exit-code=2" >>"$GITHUB_OUTPUT"
  exit 2
}

# Adds --trivy for each report path the gate is given: the text split on whitespace (no quoting, no glob, nothing
# expanded). mirror gate reads a directory as each *.json in it. A path starting with `-` gets `./`, to stay a value.
add_reports() {
  local paths=() path
  read -r -d '' -a paths <<<"$1" || true
  for path in ${paths[@]+"${paths[@]}"}; do
    [[ "$path" != -* ]] || path="./$path"
    args+=(--trivy "$path")
  done
}

random_hex() {
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

# Writes `name<<DELIMITER`, the file, and the delimiter, as $GITHUB_OUTPUT takes a multi-line value. The delimiter
# is random, so that no line of the report (which holds text from the images tree) can end the value early.
put_multiline() {
  local name=$1 file=$2 delimiter
  delimiter="image_mirror_$(random_hex)"
  while grep -qF "$delimiter" "$file"; do delimiter="image_mirror_$(random_hex)"; done
  printf '%s<<%s\n' "$name" "$delimiter"
  cat "$file"
  # The delimiter must stand on a line of its own.
  if [[ -s "$file" && -n "$(tail -c1 "$file")" ]]; then echo; fi
  printf '%s\n' "$delimiter"
}

# Prints a file to the log with workflow commands stopped, since the report holds text from outside.
show() {
  local token
  token=$(random_hex)
  echo "::group::$1"
  echo "::stop-commands::$token"
  cat "$2"
  if [[ -s "$2" && -n "$(tail -c1 "$2")" ]]; then echo; fi
  echo "::$token::"
  echo "::endgroup::"
}

: "${MIRROR_CLI:?MIRROR_CLI is not set}" "${RUNNER_TEMP:?RUNNER_TEMP is not set}" "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
command=${MIRROR_COMMAND:-}
ecr=${MIRROR_ECR:-false}
fail_on_deferred=${MIRROR_FAIL_ON_DEFERRED:-true}
[[ "$command" =~ ^[a-z][a-z-]*$ ]] || usage_error "command must be a mirror command (plan, sync, orphans, gate, …), got \"$command\""
[[ "$ecr" == true || "$ecr" == false ]] || usage_error "ecr must be true or false, got \"$ecr\""
[[ "$fail_on_deferred" == true || "$fail_on_deferred" == false ]] || usage_error "fail-on-deferred must be true or false, got \"$fail_on_deferred\""

# plan, sync, orphans and gate: the commands with a report; all but gate take --target.
report=false
case "$command" in plan | sync | orphans | gate) report=true ;; esac

args=("$command" --images "${MIRROR_IMAGES:-images}")
if [[ -n "${MIRROR_TARGET:-}" ]]; then
  # dependabot and renovate write bot configuration, gate reads Trivy reports: no registry, no target.
  [[ "$report" == true && "$command" != gate ]] || usage_error "target applies to plan, sync and orphans only, not to $command: leave it empty"
  args+=(--target "$MIRROR_TARGET")
fi
if [[ -n "${MIRROR_BASE:-}" ]]; then
  [[ "$command" == plan || "$command" == gate ]] || usage_error "base applies to plan and gate only, not to $command"
  args+=(--base "$MIRROR_BASE")
fi
if [[ -n "${MIRROR_SEVERITY:-}" ]]; then
  [[ "$command" == gate ]] || usage_error "severity applies to gate only, not to $command"
  args+=(--severity "$MIRROR_SEVERITY")
fi
if [[ -n "${MIRROR_TRIVY:-}" ]]; then
  [[ "$command" == gate ]] || usage_error "trivy applies to gate only, not to $command"
  add_reports "$MIRROR_TRIVY"
fi
if [[ "$ecr" == true ]]; then
  [[ "$command" == sync || "$command" == orphans ]] || usage_error "ecr applies to sync and orphans only, not to $command"
  args+=(--ecr)
fi
if [[ -n "${MIRROR_CRANE:-}" && "$command" == sync ]]; then args+=(--crane "$MIRROR_CRANE"); fi

credentials=
trap '[[ -z "$credentials" ]] || rm -f "$credentials"' EXIT
if [[ -n "${MIRROR_CREDENTIALS:-}" ]]; then
  # The gate reads files only: logins handed to it would be a secret given where none is needed.
  [[ "$command" != gate ]] || usage_error "credentials apply to plan and sync, not to gate (it reads Trivy reports, no registry): leave it empty"
  if [[ "$command" == sync || ("$command" == plan && -n "${MIRROR_BASE:-}") ]]; then
    # mktemp makes the file 0600: the logins are never readable by another user of the runner.
    credentials=$(mktemp "$RUNNER_TEMP/image-mirror-credentials.XXXXXX")
    printf '%s' "$MIRROR_CREDENTIALS" >"$credentials"
    args+=(--credentials "$credentials")
  else
    reason="mirror $command takes none"
    [[ "$command" != plan ]] || reason="a plan without a base contacts no registry"
    annotate notice image-mirror "credentials not passed: $reason"
  fi
fi
# The logins are in the file now (or not needed): nothing started from here inherits them.
unset MIRROR_CREDENTIALS

extra=()
if [[ -n "${MIRROR_ARGS:-}" ]]; then
  # -d '': the whole value, newlines included; read splits on whitespace and expands no glob.
  read -r -d '' -a extra <<<"$MIRROR_ARGS" || true
fi

json_file=$(mktemp "$RUNNER_TEMP/image-mirror-$command.XXXXXX")
markdown_file=$(mktemp "$RUNNER_TEMP/image-mirror-$command-summary.XXXXXX")
if [[ "$report" == true ]]; then args+=(--json --summary-file "$markdown_file"); fi

status=0
# ${extra[@]+…}: an empty array is an unbound variable under set -u in bash 3.2 (macOS runners).
if [[ "$report" == true ]]; then
  node "$MIRROR_CLI" "${args[@]}" ${extra[@]+"${extra[@]}"} >"$json_file" || status=$?
else
  node "$MIRROR_CLI" "${args[@]}" ${extra[@]+"${extra[@]}"} || status=$?
fi
[[ -z "$credentials" ]] || rm -f "$credentials"

if [[ ! -s "$markdown_file" ]]; then
  # No report (a usage error, a command without one): the summary still says what ran and how it ended.
  # shellcheck disable=SC2016 # the backticks are markdown
  printf '**image-mirror**: `mirror %s` exited %s, with no report (see the job log).\n' "$command" "$status" >"$markdown_file"
fi
show "mirror $command: summary" "$markdown_file"
{
  echo "exit-code=$status"
  if [[ "$command" != gate ]]; then put_multiline json "$json_file"; fi
  put_multiline markdown "$markdown_file"
  echo "json-file=$json_file"
  echo "markdown-file=$markdown_file"
} >>"$GITHUB_OUTPUT"
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then cat "$markdown_file" >>"$GITHUB_STEP_SUMMARY"; fi

case "$status" in
  0) ;;
  3)
    if [[ "$fail_on_deferred" == false ]]; then
      annotate notice image-mirror "images deferred to keep a source's pull budget; the next run copies them (fail-on-deferred is false)"
      exit 0
    fi
    annotate error image-mirror "mirror $command exited 3: images deferred to keep a source's pull budget (set fail-on-deferred: false to accept that)"
    ;;
  1)
    if [[ "$command" == gate ]]; then
      annotate error image-mirror "mirror gate exited 1: findings not signed off, or an image not scanned (see the summary)"
    else
      annotate error image-mirror "mirror $command exited 1: an image failed or a file is invalid (see the summary)"
    fi
    ;;
  *) annotate error image-mirror "mirror $command exited $status (see the job log)" ;;
esac
exit "$status"
