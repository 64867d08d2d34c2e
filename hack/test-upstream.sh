#!/usr/bin/env bash
# Runs upstream's own unit tests of the packages the series touches on the
# patched tree of a base. A test that fails is allowed only if
# test/known-failures.tsv lists it for that base, with its reason, and it
# fails on the stock tree of the same base too. Tests that test/known-flakes.tsv
# lists for the base (upstream flakes, with their upstream issue) are skipped,
# and the log says so.
#
# Usage: hack/test-upstream.sh [BASE]   (default: KUBE_VERSION or the default base)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ctxfix::require_tools git go
base="${1:-$(ctxfix::kube_version)}"
packages=(./pkg/kubelet ./pkg/kubelet/prober/... ./pkg/kubelet/volumemanager/... ./pkg/kubelet/kuberuntime ./pkg/kubelet/util/...)
known="${CTXFIX_ROOT}/test/known-failures.tsv"
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
log="${CTXFIX_OUTPUT}/logs/upstream-${base}.log"
ctxfix::log "${base} patched: running upstream's unit tests of ${packages[*]} (log: _output/logs/upstream-${base}.log)"
status=0
ctxfix::go_in_tree "${base}" test -count=1 "${skip_args[@]}" "${packages[@]}" > "${log}" 2>&1 || status=$?
grep -E '^(ok|FAIL|---)\s' "${log}" | grep -v '^--- PASS' >&2 || true

if grep -qE '\[(build|setup) failed\]' "${log}"; then
  ctxfix::die "upstream tests did not build on patched ${base}; log: _output/logs/upstream-${base}.log"
fi
# Failed top-level tests as "package<TAB>test": go test prints a package's
# "--- FAIL: Test" lines before its "FAIL<TAB>package" line.
mapfile -t failed < <(awk '
  /^--- FAIL: / { names[++n] = $3 }
  /^FAIL\t/ { for (i = 1; i <= n; i++) print $2 "\t" names[i]; n = 0 }
' "${log}" | sort -u)
if ((status != 0)) && ((${#failed[@]} == 0)); then
  ctxfix::die "upstream tests failed on patched ${base} without a failing test (panic or timeout?); log: _output/logs/upstream-${base}.log"
fi
unexpected=()
allowed=()
for entry in "${failed[@]}"; do
  package="${entry%%$'\t'*}"
  name="${entry##*$'\t'}"
  if awk -F'\t' -v base="${base}" -v name="${name}" '!/^#/ && $1 == base && $3 == name { found = 1 } END { exit !found }' "${known}"; then
    allowed+=("${name}")
    continue
  fi
  # Some upstream tests wait on real time (volume manager: two minutes for a
  # fake attach) and can time out on a loaded machine. A test that fails
  # gets one more run on its own; it counts as failed only if it fails again.
  retry_log="${CTXFIX_OUTPUT}/logs/upstream-${base}-retry-${name}.log"
  ctxfix::log "${name} (${package}) failed; running it once more on its own"
  if ctxfix::go_in_tree "${base}" test -count=1 -run "$(ctxfix::run_regex "${name}")" "./${package#k8s.io/kubernetes/}" > "${retry_log}" 2>&1; then
    ctxfix::log "${name} passed on its own: flaky under load, not failed (logs: _output/logs/upstream-${base}.log, ${retry_log#"${CTXFIX_ROOT}"/})"
  else
    unexpected+=("${name}")
  fi
done
((${#unexpected[@]} == 0)) ||
  ctxfix::die "upstream tests failed on patched ${base}: ${unexpected[*]}; log: _output/logs/upstream-${base}.log"

if ((${#allowed[@]} > 0)); then
  # A known failure must be upstream's, not ours: it fails on stock too.
  "${CTXFIX_ROOT}/hack/prepare-tree.sh" --stock "${base}"
  stock_log="${CTXFIX_OUTPUT}/logs/upstream-stock-${base}.log"
  ctxfix::go_in_tree --stock "${base}" test -count=1 -run "$(ctxfix::run_regex "${allowed[@]}")" "${packages[@]}" > "${stock_log}" 2>&1 || true
  for name in "${allowed[@]}"; do
    grep -q -- "^--- FAIL: ${name} " "${stock_log}" ||
      ctxfix::die "${name} is listed as a known failure but passes on stock ${base}: the series broke it; log: _output/logs/upstream-stock-${base}.log"
  done
  ctxfix::log "${base}: known failures ${allowed[*]} fail on stock too"
fi
ctxfix::log "${base} patched: upstream unit tests pass"
