#!/usr/bin/env bash
# image-builder's contract, run against a release folder served over HTTP on
# loopback: what kubernetes-sigs/image-builder's kubernetes role and its goss
# checks do with a release, step for step, for the host's architecture.
#
# http mode (roles/kubernetes/tasks/url.yml, main.yml; goss-command.yaml):
#   1. each of kubernetes_bins (kubelet, kubeadm, kubectl) is downloaded from
#      {kubernetes_http_source}/{kubernetes_semver}/bin/linux/{arch}/ and
#      checked against its .sha256, as get_url's checksum does;
#   2. kubectl and kubeadm write their bash completion;
#   3. goss (github.com/goss-org/goss, pinned) with
#      test/image-builder/goss-versions.yaml, which states goss-command.yaml's
#      version commands: kubectl, kubeadm and kubelet report
#      kubernetes_version (the semver without its "v"); the same goss file
#      must fail for a kubectl whose version string is altered;
#   3a. the plain Packer recipe of docs/node-images.md, taken from the
#      document: its file provisioners and its shell provisioner's inline
#      commands, into a scratch root; they must refuse an altered kubelet at
#      their sha256 check;
#   4. each of kubernetes_imgs (kube-apiserver.tar, kube-controller-manager.tar,
#      kube-scheduler.tar, kube-proxy.tar, and pause.tar, coredns.tar and
#      etcd.tar, image-builder's kubernetes_additional_imgs, when the
#      recipe sets kubernetes_load_additional_imgs) is downloaded from the same folder
#      and checked against its .sha256; its arch suffix is taken out of
#      manifest.json and repositories as modify-k8s-img.sh does (which knows
#      only "-amd64"), and `ctr images import` loads it into containerd
#      (github.com/containerd/containerd/v2 as build/upstream.sum pins it,
#      started for this test on a socket of its own);
#   5. goss with goss-images.yaml (goss-images-all.yaml with the additional
#      images): goss-command.yaml's `crictl images` pipeline
#      (sigs.k8s.io/cri-tools, pinned) lists kube-apiserver,
#      kube-controller-manager, kube-proxy and kube-scheduler (and coredns,
#      etcd and pause) once the arch suffix is taken out, and exactly those;
#   6. kubeadm, given kubernetes_semver, asks for images that containerd now
#      has (amd64, where the suffix is taken out): the four control-plane
#      ones, all seven with the additional images, so that it pulls nothing;
#   7. the images run: each binary's --version, and kube-proxy's iptables,
#      ip6tables, nft and conntrack, in the image's own root filesystem
#      (chroot), for the host's architecture.
# pkg mode (roles/kubernetes/tasks/debian.yml; goss-package.yaml):
#   8. the repository key is fetched from deb/Release.key and the flat
#      repository added with signed-by; apt-get update verifies InRelease;
#   9. apt-get install kubelet=V kubeadm=V kubectl=V kubernetes-cni=C (C is
#      the recipe's kubernetes_cni_deb_version, which with crictl_version
#      and kubernetes_cni_semver must be the release's), with
#      dependencies resolved from the repository, into a scratch root whose
#      dpkg database starts as this host's (the image's base system); the
#      host's own packages are not touched;
#  10. goss with goss-packages.yaml: the three packages are installed at V,
#      and the CNI plugins are executable; with goss-node-tools.yaml, the
#      installed crictl and host-device plugin report the pinned versions;
#  10a. the images kubeadm pulls (kubeadmpull.yml): the recipe of
#      docs/node-images.md pushes the release's images/ to a real registry
#      (github.com/distribution/distribution/v3, pinned) in a network
#      namespace of this run, at an address that is not loopback, with
#      TLS certificates made for this run; the recipe's cosign loop signs
#      every pushed index with a key of this run, and cosign verify must
#      refuse each name before and accept it after; an index over two
#      architectures (pause, and a stand-in for the other architecture)
#      resolves through the registry to each platform's image;
#      containerd, trusting that CA
#      through hosts.toml, pulls with the installed kubeadm what the role's
#      /etc/kubeadm.yml (imageRepository and dns.imageRepository from
#      kubernetes_container_registry) asks for, then what the recipe's plain
#      --image-repository pull asks for; containerd must hold exactly those
#      names, goss's package-mode `crictl images` check must pass, and the
#      registry's log must show containerd's request for every manifest;
#      the registry, its storage and its namespace are gone afterwards;
#  11. yum: repomd.xml verifies against the recipe's key (repo_gpgcheck),
#      the three packages at kubernetes_rpm_version and kubernetes-cni at
#      kubernetes_cni_rpm_version download, and goss's rpm package checks
#      (goss-rpm-packages.yaml, goss --package rpm) pass on them, recorded in
#      a scratch rpm database.
#
# These are image-builder's steps as this project reads them, not
# image-builder itself: no Ansible or Packer runs here. A failure names its
# step.
#
# Usage: hack/test-image-builder.sh [RELEASE_DIR]   (default: the release of
#        KUBE_VERSION or the default base); needs root for pkg mode's apt.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "${CTXFIX_ROOT}/hack/lib/cosign.sh"

ctxfix::require_tools go curl sha256sum gpg jq awk tar chroot findmnt ip nsenter od
ctxfix::require_packages apt-get:apt dpkg:dpkg rpm:rpm
[[ "$(id -u)" == 0 ]] || ctxfix::die "pkg mode runs apt-get and dpkg into a scratch root, which needs root"
base="$(ctxfix::kube_version)"
version="$(ctxfix::distribution_version "${base}")"
dir="${1:-${CTXFIX_OUTPUT}/release/${version}}"
[[ -d "${dir}" ]] || ctxfix::die "no release folder ${dir}: run make release first"
dir="$(cd "${dir}" && pwd)"
kubernetes_semver="$(basename "${dir}")"
# image-builder: kubernetes_version is kubernetes_semver without its "v".
kubernetes_version="${kubernetes_semver#v}"
arch="$(go env GOHOSTARCH)"
release_tool="$(ctxfix::go_tool ./cmd/ctxfix-release)"
revision="$(ctxfix::version_default CTXFIX_REVISION)"
release_deb_version="$("${release_tool}" package-version -revision "${revision}" -base "${base}" -format deb)"

# containerd and crictl, as the node image has them.
tools="${CTXFIX_OUTPUT}/image-builder/bin"
mkdir -p "${tools}"
ctxfix::install_pinned github.com/containerd/containerd/v2 "${tools}" "no_btrfs no_devmapper no_zfs" cmd/containerd cmd/ctr
ctxfix::install_pinned sigs.k8s.io/cri-tools "${tools}" "" cmd/crictl
# cosign, which signs and verifies the images pushed to the registry.
cosign="$(ctxfix::cosign_bin)"
# The registry the package-mode images are pulled from.
ctxfix::install_pinned github.com/distribution/distribution/v3 "${tools}" "" cmd/registry

