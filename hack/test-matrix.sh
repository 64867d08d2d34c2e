#!/usr/bin/env bash
# `make test-matrix`: the series on every supported base. For each base: the
# series applies and every commit is bisectable, the series' tests pass on
# the patched tree, and the regression tests listed for that base in
# test/regressions.tsv fail on the stock tree.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

hack="${CTXFIX_ROOT}/hack"
failed=()
for base in $(ctxfix::supported_bases); do
  start=${SECONDS}
  ctxfix::log "=== ${base}"
  if "${hack}/verify-bisect.sh" "${base}" &&
    "${hack}/test-series.sh" "${base}" &&
    "${hack}/verify-stock-fails.sh" "${base}"; then
    ctxfix::log "=== ${base}: PASS ($((SECONDS - start))s)"
  else
    ctxfix::log "=== ${base}: FAIL ($((SECONDS - start))s)"
    failed+=("${base}")
  fi
done
total=$(ctxfix::supported_bases | wc -l)
echo "bases: $((total - ${#failed[@]})) passed, ${#failed[@]} failed"
((${#failed[@]} == 0)) || ctxfix::die "test-matrix failed on ${failed[*]}"
