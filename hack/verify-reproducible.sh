#!/usr/bin/env bash
# Builds the kubelet of one base twice, each time from a freshly
# materialized patched tree in its own folder and with an empty Go build
# cache, and compares the bytes. Both builds are also checked against
# build/CHECKSUMS where it lists them. Costs one cold kubelet build per
# architecture and tree: 12 minutes measured for amd64 and arm64 on 2 cores
# (2026-12-04).
#
# Usage: hack/verify-reproducible.sh   (KUBE_VERSION: base, default from
#        VERSION; ARCHES: default "amd64 arm64")
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ctxfix::require_tools git go sha256sum cmp
base="$(ctxfix::kube_version)"
version="$(ctxfix::distribution_version "${base}")"
read -r -a arches <<<"${ARCHES:-amd64 arm64}"
((${#arches[@]} > 0)) || ctxfix::die "ARCHES is empty"
mkdir -p "${CTXFIX_OUTPUT}/tmp"
scratch="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/reproducible.XXXXXX")"
trap 'chmod -R u+w "${scratch}" 2>/dev/null; rm -rf "${scratch}"' EXIT

for attempt in first second; do
  ctxfix::log "${attempt} build: fresh tree under ${scratch#"${CTXFIX_ROOT}"/}/${attempt}, empty build cache"
  for arch in "${arches[@]}"; do
    CTXFIX_OUTPUT="${scratch}/${attempt}" GOCACHE="${scratch}/${attempt}-gocache" \
      "${CTXFIX_ROOT}/hack/build-kubelet.sh" "${base}" "${arch}"
  done
done

status=0
for arch in "${arches[@]}"; do
  first="${scratch}/first/release/${version}/bin/linux/${arch}/kubelet"
  second="${scratch}/second/release/${version}/bin/linux/${arch}/kubelet"
  if cmp -s "${first}" "${second}"; then
    echo "linux/${arch}: identical, sha256 $(cat "${first}.sha256")"
  else
    echo "linux/${arch}: DIFFERENT: $(cat "${first}.sha256") vs $(cat "${second}.sha256")"
    status=1
  fi
done
((status == 0)) || ctxfix::die "kubelet ${version} is not reproducible"
ctxfix::log "kubelet ${version} builds to identical bytes from two fresh trees with empty build caches (${arches[*]})"
