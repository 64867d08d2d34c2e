#!/usr/bin/env bash
# Runs the stock and the patched kubelet of one base side by side,
# standalone against fake runtimes on this machine, under sustained pod sync,
# and writes a table, a JSON report and a plot of live sync contexts into
# _output/soak/<base>/ (or SOAK_OUT; _output/probe-check/<base>/ for
# -probe-check).
#
# Needs root: a real kubelet manages mounts and cgroups. Everything it starts
# listens on 127.0.0.1 or on unix sockets only, and is stopped and cleaned up
# when the run ends, fails or is interrupted.
#
# With -probe-check, it checks exec readiness probes once pods start
# terminating instead (see test/soak).
#
# Usage: hack/soak.sh [-check leak-fixed|bounded] | [-probe-check -check probes-fixed]
#   KUBE_VERSION  base (default from VERSION)
#   PODS          static pods per kubelet (default 50)
#   DURATION      run time (default 90s)
#   INTERVAL      time between samples (default 10s)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ctxfix::require_tools git go
[[ "$(id -u)" == 0 ]] || ctxfix::die "the soak runs real kubelets standalone, which needs root"
base="$(ctxfix::kube_version)"
arch="$(go env GOHOSTARCH)"
pods="${PODS:-50}"
duration="${DURATION:-90s}"
interval="${INTERVAL:-10s}"
mode=soak
for arg in "$@"; do
  [[ "${arg}" != -probe-check ]] || mode=probe-check
done
out="${SOAK_OUT:-${CTXFIX_OUTPUT}/${mode}/${base}}"

"${CTXFIX_ROOT}/hack/build-kubelet.sh" --stock "${base}" "${arch}"
"${CTXFIX_ROOT}/hack/build-kubelet.sh" "${base}" "${arch}"
version="$(ctxfix::distribution_version "${base}")"
(cd "${CTXFIX_ROOT}" && go build -mod=readonly -o "${CTXFIX_OUTPUT}/bin/soak" ./test/soak) || ctxfix::die "could not build test/soak"

rm -rf "${out}"
ctxfix::log "${mode} of ${base}: ${pods} pods, stock vs patched side by side (report: ${out#"${CTXFIX_ROOT}"/})"
"${CTXFIX_OUTPUT}/bin/soak" -base "${base}" -pods "${pods}" -duration "${duration}" -interval "${interval}" -out "${out}" \
  -kubelet "stock=${CTXFIX_OUTPUT}/stock-release/${base}/bin/linux/${arch}/kubelet" \
  -kubelet "patched=${CTXFIX_OUTPUT}/release/${version}/bin/linux/${arch}/kubelet" \
  "$@"
