#!/usr/bin/env bash
# Runs upstream's own unit tests of the packages the series touches on the
# patched tree of a base. A test that fails is allowed only if
# test/known-failures.tsv lists it for that base, with its reason, and it
# fails on the stock tree of the same base too. Tests that test/known-flakes.tsv
# lists for the base (upstream flakes, with their upstream issue) are skipped,
# and the log says so. It reads go test's JSON events, so that a package that
# does not build, panics, times out or fails without a failed test fails the
# check, naming the package. A failed test gets one rerun on its own; see
# test/time-sensitive.tsv.
#
# Usage: hack/test-upstream.sh [BASE]   (default: KUBE_VERSION or the default base)
#   UPSTREAM_PACKAGES      packages to test (default: those the series touches)
#   UPSTREAM_TEST_TIMEOUT  go test -timeout (default 10m, go test's own)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ctxfix::require_tools git go
base="${1:-$(ctxfix::kube_version)}"
read -r -a packages <<<"${UPSTREAM_PACKAGES:-./pkg/kubelet ./pkg/kubelet/prober/... ./pkg/kubelet/volumemanager/... ./pkg/kubelet/kuberuntime ./pkg/kubelet/util/...}"
timeout="${UPSTREAM_TEST_TIMEOUT:-10m}"
known="${CTXFIX_ROOT}/test/known-failures.tsv"
time_sensitive="${CTXFIX_ROOT}/test/time-sensitive.tsv"
flakes="${CTXFIX_ROOT}/test/known-flakes.tsv"

# Upstream flakes listed for this base: "test<TAB>upstream<TAB>reason" lines.
mapfile -t flaky < <(awk -F'\t' '!/^#/ && NF >= 6 { print $1 "\t" $2 "\t" $4 "\t" $5 "\t" $6 }' "${flakes}" |
  while IFS=$'\t' read -r first last name issue reason; do
    # first <= base <= last in version order.
    if [[ "$(printf '%s\n' "${first}" "${base}" "${last}" | sort -V | sed -n 2p)" == "${base}" ]]; then
      printf '%s\t%s\t%s\n' "${name}" "${issue}" "${reason}"
    fi
  done)
