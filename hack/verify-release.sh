#!/usr/bin/env bash
# Checks a release folder the way its consumers use it:
#   - every file that should carry a cosign bundle has one, and the README's
#     commands ("Verify a release") accept every bundle against cosign.pub,
#     or against CTXFIX_COSIGN_PUBLIC_KEY, the key the user trusts, if set;
#     the same for the provenance of the binaries and control-plane images,
#     whose statements must name exactly this repository's inputs
#     (ctxfix-release verify-provenance);
#   - SHA256SUMS and SHA512SUMS, the .sha256/.sha512 of every binary and
#     tarball, and build/CHECKSUMS verify (for the images, the binary in
#     each);
#   - each node tarball has upstream's layout, its binaries are the released
#     ones, and its version file and ATTRIBUTION.txt are the release's;
#   - every image the release's kubeadm pulls is in it; etcd, CoreDNS and
#     pause are tagged as kubeadm names them, with upstream's entrypoint and
#     user, static binaries that report the tagged versions, and CoreDNS's
#     cap_net_bind_service;
#   - the control-plane images: docker-save tarballs tagged
#     registry.k8s.io/<name>-<arch>:<version>, with their entrypoint, the
#     binary on a base that has what upstream's base has, where kube-proxy's
#     iptables, nft and conntrack are ELF files for the image's architecture
#     that find their loader and every library they need (readelf);
#   - ATTRIBUTION.txt names every module that every Go binary of the release
#     links: kubelet, kubeadm, kubectl, the control-plane binaries in the
#     images, etcd's and CoreDNS's, crictl and the CNI plugins in the
#     packages;
#   - crictl and the CNI plugins in the packages report their versions;
#   - image-builder's goss checks (http mode), as goss-command.yaml runs
#     them: kubectl, kubeadm and kubelet each report the folder's version
#     without the "v";
#   - each SBOM, CycloneDX and SPDX, names the base and the series and lists
#     every module of its kubelet at the version the binary used;
#   - the debs of kubelet, kubeadm and kubectl: names, upstream's
#     dependencies, one version above upstream's packages of the same base
#     and below the next base (dpkg --compare-versions), installed together
#     with dpkg into a scratch root (the host is not touched) where all three
#     binaries report the release's version;
#   - the rpms: their metadata read back with rpm, and rpm's own version
#     comparison (rpm, which it installs when run as root);
#   - the apt repository: InRelease and Release.gpg verify with gpgv against
#     Release.key, Release's sums match Packages, and Packages lists every
#     deb with its sha256;
#   - the yum repository: repomd.xml.asc verifies against repomd.xml.key,
#     every rpm's signature verifies with rpm against that key (in a scratch
#     rpm database), and createrepo_c's metadata lists every rpm;
#   - the source archive builds the host's kubelet to the same bytes;
#   - the kubectl plugin: every archive has the binary and LICENSE and the
#     sha256 krew's manifest records, and krew (sigs.k8s.io/krew at the
#     version build/upstream.sum pins) installs it from the manifest and the
#     host's archive into a scratch KREW_ROOT, where it runs.
#
# Usage: hack/verify-release.sh [RELEASE_DIR]   (default: the release of
#        KUBE_VERSION or the default base)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "${CTXFIX_ROOT}/hack/lib/cosign.sh"

ctxfix::require_tools git go sha256sum sha512sum tar awk jq
ctxfix::require_packages dpkg:dpkg dpkg-deb:dpkg rpm:rpm gpgv:gpgv gpg:gnupg readelf:binutils
base="$(ctxfix::kube_version)"
version="$(ctxfix::distribution_version "${base}")"
dir="${1:-${CTXFIX_OUTPUT}/release/${version}}"
[[ -d "${dir}" ]] || ctxfix::die "no release folder ${dir}: run make release first"
# Some checks run from this repository's root.
dir="$(cd "${dir}" && pwd)"
folder="$(basename "${dir}")"
[[ "${folder}" == "${version}" ]] || ctxfix::die "${dir} is not the release of ${base} (${version})"
revision="$(ctxfix::version_default CTXFIX_REVISION)"
release_tool="$(ctxfix::go_tool ./cmd/ctxfix-release)"
series_dir="$(ctxfix::series_dir "${base}")"
host_arch="$(go env GOHOSTARCH)"
mkdir -p "${CTXFIX_OUTPUT}/tmp"
scratch="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/verify-release.XXXXXX")"
trap 'rm -rf "${scratch}"' EXIT

fail() { ctxfix::die "release ${version}: $*"; }
# Checks that run a binary need one built for this machine. A release
# without one skips them, and says so at the end rather than not at all.
skipped=()
skip() {
  ctxfix::log "SKIPPED: $1: the release has no linux/${host_arch} build (it has ${arches[*]})"
  skipped+=("$1")
}

