#!/usr/bin/env bash
# The Prometheus rules of build/ctxleak, checked and unit-tested with promtool
# (from github.com/prometheus/prometheus at the version build/upstream.sum
# pins). Then each guard of the rules is broken in turn, in a scratch copy,
# and the same tests must fail at the case that guard is there for: a test
# that passes whatever the rules say would prove nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

rules_dir="${CTXFIX_ROOT}/build/ctxleak"
rules=prometheus-rules.yaml
tests=prometheus-rules_test.yaml
bin="${CTXFIX_OUTPUT}/tools/bin"
mkdir -p "${bin}"
# remove_all_sd leaves out most of Prometheus's service discoveries (AWS,
# Azure, GCE and the rest; promtool still imports Kubernetes', and file and
# http stay), which checking and testing rules never uses: half the download,
# and less than half the build.
ctxfix::install_pinned github.com/prometheus/prometheus "${bin}" remove_all_sd cmd/promtool
promtool="${bin}/promtool"

"${promtool}" check rules "${rules_dir}/${rules}"
"${promtool}" test rules "${rules_dir}/${tests}"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/ctxfix-alerts.XXXXXX")"
trap 'rm -rf "${scratch}"' EXIT

# mutation NAME FROM TO CASE: with every FROM of the rules replaced by TO,
# promtool's tests must fail, and at CASE (an instance label of the tests).
mutation() {
  local name="$1" from="$2" to="$3" case="$4" out
  grep -qF -- "${from}" "${rules_dir}/${rules}" ||
    ctxfix::die "${rules} no longer has \"${from}\"; the mutation \"${name}\" must follow the rules"
  cp "${rules_dir}/${tests}" "${scratch}/${tests}"
  FROM="${from}" TO="${to}" awk '{
    line = $0; out = ""
    while ((i = index(line, ENVIRON["FROM"])) > 0) {
      out = out substr(line, 1, i - 1) ENVIRON["TO"]
      line = substr(line, i + length(ENVIRON["FROM"]))
    }
    print out line
  }' "${rules_dir}/${rules}" > "${scratch}/${rules}"
  if out="$("${promtool}" test rules "${scratch}/${tests}" 2>&1)"; then
    echo "${out}" >&2
    ctxfix::die "promtool's tests pass with ${name}: they do not test it"
  fi
  grep -q "instance=\"${case}\"" <<<"${out}" || {
    echo "${out}" >&2
    ctxfix::die "promtool's tests fail with ${name}, but not at the case \"${case}\" that is there for it"
  }
  ctxfix::log "with ${name}, promtool's tests fail at \"${case}\", as they must"
}

mutation "the leaking releases out of the version pattern" 'v1\.36\.(0|1|2)([-+].*)?' 'v0\.0\.0' leaking
mutation "the probe regression's releases out of the version pattern" '(v1\.35\.(0|1|2|3|4|5|6|8)|v1\.36\.(3|4|5))([-+].*)?' 'v0\.0\.0' probes
mutation "this project's builds not excluded" 'git_version!~`.*-ctxfix\..*`' 'git_version!~`none`' patched-leaking-base
mutation "no growth threshold" '* 3600 > 1024 * 1024' '* 3600 > -1e12' flat
mutation "no pod-count guard" 'deriv(kubelet_running_pods{job="kubelet", metrics_path="/metrics"}[6h]) <= 0' 'kubelet_running_pods{job="kubelet", metrics_path="/metrics"} >= 0' busier
mutation "no uptime guard" '> 6 * 3600' '> 0' restarted
ctxfix::log "Prometheus rules: promtool's tests pass, and fail without each guard"
