# The root filesystems the release's control-plane images sit on, assembled
# offline from Debian's packages, as upstream's bases are:
#
#   static     what distroless/static (under go-runner) gives kube-apiserver,
#              kube-controller-manager and kube-scheduler: /etc/passwd,
#              /etc/group, /etc/nsswitch.conf, the CA bundle and /tmp;
#   iptables   static, plus what distroless-iptables gives kube-proxy:
#              iptables (nft and legacy), nft and conntrack, with the
#              libraries they load.
#
# The packages come from the apt sources this machine has, for the image's
# architecture, with apt's own signature checks. Each package's control data
# is kept in /var/lib/dpkg/status.d/<package>, as distroless keeps it, so
# that image scanners see what the image holds, and its copyright file in
# /usr/share/doc/<package>/. Sourced by hack/release.sh after common.sh.

# The control-plane binaries, each the entrypoint of its image.
control_plane_binaries=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

# ctxfix::control_plane_images VERSION ARCH SERVER_DIR WORK IMAGE_TOOL EPOCH
# OUT_DIR writes OUT_DIR/<name>.tar for each of control_plane_binaries in
# SERVER_DIR, as upstream's release ships them beside the binaries:
# kube-apiserver, kube-controller-manager and kube-scheduler on the static
# base, kube-proxy on the iptables base (assembled in WORK/<arch>/, which
# must not hold them yet). The tag is VERSION, with "+" made "_" as kubeadm
# makes it when it names the images it pulls; the arch suffix is
# upstream's, which image-builder strips.
ctxfix::control_plane_images() {
  local version="$1" arch="$2" server="$3" work="$4" image_tool="$5" epoch="$6" out_dir="$7" name image_base
  local tag="${version//+/_}"
  ctxfix::log "image bases for linux/${arch} from Debian's packages"
  ctxfix::image_apt "${arch}" "${work}/apt/${arch}"
  ctxfix::image_root_static "${arch}" "${work}/apt/${arch}" "${work}/${arch}/static"
  cp -a "${work}/${arch}/static" "${work}/${arch}/iptables"
  ctxfix::image_root_iptables "${arch}" "${work}/apt/${arch}" "${work}/${arch}/iptables"
  mkdir -p "${out_dir}"
  for name in "${control_plane_binaries[@]}"; do
    image_base="static"
    [[ "${name}" != kube-proxy ]] || image_base="iptables"
    SOURCE_DATE_EPOCH="${epoch}" "${image_tool}" -ref "registry.k8s.io/${name}-${arch}:${tag}" -arch "${arch}" \
      -base "${work}/${arch}/${image_base}" -entrypoint "/usr/local/bin/${name}" \
      -file "/usr/local/bin/${name}=${server}/${name}" -out "${out_dir}/${name}.tar" ||
      ctxfix::die "could not write the ${name} image for ${arch}"
    ctxfix::log "${name}.tar: registry.k8s.io/${name}-${arch}:${tag} on the ${image_base} base"
  done
}

# ctxfix::image_apt ARCH APT_DIR writes APT_DIR/apt.conf, an apt
# configuration (for APT_CONFIG) that reads this machine's apt sources for
# ARCH, with lists, cache and an empty package database in APT_DIR, and
# updates the lists. Nothing of the host's apt state is touched.
ctxfix::image_apt() {
  local arch="$1" apt_dir="$2"
  mkdir -p "${apt_dir}/lists/partial" "${apt_dir}/archives/partial" "${apt_dir}/download"
  : > "${apt_dir}/status"
  cat > "${apt_dir}/apt.conf" <<EOF
APT::Architecture "${arch}";
APT::Architectures { "${arch}"; };
Dir::State::Lists "${apt_dir}/lists";
Dir::State::status "${apt_dir}/status";
Dir::Cache "${apt_dir}";
Dir::Cache::Archives "${apt_dir}/archives";
Debug::NoLocking "true";
APT::Sandbox::User "root";
APT::Install-Recommends "false";
EOF
  APT_CONFIG="${apt_dir}/apt.conf" apt-get update > "${apt_dir}/update.log" 2>&1 ||
    ctxfix::die "apt-get update for linux/${arch} failed ($(tail -n 3 "${apt_dir}/update.log" | tr '\n' ' '))"
}

