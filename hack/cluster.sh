#!/usr/bin/env bash
# A kubeadm cluster on this machine, built from the release of KUBE_VERSION
# as a node-image pipeline and Cluster API build one (pkg/cluster,
# cmd/ctxfix-cluster): every node gets kubelet, kubeadm, kubectl,
# kubernetes-cni and cri-tools with apt-get from the release's signed apt
# repository, served on loopback, held by the apt pin of the README, and
# the release's images under the names kubeadm asks for; kubeadm init on the first node, kubeadm join on the others.
# etcd is the release's image (built from its Go module: a stand-in for
# registry.k8s.io's), CoreDNS the release's.
#
# Each node is a network namespace and a mount namespace of this run, with
# its own containerd; the nodes reach each other through a switch namespace
# that drops, and counts, any packet bound elsewhere. Nothing is written to
# the host outside _output/ but the nodes' cgroups, which go with them.
#
# With SOURCE_TYPE=http, the nodes are installed as image-builder's http mode
# installs them instead: the binaries and images downloaded from the
# release's http layout and checked against their .sha256.
#
# With --roll, the cluster starts with the stock kubelet of KUBE_VERSION,
# packaged as upstream's package (1.36.5-1.1, a test stand-in made by our
# packaging from the stock tree, in an apt repository of its own signed by a
# key made for the run), under a live workload: a Deployment of 6 behind a
# Service, with a PodDisruptionBudget, and a request loop. The kubelets are
# replaced node by node with ours from the release's repository, and rolled
# back, without and then with kubectl drain; ctxleak looks before and after.
# The cluster is taken down after (pkg/cluster's Roll).
#
# With --conformance, the cluster starts the same way, and upstream's
# conformance specs run on it (e2e.test and ginkgo of the patched tree, on
# the control-plane node, as sonobuoy runs them): the named list of
# test/cluster-conformance.txt, or with CONFORMANCE=full every
# [Conformance] spec but the disruptive ones. They run with the stock
# kubelets, then every kubelet is replaced with ours by the README's
# commands, and they run again. A spec that fails only with ours
# fails the run; one that fails with both must be in
# test/cluster-conformance-known-failures.tsv, with its reason. The reports
# and table.md are left in _output/cluster/conformance/<base>/<form>/ (list,
# full, or short for --short).
#
# With --short, make test's form of both, on two nodes (NODES): the
# worker's stock kubelet is replaced with ours by the README's commands under
# the workload and its request loop, and the specs of
# test/cluster-conformance-short.txt run on it.
#
# With --upgrade, kubeadm's upgrade paths with our version
# (pkg/cluster's Upgrade), on two nodes (NODES): upstream's kubeadm
# (kubeadm=1.36.5-1.1, a stand-in as the kubelet's is) initialises the
# cluster at the base, with the control plane's images built from the stock
# tree; then docs/node-images.md's commands, as written there, upgrade it
# to ours (kubeadm upgrade apply on the control plane, kubeadm upgrade node
# on the worker, each kubelet by the README's commands) and on to
# upstream's next release, which upstream's kubeadm and version of the base
# stand in for. transcript.md in _output/cluster/upgrade/<base>/ has what
# kubeadm printed.
#
# Usage: hack/cluster.sh [--down | --roll | --conformance | --short | --upgrade]
#   KUBE_VERSION  base (default from VERSION); its release is made first
#                 (ARCHES = the host's) if _output/release has none
#   NODES         nodes, the control plane among them (default 3)
#   SOURCE_TYPE   pkg (default): the nodes' packages from the release's apt
#                 repository; http: kubelet, kubeadm and kubectl from its
#                 http layout, as image-builder's http mode installs them
#                 with docs/node-images.md's recipe (make cluster only)
#   CMD           a command to run on the control-plane node (kubectl
#                 works there), after which the cluster is taken down;
#                 without it the cluster is left up
#   --down        take down the cluster left up, and check that nothing of
#                 it is left
#   --roll        the rolling replacement above
#   CONFORMANCE   with --conformance: list (default) or full
#   REQUESTS      with --roll and --short, the requests of each round's loop, one every
#                 0.2 s (default 200, three times as many with drain); a
#                 loop that ends before its round
#                 fails the run
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[[ "$(id -u)" == 0 ]] || ctxfix::die "the cluster runs containerd, kubelets and kubeadm in namespaces of its own, which needs root"
dir="${CTXFIX_OUTPUT}/cluster/run"
cluster_tool="$(ctxfix::go_tool ./cmd/ctxfix-cluster)"
mode=up
case "${1:-}" in
  --down)
    [[ -f "${dir}/cluster.json" ]] || ctxfix::die "no cluster is up (no ${dir#"${CTXFIX_ROOT}"/}/cluster.json)"
    exec "${cluster_tool}" down -dir "${dir}"
    ;;
  --roll) mode=roll ;;
  --conformance) mode=conformance ;;
  --short) mode=short ;;
  --upgrade) mode=upgrade ;;
  "") ;;
  *) ctxfix::die "unknown argument '$1' (usage: hack/cluster.sh [--down | --roll | --conformance | --short | --upgrade])" ;;
