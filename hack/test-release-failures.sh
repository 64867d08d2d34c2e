#!/usr/bin/env bash
# A release that cannot be made must say why and leave the release folder as
# it was. Checks three ways to fail: an unknown base, a missing tool, and a
# kubelet whose sha256 is not the one build/CHECKSUMS records (simulated with
# a copy of build/CHECKSUMS that records another sum).
#
# Signing keys that cannot sign fail the release, naming the problem.
#
# And a damaged release must not verify: hack/verify-release.sh, run on a
# copy of the release with one artifact removed or altered, must fail naming
# that artifact; a forged repository index with its sums written anew must
# fail its signature check, and so must an image whose binary is not the one
# build/CHECKSUMS records, or whose kube-proxy base lacks a library, and so
# must a crictl built without its version stamp, and an OCI image layout
# (images/) without an image or with a layer altered.
# image-builder's contract (hack/test-image-builder.sh) must fail too, naming
# its step, with kubeadm removed or altered, an image tar removed, a .sha256
# altered, InRelease forged, a deb gone, or an image left out of images/.
#
# The cosign bundles: a file altered by one byte, a bundle of another file,
# a bundle signed by another key, a file without its bundle and a cosign.pub
# that is not the trusted key must each fail verify-release, naming the
# file; a cosign key that cannot sign fails the release. The forgeries that
# write the sums anew sign them anew too, with the release's own key, as its
# holder could: then only the release's other checks can tell. The
# provenance: a bundle of another file, a binary without one, and the
# release checked against a repository with a patch changed by one byte or
# another base's module sum must fail, naming the bundle or the dependency.
#
# Usage: hack/test-release-failures.sh   (expects a release of the default
#        base, from hack/release.sh with CTXFIX_COSIGN_KEY and
#        COSIGN_PASSWORD, which it needs too, to compare against)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "${CTXFIX_ROOT}/hack/lib/cosign.sh"

base="$(ctxfix::version_default KUBE_VERSION)"
version="$(ctxfix::distribution_version "${base}")"
release_dir="${CTXFIX_OUTPUT}/release/${version}"
[[ -f "${release_dir}/SHA256SUMS" ]] || ctxfix::die "no release of ${base} to compare against: run hack/release.sh first"
[[ -n "${CTXFIX_COSIGN_KEY:-}" && -n "${COSIGN_PASSWORD+set}" ]] ||
  ctxfix::die "CTXFIX_COSIGN_KEY and COSIGN_PASSWORD must name the cosign key that signed ${release_dir#"${CTXFIX_ROOT}"/}: the forgeries are signed anew with it"
