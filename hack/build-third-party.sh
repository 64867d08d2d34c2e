#!/usr/bin/env bash
# Builds, for linux/ARCH into OUT_DIR, the binaries of the images kubeadm
# pulls besides the control plane's, at the versions BASE's kubeadm names:
# etcd, etcdctl and etcdutl (build/images/etcd/go.mod pins them), coredns
# (build/upstream.sum pins it) and pause (BASE's build/pause/linux/pause.c,
# with pause.libc naming the C library in it). Upstream's code, unchanged.
# OUT_DIR/images lists the images as ctxfix-release kubeadm-images does
# ("etcd registry.k8s.io/etcd:3.6.8-0 v3.6.8"). Each binary gets a .sha256;
# the Go ones are checked against build/CHECKSUMS as
# <version>/bin/linux/<arch>/<name> (CTXFIX_UPDATE_CHECKSUMS=1 records them
# instead), and on the host's architecture each must report the version
# kubeadm names.
#
# Usage: hack/build-third-party.sh BASE ARCH OUT_DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "${CTXFIX_ROOT}/hack/lib/images.sh"

(($# == 3)) || ctxfix::die "usage: hack/build-third-party.sh BASE ARCH OUT_DIR"
base="$1" arch="$2" out_dir="$3"
ctxfix::require_tools git go sha256sum
case "${arch}" in
  amd64 | arm64) ;;
  *) ctxfix::die "unsupported architecture '${arch}': want amd64 or arm64" ;;
esac

"${CTXFIX_ROOT}/hack/prepare-tree.sh" "${base}"
tree="$(ctxfix::tree_dir "${base}")"
version="$(ctxfix::distribution_version "${base}")"
images="$("$(ctxfix::go_tool ./cmd/ctxfix-release)" kubeadm-images -tree "${tree}")" ||
  ctxfix::die "could not read the etcd, CoreDNS and pause images ${base}'s kubeadm names"
coredns_version="$(ctxfix::pinned_version github.com/coredns/coredns)"
declare -A image_versions=()
while read -r name ref image_version; do
  image_versions["${name}"]="${image_version}"
  case "${name}" in
    etcd | pause) ;;
    coredns)
      [[ "${image_version}" == "${coredns_version}" ]] ||
        ctxfix::die "${base}'s kubeadm names CoreDNS ${image_version} (${ref}), but build/upstream.sum pins ${coredns_version}: pin ${image_version}"
      ;;
    *) ctxfix::die "${base}'s kubeadm names an image this project does not build: ${ref}" ;;
  esac
done <<<"${images}"

mkdir -p "${CTXFIX_OUTPUT}/tmp"
staging="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/build-third-party-${version}-${arch}.XXXXXX")"
trap 'chmod -R u+w "${staging}" && rm -rf "${staging}"' EXIT

ctxfix::log "Building etcd ${image_versions[etcd]}, CoreDNS ${image_versions[coredns]} and pause ${image_versions[pause]} for linux/${arch}, as ${base}'s kubeadm names them"
ctxfix::build_etcd "${image_versions[etcd]}" "${arch}" "${staging}"
ctxfix::build_pinned github.com/coredns/coredns "" "${arch}" "${staging}" .
ctxfix::build_pause "${tree}" "${image_versions[pause]#v}" "${arch}" "${staging}/pause"
echo "${images}" > "${staging}/images"

for name in etcd etcdctl etcdutl coredns pause; do
  [[ -x "${staging}/${name}" ]] || ctxfix::die "the build wrote no ${name}"
  if [[ "${arch}" == "$(go env GOHOSTARCH)" ]]; then
    case "${name}" in
      etcd) reported="v$("${staging}/etcd" --version | sed -n 's/^etcd Version: //p')" wanted="${image_versions[etcd]}" ;;
      etcdctl) reported="v$("${staging}/etcdctl" version | sed -n 's/^etcdctl version: //p')" wanted="${image_versions[etcd]}" ;;
      etcdutl) reported="v$("${staging}/etcdutl" version | sed -n 's/^etcdutl version: //p')" wanted="${image_versions[etcd]}" ;;
      coredns) reported="v$("${staging}/coredns" -version | sed -n 's/^CoreDNS-//p')" wanted="${image_versions[coredns]}" ;;
      pause) reported="$("${staging}/pause" -v | sed -n 's/^pause\.c \(v[^-]*\)-.*/\1/p')" wanted="${image_versions[pause]}" ;;
    esac
    [[ "${reported}" == "${wanted}" ]] || ctxfix::die "the ${name} built for ${wanted} reports '${reported}'"
  fi
  (cd "${staging}" && sha256sum "${name}" | cut -d' ' -f1 > "${name}.sha256")
  # pause's bytes follow the machine's C compiler and library: not pinned.
  if [[ "${name}" != pause && "${CTXFIX_UPDATE_CHECKSUMS:-}" != 1 ]]; then
    ctxfix::verify_recorded_checksum "${version}/bin/linux/${arch}/${name}" "$(cat "${staging}/${name}.sha256")"
  fi
done

mkdir -p "${out_dir}"
rm -rf "${out_dir}/pause.libc"
mv -f "${staging}"/* "${out_dir}/"
ctxfix::log "etcd, etcdctl, etcdutl, coredns and pause for ${version} linux/${arch} in ${out_dir}"
