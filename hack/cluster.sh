#!/usr/bin/env bash
# A kubeadm cluster on this machine, built from the release of KUBE_VERSION
# as a node-image pipeline and Cluster API build one (pkg/cluster,
# cmd/ctxfix-cluster): every node gets kubelet, kubeadm, kubectl,
# kubernetes-cni and cri-tools with apt-get from the release's signed apt
# repository, served on loopback, held by the apt pin of
# docs/node-images.md, and the release's images under the names kubeadm
# asks for; kubeadm init on the first node, kubeadm join on the others.
# etcd is the release's image (built from its Go module: a stand-in for
# registry.k8s.io's); CoreDNS is not deployed.
#
# Each node is a network namespace and a mount namespace of this run, with
# its own containerd; the nodes reach each other through a switch namespace
# that drops, and counts, any packet bound elsewhere. Nothing is written to
# the host outside _output/ but the nodes' cgroups, which go with them.
#
# Usage: hack/cluster.sh [--down]
#   KUBE_VERSION  base (default from VERSION); its release is made first
#                 (ARCHES = the host's) if _output/release has none
#   NODES         nodes, the control plane among them (default 3)
#   CMD           a command to run on the control-plane node (kubectl
#                 works there), after which the cluster is taken down;
#                 without it the cluster is left up
#   --down        take down the cluster left up, and check that nothing of
#                 it is left
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[[ "$(id -u)" == 0 ]] || ctxfix::die "the cluster runs containerd, kubelets and kubeadm in namespaces of its own, which needs root"
dir="${CTXFIX_OUTPUT}/cluster/run"
cluster_tool="$(ctxfix::go_tool ./cmd/ctxfix-cluster)"
case "${1:-}" in
  --down)
    [[ -f "${dir}/cluster.json" ]] || ctxfix::die "no cluster is up (no ${dir#"${CTXFIX_ROOT}"/}/cluster.json)"
    exec "${cluster_tool}" down -dir "${dir}"
    ;;
  "") ;;
  *) ctxfix::die "unknown argument '$1' (usage: hack/cluster.sh [--down])" ;;
esac
ctxfix::require_tools go ip nsenter unshare iptables mount apt-get
ctxfix::require_packages runc:runc
[[ -d /sys/fs/cgroup/memory ]] || ctxfix::die "the cluster expects cgroup v1 hierarchies under /sys/fs/cgroup (this machine's kind); found none"

base="$(ctxfix::kube_version)"
arch="$(go env GOHOSTARCH)"
version="$(ctxfix::distribution_version "${base}")"
revision="$(ctxfix::version_default CTXFIX_REVISION)"
release="${CTXFIX_OUTPUT}/release/${version}"
if [[ ! -f "${release}/deb/InRelease" || ! -f "${release}/bin/linux/${arch}/kube-apiserver.tar" ]]; then
  ctxfix::log "no release of ${version} for ${arch} under ${release#"${CTXFIX_ROOT}"/}: making it"
  ARCHES="${arch}" KUBE_VERSION="${base}" "${CTXFIX_ROOT}/hack/release.sh"
fi

# containerd from its Go module at the version build/upstream.sum pins, as
# the real node's, static and without the snapshotters this kernel lacks.
bin="${CTXFIX_OUTPUT}/cluster/bin"
ctxfix::install_pinned github.com/containerd/containerd/v2 "${bin}" "no_btrfs no_devmapper no_zfs" \
  cmd/containerd cmd/ctr cmd/containerd-shim-runc-v2
release_tool="$(ctxfix::go_tool ./cmd/ctxfix-release)"

# The packages at the release's versions, and the apt pin as
# docs/node-images.md gives it, written for the default base's release.
deb_version="$("${release_tool}" package-version -revision "${revision}" -base "${base}" -format deb)"
cni_deb_version="$("${release_tool}" package-version -revision "${revision}" -base "${base}" \
  -component-version "$(ctxfix::pinned_version github.com/containernetworking/plugins)" -format deb)"
mkdir -p "${CTXFIX_OUTPUT}/cluster"
pin="${CTXFIX_OUTPUT}/cluster/apt-pin"
default_base="$(ctxfix::version_default KUBE_VERSION)"
ctxfix::doc_block "${CTXFIX_ROOT}/docs/node-images.md" "## image-builder, package mode, and apt pinning" "" 2 |
  sed -e "s;${default_base#v}-;${base#v}-;g" >"${pin}"
grep -qxF "Pin: version ${deb_version%+*}+ctxfix.*" "${pin}" ||
  ctxfix::die "docs/node-images.md's apt pin does not hold ${deb_version}: $(tr '\n' ' ' <"${pin}")"

cmd=()
[[ -z "${CMD:-}" ]] || cmd=(-cmd "${CMD}")
ctxfix::log "cluster of ${NODES:-3} nodes from ${release#"${CTXFIX_ROOT}"/}: kubelet, kubeadm, kubectl ${deb_version}, kubernetes-cni ${cni_deb_version}"
exec "${cluster_tool}" up -release "${release}" -arch "${arch}" -nodes "${NODES:-3}" -dir "${dir}" \
  -package "kubelet=${deb_version}" -package "kubeadm=${deb_version}" -package "kubectl=${deb_version}" \
  -package "kubernetes-cni=${cni_deb_version}" -apt-pin "${pin}" \
  -containerd "${bin}/containerd" -ctr "${bin}/ctr" "${cmd[@]}"
