package upstream

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// DistributionName is the pre-release identifier this project adds to the
// upstream base version: v1.36.5 with revision 1 is v1.36.5-ctxfix.1.
const DistributionName = "ctxfix"

// versionPackages are the packages whose variables upstream's
// hack/lib/version.sh stamps; both are read by a running kubelet
// (component-base for --version and the node status, client-go for the
// User-Agent).
var versionPackages = []string{
	"k8s.io/component-base/version",
	"k8s.io/client-go/pkg/version",
}

// upstreamVersionPattern is the check hack/lib/version.sh applies before it
// stamps a version: vMAJOR.MINOR[.PATCH][-PRERELEASE][+BUILD].
var upstreamVersionPattern = regexp.MustCompile(`^v([0-9]+)\.([0-9]+)(\.[0-9]+)?([-].*)?([+].*)?$`)

// DistributionVersion names a build of base with this project's series at
// the given revision, keeping the upstream base visible: v1.36.5-ctxfix.1.
func DistributionVersion(base string, revision int) (string, error) {
	if _, err := StagingVersion(base); err != nil {
		return "", err
	}
	if revision < 1 {
		return "", fmt.Errorf("revision %d: must be 1 or more", revision)
	}
	return fmt.Sprintf("%s-%s.%d", base, DistributionName, revision), nil
}

// Stamp is what a kubelet binary reports about itself.
type Stamp struct {
	// GitVersion is the full version, for example v1.36.5-ctxfix.1.
	GitVersion string
	// GitCommit is the commit of the patched tree the binary was built from.
	GitCommit string
	// GitTreeState is "clean" or "dirty".
	GitTreeState string
	// BuildDate is the build time; reproducible builds take it from
	// SOURCE_DATE_EPOCH.
	BuildDate time.Time
}

// stampValue is one variable upstream's hack/lib/version.sh sets.
type stampValue struct {
	ldflagName string // the Go variable in versionPackages
	envName    string // the KUBE_GIT_* name in a version-vars file
	value      string
}

// values checks s and returns what it stamps, in upstream's order.
func (s Stamp) values() ([]stampValue, error) {
	m := upstreamVersionPattern.FindStringSubmatch(s.GitVersion)
	if m == nil || !semver.IsValid(s.GitVersion) {
		return nil, fmt.Errorf("version %q is not a semantic version of the form vX.Y.Z[-pre][+build]", s.GitVersion)
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(s.GitCommit) {
		return nil, fmt.Errorf("commit %q is not a full git commit id", s.GitCommit)
	}
	if s.GitTreeState != "clean" && s.GitTreeState != "dirty" {
		return nil, fmt.Errorf("tree state %q: want clean or dirty", s.GitTreeState)
	}
	if s.BuildDate.IsZero() {
		return nil, fmt.Errorf("build date is not set")
	}
	major, minor := m[1], m[2]
	if m[4] != "" || m[5] != "" {
		// Upstream marks a minor with anything after the patch number, so
		// that clients do not mistake it for the plain release.
		minor += "+"
	}
	return []stampValue{
		{"gitVersion", "KUBE_GIT_VERSION", s.GitVersion},
		{"gitCommit", "KUBE_GIT_COMMIT", s.GitCommit},
		{"gitTreeState", "KUBE_GIT_TREE_STATE", s.GitTreeState},
		{"buildDate", "", s.BuildDate.UTC().Format("2006-01-02T15:04:05Z")},
		{"gitMajor", "KUBE_GIT_MAJOR", major},
		{"gitMinor", "KUBE_GIT_MINOR", minor},
	}, nil
}

// LDFlags returns the -X flags that stamp s the way upstream's
// hack/lib/version.sh does, in both version packages.
func (s Stamp) LDFlags() ([]string, error) {
	values, err := s.values()
	if err != nil {
		return nil, err
	}
	var flags []string
	for _, pkg := range versionPackages {
		for _, v := range values {
			flags = append(flags, fmt.Sprintf("-X '%s.%s=%s'", pkg, v.ldflagName, v.value))
		}
	}
	return flags, nil
}

// VersionVars returns s as the file upstream's
// kube::version::save_version_vars writes and KUBE_GIT_VERSION_FILE reads,
// with the build date as SOURCE_DATE_EPOCH, which hack/lib/version.sh turns
// into buildDate.
func (s Stamp) VersionVars() (string, error) {
	values, err := s.values()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, v := range values {
		if v.envName != "" {
			fmt.Fprintf(&b, "%s='%s'\n", v.envName, v.value)
		}
	}
	fmt.Fprintf(&b, "SOURCE_DATE_EPOCH='%d'\n", s.BuildDate.Unix())
	return b.String(), nil
}

// ParseEpoch reads a SOURCE_DATE_EPOCH value.
func ParseEpoch(epoch string) (time.Time, error) {
	secs, err := strconv.ParseInt(strings.TrimSpace(epoch), 10, 64)
	if err != nil || secs < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a non-negative number of seconds", epoch)
	}
	return time.Unix(secs, 0).UTC(), nil
}