mkdir -p "${CTXFIX_OUTPUT}/tmp"
scratch="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/image-builder.XXXXXX")"
server_pid="" containerd_pid="" registry_pid=""
# The registry's network namespace, made by this run.
registry_ns="ctxfix-ib-$$"
registry_ns_made=false
# containerd's state is under the scratch folder; /run/containerd is
# removed only if this test made it.
run_containerd_existed=false
[[ ! -e /run/containerd ]] || run_containerd_existed=true
stop() {
  local pid="$1"
  [[ -n "${pid}" ]] || return 0
  kill "${pid}" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "${pid}" 2>/dev/null || true
  wait "${pid}" 2>/dev/null || true
}
cleanup() {
  stop "${server_pid}"
  stop "${containerd_pid}"
  stop "${registry_pid}"
  # The namespace is this run's: whatever still runs in it (nothing, once
  # the registry and containerd are stopped above by their PIDs) is this
  # run's too, and would keep it alive after ip netns del.
  if [[ "${registry_ns_made}" == true ]]; then
    for pid in $(ip netns pids "${registry_ns}"); do kill -KILL "${pid}" || true; done
    ip netns del "${registry_ns}" || true
  fi
  # Unpacking mounts snapshots only for a moment; never remove through a
  # mount that is left.
  { findmnt -rn -o TARGET | grep -F "${scratch}/" || true; } | sort -r | while read -r target; do umount -l "${target}" || true; done
  rm -rf "${scratch}"
  [[ "${run_containerd_existed}" == true ]] || rm -rf /run/containerd
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step=""
fail() { ctxfix::die "image-builder contract, ${step}: $*"; }

# The web server: the release folder published under its name, as
# {kubernetes_http_source}/{kubernetes_semver}/.
mkdir -p "${scratch}/www"
ln -s "${dir}" "${scratch}/www/${kubernetes_semver}"
"${release_tool}" serve -dir "${scratch}/www" -addr-file "${scratch}/addr" &
server_pid=$!
for _ in $(seq 100); do [[ -s "${scratch}/addr" ]] && break; sleep 0.1; done
[[ -s "${scratch}/addr" ]] || ctxfix::die "the release's web server did not start"
kubernetes_http_source="http://$(cat "${scratch}/addr")"
ctxfix::log "serving ${dir#"${CTXFIX_ROOT}"/} as ${kubernetes_http_source}/${kubernetes_semver}/"

# The recipes of docs/node-images.md, as a user copies them. They are
# written for the default base's release; its example address becomes this
# server's, and for another base or folder its versions become theirs.
docs="${CTXFIX_ROOT}/docs/node-images.md"
# recipe_block HEADING LANGUAGE [N]: the Nth (default first) ```LANGUAGE
# block under "## HEADING".
recipe_block() { ctxfix::doc_block "${docs}" "## $1" "$2" "${3:-1}"; }
docs_semver="$(recipe_block 'image-builder, http mode' json | jq -r .kubernetes_semver)"
default_version="$(ctxfix::distribution_version "$(ctxfix::version_default KUBE_VERSION)")"
[[ "${docs_semver}" == "${default_version}" ]] ||
  ctxfix::die "docs/node-images.md's recipes are for ${docs_semver}, but the default base's release is ${default_version}: update them"
adapt() {
  sed -e "s;https://artifacts.example.com/kubelet-ctxfix;${kubernetes_http_source};g" -e "s;${docs_semver};${kubernetes_semver};g" \
    -e "s;1\.36\.5;${base#v};g" -e "s;ctxfix\.2;ctxfix.${revision};g"
}
# recipe_var HEADING VARIABLE: VARIABLE of the json recipe under HEADING.
recipe_var() {
  local value
  value="$(recipe_block "$1" json | adapt | jq -er --arg name "$2" '.[$name]')" ||
    ctxfix::die "docs/node-images.md has no ${2} in its json recipe under '## ${1}'"
  echo "${value}"
}
[[ "$(recipe_var 'image-builder, http mode' kubernetes_http_source)" == "${kubernetes_http_source}" ]] ||
  ctxfix::die "docs/node-images.md's http recipe does not use https://artifacts.example.com/kubelet-ctxfix as kubernetes_http_source"

# --- http mode
sysusr_prefix="${scratch}/http/usr"
mkdir -p "${sysusr_prefix}/bin" "${sysusr_prefix}/share/bash-completion/completions"
# download ITEM DEST: get_url of ITEM from the release's bin/linux/<arch>/,
# with its checksum from ITEM.sha256.
download() {
  local item="$1" dest="$2" url checksum got
  url="${kubernetes_http_source}/${kubernetes_semver}/bin/linux/${arch}/${item}"
  checksum="$(curl -fsS "${url}.sha256" 2>&1)" || fail "${url}.sha256: ${checksum}"
  checksum="$(awk '{ print $1; exit }' <<<"${checksum}")"
  curl -fsS -o "${dest}" "${url}" 2> "${scratch}/curl.err" || fail "${url}: $(cat "${scratch}/curl.err")"
  got="$(sha256sum < "${dest}" | cut -d' ' -f1)"
  [[ "${got}" == "${checksum}" ]] || fail "${item} has sha256 ${got}, ${item}.sha256 says ${checksum}"
}
for item in kubelet kubeadm kubectl; do
  step="http mode, download ${item}"
  download "${item}" "${sysusr_prefix}/bin/${item}"
  chmod 0755 "${sysusr_prefix}/bin/${item}"
done
ctxfix::log "http mode: kubelet, kubeadm and kubectl downloaded and checked against their .sha256"
for item in kubectl kubeadm; do
  step="http mode, ${item} completion bash"
  "${sysusr_prefix}/bin/${item}" completion bash > "${sysusr_prefix}/share/bash-completion/completions/${item}" 2> "${scratch}/completion.err" ||
    fail "$(cat "${scratch}/completion.err")"
  [[ -s "${sysusr_prefix}/share/bash-completion/completions/${item}" ]] || fail "${item} wrote no completion"
done
ctxfix::log "http mode: kubectl and kubeadm write their bash completion"

step="http mode, goss versions"
version_vars="{\"kubernetes_version\": \"${kubernetes_version}\"}"
mismatch="$(PATH="${sysusr_prefix}/bin:${PATH}" ctxfix::goss_validate goss-versions.yaml "${version_vars}")" || fail "${mismatch}"
ctxfix::log "http mode: goss sees kubectl, kubeadm and kubelet at ${kubernetes_version}"
# The same goss file must fail for a kubectl that reports another version:
# a kubectl in front of the release's, whose gitVersion is altered.
step="http mode, goss versions with an altered kubectl"
mkdir -p "${scratch}/altered"
cat > "${scratch}/altered/kubectl" <<EOF
#!/usr/bin/env bash
set -euo pipefail
"${sysusr_prefix}/bin/kubectl" "\$@" | sed 's/"gitVersion": "v[^"]*"/"gitVersion": "v0.0.0-altered"/'
EOF
chmod 0755 "${scratch}/altered/kubectl"
altered="$("${scratch}/altered/kubectl" version --client -o json | jq -r .clientVersion.gitVersion)"
[[ "${altered}" == v0.0.0-altered ]] || fail "the altered kubectl reports ${altered}, not v0.0.0-altered"
if mismatch="$(PATH="${scratch}/altered:${sysusr_prefix}/bin:${PATH}" ctxfix::goss_validate goss-versions.yaml "${version_vars}")"; then
  fail "goss passes a kubectl that reports ${altered}: it checks nothing"
fi
[[ "$(grep -c '^not ok' <<<"${mismatch}")" == 1 ]] && grep -q '^not ok .*Command: kubectl version .*: stdout: ' <<<"${mismatch}" ||
  fail "with an altered kubectl, goss fails elsewhere than kubectl's stdout check: ${mismatch}"
ctxfix::log "http mode: goss fails kubectl's version check, and only it, for a kubectl that reports ${altered}"

# --- the plain Packer recipe of docs/node-images.md, as written there: its
# file provisioners copy from the release folder into the image, and its
# shell provisioner's inline commands run one by one, in a scratch root that
# stands for the image's "/" (the commands' /tmp/ and /usr/bin/ are taken
# into it, and sudo is dropped: root runs them here). The same commands must
# fail for a kubelet altered on its way into the image.
packer_recipe() {
  local packer_root="$1" kubelet_source="$2" hcl source destination command
  hcl="$(recipe_block 'Packer without image-builder' hcl | adapt | sed "s;/linux/amd64/;/linux/${arch}/;g")"
  [[ -n "${hcl}" ]] || fail "docs/node-images.md has no hcl block under '## Packer without image-builder'"
  mkdir -p "${packer_root}/tmp" "${packer_root}/usr/bin"
  while read -r source destination; do
    [[ "${source}" == "release/${kubernetes_semver}/"* ]] || fail "a file provisioner copies ${source}, which is not in release/${kubernetes_semver}/"
    source="${dir}/${source#"release/${kubernetes_semver}/"}"
    [[ "${source##*/}" != kubelet ]] || source="${kubelet_source}"
    cp "${source}" "${packer_root}${destination}" || fail "file provisioner: could not copy ${source} to ${destination}"
  done < <(awk -F'"' '/^provisioner "file"/ { file = 1 } file && $1 ~ /source *=/ { s = $2 } file && $1 ~ /destination *=/ { print s, $2; file = 0 }' <<<"${hcl}")
  while read -r command; do
    command="$(sed -e 's/^ *"//' -e 's/",\{0,1\}$//' -e 's/\\"/"/g' -e 's/^sudo //' -e "s; /tmp/; ${packer_root}/tmp/;g" -e "s;\(^\| \)/usr/bin/;\1${packer_root}/usr/bin/;g" \
      -e "s;\$(/usr/bin/;\$(${packer_root}/usr/bin/;g" <<<"${command}")"
    bash -euo pipefail -c "${command}" > "${scratch}/packer.log" 2>&1 || { echo "${command}: $(tail -n 2 "${scratch}/packer.log")"; return 1; }
  done < <(awk '/inline = \[/ { inline = 1; next } inline && /^ *\]/ { inline = 0 } inline' <<<"${hcl}")
}
step="Packer recipe"
mismatch="$(packer_recipe "${scratch}/packer" "${sysusr_prefix}/bin/kubelet")" || fail "${mismatch}"
[[ "$("${scratch}/packer/usr/bin/kubelet" --version)" == "Kubernetes ${kubernetes_semver}" ]] || fail "the recipe installed no kubelet of ${kubernetes_semver}"
step="Packer recipe with an altered kubelet"
cp "${sysusr_prefix}/bin/kubelet" "${scratch}/kubelet.altered" && echo >> "${scratch}/kubelet.altered"
if mismatch="$(packer_recipe "${scratch}/packer-altered" "${scratch}/kubelet.altered")"; then
  fail "the recipe installs a kubelet that does not match its .sha256"
