# cosign signatures of a release: a Sigstore bundle (<file>.sigstore.json,
# what `cosign verify-blob --bundle` reads) beside every released file.
# Sourced by hack/release.sh and hack/verify-release.sh after common.sh.
#
# Three ways to sign, chosen by the release job's environment:
#   - CTXFIX_COSIGN_KEY names a cosign private key (`cosign generate-key-pair`;
#     its password in COSIGN_PASSWORD, empty for none), a secret of the
#     release job. Its public half is published as cosign.pub.
#   - CTXFIX_COSIGN_KEYLESS=true: Sigstore's keyless signing, with the OIDC
#     identity of the job (GitHub Actions' id-token), a Fulcio certificate and
#     a Rekor entry in each bundle. Needs the network; the release workflow
#     (.github/workflows/release.yml) signs so.
#   - neither: an ephemeral key made for this release only, published as
#     cosign.pub, and the release says loudly that it is not for production.
# Signing with a key never touches the network: no transparency log upload
# and no signing config from Sigstore's TUF repository.

# ctxfix::cosign_bin prints the path of cosign (github.com/sigstore/cosign/v3
# at the version build/upstream.sum pins), stamped with its version as its
# own release stamps it.
ctxfix::cosign_bin() {
  local version
  version="$(ctxfix::pinned_version github.com/sigstore/cosign/v3)"
  ctxfix::pinned_tool github.com/sigstore/cosign/v3 github.com/sigstore/cosign/v3/cmd/cosign \
    "-s -w -buildid= -X sigs.k8s.io/release-utils/version.gitVersion=${version}"
}

# ctxfix::cosign_key COSIGN DIR prints the cosign private key that signs the
# release (CTXFIX_COSIGN_KEY, or an ephemeral one made in DIR), or "keyless",
# and writes DIR/cosign.pub, its public half. A key that cannot sign fails
# here, before anything is built, naming the file.
ctxfix::cosign_key() {
  local cosign="$1" dir="$2" key="${CTXFIX_COSIGN_KEY:-}" out
  case "${CTXFIX_COSIGN_KEYLESS:-false}" in
    true)
      [[ -z "${key}" ]] || ctxfix::die "CTXFIX_COSIGN_KEY and CTXFIX_COSIGN_KEYLESS=true are both set: sign with one"
      # Without an identity token, cosign would fail at the first file,
      # after the whole build, or open a browser.
      [[ -n "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" || -n "${SIGSTORE_ID_TOKEN:-}" ]] ||
        ctxfix::die "CTXFIX_COSIGN_KEYLESS=true needs an OIDC identity token: GitHub Actions' (id-token: write) or SIGSTORE_ID_TOKEN"
      echo keyless
      return 0
      ;;
    false) ;;
    *) ctxfix::die "CTXFIX_COSIGN_KEYLESS is '${CTXFIX_COSIGN_KEYLESS}', want true or false" ;;
  esac
  if [[ -z "${key}" ]]; then
    key="${dir}/ephemeral.key"
    (cd "${dir}" && COSIGN_PASSWORD='' "${cosign}" generate-key-pair --output-key-prefix ephemeral < /dev/null > keygen.log 2>&1) ||
      { cat "${dir}/keygen.log" >&2; ctxfix::die "cosign could not make an ephemeral key"; }
    mv "${dir}/ephemeral.pub" "${dir}/cosign.pub"
    echo "${key}"
    return 0
  fi
  [[ -f "${key}" ]] || ctxfix::die "CTXFIX_COSIGN_KEY '${key}' is not a file"
  # Signing runs in the release's folder.
  key="$(realpath -- "${key}")"
  # Unset, cosign would ask for the password on a terminal.
  [[ -n "${COSIGN_PASSWORD+set}" ]] ||
    ctxfix::die "CTXFIX_COSIGN_KEY '${key}' is set but COSIGN_PASSWORD is not: export the key's password (empty for a key without one)"
  out="$("${cosign}" public-key --key "${key}" --outfile "${dir}/cosign.pub" < /dev/null 2>&1)" ||
    ctxfix::die "CTXFIX_COSIGN_KEY '${key}' is not a cosign private key that COSIGN_PASSWORD opens: $(tail -n 1 <<<"${out}")"
  echo "${key}"
}

