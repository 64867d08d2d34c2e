#!/usr/bin/env bash
# Runs the tests the series adds, on the patched tree of each base given
# (default: KUBE_VERSION or the default base).
#
# Usage: hack/test-series.sh [BASE...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ctxfix::require_tools git go
bases=("$@")
((${#bases[@]} > 0)) || bases=("$(ctxfix::kube_version)")

for base in "${bases[@]}"; do
  "${CTXFIX_ROOT}/hack/prepare-tree.sh" "${base}"
  tests="$(ctxfix::series_tests "${base}")"
  [[ -n "${tests}" ]] || ctxfix::die "the series for ${base} adds no tests"
  mapfile -t packages < <(cut -f1 <<<"${tests}" | sort -u)
  mapfile -t names < <(cut -f2 <<<"${tests}" | sort -u)
  ctxfix::log "${base} patched: running the series' tests (${names[*]}) in ${packages[*]}"
  ctxfix::go_in_tree "${base}" test -count=1 -v -run "$(ctxfix::run_regex "${names[@]}")" "${packages[@]}" \
    > "${CTXFIX_OUTPUT}/logs/series-${base}.log" 2>&1 || {
    grep -E '^(--- FAIL|FAIL|ok|panic:)|_test.go:[0-9]+:' "${CTXFIX_OUTPUT}/logs/series-${base}.log" >&2 || true
    ctxfix::die "the series' tests failed on patched ${base}; full log: _output/logs/series-${base}.log"
  }
  # Every test must have run: a test that a pattern or a build tag skipped
  # proves nothing.
  for name in "${names[@]}"; do
    grep -q -- "^--- PASS: ${name} " "${CTXFIX_OUTPUT}/logs/series-${base}.log" ||
      ctxfix::die "${name} did not run on patched ${base}; full log: _output/logs/series-${base}.log"
  done
  grep -E '^(ok|---) ' "${CTXFIX_OUTPUT}/logs/series-${base}.log" | grep -v '^--- PASS' >&2 || true
  ctxfix::log "${base} patched: ${#names[@]} series tests passed"
done