skip_args=()
if ((${#flaky[@]} > 0)); then
  names=()
  for entry in "${flaky[@]}"; do
    IFS=$'\t' read -r name issue reason <<<"${entry}"
    names+=("${name}")
    ctxfix::log "skipping ${name}: upstream flake ${issue}, ${reason} (test/known-flakes.tsv)"
  done
  skip_args=(-skip "$(ctxfix::run_regex "${names[@]}")")
fi

"${CTXFIX_ROOT}/hack/prepare-tree.sh" "${base}"
tool="$(ctxfix::build_tool)"
# Upstream's tests leave files behind: volumemanager's TestReconstructedVolume*
# folders in TMPDIR, pkg/kubelet's sockets of cri-client's fake runtime,
# /tmp/kubelet_remote_<n>.sock, whose path is fixed, and pkg/kubelet's
# TestNewMainKubelet*, whose root directory is /tmp/rootdir, fixed too (its
# image manager writes there). The tests get a TMPDIR of their own, removed
# after them (kept, and the check failed, if a mount is left under it), and
# the sockets that appeared in /tmp while they ran are removed: only those,
# not older ones; /tmp/rootdir only if it was not there before.
test_tmp="$(mktemp -d /tmp/ctxfix-ut.XXXXXX)"
fake_sockets() { find /tmp -maxdepth 1 -type s -name 'kubelet_remote_*.sock' | LC_ALL=C sort; }
fake_sockets > "${test_tmp}.sockets-before"
root_dir_existed=false
[[ ! -e /tmp/rootdir ]] || root_dir_existed=true
remove_test_tmp() {
  comm -13 "${test_tmp}.sockets-before" <(fake_sockets) | xargs -r rm -f
  [[ "${root_dir_existed}" == true ]] || rm -rf /tmp/rootdir
  rm -f "${test_tmp}.sockets-before"
  if grep -qF " ${test_tmp}/" /proc/self/mountinfo; then
    ctxfix::die "upstream's tests left mounts under ${test_tmp}, which is kept: $(grep -F " ${test_tmp}/" /proc/self/mountinfo | awk '{ print $5 }' | tr '\n' ' ')"
  fi
  rm -rf "${test_tmp}"
}
trap remove_test_tmp EXIT
log="${CTXFIX_OUTPUT}/logs/upstream-${base}.json"
ctxfix::log "${base} patched: running upstream's unit tests of ${packages[*]} (go test -json: _output/logs/upstream-${base}.json)"
# run_tests JSON RESULTS ARGS... runs go test -json ARGS in the patched tree
# and writes what it came to, per package, as ctxfix-build test-results
# prints it. The go command's own errors (a pattern that matches nothing)
# are on stderr, kept beside the JSON.
run_tests() {
  local json="$1" results="$2" status=0
  shift 2
  TMPDIR="${test_tmp}" ctxfix::go_in_tree "${base}" test -json -count=1 -timeout "${timeout}" "$@" > "${json}" 2> "${json%.json}.stderr" || status=$?
  "${tool}" test-results -in "${json}" > "${results}" || ctxfix::die "cannot read ${json#"${CTXFIX_ROOT}"/}"
  if ((status != 0)) && ! grep -qE '^(failed|unexplained)'$'\t' "${results}"; then
    cat "${json%.json}.stderr" >&2
    ctxfix::die "go test failed on patched ${base} without a failed package (above)"
  fi
}
results="${log%.json}.results"
run_tests "${log}" "${results}" "${skip_args[@]}" "${packages[@]}"
awk -F'\t' '$1 == "passed" { printf "  %s: %d tests passed\n", $2, $3 }' "${results}" >&2

# A package that did not build, panicked or timed out ran only some of its
# tests, and one that failed without a failed test ran who knows what: no
# rerun of named tests can clear that.
mapfile -t unexplained < <(awk -F'\t' '$1 == "unexplained" { print $2 ": " $3 }' "${results}")
if ((${#unexplained[@]} > 0)); then
  printf '  FAIL %s\n' "${unexplained[@]}" >&2
  ctxfix::die "upstream packages failed on patched ${base} beyond any named test: ${unexplained[*]}; log: _output/logs/upstream-${base}.json"
fi

(($(awk -F'\t' '$1 == "passed" { n += $3 } END { print n + 0 }' "${results}") > 0)) ||
  ctxfix::die "no upstream test ran on patched ${base}; log: _output/logs/upstream-${base}.json"

unexpected=()
allowed=()
reported=()
while IFS=$'\t' read -r _ package name; do
  if awk -F'\t' -v base="${base}" -v name="${name}" '!/^#/ && $1 == base && $3 == name { found = 1 } END { exit !found }' "${known}"; then
    allowed+=("${name}")
    continue
  fi
  # One more run on its own. It clears a test that test/time-sensitive.tsv
  # lists, with its reason (it waits on real time, and a loaded machine can
  # miss the wait); an unlisted test that passes on its own is let through
  # too, but said in the summary, so that a new flake is seen and listed or
  # fixed rather than retried in silence.
  reason="$(awk -F'\t' -v package="${package}" -v name="${name}" '!/^#/ && $1 == package && $2 == name { print $3 }' "${time_sensitive}")"
  ctxfix::log "${name} (${package}) failed; running it once more on its own"
  retry="${CTXFIX_OUTPUT}/logs/upstream-${base}-retry-${name}.json"
  run_tests "${retry}" "${retry%.json}.results" -run "$(ctxfix::run_regex "${name}")" "./${package#k8s.io/kubernetes/}"
  if grep -qE '^(failed|unexplained)'$'\t' "${retry%.json}.results"; then
    unexpected+=("${name}")
  elif [[ -n "${reason}" ]]; then
    reported+=("${name} (${package}) failed, then passed on its own: time-sensitive, ${reason}")
  else
    reported+=("${name} (${package}) failed, then passed on its own: NOT listed in test/time-sensitive.tsv; list it with its reason or find out why")
  fi
done < <(awk -F'\t' '$1 == "failed"' "${results}")
((${#unexpected[@]} == 0)) ||
  ctxfix::die "upstream tests failed on patched ${base}: ${unexpected[*]}; log: _output/logs/upstream-${base}.json"

if ((${#allowed[@]} > 0)); then
  # A known failure must be upstream's, not ours: it fails on stock too.
  "${CTXFIX_ROOT}/hack/prepare-tree.sh" --stock "${base}"
  stock_log="${CTXFIX_OUTPUT}/logs/upstream-stock-${base}.json"
  stock_status=0
  ctxfix::go_in_tree --stock "${base}" test -json -count=1 -run "$(ctxfix::run_regex "${allowed[@]}")" "${packages[@]}" > "${stock_log}" 2> "${stock_log%.json}.stderr" || stock_status=$?
  ((stock_status != 0)) || ctxfix::die "the known failures ${allowed[*]} all pass on stock ${base}: the series broke them"
  "${tool}" test-results -in "${stock_log}" > "${stock_log%.json}.results" || ctxfix::die "cannot read ${stock_log#"${CTXFIX_ROOT}"/}"
  for name in "${allowed[@]}"; do
    awk -F'\t' -v name="${name}" '$1 == "failed" && $3 == name { found = 1 } END { exit !found }' "${stock_log%.json}.results" ||
      ctxfix::die "${name} is listed as a known failure but passes on stock ${base}: the series broke it; log: _output/logs/upstream-stock-${base}.json"
  done
  ctxfix::log "${base}: known failures ${allowed[*]} fail on stock too"
fi
for line in "${reported[@]}"; do ctxfix::log "summary: ${line}"; done
ctxfix::log "${base} patched: upstream unit tests pass"
