#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Puts crane into the Lambda layer: layers/crane/bin/crane, which is /opt/bin/crane in the worker.
#
#   scripts/build-crane-layer.sh [--download | --build] [--force]
#
#   CRANE_BINARY=/path   copy that binary (tests, offline packaging, a crane built elsewhere)
#   --download           (the default without CRANE_BINARY) download the pinned go-containerregistry
#                        release ($CRANE_VERSION) for $ARCH and check its sha256 before unpacking
#   --build              build crane offline from Debian's source package (scripts/lib/crane.sh;
#                        as root, apt must reach its mirror), cross-compiled for $ARCH. That is
#                        the crane Debian ships (0.14.0 in bookworm-backports), older than the
#                        pinned release, and offline no other can be built: --build refuses unless
#                        CRANE_VERSION names Debian's version (e.g. CRANE_VERSION=v0.14.0), and
#                        checks the binary it built against it
#   --force              replace a binary already in place (otherwise a valid one is kept)
#
#   ARCH                 the functions' Lambda architecture: arm64 (default) or x86_64
#   CRANE_VERSION        release to download (default v0.20.2); any other version needs CRANE_SHA256.
#                        With --build, the version you accept from Debian instead of the pinned one
#   CRANE_SHA256         sha256 of the release tarball, overriding the pinned one
#   CRANE_RELEASES_URL   where releases are fetched from (default: GitHub's release downloads;
#                        an internal mirror with the same layout works, checksums still apply)
#
# The result is checked to be an ELF executable for $ARCH (with `file`, when installed).
# Idempotent: a rerun keeps a binary that passes the check, unless --force or CRANE_BINARY differs.
set -euo pipefail

LOG_PREFIX=crane-layer
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

LAYER_BIN="$REPO_DIR/layers/crane/bin/crane"
ARCH=${ARCH:-arm64}

# Pinned release. Each checksum must equal the line for go-containerregistry_Linux_<arch>.tar.gz in
# that release's checksums.txt
# (https://github.com/google/go-containerregistry/releases/download/v0.20.2/checksums.txt);
# change version and checksums together, from that file.
PINNED_CRANE_VERSION=v0.20.2
declare -A PINNED_SHA256=(
  [arm64]=aff0db48825124c9331ea310057214bd4e92c01aa2e414d539e9659841d9422a
  [x86_64]=c14340087103ba9dadf61d45acd20675490fd0ccbd56ac7901fc1b502137f44b
)
CRANE_VERSION=${CRANE_VERSION:-$PINNED_CRANE_VERSION}

usage() {
  awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"
}

MODE=
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --download) MODE=download ;;
    --build) MODE=build ;;
    --force) FORCE=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $arg" ;;
  esac
done
if [[ -n "${CRANE_BINARY:-}" ]]; then
  [[ -z "$MODE" ]] || die "CRANE_BINARY and --$MODE exclude each other"
  MODE=copy
fi
MODE=${MODE:-download}

case "$ARCH" in
  arm64 | aarch64) ARCH=arm64 GOARCH=arm64 ELF_PATTERN='ARM aarch64' ;;
  x86_64 | amd64) ARCH=x86_64 GOARCH=amd64 ELF_PATTERN='x86-64' ;;
  *) die "ARCH must be arm64 or x86_64 (a Lambda architecture), got \"$ARCH\"" ;;
esac

# Fails unless $1 is an ELF executable for $ARCH; without `file`, warns and accepts.
check_elf() {
  local path=$1 description
  [[ -f "$path" ]] || die "$path: no such file"
  if ! have file; then
    warn "'file' is not installed: not checking that $path is an ELF executable for $ARCH"
    return 0
  fi
  description=$(file -bL "$path")
  [[ "$description" == ELF* && "$description" == *"$ELF_PATTERN"* ]] ||
    die "$path is not an ELF executable for $ARCH (file says: $description)"
}

# True when the layer already holds a binary that passes check_elf (quietly).
layer_binary_ok() {
  [[ -x "$LAYER_BIN" ]] || return 1
  have file || return 0
  local description
  description=$(file -bL "$LAYER_BIN")
  [[ "$description" == ELF* && "$description" == *"$ELF_PATTERN"* ]]
}

# Installs $1 (already checked) as the layer binary, atomically.
install_layer_binary() {
  mkdir -p "$(dirname "$LAYER_BIN")"
  install -m 0755 "$1" "$LAYER_BIN.tmp"
  mv -f "$LAYER_BIN.tmp" "$LAYER_BIN"
}

report() {
  local size
  size=$(du -h "$LAYER_BIN" | cut -f1)
  say "$1 -> ${LAYER_BIN#"$REPO_DIR"/} ($size$(have file && printf ', %s' "$(file -b "$LAYER_BIN" | cut -d, -f1-2)"))"
}

