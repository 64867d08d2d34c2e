// Package release assembles the release artifacts of a patched kubelet: the
// node tarball and source archive in upstream's layout, deb and rpm packages
// that drop in for upstream's, and the SBOM's pedigree.
package release

import (
	_ "embed"
	"fmt"
	"strings"

	"golang.org/x/mod/semver"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/upstream"
)

//go:embed upstream-packages.tsv
var upstreamPackagesTSV string

// UpstreamPackaging is how upstream's packages of one minor release spell
// their versions after the Kubernetes version.
type UpstreamPackaging struct {
	Minor       string // v1.36
	DebRevision string // 1.1
	RPMRelease  string // 150500.1.1
	Source      string // the repository that publishes them
}

// UpstreamPackagingFor gives the entry of upstream-packages.tsv for base's
// minor release, or an error naming the minor that has none.
func UpstreamPackagingFor(base string) (UpstreamPackaging, error) {
	if !semver.IsValid(base) {
		return UpstreamPackaging{}, fmt.Errorf("%q is not a version like v1.36.5", base)
	}
	minor := semver.MajorMinor(base)
	for i, line := range strings.Split(upstreamPackagesTSV, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 4 {
			return UpstreamPackaging{}, fmt.Errorf("upstream-packages.tsv:%d: want minor, deb revision, rpm release and source separated by tabs", i+1)
		}
		if fields[0] == minor {
			return UpstreamPackaging{Minor: fields[0], DebRevision: fields[1], RPMRelease: fields[2], Source: fields[3]}, nil
		}
	}
	return UpstreamPackaging{}, fmt.Errorf("pkg/release/upstream-packages.tsv says nothing about upstream's packages of %s (%s): add the minor with what its repository publishes", minor, base)
}

// PackageVersion is how a distribution version is spelled in packages.
type PackageVersion struct {
	// Version is the upstream base without its "v": 1.36.5.
	Version string
	// DebRevision follows upstream's Debian revision, so that ours sorts
	// just above it: 1.1+ctxfix.1 (dpkg sorts "+" after the end of a
	// string, so 1.1+ctxfix.1 > 1.1, and 1.36.5-anything < 1.36.6-anything).
	DebRevision string
	// RPMRelease does the same for rpm: 150500.1.1.1, the revision as one
	// more numeric segment (rpmvercmp ranks the release with segments left
	// over as newer). Digits and dots only: image-builder's goss checks an
	// installed rpm's version-release against ^1.36.5(-\d+(\.\d+)*)*$, which
	// a word such as "ctxfix" in the release fails; the package's vendor and
	// description say whose it is. A numeric segment also ranks above the
	// word of this project's earlier 150500.1.1.ctxfix.N, so dnf upgrades
	// those.
	RPMRelease string
}

// Deb is the full Debian version: 1.36.5-1.1+ctxfix.1.
func (v PackageVersion) Deb() string { return v.Version + "-" + v.DebRevision }

// RPM is the rpm version-release: 1.36.5-150500.1.1.1.
func (v PackageVersion) RPM() string { return v.Version + "-" + v.RPMRelease }

// PackageVersionFor spells base at this project's revision for packages.
func PackageVersionFor(base string, revision int) (PackageVersion, error) {
	return ComponentPackageVersionFor(base, base, revision)
}

// ComponentPackageVersionFor spells a component that a release of base
// packages beside the Kubernetes binaries (cri-tools, kubernetes-cni) at its
// own version. Upstream publishes those in base's minor repository with the
// same revision as kubelet's, so the revision comes from base, not from the
// component's version (kubernetes-cni 1.10.0 has no Kubernetes minor).
func ComponentPackageVersionFor(base, version string, revision int) (PackageVersion, error) {
	if _, err := upstream.DistributionVersion(base, revision); err != nil {
		return PackageVersion{}, err
	}
	if !semver.IsValid(version) {
		return PackageVersion{}, fmt.Errorf("component version %q is not a version like v1.37.0", version)
	}
	up, err := UpstreamPackagingFor(base)
	if err != nil {
		return PackageVersion{}, err
	}
	suffix := fmt.Sprintf("%s.%d", upstream.DistributionName, revision)
	return PackageVersion{
		Version:     strings.TrimPrefix(version, "v"),
		DebRevision: up.DebRevision + "+" + suffix,
		RPMRelease:  fmt.Sprintf("%s.%d", up.RPMRelease, revision),
	}, nil
}

// UpstreamPackageVersionFor spells base as upstream's own packages of it do:
// 1.36.5-1.1 and 1.36.5-150500.1.1, the versions ours must sort above.
func UpstreamPackageVersionFor(base string) (PackageVersion, error) {
	up, err := UpstreamPackagingFor(base)
	if err != nil {
		return PackageVersion{}, err
	}
	return PackageVersion{Version: strings.TrimPrefix(base, "v"), DebRevision: up.DebRevision, RPMRelease: up.RPMRelease}, nil
}

// UpstreamDeb is the Debian version of upstream's own package of base: 1.36.5-1.1.
func UpstreamDeb(base string) (string, error) {
	v, err := UpstreamPackageVersionFor(base)
	return v.Deb(), err
}

// UpstreamRPM is upstream's rpm version-release of base: 1.36.5-150500.1.1.
func UpstreamRPM(base string) (string, error) {
	v, err := UpstreamPackageVersionFor(base)
	return v.RPM(), err
}

// StandInDescription is the description of a package that stands in for
// upstream's own in a test: the stock binaries of base under upstream's
// name and version, so that a node can be rolled back to "upstream's
// package" where none can be downloaded.
func StandInDescription(base string) string {
	return fmt.Sprintf("TEST STAND-IN for upstream's package: not published by Kubernetes.\n"+
		"The unpatched binaries of Kubernetes %s, built and packaged by kubelet-ctxfix's\n"+
		"tests under the name and version of upstream's package, to roll a test node\n"+
		"back to. Never publish or install it.", base)
}