esac
source_type="${SOURCE_TYPE:-pkg}"
case "${source_type}" in
  pkg) ;;
  http) [[ "${mode}" == up ]] || ctxfix::die "SOURCE_TYPE=http is for make cluster: the other forms replace the kubelets by package" ;;
  *) ctxfix::die "SOURCE_TYPE=${source_type}: want pkg (the release's apt repository) or http (its http layout, image-builder's http mode)" ;;
esac
# The specs a conformance run selects, and the time it may take.
selection=()
case "${CONFORMANCE:-list}" in
  list) selection=(-specs "${CTXFIX_ROOT}/test/cluster-conformance.txt") ;;
  # Every [Conformance] spec but those that disrupt the cluster's nodes,
  # which this run's nodes share with the host's kernel: 441 on v1.36.5,
  # more than the hour a run of the list is allowed.
  full) selection=(-skip '\[Disruptive\]' -timeout 150m) ;;
  *) ctxfix::die "CONFORMANCE=${CONFORMANCE}: want list (test/cluster-conformance.txt) or full" ;;
esac
ctxfix::require_tools go ip nsenter unshare mount apt-get
ctxfix::require_packages runc:runc iptables:iptables
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

# The packages at the release's versions, and the apt pin as the README
# gives it, written for the default base's release.
deb_version="$("${release_tool}" package-version -revision "${revision}" -base "${base}" -format deb)"
cni_deb_version="$("${release_tool}" package-version -revision "${revision}" -base "${base}" \
  -component-version "$(ctxfix::pinned_version github.com/containernetworking/plugins)" -format deb)"
mkdir -p "${CTXFIX_OUTPUT}/cluster"
pin="${CTXFIX_OUTPUT}/cluster/apt-pin"
default_base="$(ctxfix::version_default KUBE_VERSION)"
ctxfix::doc_block "${CTXFIX_ROOT}/README.md" "### Add the repository" "" 1 |
  sed -e "s;${default_base#v}-;${base#v}-;g" >"${pin}"
grep -qxF "Pin: version ${deb_version%+*}+ctxfix.*" "${pin}" ||
  ctxfix::die "the README's apt pin (\"Add the repository\") does not hold ${deb_version}: $(tr '\n' ' ' <"${pin}")"

packages=(-package "kubelet=${deb_version}" -package "kubeadm=${deb_version}" -package "kubectl=${deb_version}"
  -package "kubernetes-cni=${cni_deb_version}")
