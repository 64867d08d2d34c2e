#!/usr/bin/env bash
# Checks the form of every patch series: git format-patch files with a
# commit message that says why, stable headers (no commit ids, no git
# version), and references to the upstream issues they address. A carried
# series names each patch's kind in its subject as openshift/kubernetes does
# (UPSTREAM: <PR number>: for a backport, UPSTREAM: <carry>: for a change of
# this project). A series with a PULL_REQUEST.md is the pull request proposed
# upstream: kubernetes/kubernetes subjects ("kubelet: ..."), and a description
# with /kind, /sig and a release-note block.
#
# Usage: hack/verify-patches.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

errors=()
mapfile -t series < <(awk '!/^#/ && NF { print $2 }' "${CTXFIX_BASES}" | sort -u)
for dir in "${series[@]}"; do
  mapfile -t patches < <(find "${CTXFIX_ROOT}/${dir}" -maxdepth 1 -name '*.patch' | LC_ALL=C sort)
  ((${#patches[@]} > 0)) || errors+=("${dir}: no patches")
  pull_request=false
  description="${CTXFIX_ROOT}/${dir}/PULL_REQUEST.md"
  if [[ -f "${description}" ]]; then
    pull_request=true
    grep -qE '^/kind [a-z-]+$' "${description}" || errors+=("${dir}/PULL_REQUEST.md: no /kind line")
    grep -qxF '/sig node' "${description}" || errors+=("${dir}/PULL_REQUEST.md: no '/sig node' line")
    grep -qxF '```release-note' "${description}" || errors+=("${dir}/PULL_REQUEST.md: no release-note block")
  fi
  n=0
  for patch in "${patches[@]}"; do
    n=$((n + 1))
    name="${dir}/$(basename "${patch}")"
    [[ "$(basename "${patch}")" == "$(printf '%04d' "${n}")-"* ]] || errors+=("${name}: not numbered $(printf '%04d' "${n}") in series order")
    [[ "$(head -1 "${patch}")" == "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001" ]] ||
      errors+=("${name}: first line is not a zeroed format-patch header (git format-patch --zero-commit)")
    subject="$(sed -n '/^Subject: /{s/^Subject: \[PATCH[^]]*\] //;p;q}' "${patch}")"
    if ${pull_request}; then
      [[ "${subject}" =~ ^[a-z0-9/._-]+:\  && "${subject}" != UPSTREAM:* ]] ||
        errors+=("${name}: subject '${subject}' is not a kubernetes/kubernetes subject ('kubelet: ...'), as a pull request needs")
      reference='#[0-9]+'
    else
      [[ "${subject}" =~ ^UPSTREAM:\ (\<carry\>|\<drop\>|[0-9]+):\  ]] ||
        errors+=("${name}: subject '${subject}' does not start with 'UPSTREAM: <PR>: ', 'UPSTREAM: <carry>: ' or 'UPSTREAM: <drop>: '")
      reference='kubernetes#[0-9]+'
    fi
    body_lines="$(awk '/^Subject: /{s=1; next} s && /^---$/{exit} s && NF {n++} END {print n+0}' "${patch}")"
    ((body_lines >= 5)) || errors+=("${name}: the commit message has no real body (what and why)")
    message="$(awk '/^---$/ { exit } { print }' "${patch}")"
    grep -qE "${reference}" <<<"${message}" ||
      errors+=("${name}: the commit message names no upstream issue or PR (${reference/\[0-9\]+/NNNN})")
    if grep -qE '^-- *$' "${patch}" && tail -3 "${patch}" | grep -qE '^[0-9]+\.[0-9]+'; then
      errors+=("${name}: ends with a git version signature (git format-patch --no-signature)")
    fi
  done
done

if ((${#errors[@]} > 0)); then
  printf 'ERROR: %s\n' "${errors[@]}" >&2
  exit 1
fi
ctxfix::log "patch series ${series[*]}: well-formed"