# ctxfix::image_root_static ARCH APT_DIR ROOT assembles the static base in
# ROOT, a folder that must not exist; ctxfix::image_apt must have prepared
# APT_DIR for ARCH.
ctxfix::image_root_static() {
  local arch="$1" apt_dir="$2" root="$3" deb
  [[ ! -e "${root}" ]] || ctxfix::die "${root} exists: the image root must start empty"
  install -d -m 0755 "${root}" "${root}/etc" "${root}/etc/ssl/certs" "${root}/root" "${root}/home/nonroot" \
    "${root}/var/lib/dpkg/status.d" "${root}/usr/share/doc"
  install -d -m 1777 "${root}/tmp"
  # The users and groups distroless has: root, nobody, and nonroot (65532).
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > "${root}/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'tty:x:5:' 'staff:x:50:' 'nonroot:x:65532:' > "${root}/etc/group"
  echo 'hosts: files dns' > "${root}/etc/nsswitch.conf"
  chmod 0644 "${root}/etc/passwd" "${root}/etc/group" "${root}/etc/nsswitch.conf"

  # The CA bundle: the certificates of Debian's ca-certificates, joined as
  # update-ca-certificates joins them (its maintainer script does not run
  # here, and its other dependencies, openssl and debconf, are not needed).
  (cd "${apt_dir}/download" && rm -f ca-certificates_*.deb &&
    APT_CONFIG="${apt_dir}/apt.conf" apt-get download ca-certificates > "${apt_dir}/download.log" 2>&1) ||
    ctxfix::die "apt-get download ca-certificates for linux/${arch} failed ($(tail -n 3 "${apt_dir}/download.log" | tr '\n' ' '))"
  deb="$(echo "${apt_dir}"/download/ca-certificates_*.deb)"
  rm -rf "${apt_dir}/ca-certificates"
  dpkg-deb -x "${deb}" "${apt_dir}/ca-certificates" || ctxfix::die "dpkg-deb could not unpack ${deb}"
  find "${apt_dir}/ca-certificates/usr/share/ca-certificates" -name '*.crt' -print0 | LC_ALL=C sort -z |
    xargs -0 cat > "${root}/etc/ssl/certs/ca-certificates.crt"
  grep -q 'BEGIN CERTIFICATE' "${root}/etc/ssl/certs/ca-certificates.crt" ||
    ctxfix::die "${deb} holds no certificates"
  chmod 0644 "${root}/etc/ssl/certs/ca-certificates.crt"
  ctxfix::image_record_package "${deb}" "${root}"
  install -d -m 0755 "${root}/usr/share/doc/ca-certificates"
  install -m 0644 "${apt_dir}/ca-certificates/usr/share/doc/ca-certificates/copyright" "${root}/usr/share/doc/ca-certificates/"
}

# ctxfix::image_record_package DEB ROOT records DEB's control data in ROOT's
# /var/lib/dpkg/status.d/<package>, as distroless does.
ctxfix::image_record_package() {
  local deb="$1" root="$2" package
  package="$(dpkg-deb -f "${deb}" Package)" || ctxfix::die "dpkg-deb cannot read ${deb}"
  { dpkg-deb -f "${deb}" && echo "Status: install ok installed"; } > "${root}/var/lib/dpkg/status.d/${package}"
  chmod 0644 "${root}/var/lib/dpkg/status.d/${package}"
}

