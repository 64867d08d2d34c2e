#!/usr/bin/env bash
# Shared helpers for the hack/ scripts. Source it; do not run it.

CTXFIX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Everything built goes under CTXFIX_OUTPUT; hack/verify-reproducible.sh
# points it elsewhere to build from fresh trees.
CTXFIX_OUTPUT="${CTXFIX_OUTPUT:-${CTXFIX_ROOT}/_output}"
CTXFIX_CHECKSUMS="${CTXFIX_CHECKSUMS:-${CTXFIX_ROOT}/build/CHECKSUMS}"
CTXFIX_BASES="${CTXFIX_ROOT}/build/bases.tsv"
CTXFIX_UPSTREAM_SUM="${CTXFIX_ROOT}/build/upstream.sum"
mkdir -p "${CTXFIX_OUTPUT}/logs"

# Builds of upstream code never pick up a go.work from a parent folder, and the
# toolchain is the one on the machine: a build that silently downloaded another
# Go would not be the build we tested.
export GOWORK=off
export GOTOOLCHAIN=local
# Everything is built and tested static, as the released kubelet is: one
# configuration, so tests and builds share one build cache.
export CGO_ENABLED=0

# Nothing of the machine's own configuration reaches a tree, a binary or a
# release: the inputs are the module, the series, VERSION, the Go on PATH, the
# flags the scripts pass and SOURCE_DATE_EPOCH, and nothing else.
# - git reads no global or system configuration: an apply.whitespace=fix, a
#   clean filter, an eol setting or a commit template would change what git am
#   and git commit record.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
# No automatic gc or maintenance: a commit of a whole tree leaves thousands of
# loose objects, and git would pack them in a detached background process
# while the tree is moved into place or removed.
export GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0=gc.auto GIT_CONFIG_VALUE_0=0 GIT_CONFIG_KEY_1=maintenance.auto GIT_CONFIG_VALUE_1=false
# - no locale or time zone in messages parsed, dates formatted or files sorted;
export LC_ALL=C TZ=UTC
# - files are created with the same modes everywhere;
umask 022
# - the go command takes no build setting from the environment or a go env
#   file (GOFLAGS=-tags=..., GOAMD64=v3, GOEXPERIMENT=... would give other
#   bytes). No VCS stamp either: the trees are git repositories, and the
#   version stamp already names the commit.
export GOFLAGS=-buildvcs=false GOAMD64=v1 GOARM64=v8.0 GOEXPERIMENT= GOFIPS140=off

ctxfix::log() {
  echo "+++ $*" >&2
}

ctxfix::die() {
  echo "ERROR: $*" >&2
  exit 1
}

# ctxfix::record_pid DIR NAME PID ARGV...: records a started process as
# pkg/nodeproc does, NAME.pid and NAME.cmdline (its argv, as
# /proc/PID/cmdline reads), for ctxfix::stop_recorded.
ctxfix::record_pid() {
  local dir="$1" name="$2" pid="$3"
  shift 3
  printf '%s\0' "$@" >"${dir}/${name}.cmdline"
  echo "${pid}" >"${dir}/${name}.pid"
}

# ctxfix::recorded_runs RECORD: whether the process recorded as RECORD.pid and
# RECORD.cmdline still runs: /proc/PID/cmdline is the recorded one. A process
# that exited, a zombie (empty cmdline) or another process that reused the
# number does not. Compared byte for byte, through a pipe: /proc files report
# a size of 0, and cmp takes two regular files of different sizes to differ
# unread. A process that exits as it is read does not run either: cat's
# error goes into the compared bytes, which then differ, and is not printed.
ctxfix::recorded_runs() {
  local pid
  pid="$(<"$1.pid")"
  [[ -e "/proc/${pid}/cmdline" ]] || return 1
  cmp -s <(cat "/proc/${pid}/cmdline" 2>&1) "$1.cmdline"
}

