#!/usr/bin/env bash
# Builds binaries other than the kubelet from the patched tree of one base,
# for linux/ARCH, the way hack/build-kubelet.sh builds the kubelet: static
# (CGO_ENABLED=0), -trimpath, without a build id, stamped with the same
# version and build date. Each NAME is cmd/NAME of the tree, and lands in
# OUT_DIR with NAME.sha256 and NAME.sha512, as dl.k8s.io lays them out. A
# binary that build/CHECKSUMS lists must have the sha256 recorded there, or
# the build fails and leaves nothing behind (as for the kubelet).
#
# These binaries are upstream's code unchanged: the series touches only the
# kubelet. They are built from the same tree so that a release has one
# version on every binary, as a node image that checks kubelet, kubeadm and
# kubectl against one version expects.
#
# With --stock it builds them from the unpatched base, stamped with the
# upstream version, as hack/build-kubelet.sh --stock builds the kubelet: the
# stock control plane that make cluster-upgrade starts from. build/CHECKSUMS
# records no stock binary.
#
# Usage: hack/build-binaries.sh [--stock] BASE ARCH OUT_DIR NAME...
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

which=()
if [[ "${1:-}" == "--stock" ]]; then
  which=(--stock)
  shift
fi
(($# >= 4)) || ctxfix::die "usage: hack/build-binaries.sh [--stock] BASE ARCH OUT_DIR NAME..."
base="$1" arch="$2" out_dir="$3"
shift 3
names=("$@")
ctxfix::require_tools git go sha256sum sha512sum
case "${arch}" in
  amd64 | arm64) ;;
  *) ctxfix::die "unsupported architecture '${arch}': want amd64 or arm64" ;;
esac
for name in "${names[@]}"; do
  case "${name}" in
    kubeadm | kubectl | kube-apiserver | kube-controller-manager | kube-scheduler | kube-proxy) ;;
    *) ctxfix::die "unknown binary '${name}': want kubeadm, kubectl, kube-apiserver, kube-controller-manager, kube-scheduler or kube-proxy" ;;
  esac
done

"${CTXFIX_ROOT}/hack/prepare-tree.sh" "${which[@]}" "${base}"
tree="$(ctxfix::tree_dir "${which[@]}" "${base}")"
version="$(ctxfix::distribution_version "${base}")"
((${#which[@]} == 0)) || version="${base}"
ldflags="$(ctxfix::stamp ldflags "${tree}" "${version}")"

mkdir -p "${CTXFIX_OUTPUT}/tmp"
staging="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/build-binaries-${version}-${arch}.XXXXXX")"
trap 'rm -rf "${staging}"' EXIT

packages=()
for name in "${names[@]}"; do packages+=("./cmd/${name}"); done
ctxfix::log "Building ${names[*]} ${version} for linux/${arch} from ${tree#"${CTXFIX_ROOT}"/}"
# One go build for all of them: the packages they share compile once.
GOOS=linux GOARCH="${arch}" ctxfix::go_in_tree "${which[@]}" "${base}" build \
  -ldflags "${ldflags} -s -w -buildid=" -o "${staging}/" "${packages[@]}" ||
  ctxfix::die "building ${names[*]} ${version} for linux/${arch} failed"

for name in "${names[@]}"; do
  [[ -x "${staging}/${name}" ]] || ctxfix::die "go build wrote no ${name}"
  if [[ "${arch}" == "$(go env GOHOSTARCH)" ]]; then
    case "${name}" in
      kubeadm) reported="$("${staging}/kubeadm" version -o short)" ;;
      kubectl) reported="$("${staging}/kubectl" version --client | awk '$1 == "Client" { print $3 }')" ;;
      *) reported="$("${staging}/${name}" --version | awk '{ print $2 }')" ;;
    esac
    [[ "${reported}" == "${version}" ]] || ctxfix::die "the ${name} built for ${version} reports '${reported}'"
  fi
  (cd "${staging}" && sha256sum "${name}" | cut -d' ' -f1 > "${name}.sha256" && sha512sum "${name}" | cut -d' ' -f1 > "${name}.sha512")
  if ((${#which[@]} == 0)) && [[ "${CTXFIX_UPDATE_CHECKSUMS:-}" != 1 ]]; then
    ctxfix::verify_recorded_checksum "${version}/bin/linux/${arch}/${name}" "$(cat "${staging}/${name}.sha256")"
  fi
done

mkdir -p "${out_dir}"
for name in "${names[@]}"; do
  mv -f "${staging}/${name}" "${staging}/${name}.sha256" "${staging}/${name}.sha512" "${out_dir}/"
  ctxfix::log "${name} ${version} linux/${arch}: sha256 $(cat "${out_dir}/${name}.sha256")"
done
