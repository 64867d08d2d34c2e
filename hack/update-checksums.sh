#!/usr/bin/env bash
# Records in build/CHECKSUMS the sha256 of the binaries a release builds
# (kubelet, kubeadm, kubectl, the control-plane binaries its images carry, and
# the Go binaries of its etcd and CoreDNS images) of each BASE for amd64 and
# arm64, and the Go that built them. Every later build of those binaries is
# checked against it (hack/build-kubelet.sh, hack/build-binaries.sh,
# hack/build-third-party.sh), and a build of a binary it does not list fails
# unless CTXFIX_UNPINNED=1 says that the build is knowingly unpinned.
#
# The lines of bases not named are kept, so that recording one base does not
# unpin another; lines of another revision of a named base are replaced. Run
# it after a change to the series, VERSION or the Go version for every base
# build/CHECKSUMS lists (the default), and commit the result with that change.
# One base takes two cold builds of seven binaries: about 20 minutes here.
#
# Usage: hack/update-checksums.sh [BASE...]   (default: the default base and
#        every base build/CHECKSUMS lists; BASES does the same as arguments)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ctxfix::require_tools git go sha256sum
bases=("$@")
((${#bases[@]} > 0)) || read -r -a bases <<<"${BASES:-}"
if ((${#bases[@]} == 0)); then
  mapfile -t bases < <({ ctxfix::version_default KUBE_VERSION; ctxfix::checksummed_bases; } | sort -uV)
fi
for base in "${bases[@]}"; do
  ctxfix::series_dir "${base}" >/dev/null
done

# Sums made with another Go are stale; keeping them beside new ones would
# leave a file that no single Go satisfies.
go_version="$(go env GOVERSION)"
if [[ -f "${CTXFIX_CHECKSUMS}" ]]; then
  recorded_go="$(sed -n 's/^# go: //p' "${CTXFIX_CHECKSUMS}")"
  if [[ "${recorded_go}" != "${go_version}" ]]; then
    for base in $(ctxfix::checksummed_bases); do
      [[ " ${bases[*]} " == *" ${base} "* ]] ||
        ctxfix::die "build/CHECKSUMS was recorded with ${recorded_go} and this is ${go_version}: rerecord every base it lists, ${base} too (make update-checksums with no BASES)"
    done
  fi
fi

mkdir -p "${CTXFIX_OUTPUT}/tmp"
scratch="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/checksums.XXXXXX")"
trap 'rm -rf "${scratch}"' EXIT
server_binaries=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
# The Go binaries of the etcd and CoreDNS images (pause is C: not pinned).
third_party_binaries=(etcd etcdctl etcdutl coredns)

: > "${scratch}/new"
for base in "${bases[@]}"; do
  version="$(ctxfix::distribution_version "${base}")"
  for arch in amd64 arm64; do
    out="${scratch}/${base}/${arch}"
    (unset SOURCE_DATE_EPOCH; CTXFIX_UPDATE_CHECKSUMS=1 KUBELET_OUT_DIR="${out}" \
      "${CTXFIX_ROOT}/hack/build-kubelet.sh" "${base}" "${arch}")
    (unset SOURCE_DATE_EPOCH; CTXFIX_UPDATE_CHECKSUMS=1 "${CTXFIX_ROOT}/hack/build-binaries.sh" "${base}" "${arch}" \
      "${out}" kubeadm kubectl)
    (unset SOURCE_DATE_EPOCH; CTXFIX_UPDATE_CHECKSUMS=1 "${CTXFIX_ROOT}/hack/build-binaries.sh" "${base}" "${arch}" \
      "${out}" "${server_binaries[@]}")
    (unset SOURCE_DATE_EPOCH; CTXFIX_UPDATE_CHECKSUMS=1 "${CTXFIX_ROOT}/hack/build-third-party.sh" "${base}" "${arch}" "${out}")
    for name in kubeadm kubectl kubelet "${server_binaries[@]}" "${third_party_binaries[@]}"; do
      echo "$(cat "${out}/${name}.sha256")  ${version}/bin/linux/${arch}/${name}" >> "${scratch}/new"
    done
  done
done

{
  echo "# sha256 of the binaries of every base listed, as hack/build-kubelet.sh,"
  echo "# hack/build-binaries.sh and hack/build-third-party.sh build them"
  echo "# (SOURCE_DATE_EPOCH unset: the patched tree's commit date) with the Go"
  echo "# below. Every build of a binary is checked against it, and a build of one"
  echo "# it does not list fails (CTXFIX_UNPINNED=1 builds one knowingly unpinned);"
  echo "# the control-plane ones are those the images carry, and etcd, etcdctl,"
  echo "# etcdutl and coredns those of the etcd and CoreDNS images. Rerecord with"
  echo "# make update-checksums after a change to the series, VERSION or Go; make"
  echo "# test checks that every line is of VERSION's revision."
  echo "# go: ${go_version}"
  {
    if [[ -f "${CTXFIX_CHECKSUMS}" ]]; then
      # The lines of every base not rerecorded, whatever their revision.
      awk -v bases=" ${bases[*]} " '!/^#/ && NF {
        base = $2; sub(/-ctxfix\..*/, "", base)
        if (index(bases, " " base " ") == 0) print
      }' "${CTXFIX_CHECKSUMS}"
    fi
    cat "${scratch}/new"
  } | sort -k2,2V
} > "${scratch}/CHECKSUMS"
cp "${scratch}/CHECKSUMS" "${CTXFIX_CHECKSUMS}"
ctxfix::log "build/CHECKSUMS now records $(ctxfix::checksummed_bases | paste -sd' ') (rerecorded: ${bases[*]}):"
cat "${CTXFIX_CHECKSUMS}" >&2