if [[ "${mode}" == up ]]; then
  cmd=()
  [[ -z "${CMD:-}" ]] || cmd=(-cmd "${CMD}")
  if [[ "${source_type}" == http ]]; then
    # image-builder's http mode as docs/node-images.md gives it, for this
    # base: the binaries and images from the release's http layout, the CNI
    # plugins and crictl from stand-ins for upstream's releases, and the
    # unit and drop-in as kubeadm's install guide installs them without a
    # package manager (krel's templates, from the pinned k8s.io/release).
    ctxfix::require_packages jq:jq
    http_recipe="${CTXFIX_OUTPUT}/cluster/http-recipe.json"
    default_version="$(ctxfix::distribution_version "${default_base}")"
    ctxfix::doc_block "${CTXFIX_ROOT}/docs/node-images.md" "## image-builder, http mode" json 1 |
      sed -e "s;${default_version};${version};g" >"${http_recipe}"
    recipe_value() {
      jq -er --arg name "$1" '.[$name]' "${http_recipe}" ||
        ctxfix::die "docs/node-images.md's http recipe (\"image-builder, http mode\") has no $1"
    }
    # Assigned first: a value the recipe lacks stops the run (errexit).
    recipe_semver="$(recipe_value kubernetes_semver)"
    recipe_cni="$(recipe_value kubernetes_cni_semver)"
    recipe_crictl="$(recipe_value crictl_version)"
    [[ "${recipe_semver}" == "${version}" ]] ||
      ctxfix::die "docs/node-images.md's http recipe is for ${recipe_semver}, not the default base's ${default_version}"
    cni_version="$(ctxfix::pinned_version github.com/containernetworking/plugins)"
    [[ "${recipe_cni}" == "${cni_version}" ]] ||
      ctxfix::die "docs/node-images.md's http recipe names CNI plugins ${recipe_cni}, but the release's kubernetes-cni is ${cni_version}"
    crictl_version="$(ctxfix::pinned_version sigs.k8s.io/cri-tools)"
    [[ "${recipe_crictl}" == "${crictl_version#v}" ]] ||
      ctxfix::die "docs/node-images.md's http recipe names crictl ${recipe_crictl}, but the release's cri-tools is ${crictl_version#v}"
    packaging="$(ctxfix::upstream_packaging)"
    ctxfix::log "cluster of ${NODES:-3} nodes from ${release#"${CTXFIX_ROOT}"/} in http mode: kubelet, kubeadm, kubectl from bin/linux/${arch}/, CNI plugins ${cni_version} and crictl ${crictl_version}"
    exec "${cluster_tool}" up -release "${release}" -arch "${arch}" -nodes "${NODES:-3}" -dir "${dir}" \
      -http-recipe "${http_recipe}" -kubelet-unit "${packaging}/kubelet/kubelet.service" \
      -kubeadm-dropin "${packaging}/kubeadm/10-kubeadm.conf" -containerd "${bin}/containerd" -ctr "${bin}/ctr" "${cmd[@]}"
  fi
  ctxfix::log "cluster of ${NODES:-3} nodes from ${release#"${CTXFIX_ROOT}"/}: kubelet, kubeadm, kubectl ${deb_version}, kubernetes-cni ${cni_deb_version}"
  exec "${cluster_tool}" up -release "${release}" -arch "${arch}" -nodes "${NODES:-3}" -dir "${dir}" \
    "${packages[@]}" -apt-pin "${pin}" -containerd "${bin}/containerd" -ctr "${bin}/ctr" "${cmd[@]}"
fi

# ---- --roll, --conformance, --short, --upgrade: upstream's stand-in repository, the recipe
source "${CTXFIX_ROOT}/hack/lib/repos.sh"
source "${CTXFIX_ROOT}/hack/lib/images.sh"
ctxfix::require_packages gpg:gnupg apt-ftparchive:apt-utils dpkg-deb:dpkg busybox:busybox-static bash-static:bash-static jq:jq
"${CTXFIX_ROOT}/hack/build-kubelet.sh" --stock "${base}" "${arch}"
stock_kubelet="${CTXFIX_OUTPUT}/stock-release/${base}/bin/linux/${arch}/kubelet"
stock_version="$("${stock_kubelet}" --version)"
stock_version="${stock_version#Kubernetes }"
[[ "${stock_version}" == "${base}" ]] || ctxfix::die "the stock kubelet ${stock_kubelet} reports ${stock_version}, want ${base}"
stand_in="${CTXFIX_OUTPUT}/cluster/upstream-stand-in"
rm -rf "${stand_in}"
deb="$(ctxfix::node_deb --upstream-stand-in kubelet "${stock_kubelet}" "${base}" "${arch}" "${stand_in}" "${release_tool}")"
stock_deb_version="$(dpkg-deb -f "${deb}" Version)"
if [[ "${mode}" == upgrade ]]; then
  # Upstream's kubeadm and control plane of the base, built from the stock
  # tree: kubeadm packaged as the kubelet is, beside it.
  stock_bin="${CTXFIX_OUTPUT}/stock-release/${base}/bin/linux/${arch}"
  "${CTXFIX_ROOT}/hack/build-binaries.sh" --stock "${base}" "${arch}" "${stock_bin}" kubeadm "${control_plane_binaries[@]}"
  kubeadm_deb="$(ctxfix::node_deb --upstream-stand-in kubeadm "${stock_bin}/kubeadm" "${base}" "${arch}" "${stand_in}" "${release_tool}")"
  stock_kubeadm="kubeadm=$(dpkg-deb -f "${kubeadm_deb}" Version)"
  packages[3]="${stock_kubeadm}"
