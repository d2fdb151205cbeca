# shellcheck shell=bash
# Offline build of crane (go-containerregistry) from Debian packages.
# Source after scripts/lib/common.sh and scripts/lib/apt.sh.
#
# crane is not packaged for Debian 12. The binary package
# golang-github-google-go-containerregistry-dev (0.14.0 in bookworm-backports)
# ships the whole Go source tree under /usr/share/gocode; its Depends are the
# -dev packages of its Go dependencies, all in bookworm. With Debian's golang-go
# in GOPATH mode (GO111MODULE=off) that builds cmd/crane without any network.
#
#   crane_build_offline OUT      builds crane into OUT (GOOS/GOARCH from the
#                                environment are honoured: GOARCH=arm64 works)

CRANE_DEV_PKG=golang-github-google-go-containerregistry-dev
CRANE_IMPORT=github.com/google/go-containerregistry

# Make sure apt can install $CRANE_DEV_PKG, adding <codename>-backports on Debian
# when it is not in the configured suites.
crane_ensure_dev_candidate() {
  [[ -n "$(apt_candidate "$CRANE_DEV_PKG")" ]] && return 0
  if [[ "$(os_id)" == debian ]]; then
    apt_add_backports
  fi
  apt_update_once
  [[ -n "$(apt_candidate "$CRANE_DEV_PKG")" ]] ||
    die "apt finds no $CRANE_DEV_PKG (needed to build crane offline; on Debian 12 it is in bookworm-backports)"
}

# Downloads and unpacks $CRANE_DEV_PKG into directory $1 (tree in $1/src),
# installs its Depends. Sets CRANE_SRC_VERSION to the upstream version (0.14.0).
CRANE_SRC_VERSION=
crane_fetch_source() {
  local dir=$1 deb deps
  crane_ensure_dev_candidate
  mkdir -p "$dir/deb"
  # apt's _apt sandbox user must be able to write there.
  chmod 755 "$dir" "$dir/deb"
  if ! (cd "$dir/deb" && apt-get download "$CRANE_DEV_PKG" >"$dir/download.log" 2>&1); then
    if [[ "$APT_UPDATED" != 1 ]]; then
      apt_update_once
      (cd "$dir/deb" && apt-get download "$CRANE_DEV_PKG" >"$dir/download.log" 2>&1) ||
        { tail -n 20 "$dir/download.log" >&2; die "apt-get download $CRANE_DEV_PKG failed"; }
    else
      tail -n 20 "$dir/download.log" >&2
      die "apt-get download $CRANE_DEV_PKG failed"
    fi
  fi
  deb=$(find "$dir/deb" -name "${CRANE_DEV_PKG}_*.deb" | head -n1)
  [[ -n "$deb" ]] || die "apt-get download produced no $CRANE_DEV_PKG .deb"
  dpkg-deb -x "$deb" "$dir/src" || die "cannot unpack $deb"
  [[ -d "$dir/src/usr/share/gocode/src/$CRANE_IMPORT/cmd/crane" ]] ||
    die "$deb does not contain usr/share/gocode/src/$CRANE_IMPORT/cmd/crane"
  # Depends: "a, b (>= 1), c | d" -> a b c  (first alternative, no versions).
  deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g' | grep -v '^$' | tr '\n' ' ')
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  [[ -z "${deps// /}" ]] || apt_install $deps
  CRANE_SRC_VERSION=$(dpkg-deb -f "$deb" Version | sed -E 's/^[0-9]+://; s/[+~-].*//')
}

# Builds cmd/crane from the unpacked tree in $1 into $2, version string $3.
crane_compile() {
  local src=$1 out=$2 version=$3 gocache
  have go || die "go is missing (apt package golang-go)"
  gocache=$(go env GOCACHE 2>/dev/null || true)
  [[ -n "$gocache" && "$gocache" != off ]] || gocache="$(dirname "$src")/gocache"
  env GO111MODULE=off GOFLAGS= GOWORK=off GOPROXY=off GOTOOLCHAIN=local GONOSUMDB= \
    GOPATH="$src/usr/share/gocode:/usr/share/gocode" GOCACHE="$gocache" \
    CGO_ENABLED="${CGO_ENABLED:-0}" \
    go build -trimpath \
    -ldflags "-s -w -X $CRANE_IMPORT/cmd/crane/cmd.Version=v$version" \
    -o "$out" "$CRANE_IMPORT/cmd/crane"
}

crane_build_offline() {
  local out=$1 work
  work=$(mktemp -d "${TMPDIR:-/tmp}/crane-build.XXXXXX")
  on_exit "rm -rf '$work'"
  crane_fetch_source "$work"
  say "building crane v$CRANE_SRC_VERSION (GOPATH mode, offline${GOARCH:+, GOARCH=$GOARCH})"
  local t0=$SECONDS
  crane_compile "$work/src" "$work/crane" "$CRANE_SRC_VERSION" || die "go build of crane failed (see above)"
  say "go build took $((SECONDS - t0)) s"
  mkdir -p "$(dirname "$out")"
  install -m 0755 "$work/crane" "$out"
  rm -rf "$work"
}
