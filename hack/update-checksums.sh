#!/usr/bin/env bash
# Records in build/CHECKSUMS the sha256 of the binaries a release builds
# (kubelet, kubeadm, kubectl, and the control-plane binaries its images carry)
# of the default base (VERSION) for amd64 and arm64, and the Go that built
# them. Every later build of those binaries is checked against
# it (hack/build-kubelet.sh, hack/build-binaries.sh). Run
# it after a change to the series, VERSION or the Go version, and commit the
# result with that change.
#
# Usage: hack/update-checksums.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ctxfix::require_tools git go sha256sum
base="$(ctxfix::version_default KUBE_VERSION)"
version="$(ctxfix::distribution_version "${base}")"
mkdir -p "${CTXFIX_OUTPUT}/tmp"
scratch="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/checksums.XXXXXX")"
trap 'rm -rf "${scratch}"' EXIT
server_binaries=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

{
  echo "# sha256 of the binaries of the default base, as hack/build-kubelet.sh and"
  echo "# hack/build-binaries.sh build them (SOURCE_DATE_EPOCH unset: the patched"
  echo "# tree's commit date) with the Go below. Every build of a listed binary is"
  echo "# checked against it; the control-plane ones are those the images carry."
  echo "# Rerecord with make update-checksums after a change to the series, VERSION"
  echo "# or Go."
  echo "# go: $(go env GOVERSION)"
} > "${scratch}/CHECKSUMS"
for arch in amd64 arm64; do
  (unset SOURCE_DATE_EPOCH; CTXFIX_UPDATE_CHECKSUMS=1 KUBELET_OUT_DIR="${scratch}/${arch}" \
    "${CTXFIX_ROOT}/hack/build-kubelet.sh" "${base}" "${arch}")
  (unset SOURCE_DATE_EPOCH; CTXFIX_UPDATE_CHECKSUMS=1 "${CTXFIX_ROOT}/hack/build-binaries.sh" "${base}" "${arch}" \
    "${scratch}/${arch}" kubeadm kubectl)
  (unset SOURCE_DATE_EPOCH; CTXFIX_UPDATE_CHECKSUMS=1 "${CTXFIX_ROOT}/hack/build-binaries.sh" "${base}" "${arch}" \
    "${scratch}/${arch}" "${server_binaries[@]}")
  for name in kubeadm kubectl kubelet "${server_binaries[@]}"; do
    echo "$(cat "${scratch}/${arch}/${name}.sha256")  ${version}/bin/linux/${arch}/${name}" >> "${scratch}/CHECKSUMS"
  done
done
cp "${scratch}/CHECKSUMS" "${CTXFIX_CHECKSUMS}"
ctxfix::log "build/CHECKSUMS:"
cat "${CTXFIX_CHECKSUMS}" >&2