fi
[[ "${mismatch}" == *"sha256sum --check"* ]] || fail "with an altered kubelet, the recipe fails elsewhere than at its sha256 check: ${mismatch}"
rm -rf "${scratch}/packer" "${scratch}/packer-altered" "${scratch}/kubelet.altered"
ctxfix::log "Packer recipe: its file and shell provisioners install the kubelet of ${kubernetes_semver}, and refuse an altered one at sha256sum --check"

# image-builder's kubernetes_primary_imgs, and its kubernetes_additional_imgs
# when the recipe sets kubernetes_load_additional_imgs.
kubernetes_primary_imgs=(kube-apiserver.tar kube-controller-manager.tar kube-scheduler.tar kube-proxy.tar)
kubernetes_imgs=("${kubernetes_primary_imgs[@]}")
images_goss=goss-images.yaml
# image-builder takes it as a string ("true", as packer passes it) or a
# boolean.
load_additional="$(recipe_block 'image-builder, http mode' json | jq -er '.kubernetes_load_additional_imgs | select(. != null) | tostring')" ||
  ctxfix::die "docs/node-images.md has no kubernetes_load_additional_imgs in its json recipe under '## image-builder, http mode'"
if [[ "${load_additional}" == true ]]; then
  kubernetes_imgs+=(pause.tar coredns.tar etcd.tar)
  images_goss=goss-images-all.yaml
fi
images="${scratch}/http/tmp"
mkdir -p "${images}"
for item in "${kubernetes_imgs[@]}"; do
  step="http mode, download ${item}"
  download "${item}" "${images}/${item}"
  step="http mode, modify ${item}"
  name="${item%%.*}"
  unpacked="${images}/${name}"
  mkdir -p "${unpacked}"
  tar -xf "${images}/${item}" -C "${unpacked}" || fail "${item} is not a tar archive"
  for file in manifest.json repositories; do
    [[ -f "${unpacked}/${file}" ]] || fail "${item} has no ${file}"
  done
  sed -i "s/${name}-amd64:/${name}:/" "${unpacked}/manifest.json"
  sed -i "s/${name}-amd64/${name}/" "${unpacked}/repositories"
  tar -cf "${unpacked}.tar" -C "${unpacked}" . && rm -rf "${unpacked}"
done
ctxfix::log "http mode: ${kubernetes_imgs[*]} downloaded and checked against their .sha256"

