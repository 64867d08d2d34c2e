#!/usr/bin/env bash
# A tree is only made from the module build/upstream.sum pins. Checks that a
# changed, or added to, extracted module folder in the module cache stops
# hack/prepare-tree.sh with a message naming the module and both checksums,
# and leaves no tree behind; and that a tree made before is checked again when
# it is reused.
#
# The module cache it tampers with is a scratch one, filled from the module
# zip the go command already downloaded (the real module cache is only read).
#
# Usage: hack/test-tree-failures.sh [BASE]   (default: the default base)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ctxfix::require_tools git go
base="${1:-$(ctxfix::version_default KUBE_VERSION)}"
module="k8s.io/kubernetes@${base}"
pinned="$(ctxfix::pinned_sum "${base}")"
mkdir -p "${CTXFIX_OUTPUT}/tmp"
scratch="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/tree-failures.XXXXXX")"
cleanup() {
  local status=$?
  # The go command extracts module folders read-only.
  chmod -R u+w "${scratch}" && rm -rf "${scratch}" || { echo "could not remove ${scratch}" >&2; exit $((status ? status : 1)); }
}
trap cleanup EXIT

# Scratch module caches are filled offline from the real one's download cache
# (the zips the go command downloaded and checked against the checksum
# database), used as a file proxy: for the module, and for the modules of the
# project's own tools.
(cd / && GOFLAGS=-mod=mod go mod download "${module}") || ctxfix::die "could not download ${module}"
proxy="file://$(go env GOMODCACHE)/cache/download"

failures=0
# tampered_cache NAME CHANGE makes a module cache with the module extracted,
# then CHANGE run inside the extracted folder, and prints its path.
tampered_cache() {
  local cache="${scratch}/$1-modcache"
  (cd / && GOMODCACHE="${cache}" GOPROXY="${proxy}" GOSUMDB=off GOFLAGS=-mod=mod \
    go mod download "${module}") >&2 || ctxfix::die "could not fill a scratch module cache"
  local dir="${cache}/${module}"
  chmod -R u+w "${dir}"
  (cd "${dir}" && eval "$2")
  echo "${cache}"
}

expect_refused() {
  local name="$1" change="$2" cache out="${scratch}/$1-output" left=""
  cache="$(tampered_cache "${name}" "${change}")"
  if GOMODCACHE="${cache}" GOPROXY="${proxy}" GOSUMDB=off CTXFIX_OUTPUT="${out}" \
    "${CTXFIX_ROOT}/hack/prepare-tree.sh" "${base}" > "${scratch}/log" 2>&1; then
    echo "FAIL ${name}: the tree was made" >&2
    failures=$((failures + 1))
  elif ! grep -q "checksum mismatch for ${module}: its files hash to h1:.*, build/upstream.sum pins ${pinned}" "${scratch}/log"; then
    echo "FAIL ${name}: failed without naming the module and both checksums:" >&2
    tail -5 "${scratch}/log" >&2
    failures=$((failures + 1))
  elif [[ -d "${out}/src" ]] && { left="$(find "${out}/src" -mindepth 1 -maxdepth 1)" || ctxfix::die "could not list ${out}/src"; } && [[ -n "${left}" ]]; then
    echo "FAIL ${name}: left $(head -1 <<<"${left}")" >&2
    failures=$((failures + 1))
  else
    echo "ok   ${name}: $(grep -m1 'checksum mismatch' "${scratch}/log")" >&2
  fi
}

expect_refused "file-changed" "echo '// changed' >> pkg/kubelet/pod_workers.go"
expect_refused "file-added" "echo 'package kubelet' > pkg/kubelet/leftover.go"

# A tree made from the pinned module is reused only while its pristine commit
# still hashes to the pinned checksum: one whose pristine commit has been
# rewritten is made anew.
good="$(tampered_cache good ":")"
out="${scratch}/reuse-output"
GOMODCACHE="${good}" GOPROXY="${proxy}" GOSUMDB=off CTXFIX_OUTPUT="${out}" "${CTXFIX_ROOT}/hack/prepare-tree.sh" --stock "${base}" > "${scratch}/log" 2>&1 ||
  { tail -5 "${scratch}/log" >&2; ctxfix::die "could not make a tree from the pinned module"; }
tree="${out}/stock/${base}"
(
  cd "${tree}"
  echo '// changed' >> pkg/kubelet/pod_workers.go
  git -c user.name=test -c user.email=test@example.invalid commit -q -a --amend --no-edit
  git tag -f "${base}" >/dev/null
  git rev-parse HEAD > .git/ctxfix-head
)
GOMODCACHE="${good}" GOPROXY="${proxy}" GOSUMDB=off CTXFIX_OUTPUT="${out}" "${CTXFIX_ROOT}/hack/prepare-tree.sh" --stock "${base}" > "${scratch}/log" 2>&1 ||
  { tail -5 "${scratch}/log" >&2; ctxfix::die "could not make the tree anew"; }
if ! grep -q "hashes to h1:.*, not ${pinned}: making the tree anew" "${scratch}/log"; then
  echo "FAIL reused tree: a tree whose pristine commit was rewritten was reused" >&2
  failures=$((failures + 1))
elif grep -q changed "${tree}/pkg/kubelet/pod_workers.go"; then
  echo "FAIL reused tree: the tree made anew still has the change" >&2
  failures=$((failures + 1))
else
  echo "ok   reused tree: $(grep -m1 'making the tree anew' "${scratch}/log")" >&2
fi

((failures == 0)) || ctxfix::die "${failures} check(s) of tree verification failed"
echo "a changed module folder is refused, and a changed tree is made anew" >&2
