// Package release assembles the release artifacts of a patched kubelet: the
// node tarball and source archive in upstream's layout, deb and rpm packages
// that drop in for upstream's, and the SBOM's pedigree.
package release

import (
	"fmt"
	"strings"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/upstream"
)

// Upstream's packages (pkgs.k8s.io, built by kubernetes/release's krel on
// the openSUSE Build Service) carry these releases after the Kubernetes
// version: kubelet_1.36.5-1.1_amd64.deb and kubelet-1.36.5-150500.1.1.x86_64.rpm.
const (
	upstreamDebRevision = "1.1"
	upstreamRPMRelease  = "150500.1.1"
)

// PackageVersion is how a distribution version is spelled in packages.
type PackageVersion struct {
	// Version is the upstream base without its "v": 1.36.5.
	Version string
	// DebRevision follows upstream's Debian revision, so that ours sorts
	// just above it: 1.1+ctxfix.1 (dpkg sorts "+" after the end of a
	// string, so 1.1+ctxfix.1 > 1.1, and 1.36.5-anything < 1.36.6-anything).
	DebRevision string
	// RPMRelease does the same for rpm: 150500.1.1.ctxfix.1 (rpmvercmp
	// ranks the release with segments left over as newer).
	RPMRelease string
}

// Deb is the full Debian version: 1.36.5-1.1+ctxfix.1.
func (v PackageVersion) Deb() string { return v.Version + "-" + v.DebRevision }

// RPM is the rpm version-release: 1.36.5-150500.1.1.ctxfix.1.
func (v PackageVersion) RPM() string { return v.Version + "-" + v.RPMRelease }

// PackageVersionFor spells base at this project's revision for packages.
func PackageVersionFor(base string, revision int) (PackageVersion, error) {
	if _, err := upstream.DistributionVersion(base, revision); err != nil {
		return PackageVersion{}, err
	}
	suffix := fmt.Sprintf("%s.%d", upstream.DistributionName, revision)
	return PackageVersion{
		Version:     strings.TrimPrefix(base, "v"),
		DebRevision: upstreamDebRevision + "+" + suffix,
		RPMRelease:  upstreamRPMRelease + "." + suffix,
	}, nil
}

// UpstreamDeb is the Debian version of upstream's own package of base, the
// one ours must sort above: 1.36.5-1.1.
func UpstreamDeb(base string) string {
	return strings.TrimPrefix(base, "v") + "-" + upstreamDebRevision
}

// UpstreamRPM is upstream's rpm version-release of base: 1.36.5-150500.1.1.
func UpstreamRPM(base string) string {
	return strings.TrimPrefix(base, "v") + "-" + upstreamRPMRelease
}