cosign="$(ctxfix::cosign_bin)"
release_key="${CTXFIX_COSIGN_KEY}"
release_tool="$(ctxfix::go_tool ./cmd/ctxfix-release)"
mkdir -p "${CTXFIX_OUTPUT}/tmp"
scratch="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/release-failures.XXXXXX")"
trap 'rm -rf "${scratch}"' EXIT
# snapshot prints every path under _output/release with its type, mode and
# size, and every file's sha256: "as it was" is all of it, every release
# folder, not one file of one.
snapshot() {
  (cd "${CTXFIX_OUTPUT}/release" && find . -printf '%p %y %m %s\n' | LC_ALL=C sort &&
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
}
snapshot > "${scratch}/before"
# as_it_was NAME fails NAME unless _output/release is as it was at the start.
as_it_was() {
  snapshot > "${scratch}/after"
  if ! diff "${scratch}/before" "${scratch}/after" > "${scratch}/diff"; then
    echo "FAIL ${1}: _output/release changed:" >&2
    head -5 "${scratch}/diff" >&2
    failures=$((failures + 1))
  fi
}

failures=0
# expect_failure NAME MESSAGE COMMAND... runs COMMAND, which must fail with
# MESSAGE in its output.
expect_failure() {
  local name="$1" message="$2"
  shift 2
  if "$@" > "${scratch}/out" 2>&1; then
    echo "FAIL ${name}: succeeded" >&2
    failures=$((failures + 1))
  elif ! grep -qF -- "${message}" "${scratch}/out"; then
    echo "FAIL ${name}: failed without saying '${message}':" >&2
    tail -5 "${scratch}/out" >&2
    failures=$((failures + 1))
  else
    echo "ok   ${name}: $(grep -F -- "${message}" "${scratch}/out" | head -1)" >&2
  fi
}

expect_failure "unknown base" "unknown base 'v1.36.9'" env KUBE_VERSION=v1.36.9 "${CTXFIX_ROOT}/hack/release.sh"
as_it_was "unknown base"

# A PATH with every tool the release needs except sha512sum.
mkdir -p "${scratch}/path"
for tool in bash env git go gofmt sha256sum awk sed cut sort find xargs du mktemp mv rm cp cat dirname basename mkdir chmod date tr head tail grep; do
  ln -s "$(command -v "${tool}")" "${scratch}/path/${tool}"
done
expect_failure "missing tool" "missing required tool(s): sha512sum" env PATH="${scratch}/path" "${CTXFIX_ROOT}/hack/release.sh"

# checksums_other PATTERN writes scratch/CHECKSUMS, a copy of build/CHECKSUMS
# that records another sum for every name matching PATTERN.
checksums_other() {
  awk -v pattern="$1" '!/^#/ && $2 ~ pattern { $1 = "0000000000000000000000000000000000000000000000000000000000000000" } { print }' \
    "${CTXFIX_CHECKSUMS}" > "${scratch}/CHECKSUMS"
}
checksums_other '/amd64/'
expect_failure "checksum mismatch" "checksum mismatch for ${version}/bin/linux/amd64/kubelet" \
  env CTXFIX_CHECKSUMS="${scratch}/CHECKSUMS" ARCHES=amd64 "${CTXFIX_ROOT}/hack/release.sh"

# Signing keys that cannot sign the release: not a key, a public key only, a
# key with a passphrase (which would stop the release at a prompt).
keys="${scratch}/keys"
mkdir -m 700 -p "${keys}/home"
echo "not a key" > "${keys}/garbage.asc"
gpg --homedir "${keys}/home" --batch --quiet --pinentry-mode loopback --passphrase secret \
  --quick-gen-key "passphrase test <test@kubelet-ctxfix.invalid>" rsa2048 sign 1d 2>/dev/null
gpg --homedir "${keys}/home" --batch --armor --export > "${keys}/public.asc"
gpg --homedir "${keys}/home" --batch --pinentry-mode loopback --passphrase secret --armor --export-secret-keys > "${keys}/protected.asc"
gpgconf --homedir "${keys}/home" --kill all
expect_failure "signing key: not a key" "CTXFIX_SIGNING_KEY '${keys}/garbage.asc' holds no OpenPGP key that gpg can import" \
  env CTXFIX_SIGNING_KEY="${keys}/garbage.asc" "${CTXFIX_ROOT}/hack/release.sh"
expect_failure "signing key: public only" "must hold exactly one secret key that can sign; it holds 0" \
  env CTXFIX_SIGNING_KEY="${keys}/public.asc" "${CTXFIX_ROOT}/hack/release.sh"
expect_failure "signing key: passphrase" "cannot sign without a passphrase" \
  env CTXFIX_SIGNING_KEY="${keys}/protected.asc" "${CTXFIX_ROOT}/hack/release.sh"
expect_failure "signing key: no file" "CTXFIX_SIGNING_KEY '${keys}/none.asc' is not a file" \
  env CTXFIX_SIGNING_KEY="${keys}/none.asc" "${CTXFIX_ROOT}/hack/release.sh"

# cosign keys that cannot sign the release: no file, not a key, the wrong
# password, no password given (cosign would ask on a terminal); and a key
# beside keyless signing.
cosign_keys="${scratch}/cosign-keys"
mkdir -p "${cosign_keys}"
(cd "${cosign_keys}" && COSIGN_PASSWORD=other "${cosign}" generate-key-pair --output-key-prefix other < /dev/null > keygen.log 2>&1) ||
  { cat "${cosign_keys}/keygen.log" >&2; ctxfix::die "cosign could not make a second key"; }
echo "not a key" > "${cosign_keys}/garbage.key"
expect_failure "cosign key: no file" "CTXFIX_COSIGN_KEY '${cosign_keys}/none.key' is not a file" \
  env CTXFIX_COSIGN_KEY="${cosign_keys}/none.key" "${CTXFIX_ROOT}/hack/release.sh"
expect_failure "cosign key: not a key" "CTXFIX_COSIGN_KEY '${cosign_keys}/garbage.key' is not a cosign private key that COSIGN_PASSWORD opens: error during command execution: invalid pem block" \
  env CTXFIX_COSIGN_KEY="${cosign_keys}/garbage.key" COSIGN_PASSWORD=other "${CTXFIX_ROOT}/hack/release.sh"
expect_failure "cosign key: wrong password" "CTXFIX_COSIGN_KEY '${cosign_keys}/other.key' is not a cosign private key that COSIGN_PASSWORD opens: error during command execution: decrypt: encrypted: decryption failed" \
  env CTXFIX_COSIGN_KEY="${cosign_keys}/other.key" COSIGN_PASSWORD=wrong "${CTXFIX_ROOT}/hack/release.sh"
expect_failure "cosign key: COSIGN_PASSWORD unset" "CTXFIX_COSIGN_KEY '${cosign_keys}/other.key' is set but COSIGN_PASSWORD is not" \
  env -u COSIGN_PASSWORD CTXFIX_COSIGN_KEY="${cosign_keys}/other.key" "${CTXFIX_ROOT}/hack/release.sh"
expect_failure "cosign key: a key and keyless" "CTXFIX_COSIGN_KEY and CTXFIX_COSIGN_KEYLESS=true are both set" \
  env CTXFIX_COSIGN_KEY="${cosign_keys}/other.key" CTXFIX_COSIGN_KEYLESS=true "${CTXFIX_ROOT}/hack/release.sh"
expect_failure "cosign: keyless without an identity token" "CTXFIX_COSIGN_KEYLESS=true needs an OIDC identity token" \
  env -u CTXFIX_COSIGN_KEY -u ACTIONS_ID_TOKEN_REQUEST_URL -u SIGSTORE_ID_TOKEN CTXFIX_COSIGN_KEYLESS=true "${CTXFIX_ROOT}/hack/release.sh"
as_it_was "cosign keys"

# The key the damaged copies are checked against, as a user pins it.
cp "${release_dir}/cosign.pub" "${scratch}/trusted.pub"
export CTXFIX_COSIGN_PUBLIC_KEY="${scratch}/trusted.pub"

# copy_changed CHANGE...: a copy of the release, changed by running CHANGE
# inside it, in scratch/damaged/<version>.
copy_changed() {
  rm -rf "${scratch}/damaged"
  mkdir -p "${scratch}/damaged"
  cp -a "${release_dir}" "${scratch}/damaged/${version}"
  (cd "${scratch}/damaged/${version}" && "$@")
}
# damaged NAME MESSAGE CHANGE...: the changed copy must fail verify-release
# with MESSAGE.
damaged() {
  local name="$1" message="$2"
  shift 2
  copy_changed "$@"
  expect_failure "verify-release, ${name}" "${message}" "${CTXFIX_ROOT}/hack/verify-release.sh" "${scratch}/damaged/${version}"
}
# contract_fails NAME MESSAGE CHANGE...: the changed copy must fail
# image-builder's contract (hack/test-image-builder.sh), naming its step
# with MESSAGE.
contract_fails() {
  local name="$1" message="$2"
  shift 2
  copy_changed "$@"
  expect_failure "image-builder contract, ${name}" "${message}" "${CTXFIX_ROOT}/hack/test-image-builder.sh" "${scratch}/damaged/${version}"
}
# sign_anew [FILE...]: FILE... (relative to the damaged copy) signed anew,
# then SHA256SUMS and SHA512SUMS written and signed anew, with the release's
# cosign key.
sign_anew() {
  ctxfix::cosign_sign "${cosign}" "${release_key}" . "$@" && ctxfix::write_sums . &&
    ctxfix::cosign_sign "${cosign}" "${release_key}" . SHA256SUMS SHA512SUMS
}
# The forgeries write SHA256SUMS and SHA512SUMS anew, as whoever forged a
# file would: then only the repositories' signatures can tell.
forge_inrelease() { sed -i 's/^Label: kubelet-ctxfix$/Label: forged/' deb/InRelease && sign_anew; }
forge_repomd() { sed -i 's/<revision>/<revision>1/' rpm/repodata/repomd.xml && sign_anew; }
# rewrite_image NAME EDIT...: unpacks bin/linux/<arch>/NAME.tar, runs EDIT in
# the unpacked image, packs it again and writes every checksum anew, as whoever
# altered it would: then only the image's own checks can tell.
rewrite_image() {
  local image="bin/linux/${arch}/$1.tar" unpacked
  shift
  unpacked="$(mktemp -d "${scratch}/image.XXXXXX")"
  tar -xf "${image}" -C "${unpacked}" &&
    (cd "${unpacked}" && "$@") &&
    (cd "${unpacked}" && tar -cf - -- *) > "${image}" && rm -rf "${unpacked}" &&
    sha256sum < "${image}" | cut -d' ' -f1 > "${image}.sha256" && sha512sum < "${image}" | cut -d' ' -f1 > "${image}.sha512" &&
    sign_anew "${image}"
}
# An image under another name.
retag() { sed -i 's;registry.k8s.io/kube-scheduler-;registry.example.com/kube-scheduler-;' manifest.json; }
# A base layer without libnftnl, which nft and the nft iptables load.
drop_libnftnl() {
  local layer
  layer="$(jq -r '.[0].Layers[0]' manifest.json)" &&
    mkdir base && tar -xf "${layer}" -C base &&
    find base -name 'libnftnl.so*' -delete &&
    (cd base && tar -cf - -- *) > "${layer}" && rm -rf base
}
arch="$(go env GOHOSTARCH)"
damaged "InRelease forged" "deb/InRelease does not verify against deb/Release.key" forge_inrelease
damaged "repomd.xml forged" "rpm/repodata/repomd.xml.asc does not verify against repomd.xml.key" forge_repomd
damaged "kubeadm removed" "missing bin/linux/${arch}/kubeadm" rm "bin/linux/${arch}/kubeadm"
# flip_byte FILE OFFSET: FILE with the byte at OFFSET changed, nothing else.
flip_byte() {
  local byte
  byte="$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')" &&
    printf "\\$(printf '%03o' $((byte ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# The cosign bundles: a file altered by one byte; kubeadm's bundle beside
# the kubelet; the kubelet signed by another key; the kubelet without a
# bundle; cosign.pub replaced by another key's.
damaged "a file altered by one byte" "NOT VERIFIED: ./bin/linux/${arch}/kubectl: its cosign bundle does not verify" \
  flip_byte "bin/linux/${arch}/kubectl" 4096
damaged "a bundle of another file" "NOT VERIFIED: ./bin/linux/${arch}/kubelet: its cosign bundle does not verify" \
  cp "bin/linux/${arch}/kubeadm.sigstore.json" "bin/linux/${arch}/kubelet.sigstore.json"
sign_with_other_key() {
  COSIGN_PASSWORD=other ctxfix::cosign_sign "${cosign}" "${cosign_keys}/other.key" . "bin/linux/${arch}/kubelet"
}
damaged "a bundle signed by another key" "NOT VERIFIED: ./bin/linux/${arch}/kubelet: its cosign bundle does not verify" \
  sign_with_other_key
damaged "a file without its bundle" "bin/linux/${arch}/kubelet has no cosign bundle bin/linux/${arch}/kubelet.sigstore.json" \
  rm "bin/linux/${arch}/kubelet.sigstore.json"
damaged "cosign.pub of another key" "cosign.pub is not the key CTXFIX_COSIGN_PUBLIC_KEY (${scratch}/trusted.pub) trusts" \
  cp "${cosign_keys}/other.pub" cosign.pub
# The SPDX SBOM without one of the modules the kubelet links, signed anew.
drop_spdx_module() {
  local spdx="kubelet-linux-${arch}.spdx.json"
  jq '.relationships |= map(select(.relationshipType != "STATIC_LINK" or .relatedSpdxElement != "SPDXRef-Package-module-1"))' \
    "${spdx}" > spdx.new && mv spdx.new "${spdx}" && sign_anew "${spdx}"
}
damaged "the SPDX SBOM without a module the kubelet links" "SPDX SBOM for ${arch} does not match its kubelet" drop_spdx_module
# The provenance: kubeadm's beside the kubelet, the kubelet's gone, each with
# the sums signed anew.
provenance_suffix=.provenance.sigstore.json
swap_provenance() { cp "bin/linux/${arch}/kubeadm${provenance_suffix}" "bin/linux/${arch}/kubelet${provenance_suffix}" && sign_anew; }
damaged "a provenance bundle of another file" "NOT VERIFIED: provenance of ./bin/linux/${arch}/kubelet: its bundle does not verify" \
  swap_provenance
drop_provenance() { rm "bin/linux/${arch}/kubelet${provenance_suffix}" && sign_anew; }
damaged "the kubelet without provenance" "bin/linux/${arch}/kubelet has no provenance" drop_provenance
# The release's provenance against a repository whose inputs differ: a patch
# changed by one byte, another base's module sum in build/upstream.sum.
other_root="${scratch}/other-root"
copy_root() {
  rm -rf "${other_root}" && mkdir -p "${other_root}/build" &&
    cp "${CTXFIX_ROOT}/build/upstream.sum" "${CTXFIX_ROOT}/build/bases.tsv" "${other_root}/build/" &&
    cp -r "${CTXFIX_ROOT}/patches" "${other_root}/"
}
series_rel="$(ctxfix::series_dir "${base}")"
series_rel="${series_rel#"${CTXFIX_ROOT}"/}"
last_patch="$(find "${CTXFIX_ROOT}/${series_rel}" -name '*.patch' | LC_ALL=C sort | tail -n 1)"
last_patch="${series_rel}/${last_patch##*/}"
copy_root
flip_byte "${other_root}/${last_patch}" 200
expect_failure "verify-provenance, a patch changed by one byte" "resolved dependency ${last_patch} has digest" \
  "${release_tool}" verify-provenance -release "${release_dir}" -root "${other_root}"
previous_base="$(awk -F. '{ print $1 "." $2 "." $3 - 1 }' <<<"${base}")"
copy_root
awk -v base="${base}" -v previous="${previous_base}" '
  $1 == "k8s.io/kubernetes" && $2 == previous { sum = $3 }
  { lines[NR] = $0; paths[NR] = $1; versions[NR] = $2 }
  END { for (i = 1; i <= NR; i++) { if (paths[i] == "k8s.io/kubernetes" && versions[i] == base) { print paths[i], versions[i], sum } else { print lines[i] } } }' \
  "${CTXFIX_ROOT}/build/upstream.sum" > "${other_root}/build/upstream.sum"
grep -q "^k8s.io/kubernetes ${base} h1:" "${other_root}/build/upstream.sum" ||
  ctxfix::die "build/upstream.sum pins no k8s.io/kubernetes ${previous_base} to swap in"
expect_failure "verify-provenance, another base's module sum" "resolved dependency k8s.io/kubernetes (pkg:golang/k8s.io/kubernetes@${base}) has digest" \
  "${release_tool}" verify-provenance -release "${release_dir}" -root "${other_root}"
rm -rf "${other_root}"
# kubectl altered beside its .sha256, and signed anew.
alter_kubectl() { echo >> "bin/linux/${arch}/kubectl" && sign_anew "bin/linux/${arch}/kubectl"; }
damaged "kubectl altered, signed anew" "bin/linux/${arch}/kubectl.sha256 does not match" alter_kubectl
damaged "a .sha512 altered" "kubernetes-node-linux-${arch}.tar.gz.sha512 does not match" \
  sh -c "sha512sum < SHA256SUMS | cut -d' ' -f1 > kubernetes-node-linux-${arch}.tar.gz.sha512"
# drop_attribution MODULE removes MODULE's entry from ATTRIBUTION.txt and
# writes the sums anew, as whoever trimmed it would.
drop_attribution() { sed -i "/^\*\* ${1//\//\\/}; version /d" ATTRIBUTION.txt && sign_anew ATTRIBUTION.txt; }
kubelet_module="$(go version -m "${release_dir}/bin/linux/${arch}/kubelet" | awk '$1 == "dep" { print $2; exit }')"
damaged "ATTRIBUTION.txt without a module the kubelet links" "ATTRIBUTION.txt does not name ${kubelet_module} " \
  drop_attribution "${kubelet_module}"
damaged "ATTRIBUTION.txt without crictl's own module" "ATTRIBUTION.txt does not name sigs.k8s.io/cri-tools v" \
  drop_attribution sigs.k8s.io/cri-tools
damaged "ATTRIBUTION.txt without etcd's server module" "ATTRIBUTION.txt does not name go.etcd.io/etcd/server/v3 v" \
  drop_attribution go.etcd.io/etcd/server/v3
damaged "ATTRIBUTION.txt without the C library in pause" "ATTRIBUTION.txt does not name the C library linked into pause" \
  drop_attribution libc6-dev
# The kubeadm deb gone, or one more deb that deb/Packages does not list,
# with the sums written anew.
drop_kubeadm_deb() { rm deb/kubeadm_*_"${arch}".deb && sign_anew; }
unlisted_deb() { cp deb/kubeadm_*_"${arch}".deb "deb/kubeadm_0.0.0_${arch}.deb" && sign_anew; }
damaged "kubeadm deb removed" "missing kubeadm_" drop_kubeadm_deb
damaged "a deb that deb/Packages does not list" "deb/Packages does not list kubeadm_0.0.0_${arch}.deb" unlisted_deb
# A cri-tools deb whose crictl is built without its version stamp, packed
# again with the sums written anew: SHA256SUMS and ATTRIBUTION.txt still
# hold, and the version check, which comes before the repository's checks
# (deb/Packages records the old deb's sum), must be the one that fails.
unstamped="${scratch}/unstamped"
ctxfix::build_pinned sigs.k8s.io/cri-tools "" "${arch}" "${unstamped}" cmd/crictl
unstamped_crictl() {
  local debs unpacked
  debs=(deb/cri-tools_*_"${arch}".deb)
  [[ -f "${debs[0]}" ]] || ctxfix::die "the release has no cri-tools deb for ${arch}"
  unpacked="$(mktemp -d "${scratch}/deb.XXXXXX")"
  dpkg-deb -R "${debs[0]}" "${unpacked}" && cp "${unstamped}/crictl" "${unpacked}/usr/bin/crictl" &&
    dpkg-deb --root-owner-group -b "${unpacked}" "${debs[0]}" > /dev/null && rm -rf "${unpacked}" &&
    sign_anew
}
damaged "crictl that does not know its version" "usr/bin/crictl --version" unstamped_crictl
# An extra file where no bundle is asked for: only SHA256SUMS can tell.
damaged "an extra file" "SHA256SUMS does not list exactly the files of the release" touch deb/extra
damaged "an image tar removed" "missing bin/linux/${arch}/kube-proxy.tar" rm "bin/linux/${arch}/kube-proxy.tar"
damaged "an image retagged" "bin/linux/${arch}/kube-scheduler.tar is tagged" rewrite_image kube-scheduler retag
damaged "kube-proxy's base without a library" "bin/linux/${arch}/kube-proxy.tar: /usr/sbin/xtables-nft-multi needs libnftnl.so.11, which is not in the image" \
  rewrite_image kube-proxy drop_libnftnl
# The images kubeadm pulls besides the control plane's: one missing, one
# under another tag, CoreDNS without its capability (its layer packed again
# by a tar that keeps no xattrs), pause run as root.
retag_pause() { sed -i 's;registry.k8s.io/pause:;registry.k8s.io/pause:0.;' manifest.json; }
drop_capability() {
  local layer
  layer="$(jq -r '.[0].Layers[-1]' manifest.json)" &&
    mkdir top && tar -xf "${layer}" -C top && (cd top && tar -cf - -- *) > "${layer}" && rm -rf top
}
run_as_root() {
  local config
  config="$(jq -r '.[0].Config' manifest.json)" &&
    jq -c '.config.User = ""' "${config}" > config.new && mv config.new "${config}"
}
pause_ref="$(tar -xOf "${release_dir}/bin/linux/${arch}/pause.tar" manifest.json | jq -r '.[0].RepoTags[0]')"
# etcd's image gone with its bundle and sums, signed anew: kubeadm's list
# of the images it pulls must tell.
drop_etcd() { rm "bin/linux/${arch}"/etcd.tar* && sign_anew; }
damaged "the etcd image removed" "pulls registry.k8s.io/etcd:" drop_etcd
damaged "pause retagged" "pulls ${pause_ref}, and no image of bin/linux/${arch}/ is tagged so" rewrite_image pause retag_pause
# Reading security.capability back takes root; verify-release says it skips.
if [[ "$(id -u)" == 0 ]]; then
  damaged "CoreDNS without cap_net_bind_service" "bin/linux/${arch}/coredns.tar: /coredns does not have cap_net_bind_service=+ep" \
    rewrite_image coredns drop_capability
else
  ctxfix::log "SKIPPED: CoreDNS without cap_net_bind_service: reading the capability back needs root"
fi
damaged "pause run as root" "bin/linux/${arch}/pause.tar: entrypoint, command and user are" rewrite_image pause run_as_root
# images/, the OCI image layout: an image left out of its index.json, and a
# layer altered in place, each with the sums written anew.
drop_from_layout() {
  jq --arg name "${pause_ref}" '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] != $name))' images/index.json > index.new &&
    mv index.new images/index.json && sign_anew
}
alter_layout_layer() {
  local largest
  largest="$(find images/blobs/sha256 -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)" &&
    flip_byte "${largest}" 1000 &&
    [[ "$(sha256sum < "${largest}" | cut -d' ' -f1)" != "${largest##*/}" ]] && sign_anew
}
damaged "an image left out of images/" "/images has no ${pause_ref}, which" drop_from_layout
damaged "a layer of images/ altered" "does not validate" alter_layout_layer
checksums_other "/${arch}/etcdctl\$"
expect_failure "verify-release, the etcd image's etcdctl not the recorded one" \
  "checksum mismatch for ${version}/bin/linux/${arch}/etcdctl" \
  env CTXFIX_CHECKSUMS="${scratch}/CHECKSUMS" "${CTXFIX_ROOT}/hack/verify-release.sh" "${release_dir}"

# An image whose binary is not the one build/CHECKSUMS records (simulated, as
# above, with a copy of build/CHECKSUMS that records another sum).
checksums_other "/${arch}/kube-proxy\$"
expect_failure "verify-release, the kube-proxy image's binary not the recorded one" \
  "checksum mismatch for ${version}/bin/linux/${arch}/kube-proxy" \
  env CTXFIX_CHECKSUMS="${scratch}/CHECKSUMS" "${CTXFIX_ROOT}/hack/verify-release.sh" "${release_dir}"

contract_fails "kubeadm removed" "http mode, download kubeadm: http://" rm "bin/linux/${arch}/kubeadm"
contract_fails "an image tar removed" "http mode, download kube-proxy.tar: http://" rm "bin/linux/${arch}/kube-proxy.tar"
contract_fails "an additional image tar removed" "http mode, download pause.tar: http://" rm "bin/linux/${arch}/pause.tar"
contract_fails "kubeadm altered" "http mode, download kubeadm: kubeadm has sha256" sh -c "echo >> bin/linux/${arch}/kubeadm"
contract_fails "a .sha256 altered" "http mode, download kubectl: kubectl has sha256" \
  sh -c "sha256sum < SHA256SUMS | cut -d' ' -f1 > bin/linux/${arch}/kubectl.sha256"
# The same release under another version's folder: goss's version checks
# must see that the binaries report another version.
copy_changed true
mv "${scratch}/damaged/${version}" "${scratch}/damaged/${version}9"
expect_failure "image-builder contract, another version's folder" "http mode, goss versions: not ok" \
  "${CTXFIX_ROOT}/hack/test-image-builder.sh" "${scratch}/damaged/${version}9"
contract_fails "InRelease forged" "pkg mode, apt-get update: apt-get update failed" forge_inrelease
contract_fails "a deb gone" "pkg mode, apt-get install" sh -c "rm deb/kubelet_*_${arch}.deb"
contract_fails "an image left out of images/" \
  "pkg mode, kubeadm config images pull --config /etc/kubeadm.yml: failed to pull image \"192.0.2.10:5000/ctxfix/pause:" drop_from_layout
rm -rf "${scratch}/damaged"

as_it_was "the whole run"
leftovers="$(find "${CTXFIX_OUTPUT}/tmp" -maxdepth 1 -name 'release-*' ! -path "${scratch}" | head -5)"
[[ -z "${leftovers}" ]] || { echo "FAIL: temporary release folders left: ${leftovers}" >&2; failures=$((failures + 1)); }
((failures == 0)) || ctxfix::die "${failures} release failure check(s) failed"
ctxfix::log "failed releases say why and leave ${release_dir#"${CTXFIX_ROOT}"/} as it was"
