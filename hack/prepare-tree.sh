#!/usr/bin/env bash
# Materializes the patched upstream tree of one base:
#
#   _output/src/<base>            git repository: one commit with the pristine
#                                 k8s.io/kubernetes@<base> module tree (tagged
#                                 <base>), then the series applied with git am
#   _output/modfiles/<base>/      the go.mod/go.sum the tree builds with:
#                                 upstream's, with published staging modules
#
# The pristine commit is checked against the h1 checksum build/upstream.sum
# pins (and the go command checks that against the checksum database when it
# first downloads the module): its files are hashed as the go command hashes a
# module folder. That catches an extracted module folder in the module cache
# that was written to after extraction, which the go command itself only sees
# in go mod verify. Commits are made with fixed identities and dates (the
# pristine one with the publication time pinned in build/bases.tsv), and git
# reads no configuration of the machine's (hack/lib/common.sh), so the same
# inputs give the same commit ids everywhere.
# A tree whose inputs have not changed, and whose pristine commit still hashes
# to the pinned checksum, is reused; anything else is rebuilt in a temporary
# folder and moved into place only once it verifies and every patch applied.
#
# Usage: hack/prepare-tree.sh [--stock] BASE
#   --stock   stop after the pristine commit (no patches).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

stock=false
if [[ "${1:-}" == "--stock" ]]; then
  stock=true
  shift
fi
[[ $# -eq 1 ]] || ctxfix::die "usage: $0 [--stock] BASE"
base="$1"
ctxfix::require_tools git go sha256sum
series_dir="$(ctxfix::series_dir "${base}")"
tool="$(ctxfix::build_tool)"
staging_version="$("${tool}" staging-version -base "${base}")"

which=()
${stock} && which=(--stock)
tree="$(ctxfix::tree_dir "${which[@]}" "${base}")"
modfile="$(ctxfix::modfile "${which[@]}" "${base}")"

pinned_sum="$(ctxfix::pinned_sum "${base}")"
[[ -n "${pinned_sum}" ]] || ctxfix::die "build/upstream.sum has no checksum for k8s.io/kubernetes ${base}"
pristine_date="$(awk -v base="${base}" '!/^#/ && $1 == base { print $3 }' "${CTXFIX_BASES}")"
[[ -n "${pristine_date}" ]] || ctxfix::die "build/bases.tsv has no publication time for ${base}"
module="k8s.io/kubernetes@${base}"

# What the tree is made of. Patches count only for a patched tree.
fingerprint="$(
  echo "${module} ${pinned_sum} ${pristine_date} stock=${stock}"
  if ! ${stock}; then
    ctxfix::series_patches "${base}" | while read -r patch; do
      echo "$(sha256sum < "${patch}" | cut -d' ' -f1) $(basename "${patch}")"
    done
  fi
)"

# pristine_sum REPO prints the h1 checksum of the files of REPO's pristine
# commit (the tag named by the base), hashed as the go command hashes a module.
pristine_sum() {
  "${tool}" tree-hash -repo "$1" -rev "refs/tags/${base}" -module "${module}" ||
    ctxfix::die "could not hash the pristine tree of ${module} in $1"
}

tree_is_current() {
  [[ -f "${tree}/.git/ctxfix-fingerprint" ]] || return 1
  [[ "$(cat "${tree}/.git/ctxfix-fingerprint")" == "${fingerprint}" ]] || return 1
  [[ "$(git -C "${tree}" rev-parse HEAD)" == "$(cat "${tree}/.git/ctxfix-head")" ]] || return 1
  [[ "$(git -C "${tree}" rev-list --max-parents=0 HEAD)" == "$(git -C "${tree}" rev-parse "refs/tags/${base}^{commit}")" ]] || return 1
  [[ -z "$(git -C "${tree}" status --porcelain --untracked-files=all --ignored)" ]] || return 1
  local sum
  sum="$(pristine_sum "${tree}")"
  if [[ "${sum}" != "${pinned_sum}" ]]; then
    ctxfix::log "the pristine commit of ${tree} hashes to ${sum}, not ${pinned_sum}: making the tree anew"
    return 1
  fi
}

write_modfile() {
  local src="$1" out_mod="$2"
  local out_sum="${out_mod%.mod}.sum"
  mkdir -p "$(dirname "${out_mod}")"
  "${tool}" modfile -staging-version "${staging_version}" -in "${src}/go.mod" -out "${out_mod}"
  # Upstream's go.sum, plus the pinned checksums of the published staging
  # modules (upstream builds them from ./staging, so its go.sum has none).
  {
    cat "${src}/go.sum"
    awk -v v="${staging_version}" '$1 ~ /^k8s\.io\// && ($2 == v || $2 == v "/go.mod")' "${CTXFIX_UPSTREAM_SUM}"
  } > "${out_sum}"
  local staging
  for staging in $(awk -v v="${staging_version}" '$1 == "=>" { next } $3 == "=>" && $5 == v { print $4 }' "${out_mod}"); do
    grep -q "^${staging} ${staging_version} " "${out_sum}" ||
      ctxfix::die "build/upstream.sum has no checksum for ${staging} ${staging_version}, which ${base} requires (hack/add-base.sh ${base} records them)"
  done
}

if tree_is_current; then
  write_modfile "${tree}" "${modfile}"
  exit 0
fi

ctxfix::log "Fetching k8s.io/kubernetes@${base} through the Go module proxy"
download_json="$(cd / && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${base}" 2>&1)" ||
  ctxfix::die "k8s.io/kubernetes@${base} could not be downloaded: ${download_json}"