# ctxfix::image_root_packages ARCH APT_DIR ROOT PACKAGE... unpacks PACKAGE...
# and everything they depend on (their Pre-Depends and Depends, not their
# Recommends) into ROOT, an assembled static base, without maintainer
# scripts; documentation is left out but for the copyright files.
ctxfix::image_root_packages() {
  local arch="$1" apt_dir="$2" root="$3"
  shift 3
  local deb
  rm -f "${apt_dir}"/archives/*.deb
  # The package database is empty, so apt fetches the whole closure.
  APT_CONFIG="${apt_dir}/apt.conf" apt-get install -y --download-only "$@" > "${apt_dir}/install.log" 2>&1 ||
    ctxfix::die "apt-get could not fetch $* for linux/${arch} ($(tail -n 3 "${apt_dir}/install.log" | tr '\n' ' '))"
  for deb in "${apt_dir}"/archives/*.deb; do
    dpkg-deb -x "${deb}" "${root}" || ctxfix::die "dpkg-deb could not unpack ${deb}"
    ctxfix::image_record_package "${deb}" "${root}"
  done
  find "${root}/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  find "${root}/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "${root}/usr/share/man" "${root}/usr/share/info" "${root}/usr/share/lintian" "${root}/usr/share/locale"
  # glibc's character set converters: nothing in these images uses iconv.
  rm -rf "${root}"/usr/lib/*-linux-gnu/gconv
}

# ctxfix::image_root_iptables ARCH APT_DIR ROOT adds iptables, nft and
# conntrack to the static base in ROOT. iptables, ip6tables and their -save
# and -restore are update-alternatives links, which no maintainer script
# makes here: they point to the nft backend, Debian's default, and the
# -legacy commands are there for hosts that still use the legacy one.
ctxfix::image_root_iptables() {
  local arch="$1" apt_dir="$2" root="$3" command
  ctxfix::image_root_packages "${arch}" "${apt_dir}" "${root}" iptables nftables conntrack
  [[ -x "${root}/usr/sbin/xtables-nft-multi" ]] || ctxfix::die "Debian's iptables for ${arch} has no /usr/sbin/xtables-nft-multi"
  for command in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    [[ ! -e "${root}/usr/sbin/${command}" ]] || ctxfix::die "Debian's iptables now ships /usr/sbin/${command}: revisit the alternatives links"
    ln -s xtables-nft-multi "${root}/usr/sbin/${command}"
  done
  for command in nft conntrack iptables-legacy; do
    [[ -x "${root}/usr/sbin/${command}" ]] || ctxfix::die "the iptables base for ${arch} has no /usr/sbin/${command}"
  done
}

# ctxfix::gnu_triple ARCH prints the GNU triple of linux/ARCH.
ctxfix::gnu_triple() {
  case "$1" in
    amd64) echo x86_64-linux-gnu ;;
    arm64) echo aarch64-linux-gnu ;;
    *) ctxfix::die "no GNU triple known for linux/$1" ;;
  esac
}

# ctxfix::cross_gcc ARCH DIR unpacks Debian's cross compiler for linux/ARCH
# (gcc, binutils and the static C library of the host's Debian release) into
# DIR, a folder that must not exist, and prints the path of its gcc. Nothing
# is installed on the host: the packages are downloaded through an apt
# configuration of DIR's own (ctxfix::image_apt) and unpacked, and gcc finds
# its parts relative to where it is. binutils' own libraries are the one
# thing it does not find: it runs with DIR's library folder on
# LD_LIBRARY_PATH (ctxfix::build_pause).
ctxfix::cross_gcc() {
  local arch="$1" dir="$2" host_arch triple gcc_package packages deb
  [[ ! -e "${dir}" ]] || ctxfix::die "${dir} exists: the cross compiler's folder must start empty"
  host_arch="$(dpkg --print-architecture)"
  triple="$(ctxfix::gnu_triple "${arch}")"
  ctxfix::image_apt "${host_arch}" "${dir}/apt"
  # gcc-aarch64-linux-gnu names the gcc-N its Debian release builds with.
  gcc_package="$(APT_CONFIG="${dir}/apt/apt.conf" apt-cache depends "gcc-${triple//_/-}" |
    sed -n "s/^ *Depends: \(gcc-[0-9]*-${triple//_/-}\)$/\1/p")"
  [[ -n "${gcc_package}" ]] || ctxfix::die "Debian's apt sources have no cross compiler for linux/${arch} (gcc-${triple//_/-})"
  local major="${gcc_package#gcc-}"
  major="${major%%-*}"
  packages=("${gcc_package}" "cpp-${major}-${triple//_/-}" "binutils-${triple//_/-}" "libgcc-${major}-dev-${arch}-cross"
    "libc6-dev-${arch}-cross" "libc6-${arch}-cross" "linux-libc-dev-${arch}-cross")
  mkdir -p "${dir}/debs" "${dir}/root"
  (cd "${dir}/debs" && APT_CONFIG="${dir}/apt/apt.conf" apt-get download "${packages[@]}" > "${dir}/download.log" 2>&1) ||
    ctxfix::die "apt-get download ${packages[*]} failed ($(tail -n 3 "${dir}/download.log" | tr '\n' ' '))"
  for deb in "${dir}"/debs/*.deb; do
    dpkg-deb -x "${deb}" "${dir}/root" || ctxfix::die "dpkg-deb could not unpack ${deb}"
  done
  [[ -x "${dir}/root/usr/bin/${triple}-gcc-${major}" ]] || ctxfix::die "${gcc_package} has no usr/bin/${triple}-gcc-${major}"
  echo "${dir}/root/usr/bin/${triple}-gcc-${major}"
}

# ctxfix::build_pause TREE TAG ARCH OUT builds TREE's build/pause/linux/pause.c
# into OUT as upstream's build/pause/Makefile builds it: -Os -Wall -Werror
# -static, stripped, stamped v<TAG>-<the tree's version> (upstream stamps the
# tree's git description). The host's gcc builds for the host's
# architecture, Debian's cross compiler (ctxfix::cross_gcc, unpacked in a
# folder beside OUT and removed after) for the other. The C library linked
# into it is recorded for ATTRIBUTION.txt in OUT.libc: the Debian package
# (name version) and its copyright file. Its bytes depend on the compiler
# and C library of the machine, so build/CHECKSUMS does not pin it.
ctxfix::build_pause() {
  local tree="$1" tag="$2" arch="$3" out="$4" triple gcc strip cross="" lib_path="" libc libc_package libc_version copyright
  triple="$(ctxfix::gnu_triple "${arch}")"
  mkdir -p "$(dirname "${out}")"
  rm -rf "${out}.libc" && mkdir "${out}.libc"
  if [[ "${arch}" == "$(go env GOHOSTARCH)" ]]; then
    ctxfix::require_tools gcc strip
    gcc=gcc strip=strip
    libc="$(realpath "$(gcc -print-file-name=libc.a)")"
    libc_package="$(dpkg-query -S "${libc}" | cut -d: -f1)" ||
      ctxfix::die "no Debian package owns ${libc}, the C library pause links: install libc6-dev"
    libc_version="$(dpkg-query -W -f '${Version}' "${libc_package}")"
    copyright="/usr/share/doc/${libc_package}/copyright"
  else
    cross="$(mktemp -u "${out%/}.cross.XXXXXX")"
    gcc="$(ctxfix::cross_gcc "${arch}" "${cross}")"
    strip="${cross}/root/usr/bin/${triple}-strip"
    lib_path="${cross}/root/usr/lib/$(ctxfix::gnu_triple "$(go env GOHOSTARCH)")"
    libc_package="libc6-dev-${arch}-cross"
    libc_version="$(dpkg-deb -f "$(echo "${cross}/debs/${libc_package}"_*.deb)" Version)"
    copyright="${cross}/root/usr/share/doc/${libc_package}/copyright"
  fi
  [[ -f "${copyright}" ]] || ctxfix::die "${libc_package} has no ${copyright}: the C library pause links cannot be attributed"
  echo "${libc_package} ${libc_version}" > "${out}.libc/package"
  cp "${copyright}" "${out}.libc/copyright"
  LD_LIBRARY_PATH="${lib_path}" "${gcc}" -Os -Wall -Werror -static -DVERSION="v${tag}-$(git -C "${tree}" describe --tags --always)" \
    -o "${out}" "${tree}/build/pause/linux/pause.c" ||
    ctxfix::die "could not build pause for linux/${arch} from ${tree}/build/pause/linux/pause.c"
  LD_LIBRARY_PATH="${lib_path}" "${strip}" "${out}" || ctxfix::die "could not strip pause for linux/${arch}"
  [[ -z "${cross}" ]] || rm -rf "${cross}"
}

# ctxfix::build_etcd VERSION ARCH OUT_DIR builds etcd, etcdctl and etcdutl at
# VERSION (v3.6.8) for linux/ARCH into OUT_DIR, from their own main packages,
# unchanged, through build/images/etcd/go.mod, which pins them and every
# module they link (go install refuses etcd's modules: their go.mod files
# have replace directives). VERSION must be the one that go.mod requires.
ctxfix::build_etcd() {
  local version="$1" arch="$2" out_dir="$3" module pinned name
  module="${CTXFIX_ROOT}/build/images/etcd"
  pinned="$(cd "${module}" && GOWORK=off go list -mod=readonly -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)" ||
    ctxfix::die "could not read the etcd version that build/images/etcd/go.mod pins"
  [[ "${pinned}" == "${version}" ]] ||
    ctxfix::die "kubeadm names etcd ${version}, but build/images/etcd/go.mod pins ${pinned}: move its tool requirements to ${version} (go get -tool go.etcd.io/etcd/{server,etcdctl,etcdutl}/v3@${version})"
  mkdir -p "${out_dir}"
  for name in server:etcd etcdctl:etcdctl etcdutl:etcdutl; do
    # As etcd's build.sh builds them: static, and stamped with the commit
    # only when built from git, which these are not.
    (cd "${module}" && GOWORK=off GOOS=linux GOARCH="${arch}" \
      go build -mod=readonly -trimpath -ldflags "-s -w -buildid=" -o "${out_dir}/${name#*:}" "go.etcd.io/etcd/${name%%:*}/v3") ||
      ctxfix::die "could not build ${name#*:} ${version} for linux/${arch}"
  done
}

# ctxfix::busybox_image TREE ARCH IMAGE_TOOL OUT writes OUT, a docker-save
# tarball of the busybox image TREE's tests name
# (registry.k8s.io/e2e-test-images/busybox:<TREE's version>), and prints its
# name. There is no registry: it is Debian's busybox-static, every applet
# linked, with bash-static as /bin/sh, because busybox's sh drops
# environment variables whose names have a '-', which upstream's tests set.
# Its default command is sh, as upstream's (from Docker's busybox): the Job
# and pod generation specs run it without a command.
ctxfix::busybox_image() {
  local tree="$1" arch="$2" image_tool="$3" out="$4" version busybox_links
  version="$(sed -n 's/.*configs\[BusyBox\] = Config{list.PromoterE2eRegistry, "busybox", "\([^"]*\)"}.*/\1/p' "${tree}/test/utils/image/manifest.go")"
  [[ -n "${version}" ]] || ctxfix::die "could not read the busybox version from ${tree}/test/utils/image/manifest.go"
  ctxfix::busybox_links
  "${image_tool}" -ref "registry.k8s.io/e2e-test-images/busybox:${version}" -arch "${arch}" \
    -file /bin/busybox=/bin/busybox -file /bin/sh=/bin/bash-static -dir /tmp "${busybox_links[@]}" -cmd sh -out "${out}" >&2 ||
    ctxfix::die "could not make the busybox image of ${tree}"
  echo "registry.k8s.io/e2e-test-images/busybox:${version}"
}

