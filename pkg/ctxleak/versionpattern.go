package ctxleak

import (
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/mod/semver"
)

// VersionPattern returns the regular expression, in the RE2 syntax
// Prometheus matches labels with (anchored at both ends), of the kubelet
// versions whose release the facts say has problem p, and of any build of
// those releases (v1.36.2-eks-1-36-5, v1.36.2+vendor): the git_version a
// version alert selects. This project's builds match it too; the alert
// excludes them by DistributionMarker.
func VersionPattern(p Problem) (string, error) {
	facts, err := VersionFacts()
	if err != nil {
		return "", err
	}
	// Patch numbers by minor version, in the table's order.
	var minors []string
	patches := map[string][]string{}
	for _, fact := range facts {
		if fact.Problem != p {
			continue
		}
		minor := semver.MajorMinor(fact.Version)
		if _, seen := patches[minor]; !seen {
			minors = append(minors, minor)
		}
		patches[minor] = append(patches[minor], strings.TrimPrefix(fact.Version, minor+"."))
	}
	if len(minors) == 0 {
		return "", fmt.Errorf("no release has problem %q", p)
	}
	alternatives := make([]string, 0, len(minors))
	for _, minor := range minors {
		alternatives = append(alternatives, regexp.QuoteMeta(minor+".")+"("+strings.Join(patches[minor], "|")+")")
	}
	releases := alternatives[0]
	if len(alternatives) > 1 {
		releases = "(" + strings.Join(alternatives, "|") + ")"
	}
	return releases + "([-+].*)?", nil
}