# ctxfix::warn_ephemeral_cosign_key says, loudly, that a release was signed
# with a cosign key nobody can trust.
ctxfix::warn_ephemeral_cosign_key() {
  [[ -z "${CTXFIX_COSIGN_KEY:-}" && "${CTXFIX_COSIGN_KEYLESS:-false}" != true ]] || return 0
  cat >&2 <<'EOF'
############################################################################
##  WARNING: neither CTXFIX_COSIGN_KEY nor CTXFIX_COSIGN_KEYLESS=true is  ##
##  set. The cosign bundles of this release are signed with an EPHEMERAL  ##
##  key made for this run (cosign.pub). Do not publish it for production  ##
##  (see README, "Verify a release").                                     ##
############################################################################
EOF
}

# ctxfix::signed_files DIR prints, relative to DIR and sorted, the files of
# the release in DIR that carry a cosign bundle: every file but the bundles,
# the .sha256 and .sha512 beside the tarballs (SHA256SUMS and SHA512SUMS,
# signed, cover them), cosign.pub, the packages and metadata of deb/ and rpm/
# (signed by the repositories' key) and the blobs of images/ (images are
# signed where they are pushed).
ctxfix::signed_files() {
  (cd "$1" && find . -type f ! -name '*.sigstore.json' ! -name '*.sha256' ! -name '*.sha512' ! -name cosign.pub \
    ! -path './deb/*' ! -path './rpm/*' ! -path './images/*' -printf '%P\n' | LC_ALL=C sort)
}

# ctxfix::cosign_sign COSIGN KEY DIR FILE... writes DIR/FILE.sigstore.json for
# each FILE (relative to DIR), signed with KEY (a private key, or "keyless").
ctxfix::cosign_sign() {
  local cosign="$1" key="$2" dir="$3" file log
  shift 3
  local -a how=(--key "${key}" --use-signing-config=false --tlog-upload=false)
  [[ "${key}" != keyless ]] || how=()
  log="$(mktemp "${CTXFIX_OUTPUT}/tmp/cosign-sign.XXXXXX")"
  for file in "$@"; do
    (cd "${dir}" && "${cosign}" sign-blob "${how[@]}" --bundle "${file}.sigstore.json" --yes "${file}" < /dev/null > "${log}" 2>&1) ||
      { cat "${log}" >&2; rm -f "${log}"; ctxfix::die "cosign could not sign ${file}"; }
    # cosign writes bundles readable by their owner only; they are published.
    chmod 644 "${dir}/${file}.sigstore.json"
  done
  rm -f "${log}"
}

# ctxfix::cosign_attest COSIGN KEY DIR FILE STATEMENT signs the in-toto
# statement STATEMENT about DIR/FILE as a DSSE envelope with KEY (a private
# key, or "keyless") and writes it, a Sigstore bundle, to
# DIR/FILE.provenance.sigstore.json, which
# `cosign verify-blob-attestation --type slsaprovenance1` reads.
ctxfix::cosign_attest() {
  local cosign="$1" key="$2" dir="$3" file="$4" statement="$5" out
  local -a how=(--key "${key}" --use-signing-config=false --tlog-upload=false)
  [[ "${key}" != keyless ]] || how=()
  out="$(cd "${dir}" && "${cosign}" attest-blob "${how[@]}" --statement "${statement}" \
    --bundle "${file}.provenance.sigstore.json" --yes "${file}" < /dev/null 2>&1)" ||
    { echo "${out}" >&2; ctxfix::die "cosign could not sign the provenance of ${file}"; }
  chmod 644 "${dir}/${file}.provenance.sigstore.json"
}
