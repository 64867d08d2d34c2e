#!/usr/bin/env bash
# Benchmarks pod-worker syncs of the stock and the patched tree of one base in
# one run, and compares them with benchstat: time and allocations per sync,
# and the heap each sync leaves behind (retained-B/sync). The stock tree runs
# the series' benchmark with only the series' tests added. Stock runs twice
# in every round (stock, patched, stock again): stock against stock is the
# noise band that the patched difference is read against.
#
# Usage: hack/bench.sh [BASE]   (default: KUBE_VERSION or the default base)
#   COUNT      runs of each benchmark (default 8)
#   BENCHTIME  go test -benchtime (default 20000x)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ctxfix::require_tools git go
base="${1:-$(ctxfix::kube_version)}"
count="${COUNT:-8}"
benchtime="${BENCHTIME:-20000x}"
out="${CTXFIX_OUTPUT}/bench/${base}"
bench=BenchmarkPodWorkerSync

"${CTXFIX_ROOT}/hack/prepare-tree.sh" "${base}"
"${CTXFIX_ROOT}/hack/prepare-tree.sh" --stock "${base}"
trap 'ctxfix::restore_stock_tree "${base}"' EXIT
ctxfix::apply_series_tests "${base}"
mkdir -p "${out}"

# Build both test binaries first, then alternate the runs, so that both see
# the same machine.
ctxfix::log "Building the ${bench} test binaries of stock and patched ${base}"
ctxfix::go_in_tree --stock "${base}" test -c -o "${out}/stock.test" ./pkg/kubelet
ctxfix::go_in_tree "${base}" test -c -o "${out}/patched.test" ./pkg/kubelet
ctxfix::restore_stock_tree "${base}"
trap - EXIT

variants=(stock patched stock-again)
for variant in "${variants[@]}"; do : > "${out}/${variant}.txt" && : > "${out}/${variant}.log"; done
for i in $(seq "${count}"); do
  ctxfix::log "run ${i}/${count}"
  for variant in "${variants[@]}"; do
    # The benchmark's own log output goes to the variant's .log.
    "${out}/${variant%-again}.test" -test.run '^$' -test.bench "^${bench}\$" -test.benchtime "${benchtime}" -test.count 1 \
      >> "${out}/${variant}.txt" 2>> "${out}/${variant}.log" ||
      { tail -n 20 "${out}/${variant}.log" >&2; ctxfix::die "${bench} failed on ${variant} ${base} (above; all of it in ${out}/${variant}.log)"; }
  done
done
rel="${out#"${CTXFIX_ROOT}"/}"
(cd "${CTXFIX_ROOT}" && go tool benchstat "${rel}/stock.txt" "${rel}/patched.txt") | tee "${out}/benchstat.txt"
ctxfix::log "the noise band: stock against stock, run in the same rounds"
(cd "${CTXFIX_ROOT}" && go tool benchstat "${rel}/stock.txt" "${rel}/stock-again.txt") | tee "${out}/noise.txt"
ctxfix::log "raw results and comparison: ${out#"${CTXFIX_ROOT}"/}/"