# start_containerd NAME [CONFIG...]: containerd (pinned) with its root,
# state and socket under scratch/NAME, and CONFIG lines added to its
# config, in the network namespace containerd_netns if set; its PID in
# containerd_pid, its socket in containerd_socket.
start_containerd() {
  local state="${scratch}/$1"
  shift
  mkdir -p "${state}"
  containerd_socket="${state}/containerd.sock"
  {
    cat <<EOF
version = 3
root = "${state}/root"
state = "${state}/state"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt"]
[grpc]
  address = "${containerd_socket}"
EOF
    printf '%s\n' "$@"
  } > "${state}/config.toml"
  ${containerd_netns:+nsenter "--net=/run/netns/${containerd_netns}" --} "${tools}/containerd" --config "${state}/config.toml" > "${state}/containerd.log" 2>&1 &
  containerd_pid=$!
  for _ in $(seq 100); do
    "${tools}/ctr" --address "${containerd_socket}" version > /dev/null 2>&1 && return 0
    kill -0 "${containerd_pid}" 2>/dev/null || fail "containerd exited: $(tail -n 3 "${state}/containerd.log")"
    sleep 0.2
  done
  fail "containerd does not answer on ${containerd_socket}"
}
step="http mode, start containerd"
start_containerd containerd
for item in "${kubernetes_imgs[@]}"; do
  step="http mode, load ${item}"
  CONTAINERD_NAMESPACE=k8s.io "${tools}/ctr" --address="${containerd_socket}" images import "${images}/${item}" > "${scratch}/ctr.log" 2>&1 ||
    fail "ctr images import failed: $(tail -n 3 "${scratch}/ctr.log")"
done
step="http mode, goss crictl images"
mismatch="$(PATH="${tools}:${PATH}" CONTAINER_RUNTIME_ENDPOINT="unix://${containerd_socket}" IMAGE_SERVICE_ENDPOINT="unix://${containerd_socket}" \
  ctxfix::goss_validate "${images_goss}" "{\"arch\": \"${arch}\"}")" || fail "${mismatch}"
crictl=("${tools}/crictl" --runtime-endpoint "unix://${containerd_socket}" --image-endpoint "unix://${containerd_socket}" --timeout 30s)
listed="$("${crictl[@]}" images 2> "${scratch}/crictl.err")" || fail "crictl images failed: $(cat "${scratch}/crictl.err")"
# goss's patterns say that each image is there; nothing else may be.
got="$(grep -v 'IMAGE ID' <<<"${listed}" | awk '{print $1}' | awk -F'/' '{print $NF}' | sed "s/-${arch}//g" | sort | paste -sd' ')"
want="$(printf '%s\n' "${kubernetes_imgs[@]%.tar}" | sort | paste -sd' ')"
[[ "${got}" == "${want}" ]] || fail "crictl images gives '${got}', want exactly ${want}"
ctxfix::log "http mode: ctr imported the images, and goss (${images_goss}) sees exactly ${want}"

if [[ "${arch}" == amd64 ]]; then
  step="http mode, kubeadm config images list"
  wanted="$("${sysusr_prefix}/bin/kubeadm" config images list --kubernetes-version "${kubernetes_semver}" 2> "${scratch}/kubeadm.err")" ||
    fail "kubeadm config images list --kubernetes-version ${kubernetes_semver} failed: $(cat "${scratch}/kubeadm.err")"
  have="$(grep -v 'IMAGE ID' <<<"${listed}" | awk '{print $1 ":" $2}')"
  # What was loaded: the control plane, or all seven.
  loaded="${wanted}"
  if [[ "${load_additional}" != true ]]; then
    loaded="$(grep -E '/kube-(apiserver|controller-manager|scheduler|proxy):' <<<"${wanted}")" ||
      fail "kubeadm names no control-plane images: ${wanted}"
  fi
  [[ "$(wc -l <<<"${loaded}")" == "${#kubernetes_imgs[@]}" ]] || fail "kubeadm names not ${#kubernetes_imgs[@]} images of those loaded: ${wanted}"
  while read -r image; do
    grep -qx "${image}" <<<"${have}" || fail "kubeadm asks for ${image}, which containerd does not have (it has: $(paste -sd' ' <<<"${have}"))"
  done <<<"${loaded}"
  ctxfix::log "http mode: the ${#kubernetes_imgs[@]} images kubeadm asks for at ${kubernetes_semver} that were loaded are in containerd"
fi
stop "${containerd_pid}"
containerd_pid=""

# Each control-plane image's root filesystem, from its layers, to run what
# the image holds: this machine runs the host's architecture only.
# (verify-release runs the binaries of the other three.)
for item in "${kubernetes_primary_imgs[@]}"; do
  name="${item%%.*}"
  step="images run, ${name}"
  rootfs="${scratch}/rootfs/${name}"
  mkdir -p "${rootfs}" "${scratch}/image"
  tar -xf "${images}/${item}" -C "${scratch}/image" || fail "could not unpack ${item}"
  while read -r layer; do
    tar -xf "${scratch}/image/${layer}" -C "${rootfs}" || fail "could not unpack ${layer}"
  done < <(jq -r '.[0].Layers[]' "${scratch}/image/manifest.json")
  reported="$(chroot "${rootfs}" "/usr/local/bin/${name}" --version 2>&1)" || fail "${name} --version failed: ${reported}"
  [[ "${reported}" == "Kubernetes ${kubernetes_semver}" ]] || fail "${name} --version says '${reported}', want Kubernetes ${kubernetes_semver}"
  if [[ "${name}" == kube-proxy ]]; then
    for command in iptables ip6tables iptables-legacy nft conntrack; do
      reported="$(chroot "${rootfs}" "/usr/sbin/${command}" --version 2>&1)" || fail "${command} --version failed: ${reported}"
    done
  fi
  rm -rf "${rootfs}" "${scratch}/image"
done
ctxfix::log "images: each binary reports ${kubernetes_semver} in its image, and kube-proxy's iptables, ip6tables, nft and conntrack run"

# --- pkg mode
root="${scratch}/pkg"
mkdir -p "${root}/etc/apt/sources.list.d" "${root}/etc/apt/preferences.d" "${root}/etc/apt/apt.conf.d" \
  "${root}/etc/apt/trusted.gpg.d" "${root}/etc/apt/keyrings" "${root}/var/lib/apt/lists/partial" \
  "${root}/var/cache/apt/archives/partial" "${root}/var/lib/dpkg/info" "${root}/var/lib/dpkg/updates" "${root}/var/log/apt"
# The image's base system: the host's installed packages, as dpkg knows
# them, so that apt resolves mount and util-linux as installed; without the
# packages the release provides, which a base image does not have.
awk -v RS= -v ORS='\n\n' '$0 !~ /(^|\n)Package: (kubelet|kubeadm|kubectl|cri-tools|kubernetes-cni)\n/' \
  /var/lib/dpkg/status > "${root}/var/lib/dpkg/status"