# ctxfix::stop_recorded DIR stops every process recorded in DIR (pkg/nodeproc's
# records, or ctxfix::record_pid's), the newest first, as nodeproc stops its
# own: SIGTERM, then SIGKILL after 30 s (one kube-apiserver once hung on
# SIGTERM here). Only a process that ctxfix::recorded_runs is signalled, and
# only it, not its process group: the shell's background jobs share the
# shell's. The records are removed.
ctxfix::stop_recorded() {
  local dir="$1" record pid i
  [[ -d "${dir}" ]] || return 0
  while read -r record; do
    record="${record%.pid}"
    pid="$(<"${record}.pid")"
    if ctxfix::recorded_runs "${record}"; then
      ctxfix::log "stopping ${record##*/} (pid ${pid})"
      # A kill that fails is a process that exited since the check.
      if ! kill -TERM "${pid}"; then
        ctxfix::log "${record##*/} (pid ${pid}) exited before SIGTERM"
      fi
      for ((i = 0; i < 300; i++)); do
        ctxfix::recorded_runs "${record}" || break
        sleep 0.1
      done
      if ctxfix::recorded_runs "${record}"; then
        ctxfix::log "${record##*/} (pid ${pid}) did not stop on SIGTERM in 30 s: SIGKILL"
        if ! kill -KILL "${pid}"; then
          ctxfix::log "${record##*/} (pid ${pid}) exited before SIGKILL"
        fi
      fi
    fi
    rm -f "${record}.pid" "${record}.cmdline"
  done < <(find "${dir}" -maxdepth 1 -name '*.pid' -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
}

# ctxfix::require_tools TOOL... fails naming every tool that is missing.
ctxfix::require_tools() {
  local missing=()
  local tool
  for tool in "$@"; do
    command -v "${tool}" >/dev/null 2>&1 || missing+=("${tool}")
  done
  if ((${#missing[@]} > 0)); then
    ctxfix::die "missing required tool(s): ${missing[*]} (install them and put them on PATH)"
  fi
}

# ctxfix::require_packages TOOL:DEBIAN_PACKAGE... makes sure every TOOL is on
# PATH. Run as root, it installs the Debian packages of the missing ones, as a
# fresh machine needs; otherwise it fails with the apt-get line that would.
ctxfix::require_packages() {
  local pair missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  ((${#missing[@]} > 0)) || return 0
  if [[ "$(id -u)" != 0 ]]; then
    ctxfix::die "missing Debian package(s): ${missing[*]}; install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  ctxfix::log "Installing Debian package(s): ${missing[*]}"
  # apt-get needs its package lists once on a fresh machine.
  apt-get update -qq >&2 || ctxfix::die "apt-get update failed; cannot install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    ctxfix::die "could not install Debian package(s): ${missing[*]}"
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || ctxfix::die "${pair#*:} is installed but ${pair%%:*} is still not on PATH"
  done
}

# ctxfix::json_field FIELD prints the value of a top-level string FIELD of the
# JSON that `go mod download -json` writes on stdin (one field a line, tab
# indented; the last one without a comma).
ctxfix::json_field() {
  sed -n "s/^\t\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p"
}

# ctxfix::pinned_sum BASE prints the h1 checksum build/upstream.sum pins for
# k8s.io/kubernetes at BASE, or nothing.
ctxfix::pinned_sum() {
  awk -v base="$1" '$1 == "k8s.io/kubernetes" && $2 == base { print $3 }' "${CTXFIX_UPSTREAM_SUM}"
}

# ctxfix::version_default KEY prints KEY's value from the VERSION file.
ctxfix::version_default() {
  local key="$1" value
  value="$(sed -n "s/^${key}=//p" "${CTXFIX_ROOT}/VERSION")"
  [[ -n "${value}" ]] || ctxfix::die "VERSION has no ${key}= line"
  echo "${value}"
}

# ctxfix::supported_bases prints every base in build/bases.tsv, one a line.
ctxfix::supported_bases() {
  awk '!/^#/ && NF { print $1 }' "${CTXFIX_BASES}"
}

# ctxfix::kube_version prints KUBE_VERSION, or the default base from VERSION,
# after checking that it is a supported base.
ctxfix::kube_version() {
  local base="${KUBE_VERSION:-}"
  [[ -n "${base}" ]] || base="$(ctxfix::version_default KUBE_VERSION)"
  ctxfix::series_dir "${base}" >/dev/null
  echo "${base}"
}

# ctxfix::series_dir BASE prints the folder of the patch series for BASE.
ctxfix::series_dir() {
  local base="$1" series
  series="$(awk -v base="${base}" '!/^#/ && $1 == base { print $2 }' "${CTXFIX_BASES}")"
  if [[ -z "${series}" ]]; then
    ctxfix::die "unknown base '${base}': supported bases are $(ctxfix::supported_bases | paste -sd' ') (build/bases.tsv; hack/add-base.sh adds one)"
  fi
  [[ -d "${CTXFIX_ROOT}/${series}" ]] || ctxfix::die "build/bases.tsv names series ${series} for ${base}, but there is no such folder"
  echo "${CTXFIX_ROOT}/${series}"
}

# ctxfix::series_patches BASE prints the patch files of BASE's series in order.
ctxfix::series_patches() {
  local dir
  dir="$(ctxfix::series_dir "$1")"
  find "${dir}" -maxdepth 1 -name '*.patch' | LC_ALL=C sort
}

# ctxfix::go_tool PACKAGE builds a command of this module's go.mod (its own
# or a tool it requires) into _output/bin and prints its path. The go command
# makes this cheap when nothing changed.
ctxfix::go_tool() {
  local package="$1" bin="${CTXFIX_OUTPUT}/bin/${1##*/}"
  # The same bytes from any checkout at any commit: cyclonedx-gomod writes
  # its own sha256 into the SBOMs, which the release's sums cover.
  (cd "${CTXFIX_ROOT}" && go build -mod=readonly -trimpath -buildvcs=false -o "${bin}" "${package}") || ctxfix::die "could not build ${package}"
  echo "${bin}"
}

# ctxfix::build_tool prints the path of the ctxfix-build helper.
ctxfix::build_tool() {
  ctxfix::go_tool ./cmd/ctxfix-build
}

# ctxfix::distribution_version BASE prints the version a build of BASE is
# stamped with, e.g. v1.36.5-ctxfix.1.
ctxfix::distribution_version() {
  "$(ctxfix::build_tool)" version -base "$1" -revision "$(ctxfix::version_default CTXFIX_REVISION)"
}

# ctxfix::tree_dir [--stock] BASE and ctxfix::modfile [--stock] BASE name
# where hack/prepare-tree.sh puts the patched (or stock) tree of BASE and the
# go.mod it builds with.
ctxfix::tree_dir() {
  if [[ "$1" == "--stock" ]]; then
    echo "${CTXFIX_OUTPUT}/stock/$2"
  else
    echo "${CTXFIX_OUTPUT}/src/$1"
  fi
}
ctxfix::modfile() {
  if [[ "$1" == "--stock" ]]; then
    echo "${CTXFIX_OUTPUT}/modfiles/$2-stock/kubernetes.mod"
  else
    echo "${CTXFIX_OUTPUT}/modfiles/$1/kubernetes.mod"
  fi
}

# ctxfix::go_in_tree [--stock] BASE GO-SUBCOMMAND ARGS... runs the go command
# inside the patched (or stock) tree of BASE, as its main module, with
# published staging modules.
ctxfix::go_in_tree() {
  local which=()
  if [[ "$1" == "--stock" ]]; then
    which=(--stock)
    shift
  fi
  local base="$1" subcommand="$2"
  shift 2
  local tree modfile
  tree="$(ctxfix::tree_dir "${which[@]}" "${base}")"
  modfile="$(ctxfix::modfile "${which[@]}" "${base}")"
  (cd "${tree}" && go "${subcommand}" -modfile="${modfile}" -mod=readonly -trimpath "$@")
}

# ctxfix::e2e_suite BASE PACKAGE OUT_DIR builds upstream's e2e suite PACKAGE
# (./test/e2e or ./test/e2e_node) of the patched tree of BASE into
# OUT_DIR/<name>.test, and ginkgo of the same tree beside it: the tests of
# the code that ships.
ctxfix::e2e_suite() {
  local base="$1" package="$2" out_dir="$3" name
  name="$(basename "${package}").test"
  mkdir -p "${out_dir}"
  ctxfix::go_in_tree "${base}" test -c -o "${out_dir}/${name}" "${package}" ||
    ctxfix::die "could not build ${name} of ${base}"
  ctxfix::go_in_tree "${base}" build -o "${out_dir}/ginkgo" github.com/onsi/ginkgo/v2/ginkgo ||
    ctxfix::die "could not build ginkgo of ${base}"
}

# ctxfix::series_tests BASE prints "PACKAGE<TAB>TestName" for every test
# function the series of BASE adds, PACKAGE relative to the tree (./pkg/...).
ctxfix::series_tests() {
  local patch
  while read -r patch; do
    awk '
      /^diff --git a\// { file = $3; sub(/^a\//, "", file) }
      /^\+func Test[A-Za-z0-9_]*\(t \*testing\.T\)/ && file ~ /_test\.go$/ {
        name = $2; sub(/\(.*/, "", name)
        dir = file; sub(/\/[^\/]*$/, "", dir)
        print "./" dir "\t" name
      }' "${patch}"
  done < <(ctxfix::series_patches "$1")
}

# ctxfix::run_regex NAME... prints a go test -run pattern matching exactly
# the named top-level tests.
ctxfix::run_regex() {
  local IFS='|'
  echo "^($*)\$"
}

# ctxfix::apply_series_tests BASE adds the test half of BASE's series to the
# stock tree of BASE: every *_test.go change and every file the series creates
# (test helpers). Changes to existing non-test files are the fix, and stay out.
# The caller restores the tree with ctxfix::restore_stock_tree.
ctxfix::apply_series_tests() {
  local base="$1" stock_tree patch created includes
  stock_tree="$(ctxfix::tree_dir --stock "${base}")"
  while read -r patch; do
    includes=(--include='*_test.go')
    while read -r created; do
      includes+=(--include="${created}")
    done < <(awk '/^diff --git a\// { file = $3; sub(/^a\//, "", file) } /^new file mode/ { print file }' "${patch}")
    git -C "${stock_tree}" apply "${includes[@]}" "${patch}" ||
      ctxfix::die "the tests of $(basename "${patch}") do not apply to stock ${base} on their own"
  done < <(ctxfix::series_patches "${base}")
}

# ctxfix::restore_stock_tree BASE undoes ctxfix::apply_series_tests.
ctxfix::restore_stock_tree() {
  local stock_tree
  stock_tree="$(ctxfix::tree_dir --stock "$1")"
  git -C "${stock_tree}" checkout -q -f HEAD && git -C "${stock_tree}" clean -q -f -d
}

# ctxfix::checksummed_bases prints every base build/CHECKSUMS has lines for,
# one a line, whatever their revision.
ctxfix::checksummed_bases() {
  awk '!/^#/ && NF { base = $2; sub(/-ctxfix\..*/, "", base); print base }' "${CTXFIX_CHECKSUMS}" | sort -uV
}

# ctxfix::verify_recorded_checksum NAME SHA256 fails unless build/CHECKSUMS
# records SHA256 for NAME (<version>/bin/linux/<arch>/kubelet). A NAME it
# does not list fails too: a pin that switches itself off for whatever it
# does not know pins nothing. CTXFIX_UNPINNED=1 lets such a build through,
# saying so in the log, for builds that are knowingly unpinned (make
# test-matrix's bases, a developer's experiment). The file records the Go it
# was made with, since another Go gives other bytes.
ctxfix::verify_recorded_checksum() {
  local name="$1" actual="$2" recorded recorded_go go_version base other
  [[ -f "${CTXFIX_CHECKSUMS}" ]] || ctxfix::die "build/CHECKSUMS is missing (make update-checksums writes it)"
  recorded="$(awk -v name="${name}" '!/^#/ && $2 == name { print $1 }' "${CTXFIX_CHECKSUMS}")"
  if [[ -z "${recorded}" ]]; then
    if [[ "${CTXFIX_UNPINNED:-}" == 1 ]]; then
      ctxfix::log "UNPINNED: build/CHECKSUMS does not list ${name}, and CTXFIX_UNPINNED=1 lets it through unverified"
      return 0
    fi
    base="${name%%-ctxfix.*}"
    # The same binary of the same base at another revision: the series or
    # VERSION moved on and the sums did not.
    other="$(awk -v base="${base}" -v rest="${name#*/}" '!/^#/ { b = $2; sub(/-ctxfix\..*/, "", b); r = $2; sub(/^[^\/]*\//, "", r); if (b == base && r == rest) print $2 }' "${CTXFIX_CHECKSUMS}")"
    if [[ -n "${other}" ]]; then
      ctxfix::die "checksum mismatch for ${name}: built ${actual}, build/CHECKSUMS records ${other%%/*} for this binary, another revision than VERSION's; rerecord with make update-checksums BASES=${base}"
    fi
    ctxfix::die "build/CHECKSUMS does not list ${name}, so its bytes cannot be verified: record the base with make update-checksums BASES=${base}, or build it knowingly unpinned with CTXFIX_UNPINNED=1"
  fi
  recorded_go="$(sed -n 's/^# go: //p' "${CTXFIX_CHECKSUMS}")"
  go_version="$(go env GOVERSION)"
  [[ "${recorded_go}" == "${go_version}" ]] ||
    ctxfix::die "build/CHECKSUMS was recorded with ${recorded_go}, but this build uses ${go_version}, which gives other bytes; build with ${recorded_go} (or rerecord with make update-checksums)"
  [[ "${actual}" == "${recorded}" ]] ||
    ctxfix::die "checksum mismatch for ${name}: built ${actual}, build/CHECKSUMS records ${recorded}. Same Go, so the inputs differ: a changed patch, VERSION or SOURCE_DATE_EPOCH (${SOURCE_DATE_EPOCH:-unset}); if the change is intended, rerecord with make update-checksums"
  ctxfix::log "${name}: sha256 matches build/CHECKSUMS"
}

# ctxfix::source_date_epoch TREE prints SOURCE_DATE_EPOCH, or the commit date
# of TREE's HEAD: the build date every artifact of a release carries.
ctxfix::source_date_epoch() {
  echo "${SOURCE_DATE_EPOCH:-$(git -C "$1" log -1 --format=%ct HEAD)}"
}

# ctxfix::stamp FORMAT TREE VERSION prints how a kubelet built from TREE is
# stamped as VERSION, as upstream's hack/lib/version.sh stamps it: FORMAT
# ldflags gives the -X flags, version-vars the same values in upstream's
# KUBE_GIT_VERSION_FILE format.
ctxfix::stamp() {
  local format="$1" tree="$2" version="$3" tree_state=clean
  [[ -z "$(git -C "${tree}" status --porcelain)" ]] || tree_state=dirty
  "$(ctxfix::build_tool)" "${format}" -version "${version}" -commit "$(git -C "${tree}" rev-parse HEAD)" \
    -tree-state "${tree_state}" -source-date-epoch "$(ctxfix::source_date_epoch "${tree}")"
}

# ctxfix::upstream_packaging prints the folder of upstream's packaging files,
# one subfolder per package (kubelet/kubelet.service, kubelet/kubelet.env,
# kubeadm/10-kubeadm.conf, ...): kubernetes/release's krel templates, from the
# Go module k8s.io/release at the version build/upstream.sum pins, checked
# against the sum recorded there.
ctxfix::upstream_packaging() {
  local dir file
  dir="$(ctxfix::pinned_dir k8s.io/release)/cmd/krel/templates/latest"
  for file in kubelet/kubelet.service kubelet/kubelet.env kubeadm/10-kubeadm.conf; do
    [[ -f "${dir}/${file}" ]] || ctxfix::die "the pinned k8s.io/release has no cmd/krel/templates/latest/${file}"
  done
  echo "${dir}"
}

# ctxfix::node_deb [--upstream-stand-in] NAME BINARY BASE ARCH OUT_DIR
# RELEASE_TOOL packages BINARY of BASE as the release's packaging makes the
# deb of NAME (kubelet or kubeadm), into OUT_DIR, and prints the deb's path.
# With --upstream-stand-in it is the stock binary under upstream's name and
# version (1.36.5-1.1), a stand-in for upstream's package for tests, which
# its description says, and its file is named *.test-stand-in.deb so that
# nobody takes it for upstream's.
ctxfix::node_deb() {
  local stand_in=()
  if [[ "$1" == --upstream-stand-in ]]; then
    stand_in=(-upstream-stand-in)
    shift
  fi
  # Called in $(...), where errexit is off: every step says how it failed.
  local name="$1" binary="$2" base="$3" arch="$4" out="$5" release_tool="$6" packaging tree revision epoch deb files
  packaging="$(ctxfix::upstream_packaging)" || ctxfix::die "no upstream packaging to package ${name} with"
  tree="$(ctxfix::tree_dir --stock "${base}")" || ctxfix::die "no stock tree of ${base}"
  revision="$(ctxfix::version_default CTXFIX_REVISION)" || ctxfix::die "no revision in VERSION"
  epoch="$(ctxfix::source_date_epoch "${tree}")" || ctxfix::die "no source date of ${tree}"
  mkdir -p "${out}" || ctxfix::die "could not make ${out}"
  case "${name}" in
    kubelet) files=(-set "KUBELET_BINARY=${binary}" -set "KUBELET_UNIT=${packaging}/kubelet/kubelet.service"
      -set "KUBELET_ENV=${packaging}/kubelet/kubelet.env") ;;
    kubeadm)
      # kubeadm.spec makes this substitution when debbuild builds the deb.
      sed 's;/etc/sysconfig/kubelet;/etc/default/kubelet;g' "${packaging}/kubeadm/10-kubeadm.conf" >"${out}/10-kubeadm.deb.conf" ||
        ctxfix::die "could not write ${out}/10-kubeadm.deb.conf"
      files=(-set "KUBEADM_BINARY=${binary}" -set "KUBEADM_DROPIN_RPM=${packaging}/kubeadm/10-kubeadm.conf"
        -set "KUBEADM_DROPIN_DEB=${out}/10-kubeadm.deb.conf") ;;
    *) ctxfix::die "no package of ${name}: want kubelet or kubeadm" ;;
  esac
  deb="$("${release_tool}" package -format deb -config "${CTXFIX_ROOT}/build/packaging/${name}.nfpm.yaml" "${stand_in[@]}" \
    "${files[@]}" -set "LICENSE=${tree}/LICENSE" -set "KUBE_BASE=${base}" \
    -arch "${arch}" -base "${base}" -revision "${revision}" -source-date-epoch "${epoch}" -out-dir "${out}")" ||
    ctxfix::die "could not package the ${name} ${binary} of ${base} as a deb"
  rm -f "${out}/10-kubeadm.deb.conf" || ctxfix::die "could not remove ${out}/10-kubeadm.deb.conf"
  if ((${#stand_in[@]} > 0)); then
    mv "${deb}" "${deb%.deb}.test-stand-in.deb" || ctxfix::die "could not rename ${deb}"
    deb="${deb%.deb}.test-stand-in.deb"
  fi
  echo "${deb}"
}

# ctxfix::pinned_json MODULE downloads the version of MODULE that
# build/upstream.sum pins, checks its sum against the pin and prints
# `go mod download -json`'s answer; ctxfix::pinned_version and
# ctxfix::pinned_dir print its version and its folder.
ctxfix::pinned_json() {
  local module="$1" version pinned json sum
  read -r version pinned < <(awk -v module="${module}" '$1 == module && $2 !~ /\/go\.mod$/ { print $2, $3 }' "${CTXFIX_UPSTREAM_SUM}")
  [[ -n "${version:-}" ]] || ctxfix::die "build/upstream.sum pins no ${module}"
  # From outside any module, so that no go.mod or go.sum is touched.
  json="$(cd / && go mod download -json "${module}@${version}")" ||
    ctxfix::die "could not download ${module}@${version} through the Go module proxy: ${json}"
  sum="$(ctxfix::json_field Sum <<<"${json}")"
  [[ "${sum}" == "${pinned}" ]] || ctxfix::die "${module}@${version} has sum ${sum}, build/upstream.sum pins ${pinned}"
  echo "${json}"
}
ctxfix::pinned_version() { ctxfix::pinned_json "$1" | ctxfix::json_field Version; }
ctxfix::pinned_dir() { ctxfix::pinned_json "$1" | ctxfix::json_field Dir; }

# ctxfix::build_pinned MODULE VERSION_VAR ARCH OUT_DIR PACKAGE... builds the
# commands PACKAGE... (paths inside MODULE, "." for its root) of the pinned MODULE for linux/ARCH into OUT_DIR, static
# and -trimpath. VERSION_VAR is the variable (import path.Name) that the
# module's own release stamps with its version through -ldflags -X, so that
# the binaries report the version they are, as upstream's do; empty for none.
# go install is the only go command that builds a module at a version outside
# any main module; for another architecture it refuses GOBIN, so it installs
# into a GOPATH of its own (bin/linux_ARCH/), with the module cache left where
# it is.
ctxfix::build_pinned() {
  local module="$1" version_var="$2" arch="$3" out_dir="$4"
  shift 4
  local version gopath modcache package ldflags targets=()
  version="$(ctxfix::pinned_version "${module}")"
  ldflags="-s -w -buildid="
  [[ -z "${version_var}" ]] || ldflags+=" -X ${version_var}=${version}"
  # Read before GOPATH changes: `go env GOMODCACHE` follows GOPATH.
  modcache="$(go env GOMODCACHE)"
  for package in "$@"; do
    # "." is the module's own root package (CoreDNS's main).
    if [[ "${package}" == . ]]; then
      targets+=("${module}@${version}")
    else
      targets+=("${module}/${package}@${version}")
    fi
  done
  mkdir -p "${out_dir}"
  # Beside OUT_DIR, so that whoever cleans up OUT_DIR's parent cleans this.
  gopath="$(mktemp -d "${out_dir%/}.gopath.XXXXXX")"
  (cd / && GOPATH="${gopath}" GOMODCACHE="${modcache}" GOBIN= GOOS=linux GOARCH="${arch}" \
    go install -trimpath -ldflags "${ldflags}" "${targets[@]}") ||
    { rm -rf "${gopath}"; ctxfix::die "could not build ${targets[*]} for linux/${arch}"; }
  if [[ "${arch}" == "$(go env GOHOSTARCH)" ]]; then
    mv "${gopath}"/bin/* "${out_dir}/"
  else
    mv "${gopath}/bin/linux_${arch}"/* "${out_dir}/"
  fi
  chmod -R u+w "${gopath}" && rm -rf "${gopath}"
}

# ctxfix::install_pinned MODULE GOBIN TAGS PACKAGE... builds the commands
# PACKAGE... (paths inside MODULE) of the Go module MODULE at the version
# build/upstream.sum pins, into GOBIN, after checking the module's sum against
# the pin: a tool the checks rely on is the one that was reviewed.
ctxfix::install_pinned() {
  local module="$1" gobin="$2" tags="$3"
  shift 3
  local version package targets=()
  version="$(ctxfix::pinned_version "${module}")"
  for package in "$@"; do
    # "." is the module's own root package (CoreDNS's main).
    if [[ "${package}" == . ]]; then
      targets+=("${module}@${version}")
    else
      targets+=("${module}/${package}@${version}")
    fi
  done
  (cd / && GOBIN="${gobin}" go install -trimpath -tags "${tags}" "${targets[@]}") ||
    ctxfix::die "could not build ${targets[*]}"
}

# ctxfix::pinned_tool MODULE PACKAGE [LDFLAGS] prints the path of the command
# PACKAGE (an import path inside MODULE) of MODULE at the version
# build/upstream.sum pins, built on first use under _output/tools/ with
# LDFLAGS. The proxy lists no versions of some modules (goss), and
# `go install MODULE@VERSION` asks for that list to look up deprecations; so
# the tool is built inside a scratch module that requires the pinned version,
# which asks only for that version.
ctxfix::pinned_tool() {
  local module="$1" package="$2" ldflags="${3:-}" version bin scratch
  version="$(ctxfix::pinned_version "${module}")"
  bin="${CTXFIX_OUTPUT}/tools/${module##*/}-${version}/${package##*/}"
  [[ "${module##*/}" != v[0-9]* ]] || bin="${CTXFIX_OUTPUT}/tools/$(basename "${module%/*}")-${version}/${package##*/}"
  if [[ ! -x "${bin}" ]]; then
    mkdir -p "${CTXFIX_OUTPUT}/tmp" "${bin%/*}"
    scratch="$(mktemp -d "${CTXFIX_OUTPUT}/tmp/tool-build.XXXXXX")"
    printf 'module ctxfix.invalid/tool\n\ngo 1.22\n\nrequire %s %s\n' "${module}" "${version}" > "${scratch}/go.mod"
    (cd "${scratch}" && GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -ldflags "${ldflags}" -o "${bin}.new" "${package}") >&2 ||
      { rm -rf "${scratch}" "${bin}.new"; ctxfix::die "could not build ${package}@${version}"; }
    rm -rf "${scratch}"
    mv "${bin}.new" "${bin}"
  fi
  echo "${bin}"
}

# ctxfix::goss_bin prints the path of goss (github.com/goss-org/goss at the
# version build/upstream.sum pins).
ctxfix::goss_bin() { ctxfix::pinned_tool github.com/goss-org/goss github.com/goss-org/goss/cmd/goss; }

# ctxfix::goss_validate GOSSFILE VARS_JSON [GOSS_OPTION...] runs goss
# validate with test/image-builder/GOSSFILE, the variables VARS_JSON and
# goss's global options GOSS_OPTION... (--package rpm), in the caller's
# environment (PATH says which binaries it checks). On a failure it prints
# goss's failing checks and returns 1.
ctxfix::goss_validate() {
  local goss out file="$1" vars="$2"
  shift 2
  goss="$(ctxfix::goss_bin)"
  if out="$("${goss}" "$@" -g "${CTXFIX_ROOT}/test/image-builder/${file}" --vars-inline "${vars}" validate --format tap --no-color 2>&1)"; then
    return 0
  fi
  if grep '^not ok' <<<"${out}"; then
    return 1
  fi
  echo "goss failed without a failing check: ${out}"
  return 1
}

# ctxfix::goss_node_tools ROOT runs goss with
# test/image-builder/goss-node-tools.yaml on the crictl and CNI plugins under
# ROOT, which must report the versions build/upstream.sum pins. Prints goss's
# failing checks and returns 1 if they do not.
ctxfix::goss_node_tools() {
  local crictl_version cni_version
  # An empty ROOT would check the host's own crictl and plugins.
  [[ -n "$1" && -d "$1" ]] || ctxfix::die "goss_node_tools: '$1' is not a folder"
  crictl_version="$(ctxfix::pinned_version sigs.k8s.io/cri-tools)"
  cni_version="$(ctxfix::pinned_version github.com/containernetworking/plugins)"
  # An empty version would make goss's expectation empty, which any output meets.
  [[ -n "${crictl_version#v}" && -n "${cni_version#v}" ]] || ctxfix::die "no pinned version of cri-tools or the CNI plugins"
  ctxfix::goss_validate goss-node-tools.yaml \
    "{\"root\": \"$1\", \"crictl_version\": \"${crictl_version#v}\", \"kubernetes_cni_version\": \"${cni_version#v}\"}"
}

# ctxfix::doc_block FILE HEADING LANGUAGE [N] prints the Nth (default first)
# ```LANGUAGE block of the Markdown FILE under the heading line HEADING (with
# its #s), up to the next heading of the same or a higher level: the
# commands a document gives are the ones the tests run.
ctxfix::doc_block() {
  awk -v heading="$2" -v language="$3" -v want="${4:-1}" '
    function level(line) { match(line, /^#+ /); return RLENGTH - 1 }
    $0 == heading { under = 1; depth = level($0); next }
    !under { next }
    !block && /^#+ / && level($0) <= depth { exit }
    block && $0 == "```" { if (capture) exit; block = 0; next }
    !block && /^```/ { block = 1; if (substr($0, 4) == language && ++n == want) capture = 1; next }
    capture { print }' "$1"
}

# ctxfix::summed_files DIR prints, relative to DIR and sorted, the files that
# DIR/SHA256SUMS and DIR/SHA512SUMS list.
ctxfix::summed_files() {
  (cd "$1" && find . -type f ! -name SHA256SUMS ! -name SHA512SUMS ! -name SHA256SUMS.sigstore.json \
    ! -name SHA512SUMS.sigstore.json -printf '%P\n' | LC_ALL=C sort)
}

# ctxfix::write_sums DIR writes DIR/SHA256SUMS and DIR/SHA512SUMS over every
# other file in DIR but their own cosign bundles, which are made after them.
ctxfix::write_sums() {
  local sums
  for sums in sha256 sha512; do
    (cd "$1" && ctxfix::summed_files . | xargs "${sums}sum" > "${sums^^}SUMS") ||
      ctxfix::die "could not write ${sums^^}SUMS in $1"
  done
}