# --- checksums: each artifact's own first, so that a failure names it
# check_sums FILE: FILE.sha256 and FILE.sha512 exist and match it.
check_sums() {
  local file="$1" sums
  for sums in sha256 sha512; do
    [[ -f "${file}.${sums}" ]] || fail "missing ${file#"${dir}"/}.${sums}"
    [[ "$("${sums}sum" < "${file}" | cut -d' ' -f1)" == "$(cat "${file}.${sums}")" ]] ||
      fail "${file#"${dir}"/}.${sums} does not match"
  done
}
# in_root ROOT PATH prints PATH with its symlinks resolved inside ROOT (an
# absolute target is read as ROOT's), or fails if it is not there.
in_root() {
  local root="$1" path="$2" hops=0 target
  while [[ -L "${root}${path}" ]]; do
    target="$(readlink "${root}${path}")"
    [[ "${target}" == /* ]] || target="$(dirname "${path}")/${target}"
    path="${target}"
    ((++hops < 40)) || return 1
  done
  [[ -f "${root}${path}" ]] && echo "${path}"
}
# check_loads WHAT ROOT ARCH PROGRAM...: each PROGRAM in ROOT is an ELF file
# for ARCH whose interpreter and every library it needs, and every library
# those need, are in ROOT, where the dynamic loader of a Debian root looks.
# readelf reads any architecture, so this holds for arm64 images on an amd64
# machine, where they cannot run.
check_loads() {
  local what="$1" root="$2" arch="$3" machine triplet file interpreter needed lib found dir
  shift 3
  case "${arch}" in
    amd64) machine="Advanced Micro Devices X86-64" triplet="x86_64-linux-gnu" ;;
    arm64) machine="AArch64" triplet="aarch64-linux-gnu" ;;
  esac
  local -a queue=("$@")
  local -A seen=()
  while ((${#queue[@]} > 0)); do
    file="$(in_root "${root}" "${queue[0]}")" || fail "${what}: ${queue[0]} is not in the image"
    queue=("${queue[@]:1}")
    [[ -z "${seen[${file}]:-}" ]] || continue
    seen["${file}"]=1
    [[ "$(readelf -h "${root}${file}" | sed -n 's/^ *Machine: *//p')" == "${machine}" ]] ||
      fail "${what}: ${file} is not an ELF file for ${arch}"
    interpreter="$(readelf -l "${root}${file}" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')"
    [[ -z "${interpreter}" ]] || queue+=("${interpreter}")
    while read -r needed; do
      found=""
      for dir in "/lib/${triplet}" "/usr/lib/${triplet}" /lib /usr/lib; do
        if lib="$(in_root "${root}" "${dir}/${needed}")"; then found="${lib}" && break; fi
      done
      [[ -n "${found}" ]] || fail "${what}: ${file} needs ${needed}, which is not in the image"
      queue+=("${found}")
    done < <(readelf -d "${root}${file}" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
  done
}

# --- signatures first: whether the files are the ones that were signed,
# before anything is read from them. The README's blocks, as written.
verify_doc="${CTXFIX_ROOT}/README.md"
verify_heading='### Verify a release'
provenance_suffix=.provenance.sigstore.json
readme_block() {
  ctxfix::doc_block "${verify_doc}" "${verify_heading}" sh "$1" > "${scratch}/block-$1.sh"
  [[ -s "${scratch}/block-$1.sh" ]] || ctxfix::die "README.md has no sh block $1 under '${verify_heading}'"
  echo "${scratch}/block-$1.sh"
}
[[ -f "${dir}/cosign.pub" ]] ||
  fail "missing cosign.pub (a keyless release has none: verify it as README.md's '${verify_heading}' says)"
if [[ -n "${CTXFIX_COSIGN_PUBLIC_KEY:-}" ]]; then
  [[ -f "${CTXFIX_COSIGN_PUBLIC_KEY}" ]] || ctxfix::die "CTXFIX_COSIGN_PUBLIC_KEY '${CTXFIX_COSIGN_PUBLIC_KEY}' is not a file"
  cmp -s "${CTXFIX_COSIGN_PUBLIC_KEY}" "${dir}/cosign.pub" ||
    fail "cosign.pub is not the key CTXFIX_COSIGN_PUBLIC_KEY (${CTXFIX_COSIGN_PUBLIC_KEY}) trusts"
  trusted="the trusted key ${CTXFIX_COSIGN_PUBLIC_KEY}"
else
  trusted="the release's own cosign.pub (CTXFIX_COSIGN_PUBLIC_KEY not set: that proves the release whole, not whose it is)"
fi
mapfile -t signed < <(ctxfix::signed_files "${dir}")
for file in "${signed[@]}"; do
  [[ -f "${dir}/${file}.sigstore.json" ]] || fail "${file} has no cosign bundle ${file}.sigstore.json"
done
# A bundle without its file: the file is missing.
while read -r bundle; do
  [[ -f "${dir}/${bundle%.sigstore.json}" ]] || fail "missing ${bundle%.sigstore.json} (its cosign bundle is there)"
done < <(cd "${dir}" && find . -name '*.sigstore.json' ! -name "*${provenance_suffix}" -printf '%P\n' | LC_ALL=C sort)
cosign="$(ctxfix::cosign_bin)"
signatures_block="$(readme_block 1)"
sums_block="$(readme_block 2)"
attestations_block="$(readme_block 3)"
provenance_block="$(readme_block 4)"
if ! (cd "${dir}" && PATH="${cosign%/*}:${PATH}" bash -euo pipefail "${signatures_block}") > "${scratch}/cosign.log" 2>&1; then
  grep -v '^WARNING: Skipping tlog verification' "${scratch}/cosign.log" | grep -v '^Verified OK$' | tail -n 4 >&2
  fail "$(grep -m1 '^NOT VERIFIED: ' "${scratch}/cosign.log" || echo "README.md's signature check failed"): its cosign bundle does not verify against cosign.pub"
fi
# count_verified LOG: how many times cosign said Verified OK in LOG.
count_verified() { awk '$0 == "Verified OK" { n++ } END { print n + 0 }' "$1"; }
verified="$(count_verified "${scratch}/cosign.log")"
((verified == ${#signed[@]})) || fail "cosign said Verified OK ${verified} times, for ${#signed[@]} signed files"
ctxfix::log "cosign verify-blob: ${verified} bundles verify against ${trusted}"

mapfile -t arches < <(find "${dir}/bin/linux" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
((${#arches[@]} > 0)) || fail "no bin/linux/<arch> folders"
node_binaries=(kubelet kubeadm kubectl)
for arch in "${arches[@]}"; do
  bin="${dir}/bin/linux/${arch}"
  for name in "${node_binaries[@]}"; do
    [[ -f "${bin}/${name}" ]] || fail "missing bin/linux/${arch}/${name}"
    check_sums "${bin}/${name}"
    ctxfix::verify_recorded_checksum "${version}/bin/linux/${arch}/${name}" "$(cat "${bin}/${name}.sha256")"
  done
done

# --- control-plane images: docker-save tarballs named as upstream names
# them, with the entrypoint set, the binary on top of the base, and
# kube-proxy's base holding iptables, nft and conntrack.
image_tag="${version//+/_}"
server_binaries=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
for arch in "${arches[@]}"; do
  for name in "${server_binaries[@]}"; do
    image="${dir}/bin/linux/${arch}/${name}.tar"
    what="bin/linux/${arch}/${name}.tar"
    [[ -f "${image}" ]] || fail "missing ${what}"
    check_sums "${image}"
    tar -tf "${image}" > "${scratch}/members" || fail "${what} is not a tar archive"
    for member in manifest.json repositories; do
      grep -qx "${member}" "${scratch}/members" || fail "${what} has no ${member}: it is not in docker save's form"
    done
    tar -xOf "${image}" manifest.json > "${scratch}/manifest.json"
    tags="$(jq -c '[.[].RepoTags[]]' "${scratch}/manifest.json")"
    [[ "${tags}" == "[\"registry.k8s.io/${name}-${arch}:${image_tag}\"]" ]] ||
      fail "${what} is tagged ${tags}, want registry.k8s.io/${name}-${arch}:${image_tag}"
    config="$(tar -xOf "${image}" "$(jq -r '.[0].Config' "${scratch}/manifest.json")" | jq -c '[.os, .architecture, .config.Entrypoint]')"
    [[ "${config}" == "[\"linux\",\"${arch}\",[\"/usr/local/bin/${name}\"]]" ]] ||
      fail "${what}: config has os, architecture and entrypoint ${config}, want linux/${arch} and /usr/local/bin/${name}"
    mapfile -t layers < <(jq -r '.[0].Layers[]' "${scratch}/manifest.json")
    ((${#layers[@]} == 2)) || fail "${what} has ${#layers[@]} layers, want the base and the binary"
    tar -xOf "${image}" "${layers[1]}" | tar -t > "${scratch}/top"
    grep -qx "usr/local/bin/${name}" "${scratch}/top" || fail "${what}: its top layer has no usr/local/bin/${name}"
    # The image's bytes follow Debian's mirror, but its binary is ours and
    # reproducible: build/CHECKSUMS records it.
    ctxfix::verify_recorded_checksum "${version}/bin/linux/${arch}/${name}" \
      "$(tar -xOf "${image}" "${layers[1]}" | tar -xO "usr/local/bin/${name}" | sha256sum | cut -d' ' -f1)"
    tar -xOf "${image}" "${layers[0]}" | tar -t > "${scratch}/base"
    wanted=(etc/passwd etc/group etc/nsswitch.conf etc/ssl/certs/ca-certificates.crt tmp/ var/lib/dpkg/status.d/ca-certificates)
    [[ "${name}" != kube-proxy ]] || wanted+=(usr/sbin/iptables usr/sbin/ip6tables usr/sbin/iptables-legacy usr/sbin/nft usr/sbin/conntrack)
    for member in "${wanted[@]}"; do
      grep -qx "${member}" "${scratch}/base" || fail "${what}: its base layer has no ${member}"
    done
    if [[ "${name}" == kube-proxy ]]; then
      rm -rf "${scratch}/root" && mkdir "${scratch}/root"
      tar -xOf "${image}" "${layers[0]}" | tar -x --no-same-owner -C "${scratch}/root"
      check_loads "${what}" "${scratch}/root" "${arch}" \
        /usr/sbin/iptables /usr/sbin/ip6tables /usr/sbin/iptables-legacy /usr/sbin/nft /usr/sbin/conntrack
      rm -rf "${scratch}/root"
    fi
  done
done
ctxfix::log "images: ${server_binaries[*]} for ${arches[*]}, docker-save tarballs tagged ${image_tag}, entrypoints set, bases complete, kube-proxy's tools find every library they load"

# --- the other images kubeadm pulls: etcd, CoreDNS and pause, tagged
# exactly as the release's kubeadm names them, with upstream's entrypoint,
# command and user, labels that say they are upstream's code built here, and
# binaries that report the versions kubeadm names. Their names come from
# kubeadm itself (`kubeadm config images list`, which needs no network with a
# version given); every image it lists must be in the release, the
# control-plane ones under the arch-suffixed names image-builder strips.
declare -A third_party_config=(
  [etcd]='[null,["/usr/local/bin/etcd"],""]'
  [coredns]='[["/coredns"],null,"nonroot:nonroot"]'
  [pause]='[["/pause"],null,"65535:65535"]'
)
declare -A third_party_binary=([etcd]=usr/local/bin/etcd [coredns]=coredns [pause]=pause)
if [[ " ${arches[*]} " == *" ${host_arch} "* ]]; then
  "${dir}/bin/linux/${host_arch}/kubeadm" config images list --kubernetes-version "${version}" \
    > "${scratch}/kubeadm-images" 2> "${scratch}/kubeadm-images.log" ||
    { cat "${scratch}/kubeadm-images.log" >&2; fail "kubeadm config images list --kubernetes-version ${version} failed"; }
  for arch in "${arches[@]}"; do
    for image in "${dir}/bin/linux/${arch}"/*.tar; do
      tar -xOf "${image}" manifest.json | jq -r '.[].RepoTags[]' | sed "s/-${arch}:/:/"
    done > "${scratch}/tags-${arch}"
    while read -r ref; do
      grep -qxF "${ref}" "${scratch}/tags-${arch}" ||
        fail "kubeadm ${version} pulls ${ref}, and no image of bin/linux/${arch}/ is tagged so"
    done < "${scratch}/kubeadm-images"
  done
  ctxfix::log "every image kubeadm ${version} pulls is in the release for ${arches[*]}: $(grep -v '/kube-' "${scratch}/kubeadm-images" | tr '\n' ' ')"
else
  skip "kubeadm's list of the images it pulls"
fi
for arch in "${arches[@]}"; do
  for name in etcd coredns pause; do
    image="${dir}/bin/linux/${arch}/${name}.tar"
    what="bin/linux/${arch}/${name}.tar"
    [[ -f "${image}" ]] || fail "missing ${what}"
    check_sums "${image}"
    tar -xOf "${image}" manifest.json > "${scratch}/manifest.json" || fail "${what} has no manifest.json"
    ref="$(jq -r '.[0].RepoTags[0]' "${scratch}/manifest.json")"
    config="$(tar -xOf "${image}" "$(jq -r '.[0].Config' "${scratch}/manifest.json")")"
    [[ "$(jq -c '[.os, .architecture]' <<<"${config}")" == "[\"linux\",\"${arch}\"]" ]] ||
      fail "${what} is for $(jq -c '[.os, .architecture]' <<<"${config}"), want linux/${arch}"
    [[ "$(jq -c '.config | [.Entrypoint, .Cmd, (.User // "")]' <<<"${config}")" == "${third_party_config[${name}]}" ]] ||
      fail "${what}: entrypoint, command and user are $(jq -c '.config | [.Entrypoint, .Cmd, (.User // "")]' <<<"${config}"), want upstream's ${third_party_config[${name}]}"
    jq -e '.config.Labels["org.opencontainers.image.description"] | test("unchanged, built by kubelet-ctxfix")' <<<"${config}" > /dev/null ||
      fail "${what}: its labels do not say that it is upstream's ${name}, built by kubelet-ctxfix"
    mapfile -t layers < <(jq -r '.[0].Layers[]' "${scratch}/manifest.json")
    rm -rf "${scratch}/top" && mkdir "${scratch}/top"
    # As root, tar keeps the capability in security.capability (CoreDNS's).
    tar -xOf "${image}" "${layers[-1]}" | tar -x --no-same-owner --xattrs --xattrs-include='security.*' -C "${scratch}/top" ||
      fail "${what}: its top layer does not unpack"
    binary="${scratch}/top/${third_party_binary[${name}]}"
    [[ -f "${binary}" ]] || fail "${what}: its top layer has no /${third_party_binary[${name}]}"
    # Their Go binaries are reproducible: build/CHECKSUMS records them.
    case "${name}" in
      etcd)
        for tool in etcd etcdctl etcdutl; do
          [[ -f "${scratch}/top/usr/local/bin/${tool}" ]] || fail "${what}: its top layer has no /usr/local/bin/${tool}"
          ctxfix::verify_recorded_checksum "${version}/bin/linux/${arch}/${tool}" \
            "$(sha256sum < "${scratch}/top/usr/local/bin/${tool}" | cut -d' ' -f1)"
        done
        ;;
      coredns) ctxfix::verify_recorded_checksum "${version}/bin/linux/${arch}/coredns" "$(sha256sum < "${binary}" | cut -d' ' -f1)" ;;
    esac
    [[ "$(readelf -h "${binary}" | sed -n 's/^ *Type: *\([A-Z]*\).*/\1/p')" == EXEC && -z "$(readelf -l "${binary}" | grep 'program interpreter')" ]] ||
      fail "${what}: /${third_party_binary[${name}]} is not a static executable"
    if [[ "${name}" == coredns && "$(id -u)" == 0 ]]; then
      [[ "$(getcap "${binary}")" == *"cap_net_bind_service=ep" ]] ||
        fail "${what}: /coredns does not have cap_net_bind_service=+ep, so it cannot serve port 53 as nonroot"
    fi
    if [[ "${arch}" == "${host_arch}" ]]; then
      tag="${ref##*:}"
      case "${name}" in
        etcd) reported="$("${binary}" --version | sed -n 's/^etcd Version: //p')" wanted="${tag%-*}" ;;
        coredns) reported="$("${binary}" -version | sed -n 's/^CoreDNS-//p')" wanted="${tag#v}" ;;
        pause) reported="$("${binary}" -v | sed -n 's/^pause\.c v\([^-]*\)-.*/\1/p')" wanted="${tag}" ;;
      esac
      [[ "${reported}" == "${wanted}" ]] || fail "${what}: /${third_party_binary[${name}]} reports version '${reported}', the image is tagged ${ref}"
    fi
  done
done
if [[ "$(id -u)" != 0 ]]; then
  ctxfix::log "SKIPPED: CoreDNS's file capability: reading security.capability back needs root"
  skipped+=("CoreDNS's file capability")
fi
ctxfix::log "images: etcd, CoreDNS and pause for ${arches[*]}, tagged as kubeadm names them, upstream's entrypoints and users, static, reporting their versions"

# --- images/: the OCI image layout for registries holds exactly the image
# tarballs of bin/linux/<arch>/, under kubeadm's names, each name one index
# over the release's architectures; every blob has its digest.
"${release_tool}" check-image-layout -layout "${dir}/images" "${dir}"/bin/linux/*/*.tar ||
  fail "images/ is not the OCI image layout of the release's image tarballs (above)"
ctxfix::log "images/: an OCI image layout of the $(find "${dir}"/bin/linux/*/ -name '*.tar' | wc -l) image tarballs, one index per name over ${arches[*]}, every blob as named"

mapfile -t tarballs < <(cd "${dir}" && find . -type f -name '*.tar.gz' -printf '%P\n' | LC_ALL=C sort)
for tarball in "${tarballs[@]}"; do check_sums "${dir}/${tarball}"; done
# README.md's checksum commands, as written.
if ! failed="$(cd "${dir}" && bash -euo pipefail "${sums_block}" 2>&1)"; then
  mismatched="$(sed -n 's/: FAILED.*$//p' <<<"${failed}" | LC_ALL=C sort -u | tr '\n' ' ')"
  fail "SHA256SUMS or SHA512SUMS does not verify: ${mismatched:-$(head -n 1 <<<"${failed}")}"
fi
for sums in sha256 sha512; do
  sums_file="${sums^^}SUMS"
  diff <(ctxfix::summed_files "${dir}") <(awk '{ print $2 }' "${dir}/${sums_file}" | LC_ALL=C sort) >&2 ||
    fail "${sums_file} does not list exactly the files of the release"
done
ctxfix::log "checksums verify: SHA256SUMS, SHA512SUMS, .sha256 and .sha512 of ${node_binaries[*]} for ${arches[*]} and of ${#tarballs[@]} tarballs"

# --- provenance, once the files are known to be the release's: its
# signatures, then its statements against this repository's inputs for the
# release's version. The README's blocks, as written.
if ! (cd "${dir}" && PATH="${cosign%/*}:${PATH}" bash -euo pipefail "${attestations_block}") > "${scratch}/attest.log" 2>&1; then
  grep -v '^WARNING: Skipping tlog verification' "${scratch}/attest.log" | grep -v '^Verified OK$' | tail -n 4 >&2
  fail "$(grep -m1 '^NOT VERIFIED: ' "${scratch}/attest.log" || echo "README.md's provenance signature check failed"): its bundle does not verify against cosign.pub"
fi
attested="$(cd "${dir}" && find . -name "*${provenance_suffix}" | wc -l)"
[[ "$(count_verified "${scratch}/attest.log")" == "${attested}" ]] ||
  fail "cosign said Verified OK $(count_verified "${scratch}/attest.log") times, for ${attested} provenance bundles"
if ! (cd "${CTXFIX_ROOT}" && RELEASE="${dir}" bash -euo pipefail "${provenance_block}") > "${scratch}/provenance.log" 2>&1; then
  # go run adds "exit status N" after the command's own error.
  fail "$(grep -m1 '^ctxfix-release: ' "${scratch}/provenance.log" || tail -n 1 "${scratch}/provenance.log")"
fi
# verify-provenance prints a line per file it checked; go run may add its
# own lines (downloads) before them.
provenanced="$(awk '/^bin\/linux\/[^ ]*: built from / { n++ } END { print n + 0 }' "${scratch}/provenance.log")"
((attested > 0 && attested == provenanced)) ||
  fail "verify-provenance checked ${provenanced} files, the release has ${attested} provenance bundles"
ctxfix::log "provenance: ${attested} statements verify against ${trusted} and name exactly this repository's inputs: $(grep -m1 '^bin/linux/' "${scratch}/provenance.log")"

# --- ATTRIBUTION.txt: every module of every Go binary the release ships
# (kubelet, kubeadm, kubectl, the control-plane binaries in the images, etcd's
# and CoreDNS's, crictl and the CNI plugins in the packages), at the version
# it links. Before the node tarballs, which carry a copy of it: a file short
# of a module fails here, naming the module, not as a copy that differs.
[[ -s "${dir}/ATTRIBUTION.txt" ]] || fail "missing ATTRIBUTION.txt"
modules=0
binaries=0
for arch in "${arches[@]}"; do
  shipped="${scratch}/shipped/${arch}"
  mkdir -p "${shipped}"
  for name in "${node_binaries[@]}"; do cp "${dir}/bin/linux/${arch}/${name}" "${shipped}/"; done
  for name in "${server_binaries[@]}"; do
    image="${dir}/bin/linux/${arch}/${name}.tar"
    tar -xOf "${image}" "$(tar -xOf "${image}" manifest.json | jq -r '.[0].Layers[1]')" | tar -xO "usr/local/bin/${name}" > "${shipped}/${name}"
  done
  for member in etcd:usr/local/bin/etcd etcd:usr/local/bin/etcdctl etcd:usr/local/bin/etcdutl coredns:coredns; do
    image="${dir}/bin/linux/${arch}/${member%%:*}.tar"
    tar -xOf "${image}" "$(tar -xOf "${image}" manifest.json | jq -r '.[0].Layers[-1]')" | tar -xO "${member#*:}" > "${shipped}/${member##*/}"
  done
  for package in cri-tools:usr/bin kubernetes-cni:opt/cni/bin; do
    mapfile -t debs < <(find "${dir}/deb" -maxdepth 1 -name "${package%%:*}_*_${arch}.deb")
    ((${#debs[@]} == 1)) || fail "want one ${package%%:*} deb for ${arch} in deb/, found ${#debs[@]}"
    mkdir -p "${scratch}/deb-${arch}"
    dpkg-deb -x "${debs[0]}" "${scratch}/deb-${arch}" || fail "cannot unpack ${debs[0]##*/}"
    find "${scratch}/deb-${arch}/${package#*:}" -type f -exec cp -t "${shipped}" {} +
  done
  for binary in "${shipped}"/*; do
    binaries=$((binaries + 1))
    info="$(go version -m "${binary}")" || fail "go version -m cannot read linux/${arch} ${binary##*/}"
    # dep lines, and the main module of a binary built from a module at a
    # version (crictl, the plugins); the trees' own k8s.io/kubernetes is
    # (devel).
    while read -r path mod_version; do
      grep -qF "** ${path}; version ${mod_version} -- " "${dir}/ATTRIBUTION.txt" ||
        fail "ATTRIBUTION.txt does not name ${path} ${mod_version}, which linux/${arch} ${binary##*/} links"
      modules=$((modules + 1))
    done < <(awk '$1 == "dep" || ($1 == "mod" && $3 != "(devel)") { print $2, $3 }' <<<"${info}")
  done
done
((modules > 0)) || fail "go version -m lists no modules in the release's binaries"
# pause is C, without build information: the tree's code and the C library
# linked into it are listed as hack/release.sh gives them.
grep -qE "^\*\* k8s\.io/kubernetes; version ${version//./\\.} -- (.*, )?pause(,|\$)" "${dir}/ATTRIBUTION.txt" ||
  fail "ATTRIBUTION.txt does not name k8s.io/kubernetes ${version} in pause"
grep -qE '^\*\* libc6-dev[a-z0-9-]*; version [^ ]+ -- (.*, )?pause(,|$)' "${dir}/ATTRIBUTION.txt" ||
  fail "ATTRIBUTION.txt does not name the C library linked into pause"
ctxfix::log "ATTRIBUTION.txt names every module of the ${binaries} Go binaries the release ships (${modules} module links)"

# --- crictl and the CNI plugins report their versions, as upstream's builds
# do, run from the packages' files by goss with
# test/image-builder/goss-node-tools.yaml. An unstamped build says "version
# unknown", which image-builder's goss rejects where it asks (the plugins of
# http mode). With -trimpath the build
# information does not record -ldflags, so only the host's build can be
# asked.
if [[ " ${arches[*]} " == *" ${host_arch} "* ]]; then
  mismatch="$(ctxfix::goss_node_tools "${scratch}/deb-${host_arch}")" ||
    fail "the packages' crictl or CNI plugins do not report their pinned versions: ${mismatch}"
  ctxfix::log "goss checks: the packages' crictl and CNI plugins report the versions build/upstream.sum pins"
else
  skip "crictl's and the CNI plugins' version checks"
fi

# --- node tarballs
for arch in "${arches[@]}"; do
  tarball="${dir}/kubernetes-node-linux-${arch}.tar.gz"
  [[ -f "${tarball}" ]] || fail "missing kubernetes-node-linux-${arch}.tar.gz"
  tar -tzf "${tarball}" > "${scratch}/members"
  for member in kubernetes/version kubernetes/kubernetes-src.tar.gz kubernetes/LICENSES/LICENSE kubernetes/ATTRIBUTION.txt; do
    grep -qx "${member}" "${scratch}/members" || fail "${tarball##*/} has no ${member}"
  done
  if grep -vE '^kubernetes/(|node/|node/bin/|node/bin/(kubelet|kubeadm|kubectl)|version|ATTRIBUTION\.txt|kubernetes-src\.tar\.gz|LICENSES/.*)$' "${scratch}/members" >&2; then
    fail "${tarball##*/} has members outside upstream's node layout (above)"
  fi
  [[ "$(tar -xzOf "${tarball}" kubernetes/version)" == "${version}" ]] || fail "${tarball##*/}: kubernetes/version is not ${version}"
  for name in "${node_binaries[@]}"; do
    grep -qx "kubernetes/node/bin/${name}" "${scratch}/members" || fail "${tarball##*/} has no kubernetes/node/bin/${name}"
    cmp -s <(tar -xzOf "${tarball}" "kubernetes/node/bin/${name}") "${dir}/bin/linux/${arch}/${name}" ||
      fail "${tarball##*/}: its ${name} is not bin/linux/${arch}/${name}"
  done
  cmp -s <(tar -xzOf "${tarball}" kubernetes/kubernetes-src.tar.gz) "${dir}/kubernetes-src.tar.gz" ||
    fail "${tarball##*/}: its kubernetes-src.tar.gz is not the release's"
  cmp -s <(tar -xzOf "${tarball}" kubernetes/ATTRIBUTION.txt) "${dir}/ATTRIBUTION.txt" ||
    fail "${tarball##*/}: its ATTRIBUTION.txt is not the release's"
done
ctxfix::log "node tarballs have upstream's layout, the released ${node_binaries[*]} and ATTRIBUTION.txt"

# --- image-builder's goss checks, http mode (goss-command.yaml), run by goss
# with test/image-builder/goss-versions.yaml: kubernetes_version is the
# folder's name without the "v", and each command's output must contain it.
if [[ " ${arches[*]} " == *" ${host_arch} "* ]]; then
  kubernetes_version="${folder#v}"
  mismatch="$(PATH="${dir}/bin/linux/${host_arch}:${PATH}" ctxfix::goss_validate goss-versions.yaml "{\"kubernetes_version\": \"${kubernetes_version}\"}")" ||
    fail "goss check: ${mismatch}"
  ctxfix::log "goss checks: kubectl, kubeadm and kubelet report ${kubernetes_version}"
else
  skip "image-builder's goss version checks"
fi

# --- SBOMs
for arch in "${arches[@]}"; do
  "${release_tool}" check-sbom -in "${dir}/kubelet-linux-${arch}.cdx.json" -kubelet "${dir}/bin/linux/${arch}/kubelet" \
    -base "${base}" -series "${series_dir}" >&2 || fail "SBOM for ${arch} does not match its kubelet"
  "${release_tool}" check-spdx -in "${dir}/kubelet-linux-${arch}.spdx.json" -kubelet "${dir}/bin/linux/${arch}/kubelet" \
    -base "${base}" -series "${series_dir}" >&2 || fail "SPDX SBOM for ${arch} does not match its kubelet"
done

# --- deb: kubelet, kubeadm and kubectl at one version
package_version() { "${release_tool}" package-version -revision "${revision}" "$@"; }
next_base="$(awk -F. '{ print $1 "." $2 "." $3 + 1 }' <<<"${base}")"
deb_version="$(package_version -base "${base}" -format deb)"
upstream_deb="$(package_version -base "${base}" -format upstream-deb)"
next_base_deb="$(package_version -base "${next_base}" -format upstream-deb)"
dpkg --compare-versions "${deb_version}" gt "${upstream_deb}" || fail "deb ${deb_version} does not sort above upstream's ${upstream_deb}"
dpkg --compare-versions "${deb_version}" lt "${next_base_deb}" || fail "deb ${deb_version} does not sort below the next base ${next_base_deb}"
ctxfix::log "dpkg --compare-versions: ${upstream_deb} < ${deb_version} < ${next_base_deb}"
# Upstream's dependencies (krel's metadata.yaml for 1.30 and later).
declare -A deb_depends=([kubelet]='kubernetes-cni (>= 1.2.0), mount, util-linux' [kubeadm]='cri-tools (>= 1.30.0)' [kubectl]='')
for arch in "${arches[@]}"; do
  for name in "${node_binaries[@]}"; do
    deb="${dir}/deb/${name}_${deb_version}_${arch}.deb"
    [[ -f "${deb}" ]] || fail "missing ${deb##*/}"
    [[ "$(dpkg-deb --field "${deb}" Package)" == "${name}" ]] || fail "${deb##*/}: package is not named ${name}"
    [[ "$(dpkg-deb --field "${deb}" Version)" == "${deb_version}" ]] || fail "${deb##*/}: version is not ${deb_version}"
    [[ "$(dpkg-deb --field "${deb}" Architecture)" == "${arch}" ]] || fail "${deb##*/}: architecture is not ${arch}"
    [[ "$(dpkg-deb --field "${deb}" Depends)" == "${deb_depends[${name}]}" ]] ||
      fail "${deb##*/}: Depends is '$(dpkg-deb --field "${deb}" Depends)', upstream's is '${deb_depends[${name}]}'"
  done
done
if [[ " ${arches[*]} " == *" ${host_arch} "* ]]; then
  # A scratch root of dpkg's own: dependencies are not there (--force-depends),
  # and maintainer scripts run unchrooted with DPKG_ROOT set, so they leave
  # the host alone. All three in one dpkg call, as apt would install them.
  root="${scratch}/root"
  mkdir -p "${root}/var/lib/dpkg/info" "${root}/var/lib/dpkg/updates"
  : > "${root}/var/lib/dpkg/status"
  debs=()
  for name in "${node_binaries[@]}"; do debs+=("${dir}/deb/${name}_${deb_version}_${host_arch}.deb"); done
  dpkg --root="${root}" --log=/dev/null --force-depends --force-script-chrootless --install "${debs[@]}" > "${scratch}/dpkg.log" 2>&1 ||
    { cat "${scratch}/dpkg.log" >&2; fail "dpkg could not install ${node_binaries[*]} ${deb_version} into a scratch root"; }
  for name in "${node_binaries[@]}"; do
    [[ "$(dpkg-query --admindir="${root}/var/lib/dpkg" --show --showformat='${Status} ${Version}' "${name}")" == "install ok installed ${deb_version}" ]] ||
      fail "dpkg does not list ${name} ${deb_version} as installed in the scratch root"
  done
  for file in usr/bin/kubelet usr/lib/systemd/system/kubelet.service etc/default/kubelet usr/bin/kubeadm \
    usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf usr/bin/kubectl; do
    [[ -f "${root}/${file}" ]] || fail "the debs did not install /${file}"
  done
  # The drop-in reads the deb's environment file, as debbuild makes it.
  grep -qx 'EnvironmentFile=-/etc/default/kubelet' "${root}/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf" ||
    fail "the kubeadm deb's 10-kubeadm.conf does not read /etc/default/kubelet"
  reported="$("${root}/usr/bin/kubelet" --version) $("${root}/usr/bin/kubeadm" version -o short) $("${root}/usr/bin/kubectl" version --client | awk '$1 == "Client" { print $3 }')"
  [[ "${reported}" == "Kubernetes ${version} ${version} ${version}" ]] ||
    fail "kubelet, kubeadm and kubectl installed from the debs report '${reported}'"
  ctxfix::log "the ${node_binaries[*]} debs install together into a scratch root; all three report ${version}"
else
  skip "installing the debs into a scratch root"
fi

# --- rpm
rpm_version="$(package_version -base "${base}" -format rpm)"
upstream_rpm="$(package_version -base "${base}" -format upstream-rpm)"
next_base_rpm="$(package_version -base "${next_base}" -format upstream-rpm)"
rpmvercmp() { rpm --eval "%{lua: print(rpm.vercmp('$1', '$2'))}"; }
[[ "$(rpmvercmp "${rpm_version}" "${upstream_rpm}")" == 1 ]] || fail "rpm ${rpm_version} does not sort above upstream's ${upstream_rpm}"
[[ "$(rpmvercmp "${rpm_version}" "${next_base_rpm}")" == -1 ]] || fail "rpm ${rpm_version} does not sort below the next base's ${next_base_rpm}"
declare -A rpm_requires=([kubelet]='kubernetes-cni >= 1.2.0' [kubeadm]='cri-tools >= 1.30.0')
declare -A rpm_file=([kubelet]=/usr/lib/systemd/system/kubelet.service [kubeadm]=/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf [kubectl]=/usr/bin/kubectl)
for arch in "${arches[@]}"; do
  case "${arch}" in amd64) rpm_arch=x86_64 ;; arm64) rpm_arch=aarch64 ;; esac
  for name in "${node_binaries[@]}"; do
    package="${dir}/rpm/${name}-${rpm_version}.${rpm_arch}.rpm"
    [[ -f "${package}" ]] || fail "missing ${package##*/}"
    got="$(rpm -qp --queryformat '%{NAME} %{VERSION}-%{RELEASE} %{ARCH}' "${package}" 2>/dev/null)"
    [[ "${got}" == "${name} ${rpm_version} ${rpm_arch}" ]] || fail "${package##*/} reads back as '${got}'"
    if [[ -n "${rpm_requires[${name}]:-}" ]]; then
      rpm -qp --requires "${package}" 2>/dev/null | grep -x "${rpm_requires[${name}]}" > /dev/null || fail "${package##*/} does not require ${rpm_requires[${name}]}"
    fi
    rpm -qlp "${package}" 2>/dev/null | grep -x "${rpm_file[${name}]}" > /dev/null || fail "${package##*/} has no ${rpm_file[${name}]}"
  done
done
# What kubelet and kubeadm depend on: cri-tools and kubernetes-cni at the
# pinned versions, for every architecture, in both repositories.
for dependency in "cri-tools sigs.k8s.io/cri-tools" "kubernetes-cni github.com/containernetworking/plugins"; do
  read -r name module <<<"${dependency}"
  pinned="$(ctxfix::pinned_version "${module}")"
  for arch in "${arches[@]}"; do
    case "${arch}" in amd64) rpm_arch=x86_64 ;; arm64) rpm_arch=aarch64 ;; esac
    for package in "deb/${name}_$(package_version -base "${base}" -component-version "${pinned}" -format deb)_${arch}.deb" \
      "rpm/${name}-$(package_version -base "${base}" -component-version "${pinned}" -format rpm).${rpm_arch}.rpm"; do
      [[ -f "${dir}/${package}" ]] || fail "missing ${package} (${module} ${pinned})"
    done
  done
done
ctxfix::log "rpm metadata reads back: ${node_binaries[*]} ${rpm_version}; rpm sorts ${upstream_rpm} < ${rpm_version} < ${next_base_rpm}"

# --- the apt repository
repo="${dir}/deb"
for file in Packages Packages.gz Release InRelease Release.gpg Release.key; do
  [[ -f "${repo}/${file}" ]] || fail "the apt repository has no deb/${file}"
done
gpg --batch --quiet --dearmor < "${repo}/Release.key" > "${scratch}/apt-keyring.gpg" 2>/dev/null ||
  fail "deb/Release.key is not an OpenPGP key"
gpgv --keyring "${scratch}/apt-keyring.gpg" --output "${scratch}/InRelease.signed" "${repo}/InRelease" > "${scratch}/gpgv.log" 2>&1 ||
  { cat "${scratch}/gpgv.log" >&2; fail "deb/InRelease does not verify against deb/Release.key"; }
gpgv --keyring "${scratch}/apt-keyring.gpg" "${repo}/Release.gpg" "${repo}/Release" > "${scratch}/gpgv.log" 2>&1 ||
  { cat "${scratch}/gpgv.log" >&2; fail "deb/Release.gpg does not verify against deb/Release.key"; }
# The signed text of InRelease is Release.
cmp -s "${scratch}/InRelease.signed" "${repo}/Release" || fail "deb/InRelease does not sign deb/Release"
for file in Packages Packages.gz; do
  grep -qE "^ $(sha256sum < "${repo}/${file}" | cut -d' ' -f1) +[0-9]+ ${file}\$" "${repo}/Release" ||
    fail "deb/Release does not record the sha256 of deb/${file}"
done
cmp -s <(gzip -dc "${repo}/Packages.gz") "${repo}/Packages" || fail "deb/Packages.gz is not deb/Packages"
for deb in "${repo}"/*.deb; do
  awk -v f="./${deb##*/}" -v sum="$(sha256sum < "${deb}" | cut -d' ' -f1)" \
    '$1 == "Filename:" { file = $2 } $1 == "SHA256:" && file == f && $2 == sum { found = 1 } END { exit !found }' "${repo}/Packages" ||
    fail "deb/Packages does not list ${deb##*/} with its sha256"
done
ctxfix::log "apt repository: InRelease and Release.gpg verify against Release.key ($(gpg --batch --with-colons --show-keys "${repo}/Release.key" 2>/dev/null | awk -F: '$1 == "uid" { print $10; exit }'))"

# --- the yum repository
repo="${dir}/rpm"
for file in repodata/repomd.xml repodata/repomd.xml.asc repodata/repomd.xml.key; do
  [[ -f "${repo}/${file}" ]] || fail "the yum repository has no rpm/${file}"
done
gpg --batch --quiet --dearmor < "${repo}/repodata/repomd.xml.key" > "${scratch}/yum-keyring.gpg" 2>/dev/null ||
  fail "rpm/repodata/repomd.xml.key is not an OpenPGP key"
gpgv --keyring "${scratch}/yum-keyring.gpg" "${repo}/repodata/repomd.xml.asc" "${repo}/repodata/repomd.xml" > "${scratch}/gpgv.log" 2>&1 ||
  { cat "${scratch}/gpgv.log" >&2; fail "rpm/repodata/repomd.xml.asc does not verify against repomd.xml.key"; }
# rpm checks package signatures against the keys in its database: a scratch
# one, so the host's keys neither help nor change.
mkdir -p "${scratch}/rpmdb"
rpm --dbpath "${scratch}/rpmdb" --import "${repo}/repodata/repomd.xml.key" ||
  fail "rpm cannot import rpm/repodata/repomd.xml.key"
primary="$(sed -n 's/.*<location href="\(repodata\/[^"]*primary\.xml\.[a-z]*\)".*/\1/p' "${repo}/repodata/repomd.xml")"
[[ -n "${primary}" && -f "${repo}/${primary}" ]] || fail "rpm/repodata/repomd.xml names no primary metadata"
for package in "${repo}"/*.rpm; do
  checked="$(rpm --dbpath "${scratch}/rpmdb" --checksig "${package}" 2>&1)" || fail "rpm --checksig: ${checked}"
  [[ "${checked}" == *"signatures OK"* ]] || fail "${package##*/} is not signed by repomd.xml.key: ${checked}"
  zcat -f "${repo}/${primary}" | grep -q "<location href=\"${package##*/}\"/>" ||
    fail "rpm/${primary} does not list ${package##*/}"
done
ctxfix::log "yum repository: repomd.xml.asc verifies, every rpm's signature verifies against repomd.xml.key"

# --- the source archive builds the same kubelet
if [[ " ${arches[*]} " == *" ${host_arch} "* ]]; then
  mkdir -p "${scratch}/src"
  tar -xzf "${dir}/kubernetes-src.tar.gz" -C "${scratch}/src"
  built="$(cd "${scratch}/src" && .ctxfix/build-kubelet.sh "${host_arch}" 2>&1)" ||
    { echo "${built}" >&2; fail "kubernetes-src.tar.gz does not build"; }
  cmp -s "${scratch}/src/_output/bin/linux/${host_arch}/kubelet" "${dir}/bin/linux/${host_arch}/kubelet" ||
    fail "the kubelet built from kubernetes-src.tar.gz differs from bin/linux/${host_arch}/kubelet"
  ctxfix::log "kubernetes-src.tar.gz builds bin/linux/${host_arch}/kubelet byte for byte"
else
  skip "rebuilding the kubelet from kubernetes-src.tar.gz"
fi
# --- the kubectl plugin
manifest="${dir}/krew/ctxleak.yaml"
[[ -f "${manifest}" ]] || fail "missing krew/ctxleak.yaml"
for arch in "${arches[@]}"; do
  for goos in linux darwin; do
    archive="kubectl-ctxleak_${goos}_${arch}.tar.gz"
    [[ -f "${dir}/${archive}" ]] || fail "missing ${archive}"
    [[ "$(tar -tzf "${dir}/${archive}" | LC_ALL=C sort | tr '\n' ' ')" == "LICENSE kubectl-ctxleak " ]] ||
      fail "${archive} does not hold exactly kubectl-ctxleak and LICENSE"
    grep -q "^    sha256: $(sha256sum < "${dir}/${archive}" | cut -d' ' -f1)\$" "${manifest}" ||
      fail "krew/ctxleak.yaml does not record the sha256 of ${archive}"
    grep -q "^    uri: .*/${version}/${archive}\$" "${manifest}" ||
      fail "krew/ctxleak.yaml has no uri for ${archive} in the release folder ${version}"
  done
done
if [[ " ${arches[*]} " == *" ${host_arch} "* ]]; then
  ctxfix::install_pinned sigs.k8s.io/krew "${scratch}/tools" "" cmd/krew
  # krew checks the archive against the manifest's sha256 for the host's
  # platform, unpacks what the manifest's files name and links its bin.
  KREW_ROOT="${scratch}/krew" "${scratch}/tools/krew" install --manifest="${manifest}" \
    --archive="${dir}/kubectl-ctxleak_linux_${host_arch}.tar.gz" < /dev/null > "${scratch}/krew.log" 2>&1 ||
    { cat "${scratch}/krew.log" >&2; fail "krew does not install the plugin from krew/ctxleak.yaml"; }
  # krew list needs an index, which takes the network; its receipt is what
  # it lists.
  grep -q "^  version: ${version}\$" "${scratch}/krew/receipts/ctxleak.yaml" ||
    fail "krew keeps no receipt of ctxleak ${version} after installing it"
  "${scratch}/krew/bin/kubectl-ctxleak" versions > /dev/null ||
    fail "the plugin krew installed does not run"
  ctxfix::log "krew installs ctxleak ${version} from krew/ctxleak.yaml; kubectl-ctxleak runs"
else
  skip "installing the kubectl plugin with krew"
fi
if ((${#skipped[@]} > 0)); then
  ctxfix::log "release ${version} verifies, except what was skipped (SKIPPED above says why): ${skipped[*]}"
else
  ctxfix::log "release ${version} verifies"
fi
