#!/usr/bin/env bash
# Checks that every commit of the series is bisectable on a base: applied one
# at a time to the pristine tree, each commit is gofmt-clean, builds and vets
# the packages it touches, and passes the series' tests that exist in those
# packages at that commit.
#
# Usage: hack/verify-bisect.sh [BASE...]   (default: KUBE_VERSION or the default base)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ctxfix::require_tools git go gofmt
bases=("$@")
((${#bases[@]} > 0)) || bases=("$(ctxfix::kube_version)")

for base in "${bases[@]}"; do
  "${CTXFIX_ROOT}/hack/prepare-tree.sh" "${base}"
  tree="$(ctxfix::tree_dir "${base}")"
  mapfile -t all_tests < <(ctxfix::series_tests "${base}" | cut -f2 | sort -u)
  mapfile -t commits < <(git -C "${tree}" rev-list --reverse "${base}..HEAD")
  restore() { git -C "${tree}" checkout -q -f main; }
  trap restore EXIT
  log="${CTXFIX_OUTPUT}/logs/bisect-${base}.log"
  : > "${log}"

  for commit in "${commits[@]}"; do
    git -C "${tree}" checkout -q -f --detach "${commit}"
    subject="$(git -C "${tree}" log -1 --format=%s)"
    ctxfix::log "${base}: ${subject}"
    mapfile -t go_files < <(git -C "${tree}" diff --name-only --diff-filter=d "${commit}^" "${commit}" -- '*.go')
    ((${#go_files[@]} > 0)) || continue
    unformatted="$(cd "${tree}" && gofmt -l "${go_files[@]}")"
    [[ -z "${unformatted}" ]] || ctxfix::die "${subject}: not gofmt-clean: ${unformatted}"
    mapfile -t packages < <(printf './%s\n' "${go_files[@]}" | xargs -n1 dirname | sort -u)
    ctxfix::go_in_tree "${base}" vet "${packages[@]}" >> "${log}" 2>&1 ||
      ctxfix::die "${subject}: go vet ${packages[*]} fails on ${base}; log: _output/logs/bisect-${base}.log"
    present=()
    for name in "${all_tests[@]}"; do
      if (cd "${tree}" && grep -qs -- "^func ${name}(" "${packages[@]/%//}"*_test.go); then
        present+=("${name}")
      fi
    done
    ((${#present[@]} > 0)) || continue
    ctxfix::go_in_tree "${base}" test -count=1 -run "$(ctxfix::run_regex "${present[@]}")" "${packages[@]}" >> "${log}" 2>&1 ||
      ctxfix::die "${subject}: the series' tests ${present[*]} fail at this commit on ${base}; log: _output/logs/bisect-${base}.log"
  done
  restore
  trap - EXIT
  ctxfix::log "${base}: each of the ${#commits[@]} commits builds, vets and passes its tests"
done
