# shellcheck shell=bash
# What the image-mirror Action's scripts (action/*.sh) share: sourced by each, never run on its own.
#
#   FAIL_TITLE   the title of fail()'s annotation, set by the sourcing script (e.g. "image-mirror: installing crane")

# Text made safe for a workflow command's message, as the runner decodes it: a newline in it would otherwise end
# the annotation and let the rest (text from outside: a file name, a registry's answer) be read as a command.
escape() {
  local text="$*"
  text=${text//'%'/'%25'}
  text=${text//$'\r'/'%0D'}
  text=${text//$'\n'/'%0A'}
  printf '%s' "$text"
}

# A workflow annotation: annotate <error|warning|notice> <title> <text…>. The title is the script's own constant.
annotate() {
  local level=$1 title=$2
  shift 2
  printf '::%s title=%s::%s\n' "$level" "$title" "$(escape "$*")"
}

# An error annotation titled $FAIL_TITLE, then exit 1.
fail() {
  annotate error "${FAIL_TITLE:-image-mirror}" "$@"
  exit 1
}
