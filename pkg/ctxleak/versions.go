package ctxleak

import (
	"bufio"
	_ "embed"
	"fmt"
	"strings"
	"sync"

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
	// ProblemNone: the version has neither bug.
	ProblemNone Problem = "fixed"
	// ProblemUnknown: a version this tool has no facts about.
	ProblemUnknown Problem = "unknown"
)

// DistributionMarker is the pre-release identifier of this project's builds
// (v1.36.5-ctxfix.2), which carry both fixes on every base.
const DistributionMarker = "-ctxfix."

// Affected reports whether p is a known problem.
func (p Problem) Affected() bool { return p == ProblemLeak || p == ProblemProbeRegression }

// Detail says in a phrase what p means for a kubelet, with the upstream
// references.
func (p Problem) Detail() string {
	switch p {
	case ProblemLeak:
		return "leaks one context per pod sync (kubernetes#139823)"
	case ProblemProbeRegression:
		return "exec probes fail with \"context canceled\" during termination (kubernetes#140881; fixed by kubernetes#140882)"
	case ProblemNone:
		return "neither the context leak nor the probe regression"
	}
	return "no facts"
}

// VersionFact is one row of versionfacts.tsv: what the source of one
// upstream release says.
type VersionFact struct {
	Version string  `json:"version"`
	Problem Problem `json:"problem"`
	// SyncContext and ProbeContext quote startPodSync's and prober AddPod's
	// code; for a version the module proxy does not serve, SyncContext says
	// so.
	SyncContext  string `json:"syncContext"`
	ProbeContext string `json:"probeContext"`
}

// versionFactsTSV is generated from the sources of every release the Go
// module proxy serves (hack/verify-version-facts.sh --update), and checked
// against them by the same script.
//
//go:embed versionfacts.tsv
var versionFactsTSV string

// VersionFacts returns the facts of every release in the table.
var VersionFacts = sync.OnceValues(func() ([]VersionFact, error) {
	return parseVersionFacts(versionFactsTSV)
})

func parseVersionFacts(text string) ([]VersionFact, error) {
	var facts []VersionFact
	scanner := bufio.NewScanner(strings.NewReader(text))
	line := 0
	for scanner.Scan() {
		line++
		if strings.HasPrefix(scanner.Text(), "#") || strings.TrimSpace(scanner.Text()) == "" {
			continue
		}
		fields := strings.Split(scanner.Text(), "\t")
		if len(fields) != 4 {
			return nil, fmt.Errorf("versionfacts.tsv:%d: %d fields, want version, problem, sync context, probe context", line, len(fields))
		}
		fact := VersionFact{Version: fields[0], Problem: Problem(fields[1]), SyncContext: fields[2], ProbeContext: fields[3]}
		if !semver.IsValid(fact.Version) || semver.Prerelease(fact.Version) != "" {
			return nil, fmt.Errorf("versionfacts.tsv:%d: %q is not a release version", line, fact.Version)
		}
		switch fact.Problem {
		case ProblemLeak, ProblemProbeRegression, ProblemNone, ProblemUnknown:
		default:
			return nil, fmt.Errorf("versionfacts.tsv:%d: unknown problem %q", line, fact.Problem)
		}
		facts = append(facts, fact)
	}
	return facts, scanner.Err()
}

// ClassifyVersion says what is known about a kubelet version as a node
// reports it (status.nodeInfo.kubeletVersion). Releases are looked up in the
// facts read from their sources; another vendor's build (v1.36.2-eks-1-36-5)
// gets the facts of its base, with a reminder that its patches are unknown.
func ClassifyVersion(version string) (Problem, string) {
	v := strings.TrimSpace(version)
	if !semver.IsValid(v) {
		return ProblemUnknown, "not a semantic version"
	}
	if strings.Contains(v, DistributionMarker) {
		return ProblemNone, "kubelet-ctxfix build: both fixes"
	}
	facts, err := VersionFacts()
	if err != nil {
		return ProblemUnknown, err.Error()
	}
	base := release(v)
	for _, fact := range facts {
		if fact.Version != base {
			continue
		}
		if fact.Problem == ProblemUnknown {
			return ProblemUnknown, fact.SyncContext
		}
		if base != v {
			return fact.Problem, fmt.Sprintf("a build of %s, which %s; patches unknown: confirm with --profile", base, fact.Problem.Detail())
		}
		return fact.Problem, fact.Problem.Detail()
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
