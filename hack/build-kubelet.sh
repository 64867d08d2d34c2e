#!/usr/bin/env bash
# Builds the patched kubelet of one base for linux/ARCH and lays it out as
# dl.k8s.io does:
#
#   _output/release/<version>/bin/linux/<arch>/kubelet
#   _output/release/<version>/bin/linux/<arch>/kubelet.sha256
#
# The build is static (CGO_ENABLED=0), -trimpath, without a build id, and
# stamped as upstream's hack/lib/version.sh stamps a release. The build date
# is SOURCE_DATE_EPOCH, or the commit date of the patched tree's HEAD, so the
# same inputs give the same bytes.
#
# A binary that build/CHECKSUMS lists must have the sha256 recorded there, or
# the build fails and leaves nothing behind (CTXFIX_UPDATE_CHECKSUMS=1, set by
# hack/update-checksums.sh, skips the check to record new sums).
#
# KUBELET_OUT_DIR puts the kubelet and its .sha256 in another folder
# (hack/release.sh assembles a release in a temporary one).
#
# With --stock it builds the unpatched base the same way, stamped with the
# upstream version, into _output/stock-release/<base>/bin/linux/<arch>/: the
# baseline that soak runs compare against.
#
# Usage: hack/build-kubelet.sh [--stock] [BASE [ARCH]]   (defaults:
# KUBE_VERSION or the default base; ARCH or the host's architecture)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

which=()
if [[ "${1:-}" == "--stock" ]]; then
  which=(--stock)
  shift
fi
ctxfix::require_tools git go sha256sum
base="${1:-$(ctxfix::kube_version)}"
arch="${2:-${ARCH:-$(go env GOHOSTARCH)}}"
case "${arch}" in
  amd64 | arm64 | arm | ppc64le | s390x) ;;
  *) ctxfix::die "unsupported ARCH '${arch}': want one of amd64 arm64 arm ppc64le s390x" ;;
esac

"${CTXFIX_ROOT}/hack/prepare-tree.sh" "${which[@]}" "${base}"
tree="$(ctxfix::tree_dir "${which[@]}" "${base}")"
if ((${#which[@]} > 0)); then
  version="${base}"
  dest="${CTXFIX_OUTPUT}/stock-release/${base}/bin/linux/${arch}"
else
  version="$(ctxfix::distribution_version "${base}")"
  dest="${CTXFIX_OUTPUT}/release/${version}/bin/linux/${arch}"
fi
dest="${KUBELET_OUT_DIR:-${dest}}"
commit="$(git -C "${tree}" rev-parse HEAD)"
ldflags="$(ctxfix::stamp ldflags "${tree}" "${version}")"

mkdir -p "${CTXFIX_OUTPUT}/tmp"
staging="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/build-${version}-${arch}.XXXXXX")"
trap 'rm -rf "${staging}"' EXIT

ctxfix::log "Building kubelet ${version} for linux/${arch} from ${tree#"${CTXFIX_ROOT}"/} (HEAD ${commit:0:12})"
GOOS=linux GOARCH="${arch}" ctxfix::go_in_tree "${which[@]}" "${base}" build \
  -ldflags "${ldflags} -s -w -buildid=" -o "${staging}/kubelet" ./cmd/kubelet ||
  ctxfix::die "building kubelet ${version} for linux/${arch} failed"

if [[ "${arch}" == "$(go env GOHOSTARCH)" ]]; then
  reported="$("${staging}/kubelet" --version)"
  [[ "${reported}" == "Kubernetes ${version}" ]] ||
    ctxfix::die "the kubelet built for ${version} reports '${reported}'"
fi
(cd "${staging}" && sha256sum kubelet | cut -d' ' -f1 > kubelet.sha256)
if ((${#which[@]} == 0)) && [[ "${CTXFIX_UPDATE_CHECKSUMS:-}" != 1 ]]; then
  ctxfix::verify_recorded_checksum "${version}/bin/linux/${arch}/kubelet" "$(cat "${staging}/kubelet.sha256")"
fi

mkdir -p "${dest}"
mv -f "${staging}/kubelet" "${staging}/kubelet.sha256" "${dest}/"
ctxfix::log "kubelet ${version} linux/${arch}: ${dest#"${CTXFIX_ROOT}"/}/kubelet sha256 $(cat "${dest}/kubelet.sha256")"
