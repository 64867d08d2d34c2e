#!/usr/bin/env bash
# Adds a supported upstream base: records the checksums of k8s.io/kubernetes at
# that version and of the staging modules it requires in build/upstream.sum,
# and maps the base to a patch series in build/bases.tsv, with the module's
# publication time (the date of every pristine commit made from it).
#
# The go command checks every module it downloads here against the checksum
# database, so what is recorded is what the whole Go ecosystem sees.
#
# Usage: hack/add-base.sh BASE SERIES_DIR
#   e.g. hack/add-base.sh v1.36.6 patches/from-v1.36.3
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[[ $# -eq 2 ]] || ctxfix::die "usage: $0 BASE SERIES_DIR (e.g. $0 v1.36.6 patches/from-v1.36.3)"
base="$1"
series="${2%/}"
ctxfix::require_tools go
tool="$(ctxfix::build_tool)"
staging_version="$("${tool}" staging-version -base "${base}")"
[[ -d "${CTXFIX_ROOT}/${series}" ]] || ctxfix::die "no series folder ${series}"
if awk -v base="${base}" '!/^#/ && $1 == base { found = 1 } END { exit !found }' "${CTXFIX_BASES}"; then
  ctxfix::die "${base} is already in build/bases.tsv"
fi

scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT

# download MODULE@VERSION prints the two go.sum lines of that module version.
download() {
  local json
  json="$(cd "${scratch}" && GOFLAGS=-mod=mod go mod download -json "$1" 2>&1)" ||
    ctxfix::die "$1 is not served by the Go module proxy: ${json}"
  local path version sum gomodsum
  path="$(ctxfix::json_field Path <<<"${json}")"
  version="$(ctxfix::json_field Version <<<"${json}")"
  sum="$(ctxfix::json_field Sum <<<"${json}")"
  gomodsum="$(ctxfix::json_field GoModSum <<<"${json}")"
  [[ -n "${sum}" && -n "${gomodsum}" ]] || ctxfix::die "no checksums for $1 in: ${json}"
  echo "${path} ${version} ${sum}"
  echo "${path} ${version}/go.mod ${gomodsum}"
}

ctxfix::log "Recording k8s.io/kubernetes@${base}"
download "k8s.io/kubernetes@${base}" > "${scratch}/sums"
module_dir="$(cd "${scratch}" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${base}" | ctxfix::json_field Dir)"
"${tool}" modfile -staging-version "${staging_version}" -in "${module_dir}/go.mod" -out "${scratch}/kubernetes.mod"
for staging in $(awk -v v="${staging_version}" '$3 == "=>" && $5 == v { print $4 }' "${scratch}/kubernetes.mod"); do
  ctxfix::log "Recording ${staging}@${staging_version}"
  download "${staging}@${staging_version}" >> "${scratch}/sums"
done

published="$(cd "${scratch}" && GOFLAGS=-mod=mod go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "k8s.io/kubernetes@${base}")" ||
  ctxfix::die "no publication time for k8s.io/kubernetes@${base}"

LC_ALL=C sort -u "${CTXFIX_UPSTREAM_SUM}" "${scratch}/sums" > "${scratch}/upstream.sum"
cp "${scratch}/upstream.sum" "${CTXFIX_UPSTREAM_SUM}"
printf '%s\t%s\t%s\n' "${base}" "${series}" "${published}" >> "${CTXFIX_BASES}"
ctxfix::log "Added ${base} (series ${series}); run 'make test-matrix' to check the series on it"
