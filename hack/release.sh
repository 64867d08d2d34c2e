#!/usr/bin/env bash
# Builds the release of one base for node images and fleets, in the layout
# dl.k8s.io and upstream's release tarballs use:
#
#   _output/release/<version>/
#     bin/linux/<arch>/kubelet                 + kubelet.sha256, kubelet.sha512
#     bin/linux/<arch>/kubeadm, kubectl        upstream's code, built from the same
#                                              tree with the same version; each with
#                                              .sha256 and .sha512
#     bin/linux/<arch>/kube-apiserver.tar,     control-plane images from the same tree,
#       kube-controller-manager.tar,           docker-save tarballs named
#       kube-scheduler.tar, kube-proxy.tar     registry.k8s.io/<name>-<arch>:<version>
#                                              (the tag kubeadm asks for), on bases
#                                              assembled from Debian's packages; each
#                                              with .sha256 and .sha512
#     bin/linux/<arch>/etcd.tar, coredns.tar,  the other images kubeadm pulls, at the
#       pause.tar                              versions the base's kubeadm names, tagged
#                                              as it names them (registry.k8s.io/etcd:3.6.8-0,
#                                              coredns/coredns:v1.14.2, pause:3.10.2):
#                                              upstream's code, unchanged, built here
#     images/                                  the same seven images as one OCI image layout,
#                                              each name a multi-arch index over the
#                                              release's architectures, named as kubeadm
#                                              names them (registry.k8s.io/kube-apiserver:
#                                              <version>), for pushing to a registry
#                                              (ctxfix-release push; docs/node-images.md)
#     kubernetes-node-linux-<arch>.tar.gz      kubernetes/node/bin/{kubelet,kubeadm,kubectl},
#                                              LICENSES, ATTRIBUTION.txt, version
#     kubernetes-src.tar.gz                    the patched tree; builds to the same version
#     ATTRIBUTION.txt                          every module the binaries link, with its
#                                              license
#     deb/                                     flat apt repository: the debs of kubelet,
#                                              kubeadm and kubectl (drop-ins for upstream's),
#                                              and of what they depend on, cri-tools and
#                                              kubernetes-cni (pinned, unchanged),
#                                              Packages(.gz), Release, InRelease,
#                                              Release.gpg, Release.key
#     rpm/                                     yum repository: the signed rpms, repodata/
#                                              with repomd.xml.asc and repomd.xml.key
#     kubelet-linux-<arch>.cdx.json            CycloneDX SBOM: base, series, every module
#     kubelet-linux-<arch>.spdx.json           the same as SPDX 2.3
#     kubectl-ctxleak_<os>_<arch>.tar.gz       ctxleak as a kubectl plugin, with LICENSE,
#                                              for linux and darwin on each arch
#     krew/ctxleak.yaml                        krew's manifest of those archives
#     *.tar.gz.sha256, *.tar.gz.sha512         beside every tarball
#     cosign.pub                               the public key of the cosign bundles
#     <file>.sigstore.json                     cosign's bundle for every file but the
#                                              sidecar sums, the packages (their
#                                              repositories are signed) and images/
#     bin/linux/<arch>/<file>.provenance.sigstore.json
#                                              SLSA v1 provenance of the binaries and
#                                              control-plane images, a signed in-toto
#                                              statement
#     SHA256SUMS, SHA512SUMS                   over every other file
#
# Everything is assembled in a temporary folder and replaces the release
# folder only once complete and verified: a failure leaves the previous
# release folder as it was, or none.
#
# Usage: hack/release.sh   (KUBE_VERSION: base, default from VERSION;
#                           ARCHES: default "amd64 arm64";
#                           CTXFIX_RELEASE_URL: where release folders are
#                           published, the krew manifest's URLs are
#                           CTXFIX_RELEASE_URL/<version>/; default
#                           https://github.com/kubelet-ctxfix/kubelet-ctxfix/releases/download;
#                           CTXFIX_SIGNING_KEY: file with the OpenPGP secret
#                           key that signs the repositories, without a
#                           passphrase; unset, an ephemeral key, with a
#                           warning that the release is not for production;
#                           CTXFIX_COSIGN_KEY, COSIGN_PASSWORD: the cosign
#                           private key of the bundles and its password;
#                           CTXFIX_COSIGN_KEYLESS=true: keyless signing
#                           instead; neither: an ephemeral key, with a
#                           warning, as for the repositories)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "${CTXFIX_ROOT}/hack/lib/repos.sh"
source "${CTXFIX_ROOT}/hack/lib/images.sh"
source "${CTXFIX_ROOT}/hack/lib/cosign.sh"

