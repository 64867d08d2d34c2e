#!/usr/bin/env bash
# Checks pkg/ctxleak/versionfacts.tsv, the facts `ctxleak nodes` gives about
# kubelet versions, against the sources of every upstream release in range
# that the Go module proxy serves: each k8s.io/kubernetes@<version> is
# downloaded with the go command (checked against the checksum database) and
# its startPodSync and prober AddPod are read (ctxleak.FactsFromSource).
# With --update it rewrites the table instead; review the change it makes.
#
# The range: v1.35.0 (kubernetes#130487, which gave probe workers the sync
# context, is in v1.35.0) up to LAST. Within a minor, patch releases are tried
# in order until three in a row are not served; one that is not served but
# comes before a served one is listed as unknown.
#
# Usage: hack/verify-version-facts.sh [--update]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

readonly FIRST_MINOR=35 LAST=v1.37.2
update=()
case "${1:-}" in
  "") ;;
  --update) update=(-args -update) ;;
  *) ctxfix::die "usage: $0 [--update]" ;;
esac
ctxfix::require_tools go sort

scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT
last_minor="$(cut -d. -f2 <<<"${LAST}")"
last_patch="$(cut -d. -f3 <<<"${LAST}")"

# module_dir VERSION prints the module folder of k8s.io/kubernetes@VERSION, or
# nothing when the proxy does not serve it; any other failure stops the run.
module_dir() {
  local json
  if json="$(cd "${scratch}" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$1" 2>&1)"; then
    ctxfix::json_field Dir <<<"${json}"
    return
  fi
  # The proxy answers 403, 404 or 410 for a version it does not serve.
  grep -qE '(403 Forbidden|404 Not Found|410 Gone|unknown revision|invalid version)' <<<"${json}" ||
    ctxfix::die "could not ask the Go module proxy for k8s.io/kubernetes@$1: ${json}"
}

: > "${scratch}/sources"
for ((minor = FIRST_MINOR; minor <= last_minor; minor++)); do
  missing=()
  for ((patch = 0; ; patch++)); do
    version="v1.${minor}.${patch}"
    if ((minor == last_minor && patch > last_patch)) || ((${#missing[@]} == 3)); then
      break
    fi
    dir="$(module_dir "${version}")"
    if [[ -z "${dir}" ]]; then
      missing+=("${version}")
      continue
    fi
    for unserved in "${missing[@]}"; do
      printf '%s\t-\n' "${unserved}" >> "${scratch}/sources"
    done
    missing=()
    printf '%s\t%s\n' "${version}" "${dir}" >> "${scratch}/sources"
  done
done
ctxfix::log "read the sources of $(awk -F'\t' '$2 != "-"' "${scratch}/sources" | wc -l) served releases (v1.${FIRST_MINOR}.0-${LAST}); not served in between: $(awk -F'\t' '$2 == "-" { printf "%s ", $1 }' "${scratch}/sources")"

log="${scratch}/test.log"
if ! (cd "${CTXFIX_ROOT}/pkg/ctxleak" && CTXFIX_KUBERNETES_SOURCES="${scratch}/sources" \
  go test -count=1 -v -run '^TestVersionFactsMatchSources$' . "${update[@]}") > "${log}" 2>&1; then
  cat "${log}" >&2
  ctxfix::die "pkg/ctxleak/versionfacts.tsv does not match the sources (hack/verify-version-facts.sh --update rewrites it)"
fi
grep -q -- '^--- PASS: TestVersionFactsMatchSources ' "${log}" ||
  { cat "${log}" >&2; ctxfix::die "TestVersionFactsMatchSources did not run"; }
if ((${#update[@]} > 0)); then
  ctxfix::log "wrote pkg/ctxleak/versionfacts.tsv"
else
  ctxfix::log "pkg/ctxleak/versionfacts.tsv matches the sources"
fi
