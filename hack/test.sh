#!/usr/bin/env bash
# `make test`: everything a change to this repository must keep true, within
# CI's time. Each check runs even if an earlier one failed; the summary says
# which failed and how long each took.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "${CTXFIX_ROOT}/hack/lib/cosign.sh"

ctxfix::require_tools git go gofmt sha256sum sha512sum
# The release checks read the packages back with dpkg and rpm.
ctxfix::require_packages dpkg:dpkg dpkg-deb:dpkg rpm:rpm
default_base="$(ctxfix::kube_version)"
leaking_base=v1.36.2
hack="${CTXFIX_ROOT}/hack"

names=()
results=()
logs=()
log_dir="${CTXFIX_OUTPUT}/logs/test"
rm -rf "${log_dir}"
mkdir -p "${log_dir}"
# check runs one check, its output both shown and kept in a log, so that the
# summary can repeat the end of a failed check's output: that is where its
# reason is, and the summary is what a truncated CI log still shows.
check() {
  local name="$1"
  shift
  local start=${SECONDS} result=PASS log
  log="${log_dir}/$(printf '%02d' $((${#names[@]} + 1))).log"
  echo
  ctxfix::log "=== ${name}"
  "$@" 2>&1 | tee "${log}" || result=FAIL
  names+=("${name}")
  results+=("${result} $((SECONDS - start))s")
  logs+=("${log}")
}

own_tests() {
  local unformatted
  (cd "${CTXFIX_ROOT}" && go vet ./... && go test -count=1 ./...) || return 1
  unformatted="$(cd "${CTXFIX_ROOT}" && gofmt -l cmd pkg test)" || return 1
  [[ -z "${unformatted}" ]] || { echo "not gofmt-clean: ${unformatted}" >&2; return 1; }
}

# checksums_current checks that build/CHECKSUMS pins the default base, and
# that every line of it is of VERSION's revision: a revision raised without
# make update-checksums leaves lines that no build can match.
checksums_current() {
  local revision stale
  revision="$(ctxfix::version_default CTXFIX_REVISION)"
  stale="$(awk -v want="-ctxfix.${revision}/" '!/^#/ && NF && index($2, want) == 0 { print $2 }' "${CTXFIX_CHECKSUMS}" | paste -sd' ')"
  [[ -z "${stale}" ]] ||
    { echo "build/CHECKSUMS has lines of another revision than VERSION's ${revision} (make update-checksums): ${stale}" >&2; return 1; }
  ctxfix::checksummed_bases | grep -qx -- "${default_base}" ||
    { echo "build/CHECKSUMS does not pin the default base ${default_base}" >&2; return 1; }
  echo "build/CHECKSUMS: revision ${revision}, bases $(ctxfix::checksummed_bases | paste -sd' ')"
}

applies_everywhere() {
  local base
  for base in $(ctxfix::supported_bases); do
    "${hack}/prepare-tree.sh" "${base}" || return 1
  done
}

built_version() {
  local version binary
  version="$(ctxfix::distribution_version "${default_base}")"
  binary="${CTXFIX_OUTPUT}/release/${version}/bin/linux/$(go env GOHOSTARCH)/kubelet"
  "${hack}/build-kubelet.sh" "${default_base}" &&
    [[ "$("${binary}" --version)" == "Kubernetes ${version}" ]] &&
    [[ "$(sha256sum < "${binary}" | cut -d' ' -f1)" == "$(cat "${binary}.sha256")" ]] &&
    ctxfix::log "$("${binary}" --version), sha256 verified"
}

probe_check() {
  local status=0
  KUBE_VERSION="${default_base}" PODS=20 "${hack}/soak.sh" -probe-check -window 5s -check probes-fixed || status=$?
  nothing_left_behind && ((status == 0))
}

# nothing_left_behind checks that a soak, whether it passed or not, stopped
# every kubelet it started and removed their roots (and with them every
# mount under them). pgrep exits 1 when nothing matches, and more on error.
nothing_left_behind() {
  local processes status=0 folders mounts
  processes="$(pgrep -af -- '--root-dir=.*/ctxfix-soak-')" || status=$?
  ((status <= 1)) || { echo "pgrep failed (${status})" >&2; return 1; }
  folders="$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'ctxfix-soak-*')" || return 1
  mounts="$(awk '$5 ~ /\/ctxfix-soak-/ { print $5 }' /proc/self/mountinfo)" || return 1
  [[ -z "${processes}${folders}${mounts}" ]] ||
    { echo "left behind by the soak: ${processes} ${folders} ${mounts}" >&2; return 1; }
}

