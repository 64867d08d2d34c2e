// Package upstream knows how an upstream Kubernetes module tree is turned into
// a buildable main module and how a build of it is stamped.
package upstream

import (
	"fmt"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// stagingPrefix is where k8s.io/kubernetes keeps the source of its staging
// modules. The Go module zip of k8s.io/kubernetes leaves that folder out
// (every staging module has a go.mod of its own), so the replace directives
// that point there cannot be used outside a git checkout.
const stagingPrefix = "./staging/src/"

// StagingModfile rewrites the go.mod of a k8s.io/kubernetes module tree so that
// every staging module it requires comes from the published module at
// stagingVersion (for example v0.36.5 for v1.36.5) instead of ./staging.
//
// Everything else (go and godebug lines, third-party pins, tool directives)
// stays as upstream wrote it, so the tree still builds as the main module with
// upstream's own settings. Replace directives for staging modules the tree does
// not require are dropped: some of them (sample-controller, sample-cli-plugin)
// are not published for every release.
func StagingModfile(goMod []byte, stagingVersion string) ([]byte, error) {
	if !semver.IsValid(stagingVersion) {
		return nil, fmt.Errorf("staging version %q is not a semantic version", stagingVersion)
	}
	f, err := modfile.Parse("go.mod", goMod, nil)
	if err != nil {
		return nil, fmt.Errorf("parsing go.mod: %w", err)
	}
	if f.Module == nil || f.Module.Mod.Path != "k8s.io/kubernetes" {
		return nil, fmt.Errorf("go.mod is not the k8s.io/kubernetes module")
	}

	required := map[string]bool{}
	for _, r := range f.Require {
		required[r.Mod.Path] = true
	}

	var staging []string
	for _, r := range f.Replace {
		if strings.HasPrefix(r.New.Path, stagingPrefix) {
			staging = append(staging, r.Old.Path)
		}
	}
	if len(staging) == 0 {
		return nil, fmt.Errorf("go.mod replaces no module with %s: not a k8s.io/kubernetes release tree", stagingPrefix)
	}

	for _, path := range staging {
		if err := f.DropReplace(path, ""); err != nil {
			return nil, err
		}
		if !required[path] {
			continue
		}
		if err := f.AddRequire(path, stagingVersion); err != nil {
			return nil, err
		}
		// The staging modules also require each other at v0.0.0 in some
		// releases; the replace pins every version of them, as upstream's
		// own replace to ./staging did.
		if err := f.AddReplace(path, "", path, stagingVersion); err != nil {
			return nil, err
		}
	}
	f.Cleanup()
	return modfile.Format(f.Syntax), nil
}

// StagingVersion maps a Kubernetes release (v1.36.5) to the version its
// staging modules are published at (v0.36.5).
func StagingVersion(kubeVersion string) (string, error) {
	if !semver.IsValid(kubeVersion) || semver.Canonical(kubeVersion) != kubeVersion || semver.Prerelease(kubeVersion) != "" {
		return "", fmt.Errorf("%q is not a Kubernetes release version such as v1.36.5", kubeVersion)
	}
	if semver.Major(kubeVersion) != "v1" {
		return "", fmt.Errorf("%q: only Kubernetes v1 releases are supported", kubeVersion)
	}
	return "v0" + strings.TrimPrefix(kubeVersion, "v1"), nil
}
