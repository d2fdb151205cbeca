#!/usr/bin/env bash
# Installs crane for the image-mirror Action (action.yml): the pinned go-containerregistry release for the
# runner's OS and architecture, its sha256 checked before anything is unpacked. Skipped when the `crane`
# input names a binary.
#
#   CRANE_VERSION       release to install (empty: $PINNED_CRANE_VERSION); any other needs CRANE_SHA256
#   CRANE_SHA256        sha256 of the release tarball, in place of the pinned one
#   CRANE_RELEASES_URL  where releases are downloaded from (empty: GitHub's release downloads); a mirror
#                       with the same layout works, and the checksum still applies
#   RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, GITHUB_OUTPUT   set by the runner
#
# Step output: path, the crane binary.
set -euo pipefail

# Pinned release. Each checksum is the line for go-containerregistry_<OS>_<arch>.tar.gz in that release's
# checksums.txt (https://github.com/google/go-containerregistry/releases/download/v0.20.2/checksums.txt);
# the Linux ones are those scripts/build-crane-layer.sh pins (test/action.test.ts keeps them equal).
# Change the version and every checksum together, from that file.
# A case, not an associative array: macOS runners may run bash 3.2.
PINNED_CRANE_VERSION=v0.20.2
pinned_sha256() {
  case "$1" in
    Linux_x86_64) echo c14340087103ba9dadf61d45acd20675490fd0ccbd56ac7901fc1b502137f44b ;;
    Linux_arm64) echo aff0db48825124c9331ea310057214bd4e92c01aa2e414d539e9659841d9422a ;;
    Darwin_x86_64) echo ae2677fc68b05ee3a63fe7b1d599aa4a554610b9f9da499a0c39669f446d29ed ;;
    Darwin_arm64) echo b47a8291d1069656bcfb8346dc9494f03e734d7a4058961fa53f0dfc9cb41abb ;;
  esac
}
DEFAULT_RELEASES_URL=https://github.com/google/go-containerregistry/releases/download

# shellcheck source=action/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FAIL_TITLE='image-mirror: installing crane'

# The release's name for the runner's platform, e.g. Linux_x86_64.
platform() {
  local os arch
  case "${RUNNER_OS:-}" in
    Linux) os=Linux ;;
    macOS) os=Darwin ;;
    *) fail "no crane release for runner OS \"${RUNNER_OS:-}\": give the action a crane binary (input crane)" ;;
  esac
  case "${RUNNER_ARCH:-}" in
    X64) arch=x86_64 ;;
    ARM64) arch=arm64 ;;
    *) fail "no crane release for runner architecture \"${RUNNER_ARCH:-}\": give the action a crane binary (input crane)" ;;
  esac
  printf '%s_%s' "$os" "$arch"
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

version=${CRANE_VERSION:-$PINNED_CRANE_VERSION}
[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+[A-Za-z0-9.-]*$ ]] || fail "crane-version must look like v0.20.2, got \"$version\""
target=$(platform)
expected=${CRANE_SHA256:-}
if [[ -z "$expected" ]]; then
  [[ "$version" == "$PINNED_CRANE_VERSION" ]] ||
    fail "no pinned checksum for crane $version: set crane-sha256 to the sha256 of go-containerregistry_$target.tar.gz from that release's checksums.txt"
  expected=$(pinned_sha256 "$target")
fi
[[ "$expected" =~ ^[0-9a-f]{64}$ ]] || fail "crane-sha256 must be 64 lowercase hex digits, got \"$expected\""
command -v curl >/dev/null 2>&1 || fail "curl is missing on the runner"

asset="go-containerregistry_$target.tar.gz"
url="${CRANE_RELEASES_URL:-$DEFAULT_RELEASES_URL}"
url="${url%/}/$version/$asset"
dir=$(mktemp -d "${RUNNER_TEMP:?RUNNER_TEMP is not set}/image-mirror-crane.XXXXXX")
echo "downloading crane $version: $url"
curl -fsSL --retry 3 --connect-timeout 20 -o "$dir/$asset" "$url" || fail "downloading crane $version from $url failed"
actual=$(sha256_of "$dir/$asset")
if [[ "$actual" != "$expected" ]]; then
  rm -f "$dir/$asset"
  fail "checksum mismatch for $asset ($url): expected sha256 $expected, got $actual; nothing installed"
fi
echo "sha256 ok ($actual)"
tar -xzf "$dir/$asset" -C "$dir" crane || fail "$asset ($url) holds no crane binary"
rm -f "$dir/$asset"
chmod 755 "$dir/crane"
"$dir/crane" version >/dev/null 2>&1 || fail "the crane from $asset does not run on this runner ($target)"
echo "crane $("$dir/crane" version) installed at $dir/crane"
echo "path=$dir/crane" >>"${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
