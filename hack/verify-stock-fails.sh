#!/usr/bin/env bash
# Shows that the series' regression tests catch the bugs they claim to: for
# each base given, adds the series' tests (and only its tests: every *_test.go
# change and every file the series creates) to the stock tree, and runs each
# test that test/regressions.tsv lists for that base. Each must fail, with a
# test failure, not a build failure.
#
# Usage: hack/verify-stock-fails.sh BASE...
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[[ $# -gt 0 ]] || ctxfix::die "usage: $0 BASE..."
ctxfix::require_tools git go
regressions="${CTXFIX_ROOT}/test/regressions.tsv"

for base in "$@"; do
  ctxfix::series_dir "${base}" >/dev/null
  mapfile -t expected < <(awk -F'\t' -v base="${base}" '!/^#/ && NF { n = split($3, bases, " "); for (i = 1; i <= n; i++) if (bases[i] == base) print $2 "\t" $1 }' "${regressions}")
  if ((${#expected[@]} == 0)); then
    ctxfix::log "${base}: test/regressions.tsv names no test that must fail on stock ${base}"
    continue
  fi
  series_tests="$(ctxfix::series_tests "${base}")"
  for entry in "${expected[@]}"; do
    grep -qxF -- "${entry}" <<<"${series_tests}" ||
      ctxfix::die "test/regressions.tsv lists ${entry/$'\t'/ } for ${base}, but the series for ${base} adds no such test"
  done

  "${CTXFIX_ROOT}/hack/prepare-tree.sh" --stock "${base}"
  trap 'ctxfix::restore_stock_tree "${base}"' EXIT
  ctxfix::apply_series_tests "${base}"

  log="${CTXFIX_OUTPUT}/logs/stock-fails-${base}.log"
  : > "${log}"
  for entry in "${expected[@]}"; do
    package="${entry%%$'\t'*}"
    name="${entry##*$'\t'}"
    ctxfix::log "stock ${base}: ${name} must fail"
    if ctxfix::go_in_tree --stock "${base}" test -count=1 -v -run "$(ctxfix::run_regex "${name}")" "${package}" >> "${log}" 2>&1; then
      ctxfix::die "${name} passed on stock ${base}: it does not catch the bug it is listed for; log: _output/logs/stock-fails-${base}.log"
    fi
    grep -q -- "^--- FAIL: ${name} " "${log}" ||
      ctxfix::die "${name} did not fail as a test on stock ${base} (build failure?); log: _output/logs/stock-fails-${base}.log"
    grep -B8 -- "^--- FAIL: ${name} " "${log}" | grep -E '_test\.go:[0-9]+:' | head -2 | sed 's/^ */      /' >&2 || true
  done
  ctxfix::restore_stock_tree "${base}"
  trap - EXIT
  ctxfix::log "stock ${base}: ${#expected[@]} regression test(s) fail as they should"
done