# ctxfix::agnhost_image BASE ARCH IMAGE_TOOL OUT_DIR builds agnhost from the
# stock tree of BASE into OUT_DIR/agnhost, and its image into
# OUT_DIR/agnhost.tar, named as BASE's tests name it, and prints that name.
# OUT_DIR/agnhost-prev.tar is the same image under the name of the previous
# agnhost the tests use (AgnhostPrev: the Deployment specs roll from it to
# the current one), and OUT_DIR/glibc-dns-testing.tar under that of the
# Debian image with dig that the DNS specs query from beside agnhost
# (GlibcDnsTesting). Upstream's image (test/images/agnhost/Dockerfile) is
# Alpine with bind-tools, curl, netcat-openbsd, iproute2 and bash; this one
# is the static base (ctxfix::image_root_static) with Debian's bash, curl,
# netcat-openbsd (nc: the Service specs run nc -v -t), dnsutils and
# libc-bin (dig and getent: the DNS specs) and iproute2, from this
# machine's apt sources, and busybox's other tools. Above them: porter's TLS pair for netexec over https,
# /uploads, the agnhost-2 link, the user and group a SupplementalGroups spec
# expects of the image, and pause as its default command (getPodWithHook
# runs it so).
ctxfix::agnhost_image() {
  local base="$1" arch="$2" image_tool="$3" out_dir="$4" stock_tree version prev_version dns_version busybox_links name root applet i links=()
  stock_tree="$(ctxfix::tree_dir --stock "${base}")"
  version="$(sed -n 's/.*configs\[Agnhost\] = Config{list.PromoterE2eRegistry, "agnhost", "\([^"]*\)"}.*/\1/p' "${stock_tree}/test/utils/image/manifest.go")"
  prev_version="$(sed -n 's/.*configs\[AgnhostPrev\] = Config{list.PromoterE2eRegistry, "agnhost", "\([^"]*\)"}.*/\1/p' "${stock_tree}/test/utils/image/manifest.go")"
  dns_version="$(sed -n 's/.*configs\[GlibcDnsTesting\] = Config{list.PromoterE2eRegistry, "glibc-dns-testing", "\([^"]*\)"}.*/\1/p' "${stock_tree}/test/utils/image/manifest.go")"
  [[ -n "${version}" && -n "${prev_version}" && -n "${dns_version}" ]] ||
    ctxfix::die "could not read the versions of Agnhost, AgnhostPrev and GlibcDnsTesting from ${base}'s test/utils/image/manifest.go"
  mkdir -p "${out_dir}"
  ctxfix::go_in_tree --stock "${base}" build -ldflags "-s -w" -o "${out_dir}/agnhost" ./test/images/agnhost ||
    ctxfix::die "could not build agnhost of ${base}"
  root="${out_dir}/agnhost-root"
  rm -rf "${root}" "${out_dir}/apt"
  ctxfix::image_apt "${arch}" "${out_dir}/apt"
  ctxfix::image_root_static "${arch}" "${out_dir}/apt" "${root}"
  ctxfix::image_root_packages "${arch}" "${out_dir}/apt" "${root}" bash curl netcat-openbsd dnsutils iproute2 libc-bin
  [[ -x "${root}/bin/nc.openbsd" && -x "${root}/usr/bin/dig" && -x "${root}/usr/bin/curl" && -x "${root}/usr/bin/getent" ]] ||
    ctxfix::die "the agnhost root for ${arch} lacks nc.openbsd, dig, curl or getent"
  # Upstream's image has them in /etc/passwd and /etc/group.
  echo 'user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh' >> "${root}/etc/passwd"
  printf '%s\n' 'user-defined-in-image:x:1000:' 'group-defined-in-image:x:50000:user-defined-in-image' >> "${root}/etc/group"
  # busybox for the rest (sh is bash); nc is netcat-openbsd's, as
  # update-alternatives would link it.
  ctxfix::busybox_links
  for ((i = 0; i < ${#busybox_links[@]}; i += 2)); do
    applet="${busybox_links[i + 1]%%=*}"
    [[ -e "${root}${applet}" || -e "${root}/usr${applet}" || "${applet}" == /bin/nc ]] ||
      links+=(-link "${busybox_links[i + 1]}")
  done
  rm -rf "${out_dir}/apt"
  for name in "agnhost:${version}=agnhost.tar" "agnhost:${prev_version}=agnhost-prev.tar" "glibc-dns-testing:${dns_version}=glibc-dns-testing.tar"; do
    "${image_tool}" -ref "registry.k8s.io/e2e-test-images/${name%=*}" -arch "${arch}" -base "${root}" -entrypoint /agnhost -cmd pause \
      -file "/agnhost=${out_dir}/agnhost" -link /agnhost-2=agnhost -file /bin/busybox=/bin/busybox \
      -link /bin/sh=bash -link /bin/nc=nc.openbsd \
      -file "/localhost.crt=${stock_tree}/test/images/agnhost/porter/localhost.crt" \
      -file "/localhost.key=${stock_tree}/test/images/agnhost/porter/localhost.key" \
      -dir /uploads "${links[@]}" -out "${out_dir}/${name#*=}" >&2 ||
      ctxfix::die "could not make the image ${name%=*} of ${base}"
  done
  echo "registry.k8s.io/e2e-test-images/agnhost:${version}"
}

# ctxfix::busybox_links sets the array busybox_links to ctxfix-image's
# arguments that link every applet of this machine's busybox but sh and
# busybox itself into an image's /bin.
ctxfix::busybox_links() {
  local applets applet
  applets="$(busybox --list)" || ctxfix::die "busybox --list failed"
  busybox_links=()
  for applet in ${applets}; do
    [[ "${applet}" == sh || "${applet}" == busybox ]] || busybox_links+=(-link "/bin/${applet}=/bin/busybox")
  done
}
