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
#   3. goss: kubectl, kubeadm and kubelet report kubernetes_version (the
#      semver without its "v").
# pkg mode (roles/kubernetes/tasks/debian.yml; goss-package.yaml):
#   4. the repository key is fetched from deb/Release.key and the flat
#      repository added with signed-by; apt-get update verifies InRelease;
#   5. apt-get install kubelet=V kubeadm=V kubectl=V kubernetes-cni, with
#      dependencies resolved from the repository, into a scratch root whose
#      dpkg database starts as this host's (the image's base system); the
#      host's own packages are not touched;
#   6. goss: the three packages are installed at V.
#
# A failure names its step. The control-plane image tars of image-builder's
# kubernetes_imgs are not part of a release yet, so their steps are absent.
#
# Usage: hack/test-image-builder.sh [RELEASE_DIR]   (default: the release of
#        KUBE_VERSION or the default base); needs root for pkg mode's apt.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ctxfix::require_tools go curl sha256sum gpg jq awk
ctxfix::require_packages apt-get:apt dpkg:dpkg
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
deb_version="$("${release_tool}" package-version -revision "${revision}" -base "${base}" -format deb)"

mkdir -p "${CTXFIX_OUTPUT}/tmp"
scratch="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/image-builder.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "${server_pid}" ]]; then
    kill "${server_pid}" 2>/dev/null || true
    wait "${server_pid}" 2>/dev/null || true
  fi
  rm -rf "${scratch}"
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

# --- http mode
sysusr_prefix="${scratch}/http/usr"
mkdir -p "${sysusr_prefix}/bin" "${sysusr_prefix}/share/bash-completion/completions"
for item in kubelet kubeadm kubectl; do
  step="http mode, download ${item}"
  url="${kubernetes_http_source}/${kubernetes_semver}/bin/linux/${arch}/${item}"
  checksum="$(curl -fsS "${url}.sha256" 2>&1)" || fail "${url}.sha256: ${checksum}"
  checksum="$(awk '{ print $1; exit }' <<<"${checksum}")"
  curl -fsS -o "${sysusr_prefix}/bin/${item}" "${url}" 2> "${scratch}/curl.err" || fail "${url}: $(cat "${scratch}/curl.err")"
  got="$(sha256sum < "${sysusr_prefix}/bin/${item}" | cut -d' ' -f1)"
  [[ "${got}" == "${checksum}" ]] || fail "${item} has sha256 ${got}, ${item}.sha256 says ${checksum}"
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
mismatch="$(ctxfix::goss_versions "${sysusr_prefix}/bin" "${kubernetes_version}")" || fail "${mismatch}"
ctxfix::log "http mode: goss sees kubectl, kubeadm and kubelet at ${kubernetes_version}"

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
kubernetes_deb_repo="${kubernetes_http_source}/${kubernetes_semver}/deb/"
kubernetes_deb_gpg_key="${kubernetes_deb_repo}Release.key"
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
  "kubelet=${deb_version}" "kubeadm=${deb_version}" "kubectl=${deb_version}" kubernetes-cni > "${scratch}/apt.log" 2>&1 ||
  { cat "${scratch}/apt.log" >&2; fail "apt-get install kubelet=${deb_version} kubeadm=${deb_version} kubectl=${deb_version} kubernetes-cni failed (above)"; }
step="pkg mode, goss packages"
for package in kubelet kubeadm kubectl; do
  got="$(dpkg-query --admindir="${root}/var/lib/dpkg" --show --showformat='${Status} ${Version}' "${package}" 2>&1)" || true
  [[ "${got}" == "install ok installed ${deb_version}" ]] || fail "${package} is '${got}', want installed at ${deb_version}"
done
for file in usr/bin/kubelet usr/bin/kubeadm usr/bin/kubectl usr/bin/crictl opt/cni/bin/bridge opt/cni/bin/host-local opt/cni/bin/loopback opt/cni/bin/portmap; do
  [[ -x "${root}/${file}" ]] || fail "/${file} was not installed"
done
ctxfix::log "pkg mode: apt verified the repository and installed kubelet, kubeadm, kubectl ${deb_version} with cri-tools and kubernetes-cni"
ctxfix::log "image-builder contract holds for ${kubernetes_semver} (${arch})"