step="pkg mode, the recipe"
kubernetes_deb_repo="$(recipe_var 'image-builder, package mode, and apt pinning' kubernetes_deb_repo)"
kubernetes_deb_gpg_key="$(recipe_var 'image-builder, package mode, and apt pinning' kubernetes_deb_gpg_key)"
deb_version="$(recipe_var 'image-builder, package mode, and apt pinning' kubernetes_deb_version)"
[[ "${deb_version}" == "${release_deb_version}" ]] ||
  fail "docs/node-images.md's kubernetes_deb_version gives ${deb_version}, the release's packages are ${release_deb_version}"
# What the role installs beside them: kubernetes-cni at
# kubernetes_cni_deb_version, and crictl at crictl_version, which must be
# the release's.
cni_version="$(ctxfix::pinned_version github.com/containernetworking/plugins)"
cri_tools_version="$(ctxfix::pinned_version sigs.k8s.io/cri-tools)"
cni_deb_version="$(recipe_var 'image-builder, package mode, and apt pinning' kubernetes_cni_deb_version)"
cni_rpm_version="$(recipe_var 'image-builder, package mode, and apt pinning' kubernetes_cni_rpm_version)"
for check in "kubernetes_cni_semver ${cni_version}" "crictl_version ${cri_tools_version#v}" \
  "kubernetes_cni_deb_version $("${release_tool}" package-version -revision "${revision}" -base "${base}" -component-version "${cni_version}" -format deb)" \
  "kubernetes_cni_rpm_version $("${release_tool}" package-version -revision "${revision}" -base "${base}" -component-version "${cni_version}" -format rpm)"; do
  read -r name want <<<"${check}"
  got="$(recipe_var 'image-builder, package mode, and apt pinning' "${name}")"
  [[ "${got}" == "${want}" ]] || fail "docs/node-images.md's ${name} gives ${got}, the release's is ${want}"
done
# The apt pin, as the recipe gives it.
recipe_block 'image-builder, package mode, and apt pinning' '' 2 | adapt > "${root}/etc/apt/preferences.d/kubelet-ctxfix"
grep -q '^Pin-Priority: 1001$' "${root}/etc/apt/preferences.d/kubelet-ctxfix" || fail "docs/node-images.md's apt pin has no Pin-Priority: 1001"
step="pkg mode, add the repository key"
curl -fsS "${kubernetes_deb_gpg_key}" 2> "${scratch}/curl.err" | gpg --batch --dearmor > "${root}/etc/apt/keyrings/kubernetes.gpg" ||
  fail "${kubernetes_deb_gpg_key}: $(cat "${scratch}/curl.err")"
echo "deb [signed-by=${root}/etc/apt/keyrings/kubernetes.gpg] ${kubernetes_deb_repo} /" > "${root}/etc/apt/sources.list.d/kubernetes.list"
apt_options=(
  -o "Dir=${root}" -o "Dir::State::status=${root}/var/lib/dpkg/status" -o "Dir::Etc::SourceList=${root}/etc/apt/sources.list.d/kubernetes.list"
  -o "Dir::Etc::SourceParts=-" -o "Dir::Etc::Parts=${root}/etc/apt/apt.conf.d" -o "Dir::Etc::Preferences=${root}/etc/apt/preferences"
  -o "Dir::Etc::PreferencesParts=${root}/etc/apt/preferences.d" -o "Dir::Etc::Trusted=${root}/etc/apt/trusted.gpg"
  -o "Dir::Etc::TrustedParts=${root}/etc/apt/trusted.gpg.d" -o "APT::Architecture=${arch}" -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=true"
  # dpkg installs into the scratch root; maintainer scripts run with
  # DPKG_ROOT set and leave the host alone.
  -o "DPkg::Options::=--root=${root}" -o "DPkg::Options::=--force-script-chrootless" -o "DPkg::Options::=--log=/dev/null"
  -o "DPkg::Options::=--force-not-root"
)
step="pkg mode, apt-get update"
apt-get "${apt_options[@]}" update > "${scratch}/apt.log" 2>&1 || { cat "${scratch}/apt.log" >&2; fail "apt-get update failed (above)"; }
# apt-get update succeeds when a source fails to verify: it warns and keeps
# no lists for it, which install then finds empty.
if grep -E '^(W|E): ' "${scratch}/apt.log" >&2; then fail "apt-get update warned (above): the repository does not verify"; fi
step="pkg mode, apt-get install"
DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" install -y --no-install-recommends \
  "kubelet=${deb_version}" "kubeadm=${deb_version}" "kubectl=${deb_version}" "kubernetes-cni=${cni_deb_version}" > "${scratch}/apt.log" 2>&1 ||
  { cat "${scratch}/apt.log" >&2; fail "apt-get install kubelet=${deb_version} kubeadm=${deb_version} kubectl=${deb_version} kubernetes-cni=${cni_deb_version} failed (above)"; }
step="pkg mode, goss packages"
mismatch="$(ctxfix::goss_validate goss-packages.yaml "{\"root\": \"${root}\", \"kubernetes_deb_version\": \"${deb_version}\"}")" || fail "${mismatch}"
for file in usr/bin/kubelet usr/bin/kubeadm usr/bin/kubectl usr/bin/crictl; do
  [[ -x "${root}/${file}" ]] || fail "/${file} was not installed"
done
ctxfix::log "pkg mode: apt verified the repository and installed kubelet, kubeadm, kubectl ${deb_version} with cri-tools and kubernetes-cni"
step="pkg mode, goss crictl and CNI versions"
mismatch="$(ctxfix::goss_node_tools "${root}")" || fail "${mismatch}"
ctxfix::log "pkg mode: the installed crictl and CNI plugins report the versions build/upstream.sum pins"
step="pkg mode, apt pin"
policy="$(apt-cache "${apt_options[@]}" policy kubelet 2>&1)" || fail "apt-cache policy kubelet failed: ${policy}"
grep -qxF "  Candidate: ${deb_version}" <<<"${policy}" || fail "with the pin, apt's candidate for kubelet is not ${deb_version}: ${policy}"
grep -qxF " *** ${deb_version} 1001" <<<"${policy}" || fail "the pin does not give kubelet ${deb_version} priority 1001: ${policy}"
ctxfix::log "pkg mode: the recipe's apt pin holds kubelet at ${deb_version} with priority 1001"

# --- pkg mode, the images kubeadm pulls (kubeadmpull.yml), from a registry
# filled as docs/node-images.md says. The registry is distribution's own
# server with its storage in the scratch folder and TLS certificates made
# for this run. It and the containerd that pulls from it share a network
# namespace of this run's, where the registry has an address that is not
# loopback (192.0.2.10, TEST-NET-1): containerd skips TLS verification for
# a loopback registry it has no hosts.toml for, so only an address like a
# real registry's shows that containerd trusts the run's CA through
# hosts.toml, as a node trusts a private registry's, and nothing else.
step="pkg mode, start the registry"
registry_dir="${scratch}/registry"
registry_addr=192.0.2.10:5000
mkdir -p "${registry_dir}/storage"
[[ ! -e "/run/netns/${registry_ns}" ]] || fail "network namespace ${registry_ns} exists"
ip netns add "${registry_ns}" || fail "could not make network namespace ${registry_ns}"
registry_ns_made=true
# On the namespace's own lo: no other device is needed, and the address
# is still not a loopback address to containerd.
ip -n "${registry_ns}" link set lo up && ip -n "${registry_ns}" addr add "${registry_addr%:*}/32" dev lo ||
  fail "could not give ${registry_ns} the address ${registry_addr%:*}"