# The host's architecture only: a cold arm64 build would add minutes to CI.
# make release builds both; make verify-reproducible checks both against
# build/CHECKSUMS.
# The release signs its cosign bundles with a key made for this run, as a
# release job holds one (CTXFIX_COSIGN_KEY, with a password): verify-release
# checks them against that key's public half, as a user who pins it does,
# and test-release-failures signs its forgeries with it.
release_verifies() {
  local cosign keys status=0
  cosign="$(ctxfix::cosign_bin)" || return 1
  mkdir -p "${CTXFIX_OUTPUT}/tmp"
  keys="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/test-cosign-key.XXXXXX")"
  (
    cd "${keys}" && export COSIGN_PASSWORD=test-release-key &&
      "${cosign}" generate-key-pair --output-key-prefix release < /dev/null &&
      export CTXFIX_COSIGN_KEY="${keys}/release.key" &&
      ARCHES="$(go env GOHOSTARCH)" "${hack}/release.sh" &&
      CTXFIX_COSIGN_PUBLIC_KEY="${keys}/release.pub" "${hack}/verify-release.sh" &&
      "${hack}/test-image-builder.sh" && "${hack}/test-release-failures.sh"
  ) || status=$?
  rm -rf "${keys}"
  return "${status}"
}

short_soak() {
  local status=0
  KUBE_VERSION="${leaking_base}" PODS=50 DURATION=90s INTERVAL=10s "${hack}/soak.sh" -check leak-fixed || status=$?
  nothing_left_behind && ((status == 0))
}

check "own Go code: vet, unit tests, gofmt" own_tests
check "patch series are well-formed" "${hack}/verify-patches.sh"
check "build/CHECKSUMS pins the default base at VERSION's revision" checksums_current
check "series applies to every supported base" applies_everywhere
check "ctxleak's version facts match the sources of every served release" "${hack}/verify-version-facts.sh"
check "Prometheus rules: promtool's tests pass, and fail without each guard" "${hack}/verify-alerts.sh"
check "a changed module folder stops the tree, a changed tree is made anew" "${hack}/test-tree-failures.sh"
check "kubelet ${default_base} builds and reports its stamped version" built_version
check "upstream unit tests pass on patched ${default_base}" "${hack}/test-upstream.sh" "${default_base}"
check "series tests pass on patched ${default_base}" "${hack}/test-series.sh" "${default_base}"
check "every commit of the series is bisectable on ${default_base}" "${hack}/verify-bisect.sh" "${default_base}"
check "series tests pass on patched ${leaking_base}" "${hack}/test-series.sh" "${leaking_base}"
check "regression tests fail on stock ${leaking_base}" "${hack}/verify-stock-fails.sh" "${leaking_base}"
check "release workflow: actionlint passes it, and refuses an unknown action input" "${hack}/verify-workflows.sh"
check "release of ${default_base} for $(go env GOHOSTARCH): checksums, layout, every image kubeadm pulls, packages, signed repositories, SBOM, source, cosign bundles, image-builder's contract; failures leave nothing" release_verifies
check "short soak of ${leaking_base}: patched flat, stock leaking, side by side" short_soak
check "probe check of ${default_base}: patched keeps probing terminating pods, stock does not" probe_check
real_node() { LEAK_BASE="${leaking_base}" "${hack}/e2e.sh" --short; }
check "real node (API server, containerd, runc), stock and patched: readiness during termination, kubelet killed during preStop, churn and the kubelet swapped in place and back on ${default_base}; 90 s of sync on ${leaking_base}, judged through the API server" real_node
cluster_short() { KUBE_VERSION="${default_base}" "${hack}/cluster.sh" --short; }
check "kubeadm cluster of 2 nodes from the release of ${default_base}'s apt repository: the worker's stock kubelet replaced with ours by the README's commands under a request loop, then a handful of conformance specs on it" cluster_short

echo
passed=0
failed=0
for i in "${!names[@]}"; do
  printf '  %-10s %s\n' "${results[$i]}" "${names[$i]}"
  if [[ "${results[$i]}" == PASS* ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done

# The failures' ends come last, after the table: what a reader of the end of
# CI's output needs first is why a check failed. klog's lines are left out;
# the whole output is in the file named.
for i in "${!names[@]}"; do
  [[ "${results[$i]}" == FAIL* ]] || continue
  echo
  echo "--- FAIL ${names[$i]}: the end of its output (all of it in ${logs[$i]#"${CTXFIX_ROOT}"/})"
  { grep -v '^[IWE][0-9]\{4\} ' "${logs[$i]}" || true; } | tail -n 25
done
echo
echo "checks: ${passed} passed, ${failed} failed"
((failed == 0))