fi
# A key of the run's own: the stand-in is not upstream's, and not ours.
gnupg_home="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/stand-in-gnupg.XXXXXX")"
image_work=""
trap 'gpgconf --homedir "${gnupg_home}" --kill all; rm -rf "${gnupg_home}" ${image_work:+"${image_work}"}' EXIT
stand_in_key="$(CTXFIX_SIGNING_KEY='' ctxfix::signing_key "${gnupg_home}")"
stock_tree="$(ctxfix::tree_dir --stock "${base}")"
epoch="$(ctxfix::source_date_epoch "${stock_tree}")"
ctxfix::apt_repo "${stand_in}" "${gnupg_home}" "${stand_in_key}" "${epoch}"
image_tool="$(ctxfix::go_tool ./cmd/ctxfix-image)"
busybox_tar="${CTXFIX_OUTPUT}/cluster/busybox.tar"
busybox_image="$(ctxfix::busybox_image "${stock_tree}" "${arch}" "${image_tool}" "${busybox_tar}")"
ctxleak="$(ctxfix::go_tool ./cmd/ctxleak)"
# The operator's commands, as the README gives them, for this base.
recipe="${CTXFIX_OUTPUT}/cluster/recipe"
rm -rf "${recipe}"
mkdir -p "${recipe}"
recipe_step() {
  local step="$1" heading="$2" n="$3"
  ctxfix::doc_block "${CTXFIX_ROOT}/README.md" "${heading}" sh "${n}" |
    sed -e "s;${default_base#v}-;${base#v}-;g" >"${recipe}/${step}.sh"
  [[ -s "${recipe}/${step}.sh" ]] || ctxfix::die "the README gives no ${step} commands (sh block ${n} under \"${heading}\")"
}
recipe_step drain "### Replacing the kubelet node by node" 1
recipe_step upgrade "### Replacing the kubelet node by node" 2
recipe_step wait "### Replacing the kubelet node by node" 3
recipe_step uncordon "### Replacing the kubelet node by node" 4
recipe_step rollback "### Rolling back" 1
# The version as a word of its own: the stock version is a prefix of ours.
tr -s ' \n' '\n\n' <"${recipe}/upgrade.sh" | grep -qxF "kubelet=${deb_version}" ||
  ctxfix::die "the README's upgrade commands do not install kubelet=${deb_version}: $(tr '\n' ' ' <"${recipe}/upgrade.sh")"
tr -s ' \n' '\n\n' <"${recipe}/rollback.sh" | grep -qxF "kubelet=${stock_deb_version}" ||
  ctxfix::die "the README's rollback commands do not install kubelet=${stock_deb_version}: $(tr '\n' ' ' <"${recipe}/rollback.sh")"
packages[1]="kubelet=${stock_deb_version}"
nodes="${NODES:-3}"
[[ "${mode}" != short && "${mode}" != upgrade ]] || nodes="${NODES:-2}"
stand_in_args=(-release "${release}" -arch "${arch}" -nodes "${nodes}" -dir "${dir}"
  "${packages[@]}" -apt-pin "${pin}" -containerd "${bin}/containerd" -ctr "${bin}/ctr"
  -repository "upstream-stand-in=${stand_in}" -recipe "${recipe}"
  -stock "kubelet=${stock_deb_version}" -stock-version "${stock_version}" -patched-version "${version}")

