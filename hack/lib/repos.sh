# Signed package repositories of a release, as pkgs.k8s.io serves them: a
# flat apt repository (deb [signed-by=...] URL /) and a yum repository whose
# repodata and packages are signed. Sourced by hack/release.sh after
# common.sh.

# ctxfix::signing_key GNUPGHOME sets up a keyring in GNUPGHOME (a new, empty
# folder) with the release's signing key and prints its fingerprint.
#
# CTXFIX_SIGNING_KEY names a file holding one OpenPGP secret key that can
# sign, without a passphrase (gpg --export-secret-keys --armor). Without it,
# an ephemeral key is made for this release only, and the release says so
# loudly: its repositories verify against their own Release.key, but nobody
# can trust that key.
ctxfix::signing_key() {
  local home="$1" key="${CTXFIX_SIGNING_KEY:-}" fingerprints
  chmod 700 "${home}"
  if [[ -n "${key}" ]]; then
    [[ -f "${key}" ]] || ctxfix::die "CTXFIX_SIGNING_KEY '${key}' is not a file"
    gpg --homedir "${home}" --batch --quiet --import "${key}" > /dev/null 2>&1 ||
      ctxfix::die "CTXFIX_SIGNING_KEY '${key}' holds no OpenPGP key that gpg can import"
  else
    gpg --homedir "${home}" --batch --quiet --passphrase '' --quick-gen-key \
      "kubelet-ctxfix ephemeral release key (NOT FOR PRODUCTION) <ephemeral@kubelet-ctxfix.invalid>" \
      rsa3072 sign 30d > /dev/null 2>&1 || ctxfix::die "gpg could not make an ephemeral signing key"
  fi
  # Secret keys with the signing capability (field 12 of "sec" holds the
  # key's usable capabilities, upper case).
  mapfile -t fingerprints < <(gpg --homedir "${home}" --batch --with-colons --list-secret-keys 2>/dev/null |
    awk -F: '$1 == "sec" { signing = ($12 ~ /S/) } $1 == "fpr" && signing { print $10; signing = 0 }')
  ((${#fingerprints[@]} == 1)) ||
    ctxfix::die "CTXFIX_SIGNING_KEY '${key}' must hold exactly one secret key that can sign; it holds ${#fingerprints[@]}"
  # A key with a passphrase would stop the release at a prompt.
  echo test | gpg --homedir "${home}" --batch --pinentry-mode error --local-user "${fingerprints[0]}" \
    --detach-sign > /dev/null 2>&1 ||
    ctxfix::die "CTXFIX_SIGNING_KEY '${key}' cannot sign without a passphrase; export the signing key without one for the release"
  echo "${fingerprints[0]}"
}

# ctxfix::warn_ephemeral_key says, loudly, that a release was signed with a
# key nobody can trust.
ctxfix::warn_ephemeral_key() {
  [[ -z "${CTXFIX_SIGNING_KEY:-}" ]] || return 0
  cat >&2 <<'EOF'
############################################################################
##  WARNING: CTXFIX_SIGNING_KEY is not set. The apt and yum repositories  ##
##  of this release are signed with an EPHEMERAL key made for this run.   ##
##  Do not publish it for production: set CTXFIX_SIGNING_KEY to your      ##
##  release key (see docs/building.md, "Signed repositories").            ##
############################################################################
EOF
}

# ctxfix::apt_repo DIR GNUPGHOME FINGERPRINT EPOCH makes DIR, which holds the
# debs, a flat apt repository: Packages, Packages.gz, Release (dated EPOCH),
# InRelease and Release.gpg signed with FINGERPRINT, and Release.key.
ctxfix::apt_repo() {
  local dir="$1" home="$2" fingerprint="$3" epoch="$4" date
  local gpg=(gpg --homedir "${home}" --batch --yes --local-user "${fingerprint}")
  date="$(LC_ALL=C date -u -d "@${epoch}" '+%a, %d %b %Y %H:%M:%S UTC')"
  # apt-ftparchive names files relative to where it runs: the repository.
  (cd "${dir}" && apt-ftparchive packages .) > "${dir}/Packages" ||
    ctxfix::die "apt-ftparchive could not index the debs in ${dir}"
  gzip -9 -n -k "${dir}/Packages" || ctxfix::die "could not compress ${dir}/Packages"
  # Written beside the folder, so that the Release file does not list itself.
  (cd "${dir}" && apt-ftparchive -o APT::FTPArchive::Release::Origin=kubelet-ctxfix \
    -o APT::FTPArchive::Release::Label=kubelet-ctxfix -o "APT::FTPArchive::Release::Date=${date}" \
    release .) > "${dir}.Release" || ctxfix::die "apt-ftparchive could not write the Release file of ${dir}"
  mv "${dir}.Release" "${dir}/Release"
  "${gpg[@]}" --clearsign --output "${dir}/InRelease" "${dir}/Release" ||
    ctxfix::die "gpg could not sign ${dir}/InRelease"
  "${gpg[@]}" --armor --detach-sign --output "${dir}/Release.gpg" "${dir}/Release" ||
    ctxfix::die "gpg could not sign ${dir}/Release.gpg"
  gpg --homedir "${home}" --batch --armor --export "${fingerprint}" > "${dir}/Release.key" ||
    ctxfix::die "gpg could not export the signing key"
}

# ctxfix::yum_repo DIR GNUPGHOME FINGERPRINT EPOCH signs the rpms in DIR with
# FINGERPRINT and makes DIR a yum repository: repodata/ (dated EPOCH) with
# repomd.xml.asc and repomd.xml.key.
ctxfix::yum_repo() {
  local dir="$1" home="$2" fingerprint="$3" epoch="$4" package
  for package in "${dir}"/*.rpm; do
    # rpm's own gpg is gpg2 on Debian: name the one on PATH.
    rpmsign --define "__gpg $(command -v gpg)" --define "_gpg_path ${home}" --define "_gpg_name ${fingerprint}" \
      --addsign "${package}" < /dev/null > "${dir}.rpmsign.log" 2>&1 ||
      { cat "${dir}.rpmsign.log" >&2; ctxfix::die "rpmsign could not sign ${package##*/}"; }
    touch -d "@${epoch}" "${package}"
  done
  rm -f "${dir}.rpmsign.log"
  createrepo_c --quiet --revision "${epoch}" --set-timestamp-to-revision "${dir}" > /dev/null ||
    ctxfix::die "createrepo_c could not index ${dir}"
  gpg --homedir "${home}" --batch --yes --local-user "${fingerprint}" --armor --detach-sign \
    --output "${dir}/repodata/repomd.xml.asc" "${dir}/repodata/repomd.xml" ||
    ctxfix::die "gpg could not sign ${dir}/repodata/repomd.xml"
  gpg --homedir "${home}" --batch --armor --export "${fingerprint}" > "${dir}/repodata/repomd.xml.key" ||
    ctxfix::die "gpg could not export the signing key"
}