ctxfix::require_tools git go sha256sum sha512sum
base="$(ctxfix::kube_version)"
version="$(ctxfix::distribution_version "${base}")"
revision="$(ctxfix::version_default CTXFIX_REVISION)"
read -r -a arches <<<"${ARCHES:-amd64 arm64}"
homepage=https://github.com/kubelet-ctxfix/kubelet-ctxfix
release_url="${CTXFIX_RELEASE_URL:-${homepage}/releases/download}"
[[ "${release_url}" =~ ^https?://[^/]+ ]] || ctxfix::die "CTXFIX_RELEASE_URL '${release_url}' is not an http(s) URL"
((${#arches[@]} > 0)) || ctxfix::die "ARCHES is empty: name at least one of amd64 arm64"
for arch in "${arches[@]}"; do
  case "${arch}" in
    amd64 | arm64) ;;
    *) ctxfix::die "unsupported architecture '${arch}' in ARCHES: want amd64 and/or arm64" ;;
  esac
done

# Every tool, and the signing key, first: a missing tool or a bad key fails
# before anything is built.
ctxfix::require_packages gpg:gnupg apt-ftparchive:apt-utils createrepo_c:createrepo-c rpmsign:rpm apt-get:apt dpkg-deb:dpkg
mkdir -p "${CTXFIX_OUTPUT}/tmp" "${CTXFIX_OUTPUT}/release"
gnupg_home="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/release-gnupg.XXXXXX")"
cosign_home="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/release-cosign.XXXXXX")"
# gpg starts an agent for the keyring; stop it with the keyring.
trap 'gpgconf --homedir "${gnupg_home}" --kill all 2>/dev/null; rm -rf "${gnupg_home}" "${cosign_home}"' EXIT
signing_key="$(ctxfix::signing_key "${gnupg_home}")"
ctxfix::warn_ephemeral_key
cosign="$(ctxfix::cosign_bin)"
cosign_key="$(ctxfix::cosign_key "${cosign}" "${cosign_home}")"
# The ephemeral key has no password.
[[ "${cosign_key}" != "${cosign_home}/ephemeral.key" ]] || export COSIGN_PASSWORD=''
ctxfix::warn_ephemeral_cosign_key
release_tool="$(ctxfix::go_tool ./cmd/ctxfix-release)"
sbom_tool="$(ctxfix::go_tool github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod)"
image_tool="$(ctxfix::go_tool ./cmd/ctxfix-image)"
packaging="$(ctxfix::upstream_packaging)"

"${CTXFIX_ROOT}/hack/prepare-tree.sh" "${base}"
tree="$(ctxfix::tree_dir "${base}")"
modfile="$(ctxfix::modfile "${base}")"
epoch="$(ctxfix::source_date_epoch "${tree}")"
series_dir="$(ctxfix::series_dir "${base}")"

release_dir="${CTXFIX_OUTPUT}/release/${version}"
staging="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/release-${version}.XXXXXX")"
work="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/release-work.XXXXXX")"
trap 'gpgconf --homedir "${gnupg_home}" --kill all 2>/dev/null; rm -rf "${staging}" "${work}" "${gnupg_home}" "${cosign_home}"' EXIT
mkdir -p "${staging}/deb" "${staging}/rpm"
ctxfix::log "Release ${version} (base ${base}, ${series_dir#"${CTXFIX_ROOT}"/}) for ${arches[*]}, SOURCE_DATE_EPOCH=${epoch}"

