# shellcheck shell=bash
# apt helpers for scripts/setup.sh and friends. Source after scripts/lib/common.sh.
# No mirror host is written here: mirror URIs are read from the machine's apt
# sources at run time.

APT_UPDATED=${APT_UPDATED:-0}
APT_SOURCES_DIR=${APT_SOURCES_DIR:-/etc/apt/sources.list.d}
APT_BACKPORTS_FILE="$APT_SOURCES_DIR/image-mirror-backports.sources"

os_id() { (. /etc/os-release 2>/dev/null && echo "${ID:-}"); }
os_codename() {
  (. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-${UBUNTU_CODENAME:-}}")
}

need_root() {
  [[ "$(id -u)" == 0 ]] || die "must run as root to $* (or install it by hand)"
}

apt_env() { env DEBIAN_FRONTEND=noninteractive "$@"; }

# Run 'apt-get update' at most once per script run.
apt_update_once() {
  [[ "$APT_UPDATED" == 1 ]] && return 0
  need_root "run apt-get update"
  say "apt-get update"
  local out
  if ! out=$(apt_env apt-get update 2>&1); then
    printf '%s\n' "$out" | tail -n 20 >&2
    die "apt-get update failed (see above)"
  fi
  # apt-get update exits 0 even when some sources failed: surface those.
  printf '%s\n' "$out" | grep -E '^(W|E|Err):' >&2 || true
  APT_UPDATED=1
}

# Prints the packages among "$@" that are not installed.
apt_missing() {
  local p st
  for p in "$@"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$st" == "install ok installed" ]] || echo "$p"
  done
}

# Candidate version of package $1 ("" when apt knows none).
apt_candidate() {
  local c
  c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
  [[ "$c" == "(none)" ]] && c=""
  echo "$c"
}

# Install those of "$@" that are missing (apt-get update once first).
apt_install() {
  local missing
  missing=$(apt_missing "$@" | tr '\n' ' ')
  missing=${missing% }
  [[ -z "$missing" ]] && return 0
  need_root "install apt packages: $missing"
  apt_update_once
  local p nocand=""
  for p in $missing; do
    [[ -n "$(apt_candidate "$p")" ]] || nocand+=" $p"
  done
  [[ -z "$nocand" ]] || die "apt has no installable version of:$nocand (check /etc/apt/sources.list*)"
  say "apt-get install $missing"
  local log
  log=$(mktemp)
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  if ! apt_env apt-get install -y --no-install-recommends $missing >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    die "apt-get install failed for: $missing"
  fi
  rm -f "$log"
  missing=$(apt_missing "$@" | tr '\n' ' ')
  [[ -z "${missing% }" ]] || die "still not installed after apt-get install: $missing"
}

# Prints "URI<TAB>SIGNED-BY" for every enabled binary ('deb') source of suite $1
# found in the machine's apt sources (deb822 *.sources and one-line *.list files).
# SIGNED-BY is a keyring path or empty.
apt_sources_for_suite() {
  local suite=$1 f
  shopt -s nullglob
  for f in "$APT_SOURCES_DIR"/*.sources; do
    awk -v suite="$suite" '
      function flush() {
        if (types != "" && enabled != "no" && (" " types " ") ~ / deb / && (" " suites " ") ~ (" " suite " ")) {
          n = split(uris, u, /[ \t]+/)
          for (i = 1; i <= n; i++) if (u[i] != "") print u[i] "\t" signed
        }
        types = ""; uris = ""; suites = ""; signed = ""; enabled = ""; key = ""
      }
      /^#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { next }   # continuation line (e.g. an inline Signed-By key)
      {
        key = tolower($0); sub(/:.*/, "", key)
        val = $0; sub(/^[^:]*:[ \t]*/, "", val); sub(/[ \t]+$/, "", val)
        if (key == "types") types = val
        else if (key == "uris") uris = val
        else if (key == "suites") suites = val
        else if (key == "enabled") enabled = tolower(val)
        else if (key == "signed-by") { if (val ~ /^\//) signed = val }
      }
      END { flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list "$APT_SOURCES_DIR"/*.list; do
    [[ -f "$f" ]] || continue
    awk -v suite="$suite" '
      /^[ \t]*#/ || NF < 3 || $1 != "deb" { next }
      {
        signed = ""; i = 2
        if ($2 ~ /^\[/) {
          opts = ""
          while (i <= NF) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } i++ }
          if (match(opts, /signed-by=[^ \]]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
        }
        if ($(i + 1) == suite) print $i "\t" signed
      }
    ' "$f"
  done
  shopt -u nullglob
}

# Adds a <codename>-backports source (Types: deb) on the same mirror URI as the
# machine's <codename> source, unless the machine already has one; a later
# apt_update_once then really updates. Debian only.
apt_add_backports() {
  local codename line uri signed content
  [[ "$(os_id)" == debian ]] || die "backports can only be added on Debian (this is $(os_id))"
  codename=$(os_codename)
  [[ -n "$codename" ]] || die "cannot tell the Debian codename from /etc/os-release"
  if [[ ! -f "$APT_BACKPORTS_FILE" && -n "$(apt_sources_for_suite "$codename-backports")" ]]; then
    return 0 # the machine already has a backports source of its own
  fi
  line=$(apt_sources_for_suite "$codename" | grep -v 'security' | head -n1 || true)
  [[ -n "$line" ]] || die "no '$codename' deb source found in /etc/apt/sources.list or $APT_SOURCES_DIR: cannot tell which mirror to use for $codename-backports"
  uri=${line%%$'\t'*}
  signed=${line#*$'\t'}
  if [[ -z "$signed" && -f /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
    signed=/usr/share/keyrings/debian-archive-keyring.gpg
  fi
  content="# Added by image-mirror scripts/setup.sh (for golang-github-google-go-containerregistry-dev).
Types: deb
URIs: $uri
Suites: $codename-backports
Components: main"
  [[ -n "$signed" ]] && content+=$'\n'"Signed-By: $signed"
  if [[ -f "$APT_BACKPORTS_FILE" && "$(cat "$APT_BACKPORTS_FILE")" == "$content" ]]; then
    return 0
  fi
  need_root "add $codename-backports to the apt sources"
  say "adding $codename-backports (mirror $uri) as $APT_BACKPORTS_FILE"
  printf '%s\n' "$content" >"$APT_BACKPORTS_FILE"
  APT_UPDATED=0
}
