#!/usr/bin/env bash
# Builds the kubelet from this source archive (kubernetes-src.tar.gz of a
# kubelet-ctxfix release) the way the release's binaries were built: static,
# -trimpath, against the published staging modules that .ctxfix/kubernetes.mod
# pins, and stamped with the release's version (.ctxfix/ldflags; the same
# values in upstream's KUBE_GIT_VERSION_FILE format in .ctxfix/version.env).
#
# With the Go named in .ctxfix/version.env the binary is byte-for-byte the
# released one; another Go gives the same version string and other bytes.
#
# Usage: .ctxfix/build-kubelet.sh [ARCH]   (default: the host's)
# Output: _output/bin/linux/<arch>/kubelet
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v go >/dev/null || { echo "ERROR: go is not installed" >&2; exit 1; }
built_with="$(sed -n "s/^GO_VERSION='\(.*\)'$/\1/p" .ctxfix/version.env)"
if [[ "$(go env GOVERSION)" != "${built_with}" ]]; then
  echo "NOTE: the release was built with ${built_with}, this is $(go env GOVERSION): expect other bytes" >&2
fi
arch="${1:-$(go env GOHOSTARCH)}"
export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOOS=linux GOARCH="${arch}"
go build -modfile=.ctxfix/kubernetes.mod -mod=readonly -trimpath \
  -ldflags "$(cat .ctxfix/ldflags) -s -w -buildid=" \
  -o "_output/bin/linux/${arch}/kubelet" ./cmd/kubelet
echo "_output/bin/linux/${arch}/kubelet"