# The source archive: the patched tree, and what building it as the release
# was built takes.
mkdir -p "${work}/ctxfix"
ctxfix::stamp ldflags "${tree}" "${version}" > "${work}/ctxfix/ldflags"
{
  ctxfix::stamp version-vars "${tree}" "${version}"
  echo "GO_VERSION='$(go env GOVERSION)'"
} > "${work}/ctxfix/version.env"
ctxfix::log "kubernetes-src.tar.gz"
"${release_tool}" src-tarball -tree "${tree}" -source-date-epoch "${epoch}" \
  -extra ".ctxfix/kubernetes.mod=${modfile}" \
  -extra ".ctxfix/kubernetes.sum=${modfile%.mod}.sum" \
  -extra ".ctxfix/ldflags=${work}/ctxfix/ldflags" \
  -extra ".ctxfix/version.env=${work}/ctxfix/version.env" \
  -extra ".ctxfix/build-kubelet.sh=${CTXFIX_ROOT}/build/src-tarball/build-kubelet.sh" \
  -out "${staging}/kubernetes-src.tar.gz"

# The node's binaries: the patched kubelet, and kubeadm and kubectl from the
# same tree with the same version (image-builder checks all three against
# one version).
node_binaries=(kubelet kubeadm kubectl)
attributed=()
for arch in "${arches[@]}"; do
  bin="${staging}/bin/linux/${arch}"
  KUBELET_OUT_DIR="${bin}" "${CTXFIX_ROOT}/hack/build-kubelet.sh" "${base}" "${arch}"
  (cd "${bin}" && sha512sum kubelet | cut -d' ' -f1 > kubelet.sha512)
  "${CTXFIX_ROOT}/hack/build-binaries.sh" "${base}" "${arch}" "${bin}" "${node_binaries[@]:1}"
  for name in "${node_binaries[@]}"; do attributed+=(-binary "${bin}/${name}"); done
done

# The control-plane images, as upstream's release ships them beside the
# binaries: kube-apiserver, kube-controller-manager and kube-scheduler on a
# static base, kube-proxy on one with iptables, nft and conntrack. The tag is
# the version, with "+" made "_" as kubeadm makes it when it names the images
# it pulls; the arch suffix is upstream's, which image-builder strips.
for arch in "${arches[@]}"; do
  server="${work}/server/${arch}"
  "${CTXFIX_ROOT}/hack/build-binaries.sh" "${base}" "${arch}" "${server}" "${control_plane_binaries[@]}"
  for name in "${control_plane_binaries[@]}"; do attributed+=(-binary "${server}/${name}"); done
  ctxfix::control_plane_images "${version}" "${arch}" "${server}" "${work}/images" "${image_tool}" "${epoch}" \
    "${staging}/bin/linux/${arch}"
done