if [[ "$MODE" == copy ]]; then
  check_elf "$CRANE_BINARY"
  if [[ "$FORCE" == 0 && -x "$LAYER_BIN" ]] && cmp -s "$CRANE_BINARY" "$LAYER_BIN"; then
    report "already in place: same file as $CRANE_BINARY"
    exit 0
  fi
  install_layer_binary "$CRANE_BINARY"
  report "copied $CRANE_BINARY"
  exit 0
fi

if [[ "$FORCE" == 0 ]] && layer_binary_ok; then
  report "kept the binary already in place (--force replaces it)"
  exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/crane-layer.XXXXXX")
on_exit "rm -rf '$WORK'"

if [[ "$MODE" == build ]]; then
  # shellcheck source=lib/apt.sh
  source "$REPO_DIR/scripts/lib/apt.sh"
  # shellcheck source=lib/crane.sh
  source "$REPO_DIR/scripts/lib/crane.sh"
  # --build can only produce the crane Debian ships, not the pinned one. So that no layer is ever
  # another crane than the one asked for, that version must be asked for by name, and a mismatch is
  # refused before anything is downloaded or compiled.
  wanted="v${CRANE_VERSION#v}"
  crane_ensure_dev_candidate
  debian_version="v$(apt_candidate "$CRANE_DEV_PKG" | sed -E 's/^[0-9]+://; s/[+~-].*//')"
  [[ "$wanted" == "$debian_version" ]] ||
    die "--build can only build crane $debian_version (Debian's $CRANE_DEV_PKG; offline, no other source is reachable), not $wanted." \
      "Set CRANE_VERSION=$debian_version to build it anyway (older than the pinned $PINNED_CRANE_VERSION, see the README)," \
      "or put the pinned release in the layer with --download or CRANE_BINARY"
  GOOS=linux GOARCH=$GOARCH CGO_ENABLED=0 crane_build_offline "$WORK/crane"
  [[ "v$CRANE_SRC_VERSION" == "$wanted" ]] ||
    die "apt downloaded $CRANE_DEV_PKG $CRANE_SRC_VERSION, not $wanted (the package changed under us): nothing installed"
  check_elf "$WORK/crane"
  # Ask the binary itself when this machine can run it; a cross-compiled one cannot run here, and
  # carries the version of the package it was built from (crane_compile stamps it with -X).
  if built=$("$WORK/crane" version 2>/dev/null); then
    [[ "$built" == "$wanted" ]] || die "the crane just built says it is $built, not $wanted: nothing installed"
  else
    say "not checking 'crane version' (a linux/$GOARCH binary does not run here): built from $CRANE_DEV_PKG $CRANE_SRC_VERSION"
  fi
  install_layer_binary "$WORK/crane"
  report "built crane $wanted for linux/$GOARCH from $CRANE_DEV_PKG (not the pinned $PINNED_CRANE_VERSION)"
  exit 0
fi

# --download: never unpack anything whose checksum was not verified.
expected=${CRANE_SHA256:-}
if [[ -z "$expected" ]]; then
  [[ "$CRANE_VERSION" == "$PINNED_CRANE_VERSION" ]] ||
    die "no pinned checksum for crane $CRANE_VERSION: set CRANE_SHA256 to the sha256 of go-containerregistry_Linux_$ARCH.tar.gz from that release's checksums.txt"
  expected=${PINNED_SHA256[$ARCH]}
fi
[[ "$expected" =~ ^[0-9a-f]{64}$ ]] || die "CRANE_SHA256 must be 64 lowercase hex digits, got \"$expected\""
have curl || die "curl is missing (apt package curl)"
have sha256sum || die "sha256sum is missing (coreutils)"

asset="go-containerregistry_Linux_$ARCH.tar.gz"
url="${CRANE_RELEASES_URL:-https://github.com/google/go-containerregistry/releases/download}/$CRANE_VERSION/$asset"
say "downloading $url"
curl -fsSL --retry 3 --connect-timeout 20 -o "$WORK/$asset" "$url" || die "download failed: $url"
actual=$(sha256sum "$WORK/$asset" | cut -d' ' -f1)
[[ "$actual" == "$expected" ]] || die "checksum mismatch for $asset: expected $expected, got $actual (nothing installed)"
say "sha256 ok ($actual)"
tar -xzf "$WORK/$asset" -C "$WORK" crane || die "$asset has no crane binary"
check_elf "$WORK/crane"
install_layer_binary "$WORK/crane"
report "downloaded crane $CRANE_VERSION for linux/$ARCH"