if [[ "${mode}" == upgrade ]]; then
  # The control plane's images of upstream's version, as its release ships
  # them, for kubeadm init.
  image_work="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/stock-images.XXXXXX")"
  ctxfix::control_plane_images "${base}" "${arch}" "${stock_bin}" "${image_work}" "${image_tool}" "${epoch}" "${stock_bin}/images"
  stock_images=()
  for name in "${control_plane_binaries[@]}"; do stock_images+=(-image "${stock_bin}/images/${name}.tar"); done
  # docs/node-images.md's kubeadm upgrade commands, for this base. The next
  # release they name is the default base's next patch.
  commands="${CTXFIX_OUTPUT}/cluster/upgrade-commands"
  rm -rf "${commands}"
  mkdir -p "${commands}"
  default_version="$(ctxfix::distribution_version "${default_base}")"
  upgrade_commands() {
    local file="$1" heading="$2" n="$3"
    ctxfix::doc_block "${CTXFIX_ROOT}/docs/node-images.md" "${heading}" sh "${n}" |
      sed -e "s;${default_version};${version};g" -e "s;${default_base#v}-;${base#v}-;g" >"${commands}/${file}"
    [[ -s "${commands}/${file}" ]] || ctxfix::die "docs/node-images.md gives no commands for ${file} (sh block ${n} under \"${heading}\")"
  }
  upgrade_commands control-plane.sh "### From upstream's ${default_base} to ours" 1
  upgrade_commands node.sh "### From upstream's ${default_base} to ours" 2
  upgrade_commands to-upstream.sh "### From ours to upstream's next patch release" 1
  patch="${default_base##*.}"
  next_version="${default_base%.*}.$((patch + 1))"
  out="${CTXFIX_OUTPUT}/cluster/upgrade/${base}"
  rm -rf "${out}"
  ctxfix::log "kubeadm upgrade paths on ${nodes} nodes: initialised at upstream's ${base} (${stock_kubeadm}, kubelet ${stock_deb_version}), to ${version} and on to upstream's next release"
  "${cluster_tool}" upgrade "${stand_in_args[@]}" "${stock_images[@]}" -kubernetes-version "${base}" \
    -stock-kubeadm "${stock_kubeadm}" -commands "${commands}" -next-version "${next_version}" -out "${out}"
  exit 0
fi

if [[ "${mode}" == roll ]]; then
  ctxfix::log "rolling replacement on ${nodes} nodes: kubelet ${stock_deb_version} (upstream's stand-in) to ${deb_version} and back"
  "${cluster_tool}" roll "${stand_in_args[@]}" \
    -image "${busybox_tar}" -workload-image "${busybox_image}" \
    -kubelet-env GODEBUG=memprofilerate=1 -ctxleak "${ctxleak}" \
    -patched "kubelet=${deb_version}" -requests "${REQUESTS:-200}"
  exit 0
fi

# ---- --conformance, --short: e2e.test, ginkgo and the images the specs run ---
# The suite of the code that ships: e2e.test and ginkgo of the patched tree.
conformance_bin="${CTXFIX_OUTPUT}/cluster/conformance/bin/${base}"
# One folder a form (short, list, full), so that a run of one leaves the
# reports of another: the full set's take an hour and a half to make.
form="${CONFORMANCE:-list}"
[[ "${mode}" != short ]] || form=short
conformance_dir="${CTXFIX_OUTPUT}/cluster/conformance/${base}/${form}"
rm -rf "${conformance_dir}"
mkdir -p "${conformance_bin}" "${conformance_dir}"
ctxfix::log "e2e.test and ginkgo from the patched tree of ${base}, agnhost from its stock tree"
ctxfix::e2e_suite "${base}" ./test/e2e "${conformance_bin}"
ctxfix::agnhost_image "${base}" "${arch}" "${image_tool}" "${conformance_bin}" >/dev/null
images=(-image "${busybox_tar}" -image "${conformance_bin}/agnhost.tar")
known=(-known-failures "${CTXFIX_ROOT}/test/cluster-conformance-known-failures.tsv")
if [[ "${mode}" == short ]]; then
  ctxfix::log "short form on ${nodes} nodes: the worker's kubelet ${stock_deb_version} (upstream's stand-in) replaced with ${deb_version} under a request loop, then test/cluster-conformance-short.txt"
  "${cluster_tool}" short "${stand_in_args[@]}" "${images[@]}" "${known[@]}" \
    -workload-image "${busybox_image}" -patched "kubelet=${deb_version}" -requests "${REQUESTS:-200}" \
    -e2e-test "${conformance_bin}/e2e.test" -ginkgo "${conformance_bin}/ginkgo" \
    -out "${conformance_dir}" -specs "${CTXFIX_ROOT}/test/cluster-conformance-short.txt"
  exit 0
fi
images+=(-image "${conformance_bin}/agnhost-prev.tar" -image "${conformance_bin}/glibc-dns-testing.tar")
ctxfix::log "conformance on ${nodes} nodes (${CONFORMANCE:-list}): kubelet ${stock_deb_version} (upstream's stand-in), then ${deb_version}"
"${cluster_tool}" conformance "${stand_in_args[@]}" "${images[@]}" "${known[@]}" \
  -e2e-test "${conformance_bin}/e2e.test" -ginkgo "${conformance_bin}/ginkgo" \
  -out "${conformance_dir}" "${selection[@]}"
