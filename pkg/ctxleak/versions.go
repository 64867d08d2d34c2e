package ctxleak

import (
	"strings"

	"golang.org/x/mod/semver"
)

// Problem is what is known about a kubelet version.
type Problem string

const (
	// ProblemLeak: the version leaks one context per pod sync
	// (kubernetes#139823).
	ProblemLeak Problem = "leak"
	// ProblemProbeRegression: the version does not leak, but exec probes
	// fail with "context canceled" once a pod starts terminating
	// (kubernetes#140881).
	ProblemProbeRegression Problem = "probe-regression"
	// ProblemNone: the version carries both fixes.
	ProblemNone Problem = "fixed"
	// ProblemUnknown: a version this tool knows nothing about.
	ProblemUnknown Problem = "unknown"
)

// DistributionMarker is the pre-release identifier of this project's builds
// (v1.36.5-ctxfix.1), which carry both fixes on every base.
const DistributionMarker = "-ctxfix."

// Affected reports whether p is a known problem.
func (p Problem) Affected() bool { return p == ProblemLeak || p == ProblemProbeRegression }

// ClassifyVersion says what is known about a kubelet version as a node
// reports it (status.nodeInfo.kubeletVersion).
func ClassifyVersion(version string) (Problem, string) {
	v := strings.TrimSpace(version)
	if !semver.IsValid(v) {
		return ProblemUnknown, "not a semantic version"
	}
	if strings.Contains(v, DistributionMarker) {
		return ProblemNone, "kubelet-ctxfix build: both fixes"
	}
	if semver.Prerelease(v) != "" {
		// Another vendor's build of some base: its patches are unknown.
		return ProblemUnknown, "a build of " + release(v) + " with unknown patches"
	}
	switch {
	case semver.Compare(v, "v1.36.0") >= 0 && semver.Compare(v, "v1.36.2") <= 0:
		return ProblemLeak, "leaks one context per pod sync (kubernetes#139823)"
	case semver.Compare(v, "v1.36.3") >= 0 && semver.Compare(v, "v1.36.5") <= 0:
		return ProblemProbeRegression, "exec probes fail with \"context canceled\" during termination (kubernetes#140881)"
	case semver.Compare(v, "v1.37.2") >= 0 && semver.MajorMinor(v) == "v1.37":
		return ProblemNone, "upstream release with both fixes"
	}
	return ProblemUnknown, "not a release this tool has facts about"
}

// release strips pre-release and build metadata: v1.36.5-eks-1 is v1.36.5.
func release(v string) string {
	if i := strings.IndexAny(v, "-+"); i > 0 {
		return v[:i]
	}
	return v
}