"${release_tool}" run-ca -dir "${registry_dir}/tls" -host "${registry_addr%:*}" || fail "could not make the run's TLS certificates"
cat > "${registry_dir}/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: ${registry_dir}/storage
http:
  addr: ${registry_addr}
  secret: $(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  tls:
    certificate: ${registry_dir}/tls/tls.crt
    key: ${registry_dir}/tls/tls.key
EOF
# No traces: the registry would send them to an OTLP collector.
# nsenter execs the registry, so that registry_pid is the registry's.
OTEL_TRACES_EXPORTER=none nsenter "--net=/run/netns/${registry_ns}" -- "${tools}/registry" serve "${registry_dir}/config.yml" > "${registry_dir}/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
  grep -qF "listening on ${registry_addr}, tls" "${registry_dir}/registry.log" && break
  kill -0 "${registry_pid}" 2>/dev/null || fail "the registry exited: $(tail -n 3 "${registry_dir}/registry.log")"
  sleep 0.1
done
grep -qF "listening on ${registry_addr}, tls" "${registry_dir}/registry.log" ||
  fail "the registry does not listen on ${registry_addr} with TLS: $(tail -n 3 "${registry_dir}/registry.log")"
# The recipe's registry.example.com/ctxfix becomes this registry's.
mirror="${registry_addr}/ctxfix"
step="pkg mode, push the release's images/"
mirror_recipe='The images kubeadm pulls, from your own registry'
push_command="$(recipe_block "${mirror_recipe}" sh | grep '^go run ./cmd/ctxfix-release push ')" ||
  fail "docs/node-images.md has no 'go run ./cmd/ctxfix-release push' under '## ${mirror_recipe}'"
push_command="${push_command%% > pushed.txt}"
push_command="$(adapt <<<"${push_command#go run ./cmd/ctxfix-release }" | sed -e "s;registry\.example\.com/ctxfix;${mirror};g" -e "s;release/${kubernetes_semver}/;${dir}/;g")"
read -r -a push_args <<<"${push_command}"
nsenter "--net=/run/netns/${registry_ns}" -- "${release_tool}" "${push_args[@]}" -ca "${registry_dir}/tls/ca.crt" > "${scratch}/push.out" 2> "${scratch}/push.err" ||
  fail "ctxfix-release ${push_args[*]} failed: $(tail -n 3 "${scratch}/push.err")"
ctxfix::log "pkg mode: the recipe pushed images/ to https://${mirror}: $(awk '{ print $1 }' "${scratch}/push.out" | sed "s;^${mirror}/;;" | paste -sd' ')"
# The recipe's signing loop, with a cosign key of this run, then its
# verification for every name pushed: refused before the signing, accepted
# after. cosign trusts the run's CA through SSL_CERT_FILE, as Go's TLS does.
step="pkg mode, sign the pushed images"
signing="${scratch}/signing"
mkdir -p "${signing}"
cp "${scratch}/push.out" "${signing}/pushed.txt"
(cd "${signing}" && COSIGN_PASSWORD='' "${cosign}" generate-key-pair < /dev/null > keygen.log 2>&1) ||
  fail "cosign could not make a key: $(tail -n 2 "${signing}/keygen.log")"
sign_block="$(recipe_block "${mirror_recipe}" sh 2 | adapt | sed "s;registry\.example\.com/ctxfix;${mirror};g")"
grep -q '^  cosign sign --key cosign.key .* < /dev/null$' <<<"${sign_block}" ||
  fail "docs/node-images.md's second sh block under '## ${mirror_recipe}' does not sign with cosign.key"
verify_line="$(grep '^cosign verify --key cosign.pub ' <<<"${sign_block}")" ||
  fail "docs/node-images.md's second sh block under '## ${mirror_recipe}' has no cosign verify --key cosign.pub"
read -r -a verify_args <<<"${verify_line#cosign }"
# cosign_in_registry_ns ARG...: cosign in the signing folder, in the
# registry's network namespace, trusting the run's CA.
cosign_in_registry_ns() {
  (cd "${signing}" && COSIGN_PASSWORD='' SSL_CERT_FILE="${registry_dir}/tls/ca.crt" nsenter "--net=/run/netns/${registry_ns}" -- "$@")
}
images_pushed="$(awk '{ print $1 }' "${signing}/pushed.txt")"
while read -r image; do
  if cosign_in_registry_ns "${cosign}" "${verify_args[@]:0:${#verify_args[@]}-1}" "${image}" > "${signing}/verify.log" 2>&1; then
    fail "cosign verify accepts ${image} before anything signed it"
  fi
  grep -qF 'no signatures found' "${signing}/verify.log" ||
    fail "cosign verify refuses the unsigned ${image} for another reason: $(tail -n 1 "${signing}/verify.log")"
done <<<"${images_pushed}"
cosign_in_registry_ns env PATH="${cosign%/*}:${PATH}" bash -euo pipefail -c "${sign_block}" > "${signing}/sign.log" 2>&1 ||
  fail "the recipe's signing failed: $(grep -v '^WARNING' "${signing}/sign.log" | tail -n 2)"
while read -r image; do
  cosign_in_registry_ns "${cosign}" "${verify_args[@]:0:${#verify_args[@]}-1}" "${image}" > "${signing}/verify.log" 2>&1 ||
    fail "cosign verify refuses ${image} after the recipe signed it: $(tail -n 1 "${signing}/verify.log")"
done <<<"${images_pushed}"
ctxfix::log "pkg mode: cosign signed the $(wc -l <<<"${images_pushed}") pushed names by digest; cosign verify refused each before and accepts each after"
# One index over two architectures through this registry. make test builds
# one architecture, so the second is a stand-in: pause's image with its
# config's architecture changed (the same layers, another config digest).
# push reads the tag back for each platform, which must resolve to the
# layout's image for it.
step="pkg mode, an index over two architectures"
other_arch=arm64
[[ "${arch}" != arm64 ]] || other_arch=amd64
multiarch="${scratch}/multiarch"
mkdir -p "${multiarch}/stand-in"
tar -xf "${dir}/bin/linux/${arch}/pause.tar" -C "${multiarch}/stand-in"
config="$(jq -r '.[0].Config' "${multiarch}/stand-in/manifest.json")"
jq -c --arg arch "${other_arch}" '.architecture = $arch' "${multiarch}/stand-in/${config}" > "${multiarch}/config.json"
mv "${multiarch}/config.json" "${multiarch}/stand-in/${config}"
(cd "${multiarch}/stand-in" && tar -cf "${multiarch}/pause-${other_arch}.tar" -- *)
"${release_tool}" image-layout -out "${multiarch}/layout" "${dir}/bin/linux/${arch}/pause.tar" "${multiarch}/pause-${other_arch}.tar" ||
  fail "ctxfix-release image-layout could not write pause for ${arch} and ${other_arch}"
nsenter "--net=/run/netns/${registry_ns}" -- "${release_tool}" push -layout "${multiarch}/layout" -repository "${registry_addr}/ctxfix-multiarch" \
  -ca "${registry_dir}/tls/ca.crt" > "${multiarch}/push.out" 2> "${multiarch}/push.err" ||
  fail "push of the two-architecture index failed: $(tail -n 3 "${multiarch}/push.err")"
multiarch_line="$(grep -F "/ctxfix-multiarch/pause:" "${multiarch}/push.out")" ||
  fail "push printed no line for ctxfix-multiarch/pause: $(head -n 3 "${multiarch}/push.out")"
read -r multiarch_ref _ multiarch_platforms <<<"${multiarch_line}"
# push prints each platform as PLATFORM=DIGEST.
multiarch_platforms="$(sed 's/=[^ ]*//g' <<<"${multiarch_platforms}")"
[[ "${multiarch_platforms}" == "$(printf 'linux/%s\n' "${arch}" "${other_arch}" | LC_ALL=C sort | paste -sd' ')" ]] ||
  fail "${multiarch_ref:-pause} resolves through the registry's index for '${multiarch_platforms}', want linux/${arch} and linux/${other_arch}"
ctxfix::log "pkg mode: ${multiarch_ref} resolves through the registry's index to the layout's image for ${multiarch_platforms}"
# What the registry serves from here on is containerd's pulls.
pushed_lines="$(wc -l < "${registry_dir}/registry.log")"
step="pkg mode, start containerd in the registry's namespace"
mkdir -p "${scratch}/containerd-pkg/certs.d/${registry_addr}"
containerd_netns="${registry_ns}" start_containerd containerd-pkg "[plugins.'io.containerd.cri.v1.images'.registry]" "  config_path = '${scratch}/containerd-pkg/certs.d'"
crictl=("${tools}/crictl" --runtime-endpoint "unix://${containerd_socket}" --image-endpoint "unix://${containerd_socket}" --timeout 60s)
# containerd_images prints NAME:TAG of every image containerd holds, sorted.
containerd_images() {
  local listed
  listed="$("${crictl[@]}" images 2> "${scratch}/crictl.err")" || fail "crictl images failed: $(cat "${scratch}/crictl.err")"
  grep -v 'IMAGE ID' <<<"${listed}" | awk '{ print $1 ":" $2 }' | LC_ALL=C sort
}
# Without a hosts.toml for the registry, containerd must refuse its
# certificate: the CA is trusted through hosts.toml and nothing else.
step="pkg mode, a pull without hosts.toml"
if "${crictl[@]}" pull "${mirror}/pause:3.10.2" > "${scratch}/crictl.err" 2>&1; then
  fail "containerd pulled from the registry without a hosts.toml that names its CA"
fi
grep -qF 'certificate signed by unknown authority' "${scratch}/crictl.err" ||
  fail "without hosts.toml, the pull failed for another reason than the registry's certificate: $(tail -n 2 "${scratch}/crictl.err")"
ctxfix::log "pkg mode: without hosts.toml, containerd refuses the registry's certificate"
# containerd reads certs.d at each pull.
cat > "${scratch}/containerd-pkg/certs.d/${registry_addr}/hosts.toml" <<EOF
server = "https://${registry_addr}"
[host."https://${registry_addr}"]
  capabilities = ["pull", "resolve"]
  ca = "${registry_dir}/tls/ca.crt"
EOF
# The role's /etc/kubeadm.yml (templates/etc/kubeadm.yml), with
# kubernetes_container_registry from the recipe's json, and its pull.
step="pkg mode, kubeadm config images pull --config /etc/kubeadm.yml"
kubernetes_container_registry="$(recipe_var "${mirror_recipe}" kubernetes_container_registry | sed "s;registry\.example\.com/ctxfix;${mirror};")"
[[ "${kubernetes_container_registry}" == "${mirror}" ]] || fail "the recipe's kubernetes_container_registry is not registry.example.com/ctxfix"
cat > "${root}/etc/kubeadm.yml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
imageRepository: ${kubernetes_container_registry}
kubernetesVersion: ${kubernetes_semver}
dns:
  imageRepository: ${kubernetes_container_registry}/coredns
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
nodeRegistration:
  criSocket: unix://${containerd_socket}
EOF
"${root}/usr/bin/kubeadm" config images pull --config "${root}/etc/kubeadm.yml" --cri-socket "unix://${containerd_socket}" > "${scratch}/kubeadm.log" 2>&1 ||
  fail "$(grep -o '^error: failed to pull image "[^"]*"' "${scratch}/kubeadm.log" | sed 's/^error: //' | sort -u | paste -sd' ') ($(tail -n 1 "${scratch}/kubeadm.log"))"
wanted="$("${root}/usr/bin/kubeadm" config images list --config "${root}/etc/kubeadm.yml" 2> "${scratch}/kubeadm.err" | LC_ALL=C sort)" ||
  fail "kubeadm config images list --config /etc/kubeadm.yml failed: $(cat "${scratch}/kubeadm.err")"
[[ "$(wc -l <<<"${wanted}")" == 7 ]] || fail "kubeadm names not seven images: ${wanted}"
have="$(containerd_images)"
[[ "${have}" == "${wanted}" ]] ||
  fail "containerd has $(paste -sd' ' <<<"${have}"), kubeadm asks for exactly $(paste -sd' ' <<<"${wanted}")"
step="pkg mode, goss crictl images"
mismatch="$(PATH="${tools}:${PATH}" CONTAINER_RUNTIME_ENDPOINT="unix://${containerd_socket}" IMAGE_SERVICE_ENDPOINT="unix://${containerd_socket}" \
  ctxfix::goss_validate goss-images-all.yaml "{\"arch\": \"${arch}\"}")" || fail "${mismatch}"
ctxfix::log "pkg mode: kubeadm pulled the seven images its /etc/kubeadm.yml names from https://${mirror}, and goss's crictl images check passes"
# The recipe's plain pull, with --image-repository alone: CoreDNS under
# its other name.
step="pkg mode, the recipe's kubeadm config images pull"
pull_command="$(recipe_block "${mirror_recipe}" sh | grep '^kubeadm config images pull ')" ||
  fail "docs/node-images.md has no 'kubeadm config images pull' under '## ${mirror_recipe}'"
pull_command="$(adapt <<<"${pull_command#kubeadm }" | sed "s;registry\.example\.com/ctxfix;${mirror};g")"
read -r -a pull_args <<<"${pull_command}"
"${root}/usr/bin/kubeadm" "${pull_args[@]}" --cri-socket "unix://${containerd_socket}" > "${scratch}/kubeadm.log" 2>&1 || fail "$(tail -n 5 "${scratch}/kubeadm.log")"
# What that pull asks for: the same arguments to `images list`.
plain="$("${root}/usr/bin/kubeadm" "${pull_args[@]/#pull/list}" 2> "${scratch}/kubeadm.err" | LC_ALL=C sort)" ||
  fail "kubeadm ${pull_args[*]/#pull/list} failed: $(cat "${scratch}/kubeadm.err")"
have="$(containerd_images)"
[[ "${have}" == "$(LC_ALL=C sort -u <<<"${wanted}"$'\n'"${plain}")" ]] ||
  fail "containerd has $(paste -sd' ' <<<"${have}"), want exactly what the two pulls name"
# Each name was resolved by containerd through this registry: the access
# log has containerd's request for the tag's manifest.
tail -n "+$((pushed_lines + 1))" "${registry_dir}/registry.log" | grep -F '"containerd/' > "${scratch}/pulls.log" ||
  fail "the registry's log shows no request from containerd"
while read -r image; do
  path="${image#"${registry_addr}/"}"
  grep -qF " /v2/${path%:*}/manifests/${path##*:} HTTP/" "${scratch}/pulls.log" ||
    fail "the registry's log shows no request of containerd for ${image}'s manifest"
done <<<"${have}"
ctxfix::log "pkg mode: the recipe's plain pull found every image too, and the registry served every manifest containerd holds"
step="pkg mode, stop the registry"
stop "${containerd_pid}"
containerd_pid=""
stop "${registry_pid}"
kill -0 "${registry_pid}" 2>/dev/null && fail "the registry (PID ${registry_pid}) is still running"
registry_pid=""
left="$(ip netns pids "${registry_ns}")" || fail "could not list the processes of ${registry_ns}"
[[ -z "${left}" ]] || fail "processes left in ${registry_ns}: $(paste -sd' ' <<<"${left}")"
ip netns del "${registry_ns}" || fail "could not remove network namespace ${registry_ns}"
registry_ns_made=false
rm -rf "${registry_dir}"
[[ ! -e "${registry_dir}" && ! -e "/run/netns/${registry_ns}" ]] || fail "the registry's storage ${registry_dir} or its namespace ${registry_ns} is left"
ctxfix::log "pkg mode: the registry is stopped, its storage and network namespace removed"

# --- pkg mode, yum: the repository and key the recipe names, its metadata
# signature checked as dnf checks it (repo_gpgcheck), each package at its
# version downloadable, and goss's package checks on them.
step="pkg mode, yum repository"
kubernetes_rpm_repo="$(recipe_var 'image-builder, package mode, and apt pinning' kubernetes_rpm_repo)"
kubernetes_rpm_gpg_key="$(recipe_var 'image-builder, package mode, and apt pinning' kubernetes_rpm_gpg_key)"
rpm_version="$(recipe_var 'image-builder, package mode, and apt pinning' kubernetes_rpm_version)"
mkdir -p "${scratch}/yum"
for url in "${kubernetes_rpm_gpg_key}" "${kubernetes_rpm_repo}repodata/repomd.xml" "${kubernetes_rpm_repo}repodata/repomd.xml.asc"; do
  curl -fsS -o "${scratch}/yum/${url##*/}" "${url}" 2> "${scratch}/curl.err" || fail "${url}: $(cat "${scratch}/curl.err")"
done
gpg --batch --dearmor < "${scratch}/yum/repomd.xml.key" > "${scratch}/yum/key.gpg" || fail "${kubernetes_rpm_gpg_key} is not an OpenPGP key"
gpgv --keyring "${scratch}/yum/key.gpg" "${scratch}/yum/repomd.xml.asc" "${scratch}/yum/repomd.xml" > "${scratch}/gpgv.log" 2>&1 ||
  fail "repodata/repomd.xml does not verify against ${kubernetes_rpm_gpg_key}: $(tail -n 2 "${scratch}/gpgv.log")"
rpm_arch="$([[ "${arch}" == arm64 ]] && echo aarch64 || echo x86_64)"
rpms=()
for package in "kubelet-${rpm_version}" "kubeadm-${rpm_version}" "kubectl-${rpm_version}" "kubernetes-cni-${cni_rpm_version}"; do
  url="${kubernetes_rpm_repo}${package}.${rpm_arch}.rpm"
  rpms+=("${scratch}/yum/${package}.rpm")
  curl -fsS -o "${rpms[-1]}" "${url}" 2> "${scratch}/curl.err" || fail "${url}: $(cat "${scratch}/curl.err")"
done
ctxfix::log "pkg mode: repomd.xml verifies against the recipe's key, and kubelet, kubeadm and kubectl ${rpm_version} and kubernetes-cni ${cni_rpm_version} are in the yum repository"
# goss's package checks on an rpm system, as image-builder states them: the
# rpms recorded (--justdb: no files, no scripts) in a scratch rpm database,
# which rpm and goss's `rpm -q` find through HOME's .rpmmacros; the host's
# own database is not touched.
step="pkg mode, goss rpm packages"
mkdir -p "${scratch}/yum/home" "${scratch}/yum/rpmdb"
echo "%_dbpath ${scratch}/yum/rpmdb" > "${scratch}/yum/home/.rpmmacros"
HOME="${scratch}/yum/home" rpm --initdb || fail "rpm --initdb failed for ${scratch}/yum/rpmdb"
HOME="${scratch}/yum/home" rpm -i --justdb --nodeps --noscripts --nosignature --ignorearch "${rpms[@]}" > "${scratch}/rpm.log" 2>&1 ||
  { cat "${scratch}/rpm.log" >&2; fail "rpm -i --justdb of the yum repository's rpms failed (above)"; }
# What packer passes goss: the deb versions whole, the rpm versions cut at
# their first "-".
mismatch="$(HOME="${scratch}/yum/home" ctxfix::goss_validate goss-rpm-packages.yaml \
  "{\"kubernetes_deb_version\": \"${deb_version}\", \"kubernetes_rpm_version\": \"${rpm_version%%-*}\", \"kubernetes_cni_deb_version\": \"${cni_deb_version}\", \"kubernetes_cni_rpm_version\": \"${cni_rpm_version%%-*}\"}" \
  --package rpm)" || fail "${mismatch}"
ctxfix::log "pkg mode: goss's rpm package checks pass for kubelet, kubeadm, kubectl ${rpm_version} and kubernetes-cni ${cni_rpm_version}"
ctxfix::log "image-builder contract holds for ${kubernetes_semver} (${arch})"
