#!/usr/bin/env bash
# Checks the GitHub Actions workflows (.github/workflows/) with actionlint
# (github.com/rhysd/actionlint at the version build/upstream.sum pins), which
# knows the inputs of the popular actions: a misspelt input would otherwise
# show only when a tag is pushed. Then checks the check: a copy of the
# release workflow with an input that actions/checkout does not have must
# fail, naming the input.
#
# Usage: hack/verify-workflows.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ctxfix::require_tools go
actionlint="$(ctxfix::pinned_tool github.com/rhysd/actionlint github.com/rhysd/actionlint/cmd/actionlint)"
mapfile -t workflows < <(find "${CTXFIX_ROOT}/.github/workflows" -name '*.yml' | LC_ALL=C sort)
((${#workflows[@]} > 0)) || ctxfix::die "no workflows in .github/workflows"
# shellcheck and pyflakes, which actionlint runs when they are on PATH, are
# off: the same check on every machine.
lint=("${actionlint}" -no-color -shellcheck= -pyflakes=)
(cd "${CTXFIX_ROOT}" && "${lint[@]}" "${workflows[@]#"${CTXFIX_ROOT}"/}") ||
  ctxfix::die "actionlint finds faults in .github/workflows (above)"
ctxfix::log "actionlint $("${actionlint}" -version | head -n 1): ${workflows[*]#"${CTXFIX_ROOT}"/} pass"

mkdir -p "${CTXFIX_OUTPUT}/tmp"
scratch="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/workflows.XXXXXX")"
trap 'rm -rf "${scratch}"' EXIT
release="${CTXFIX_ROOT}/.github/workflows/release.yml"
grep -qx '          persist-credentials: false' "${release}" ||
  ctxfix::die "release.yml no longer gives actions/checkout persist-credentials: false, which this check alters"
sed 's/^          persist-credentials: false$/          persist-credential: false/' "${release}" > "${scratch}/release.yml"
if "${lint[@]}" "${scratch}/release.yml" > "${scratch}/out" 2>&1; then
  ctxfix::die "actionlint passes a release.yml whose actions/checkout has the unknown input persist-credential"
fi
grep -q 'input "persist-credential" is not defined in action "actions/checkout@v4"' "${scratch}/out" ||
  { cat "${scratch}/out" >&2; ctxfix::die "actionlint fails the altered release.yml, but not for its unknown input"; }
ctxfix::log "actionlint refuses an unknown input of actions/checkout: $(grep -o 'input "persist-credential".*' "${scratch}/out" | head -n 1)"