module_dir="$(ctxfix::json_field Dir <<<"${download_json}")"
module_sum="$(ctxfix::json_field Sum <<<"${download_json}")"
[[ -d "${module_dir}" ]] || ctxfix::die "go mod download reported no folder for k8s.io/kubernetes@${base}"
if [[ "${module_sum}" != "${pinned_sum}" ]]; then
  ctxfix::die "checksum mismatch for k8s.io/kubernetes@${base}: the module cache has ${module_sum}, build/upstream.sum pins ${pinned_sum}"
fi

mkdir -p "$(dirname "${tree}")"
work="$(mktemp -d "$(dirname "${tree}")/.${base}.XXXXXX")"
cleanup() { rm -rf "${work}"; }
trap cleanup EXIT

ctxfix::log "Materializing ${base} in ${tree}"
cp -R "${module_dir}/." "${work}/"
chmod -R u+w "${work}"

# Fixed identities and dates: the pristine commit is dated by the module's
# publication time, each patch by its own author date.
export GIT_AUTHOR_NAME="kubelet-ctxfix" GIT_AUTHOR_EMAIL="build@kubelet-ctxfix.invalid"
export GIT_COMMITTER_NAME="kubelet-ctxfix" GIT_COMMITTER_EMAIL="build@kubelet-ctxfix.invalid"
(
  cd "${work}"
  # No template: no hooks, no excludes of the machine's.
  git init -q --template= -b main
  git config core.autocrlf false
  git config am.keepcr true
  # Upstream's .gitattributes asks for eol conversion (* text=auto eol=lf);
  # git's text detection varies by version, so record the module's bytes as
  # they are, and check out the same.
  mkdir -p .git/info
  echo '* -text -eol -ident -filter -working-tree-encoding' > .git/info/attributes
  git add -A -f
  GIT_AUTHOR_DATE="${pristine_date}" GIT_COMMITTER_DATE="${pristine_date}" \
    git commit -q --no-verify -m "Kubernetes ${base}" \
    -m "Pristine tree of the Go module k8s.io/kubernetes@${base} (${module_sum})."
  git tag "${base}"
) || ctxfix::die "could not record the pristine tree of ${base}"
# What git recorded is what gets patched and built: check that, not the folder
# it came from.
sum="$(pristine_sum "${work}")"
if [[ "${sum}" != "${pinned_sum}" ]]; then
  ctxfix::die "checksum mismatch for ${module}: its files hash to ${sum}, build/upstream.sum pins ${pinned_sum}.
The extracted module folder ${module_dir} has been changed, or added to, since the go command extracted it (go mod verify reports it too). Remove it with 'go clean -modcache', or point GOMODCACHE at an empty folder, and run again: the go command downloads the module anew and checks it against the checksum database."
fi

if ! ${stock}; then
  while read -r patch; do
    if ! out="$(git -C "${work}" am --committer-date-is-author-date --quiet "${patch}" 2>&1)"; then
      git -C "${work}" am --abort >/dev/null 2>&1 || true
      # Keep git's diagnosis; drop its advice on resuming, as the attempt
      # has been aborted.
      ctxfix::die "patch $(basename "${patch}") from ${series_dir#"${CTXFIX_ROOT}"/} does not apply to ${base}:
$(grep -E '^(error|fatal|Patch failed)' <<<"${out}" || echo "${out}")"
    fi
  done < <(ctxfix::series_patches "${base}")
fi

git -C "${work}" rev-parse HEAD > "${work}/.git/ctxfix-head"
echo "${fingerprint}" > "${work}/.git/ctxfix-fingerprint"
write_modfile "${work}" "${modfile}"

rm -rf "${tree}"
mv "${work}" "${tree}"
trap - EXIT
ctxfix::log "${base}: $(git -C "${tree}" rev-list --count "${base}..HEAD") patch(es) applied, HEAD $(git -C "${tree}" rev-parse --short HEAD)"
