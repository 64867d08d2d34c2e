#!/usr/bin/env bash
# Checks that every commit of the series is bisectable on a base: applied one
# at a time to the pristine tree, each commit is gofmt-clean, everything
# under pkg/kubelet builds, the packages it touches and every package under
# pkg/kubelet that imports them vet, and the series' tests that exist in the
# touched packages at that commit (as go test -list finds them) pass.
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
    mapfile -t touched < <(printf './%s\n' "${go_files[@]}" | xargs -n1 dirname | sort -u)
    # Everything under pkg/kubelet builds: a commit that breaks a caller of
    # what it changed is not bisectable, even if its own packages build.
    ctxfix::go_in_tree "${base}" build ./pkg/kubelet/... >> "${log}" 2>&1 ||
      ctxfix::die "${subject}: go build ./pkg/kubelet/... fails on ${base}; log: _output/logs/bisect-${base}.log"
    # vet the touched packages and every package under pkg/kubelet that
    # imports one of them, test files included.
    mapfile -t touched_paths < <(ctxfix::go_in_tree "${base}" list "${touched[@]}")
    mapfile -t vetted < <(
      printf '%s\n' "${touched_paths[@]}"
      ctxfix::go_in_tree "${base}" list -f '{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./pkg/kubelet/... |
        awk -v touched=" ${touched_paths[*]} " '{ for (i = 2; i <= NF; i++) if (index(touched, " " $i " ")) { print $1; next } }' |
        sort -u
    )
    ctxfix::go_in_tree "${base}" vet "${vetted[@]}" >> "${log}" 2>&1 ||
      ctxfix::die "${subject}: go vet of ${#vetted[@]} packages (${touched[*]} and their importers) fails on ${base}; log: _output/logs/bisect-${base}.log"
    # The series' tests that exist at this commit, as go test -list finds
    # them (it compiles the tests, so a test file that does not build fails
    # here).
    present=()
    if ((${#all_tests[@]} > 0)); then
      listed="$(ctxfix::go_in_tree "${base}" test -list "$(ctxfix::run_regex "${all_tests[@]}")" "${touched[@]}" 2>> "${log}")" ||
        ctxfix::die "${subject}: go test -list ${touched[*]} fails on ${base}; log: _output/logs/bisect-${base}.log"
      mapfile -t present < <(grep -E '^Test' <<<"${listed}" | sort -u)
    fi
    ctxfix::log "${base}: ${subject}: builds pkg/kubelet/..., vets ${#vetted[@]} packages, ${#present[@]} series tests present"
    ((${#present[@]} > 0)) || continue
    ctxfix::go_in_tree "${base}" test -count=1 -run "$(ctxfix::run_regex "${present[@]}")" "${touched[@]}" >> "${log}" 2>&1 ||
      ctxfix::die "${subject}: the series' tests ${present[*]} fail at this commit on ${base}; log: _output/logs/bisect-${base}.log"
  done
  restore
  trap - EXIT
  ctxfix::log "${base}: at each of the ${#commits[@]} commits pkg/kubelet/... builds, the touched packages and their importers vet, and the series' tests present pass"
done