# The other images kubeadm pulls: etcd, CoreDNS and pause, at the versions
# the base's kubeadm names, so that a cluster needs nothing from
# registry.k8s.io (EKS Distro builds them for the same reason): upstream's
# code, unchanged, built by hack/build-third-party.sh. Each is named exactly
# as kubeadm names it, on the static base, with the entrypoint, command and
# user of upstream's image, and says in its labels what it is.
# image_labels NAME VERSION SOURCE prints the -label flags of such an image.
image_labels() {
  printf -- '-label\n%s\n' "org.opencontainers.image.title=$1" "org.opencontainers.image.version=$2" \
    "org.opencontainers.image.source=$3" "org.opencontainers.image.vendor=kubelet-ctxfix" \
    "org.opencontainers.image.description=upstream's $1 $2, unchanged, built by kubelet-ctxfix ${version} because kubeadm ${base} names it"
}
for arch in "${arches[@]}"; do
  bin="${staging}/bin/linux/${arch}"
  third_party="${work}/third-party/${arch}"
  "${CTXFIX_ROOT}/hack/build-third-party.sh" "${base}" "${arch}" "${third_party}"
  declare -A refs=() image_versions=()
  while read -r name ref image_version; do
    refs["${name}"]="${ref}" image_versions["${name}"]="${image_version}"
  done < "${third_party}/images"
  for name in etcd etcdctl etcdutl coredns; do attributed+=(-binary "${third_party}/${name}"); done
  # pause has no build information: the tree's code, and the C library.
  read -r libc_package libc_version < "${third_party}/pause.libc/package"
  attributed+=(-component "k8s.io/kubernetes ${version} pause ${tree}/LICENSE"
    -component "${libc_package} ${libc_version} pause ${third_party}/pause.libc/copyright")
  # etcd-io/etcd's Dockerfile: the three binaries in /usr/local/bin, etcd
  # the default command.
  mapfile -t labels < <(image_labels etcd "${image_versions[etcd]}" https://github.com/etcd-io/etcd)
  SOURCE_DATE_EPOCH="${epoch}" "${image_tool}" -ref "${refs[etcd]}" -arch "${arch}" \
    -base "${work}/images/${arch}/static" -cmd /usr/local/bin/etcd "${labels[@]}" \
    -file "/usr/local/bin/etcd=${third_party}/etcd" -file "/usr/local/bin/etcdctl=${third_party}/etcdctl" \
    -file "/usr/local/bin/etcdutl=${third_party}/etcdutl" -out "${bin}/etcd.tar" ||
    ctxfix::die "could not write the etcd image for ${arch}"
  # coredns/coredns' Dockerfile: /coredns, with cap_net_bind_service=+ep so
  # that it serves port 53 as nonroot.
  mapfile -t labels < <(image_labels coredns "${image_versions[coredns]}" https://github.com/coredns/coredns)
  SOURCE_DATE_EPOCH="${epoch}" "${image_tool}" -ref "${refs[coredns]}" -arch "${arch}" \
    -base "${work}/images/${arch}/static" -entrypoint /coredns -user nonroot:nonroot "${labels[@]}" \
    -file "/coredns=${third_party}/coredns" -net-bind-service /coredns -out "${bin}/coredns.tar" ||
    ctxfix::die "could not write the CoreDNS image for ${arch}"
  # The base's build/pause/Dockerfile: /pause, run as 65535.
  mapfile -t labels < <(image_labels pause "${image_versions[pause]}" "https://github.com/kubernetes/kubernetes/tree/${base}/build/pause")
  SOURCE_DATE_EPOCH="${epoch}" "${image_tool}" -ref "${refs[pause]}" -arch "${arch}" \
    -base "${work}/images/${arch}/static" -entrypoint /pause -user 65535:65535 "${labels[@]}" \
    -file "/pause=${third_party}/pause" -out "${bin}/pause.tar" ||
    ctxfix::die "could not write the pause image for ${arch}"
  for name in etcd coredns pause; do
    ctxfix::log "bin/linux/${arch}/${name}.tar: ${refs[${name}]} on the static base"
  done
done

# The images again, as one OCI image layout for registries: each name one
# index over the architectures, as registry.k8s.io serves them.
"${release_tool}" image-layout -out "${staging}/images" "${staging}"/bin/linux/*/*.tar ||
  ctxfix::die "could not write the OCI image layout images/"
ctxfix::log "images/: one OCI image layout of those images, an index per name over ${arches[*]}"

# What the kubelet and kubeadm packages depend on, as pkgs.k8s.io carries it
# beside them: crictl (cri-tools) and the CNI plugins (kubernetes-cni), at
# the versions build/upstream.sum pins, unchanged.
cri_tools_version="$(ctxfix::pinned_version sigs.k8s.io/cri-tools)"
cri_tools_dir="$(ctxfix::pinned_dir sigs.k8s.io/cri-tools)"
cni_version="$(ctxfix::pinned_version github.com/containernetworking/plugins)"
cni_dir="$(ctxfix::pinned_dir github.com/containernetworking/plugins)"
# Where each one's release stamps its version.
cri_tools_version_var=sigs.k8s.io/cri-tools/pkg/version.Version
cni_version_var=github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion
# The plugins of upstream's cni-plugins-linux release tarball.
cni_plugins=(plugins/ipam/dhcp plugins/ipam/host-local plugins/ipam/static plugins/main/bridge plugins/main/dummy
  plugins/main/host-device plugins/main/ipvlan plugins/main/loopback plugins/main/macvlan plugins/main/ptp
  plugins/main/tap plugins/main/vlan plugins/meta/bandwidth plugins/meta/firewall plugins/meta/portmap
  plugins/meta/sbr plugins/meta/tuning plugins/meta/vrf)
for arch in "${arches[@]}"; do
  ctxfix::log "crictl ${cri_tools_version} and CNI plugins ${cni_version} for linux/${arch}"
  # Stamped as cri-tools' hack/release.sh and the plugins' release workflow
  # stamp theirs: `crictl --version` says "crictl version v1.37.0", a plugin
  # "CNI host-device plugin v1.10.0" (image-builder's goss asks the plugins
  # it installs in http mode for the latter).
  ctxfix::build_pinned sigs.k8s.io/cri-tools "${cri_tools_version_var}" "${arch}" "${work}/cri-tools/${arch}" cmd/crictl
  ctxfix::build_pinned github.com/containernetworking/plugins "${cni_version_var}" "${arch}" "${work}/cni/${arch}" "${cni_plugins[@]}"
  attributed+=(-binary "${work}/cri-tools/${arch}/crictl")
  for plugin in "${cni_plugins[@]}"; do attributed+=(-binary "${work}/cni/${arch}/${plugin##*/}"); done
done

# kubeadm.spec makes this substitution when debbuild builds the deb.
sed 's;/etc/sysconfig/kubelet;/etc/default/kubelet;g' "${packaging}/kubeadm/10-kubeadm.conf" > "${work}/10-kubeadm.deb.conf"

ctxfix::log "ATTRIBUTION.txt"
"${release_tool}" attribution "${attributed[@]}" -title "kubelet-ctxfix ${version} (Kubernetes ${base} with the kubelet-ctxfix series)" \
  -tree "${tree}" -version "${version}" -modcache "$(go env GOMODCACHE)" -goroot "$(go env GOROOT)" \
  -out "${staging}/ATTRIBUTION.txt"

for arch in "${arches[@]}"; do
  bin="${staging}/bin/linux/${arch}"
  ctxfix::log "kubernetes-node-linux-${arch}.tar.gz"
  node_tarball_binaries=()
  for name in "${node_binaries[@]}"; do node_tarball_binaries+=(-binary "${bin}/${name}"); done
  "${release_tool}" node-tarball "${node_tarball_binaries[@]}" -licenses "${tree}/LICENSES" \
    -attribution "${staging}/ATTRIBUTION.txt" -src-tarball "${staging}/kubernetes-src.tar.gz" -version "${version}" \
    -source-date-epoch "${epoch}" -out "${staging}/kubernetes-node-linux-${arch}.tar.gz"

  # Upstream's three packages, at one version, so that they sort and
  # install together.
  for name in "${node_binaries[@]}"; do
    for format in deb rpm; do
      package="$("${release_tool}" package -format "${format}" -config "${CTXFIX_ROOT}/build/packaging/${name}.nfpm.yaml" \
        -set "KUBELET_BINARY=${bin}/kubelet" -set "KUBELET_UNIT=${packaging}/kubelet/kubelet.service" \
        -set "KUBELET_ENV=${packaging}/kubelet/kubelet.env" -set "KUBEADM_BINARY=${bin}/kubeadm" \
        -set "KUBEADM_DROPIN_RPM=${packaging}/kubeadm/10-kubeadm.conf" -set "KUBEADM_DROPIN_DEB=${work}/10-kubeadm.deb.conf" \
        -set "KUBECTL_BINARY=${bin}/kubectl" -set "LICENSE=${tree}/LICENSE" -set "KUBE_BASE=${base}" \
        -arch "${arch}" -base "${base}" -revision "${revision}" -source-date-epoch "${epoch}" -out-dir "${staging}/${format}")"
      ctxfix::log "${package#"${staging}"/}"
    done
  done
  for format in deb rpm; do
    package="$("${release_tool}" package -format "${format}" -config "${CTXFIX_ROOT}/build/packaging/cri-tools.nfpm.yaml" \
      -set "CRICTL_BINARY=${work}/cri-tools/${arch}/crictl" -set "CRI_TOOLS_LICENSE=${cri_tools_dir}/LICENSE" \
      -set "CRI_TOOLS_VERSION=${cri_tools_version}" -set "KUBE_BASE=${base}" \
      -arch "${arch}" -base "${base}" -component-version "${cri_tools_version}" -revision "${revision}" -source-date-epoch "${epoch}" -out-dir "${staging}/${format}")"
    ctxfix::log "${package#"${staging}"/}"
    package="$("${release_tool}" package -format "${format}" -config "${CTXFIX_ROOT}/build/packaging/kubernetes-cni.nfpm.yaml" \
      -set "CNI_PLUGINS_DIR=${work}/cni/${arch}" -set "CNI_PLUGINS_LICENSE=${cni_dir}/LICENSE" \
      -set "CNI_PLUGINS_VERSION=${cni_version}" -set "KUBE_BASE=${base}" \
      -arch "${arch}" -base "${base}" -component-version "${cni_version}" -revision "${revision}" -source-date-epoch "${epoch}" -out-dir "${staging}/${format}")"
    ctxfix::log "${package#"${staging}"/}"
  done

  ctxfix::log "kubelet-linux-${arch}.cdx.json"
  "${sbom_tool}" bin -json -std -noserial -notimestamp -version "${version}" \
    -output "${work}/kubelet-linux-${arch}.cdx.json" "${bin}/kubelet" ||
    ctxfix::die "cyclonedx-gomod could not read the kubelet for ${arch}"
  "${release_tool}" sbom-pedigree -in "${work}/kubelet-linux-${arch}.cdx.json" -base "${base}" \
    -series "${series_dir}" -out "${staging}/kubelet-linux-${arch}.cdx.json"
  ctxfix::log "kubelet-linux-${arch}.spdx.json"
  "${release_tool}" spdx -kubelet "${bin}/kubelet" -version "${version}" -base "${base}" -series "${series_dir}" \
    -series-name "${series_dir#"${CTXFIX_ROOT}"/}" -namespace "${release_url%/}/${version}/kubelet-linux-${arch}.spdx.json" \
    -source-date-epoch "${epoch}" -out "${staging}/kubelet-linux-${arch}.spdx.json"
done

# ctxleak as a kubectl plugin, for the machines operators run kubectl on,
# and krew's manifest of its archives.
plugin_archives=()
for arch in "${arches[@]}"; do
  for goos in linux darwin; do
    (cd "${CTXFIX_ROOT}" && GOOS="${goos}" GOARCH="${arch}" go build -trimpath -o "${work}/plugin/${goos}-${arch}/ctxleak" ./cmd/ctxleak) ||
      ctxfix::die "could not build ctxleak for ${goos}/${arch}"
    archive="${staging}/kubectl-ctxleak_${goos}_${arch}.tar.gz"
    "${release_tool}" plugin-archive -binary "${work}/plugin/${goos}-${arch}/ctxleak" -license "${CTXFIX_ROOT}/LICENSE" \
      -os "${goos}" -source-date-epoch "${epoch}" -out "${archive}"
    plugin_archives+=(-archive "${goos}/${arch}=${archive}")
    ctxfix::log "${archive#"${staging}"/}"
  done
done
mkdir -p "${staging}/krew"
"${release_tool}" krew-manifest -version "${version}" -homepage "${homepage}" -base-url "${release_url%/}/${version}" \
  "${plugin_archives[@]}" -out "${staging}/krew/ctxleak.yaml"
ctxfix::log "krew/ctxleak.yaml: archives at ${release_url%/}/${version}/"

ctxfix::log "deb/: apt repository, signed by ${signing_key}"
ctxfix::apt_repo "${staging}/deb" "${gnupg_home}" "${signing_key}" "${epoch}"
ctxfix::log "rpm/: yum repository, rpms and repodata signed by ${signing_key}"
ctxfix::yum_repo "${staging}/rpm" "${gnupg_home}" "${signing_key}" "${epoch}"

# .sha256 and .sha512 beside every tarball and image tar, as EKS Distro ships
# them, then SHA256SUMS and SHA512SUMS over every other file.
(cd "${staging}" && find . -type f \( -name '*.tar.gz' -o -name '*.tar' \) -printf '%P\n' | while read -r tarball; do
  sha256sum < "${tarball}" | cut -d' ' -f1 > "${tarball}.sha256"
  sha512sum < "${tarball}" | cut -d' ' -f1 > "${tarball}.sha512"
done)
# The provenance of what the patched tree built, for each architecture: an
# in-toto statement with an SLSA v1 predicate naming the base's module, the
# staging modules, every patch and the toolchain, signed as a DSSE envelope.
for arch in "${arches[@]}"; do
  for name in "${node_binaries[@]}" "${control_plane_binaries[@]/%/.tar}"; do
    file="bin/linux/${arch}/${name}"
    "${release_tool}" provenance -subject "${staging}/${file}" -name "${file}" -root "${CTXFIX_ROOT}" -series "${series_dir}" \
      -base "${base}" -go "$(go env GOVERSION)" -arch "${arch}" -source-date-epoch "${epoch}" -revision "${revision}" \
      -builder-id "${homepage}/hack/release.sh" -out "${work}/provenance.json"
    ctxfix::cosign_attest "${cosign}" "${cosign_key}" "${staging}" "${file}" "${work}/provenance.json"
  done
done
ctxfix::log "provenance: ${#node_binaries[@]} binaries and ${#control_plane_binaries[@]} images for ${arches[*]}, attested with the same key"
# A cosign bundle beside every file, then the sums over all of it, then the
# sums' own bundles.
[[ "${cosign_key}" == keyless ]] || cp "${cosign_home}/cosign.pub" "${staging}/cosign.pub"
mapfile -t signed < <(ctxfix::signed_files "${staging}")
ctxfix::log "cosign bundles: ${#signed[@]} files, signed $([[ "${cosign_key}" == keyless ]] && echo keylessly || echo "with the key of cosign.pub")"
ctxfix::cosign_sign "${cosign}" "${cosign_key}" "${staging}" "${signed[@]}"
ctxfix::write_sums "${staging}"
for sums in sha256 sha512; do
  (cd "${staging}" && "${sums}sum" --check --strict --quiet "${sums^^}SUMS") ||
    ctxfix::die "${sums^^}SUMS of the assembled release does not verify"
done
ctxfix::cosign_sign "${cosign}" "${cosign_key}" "${staging}" SHA256SUMS SHA512SUMS

# Publish: swap the complete folder in.
chmod 755 "${staging}"
if [[ -e "${release_dir}" ]]; then
  mv "${release_dir}" "${work}/previous"
fi
mv "${staging}" "${release_dir}"
ctxfix::log "release ${version}: _output/release/${version}/ ($(du -sh "${release_dir}" | cut -f1))"
(cd "${release_dir}" && find . -type f -printf '%P\n' | LC_ALL=C sort | sed 's/^/    /' >&2)
ctxfix::warn_ephemeral_key
ctxfix::warn_ephemeral_cosign_key
