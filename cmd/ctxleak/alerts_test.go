package main

import (
	"os"
	"reflect"
	"regexp"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
)

// ruleGroups is the part of a Prometheus rule file these tests read.
type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert  string            `json:"alert"`
			Expr   string            `json:"expr"`
			Labels map[string]string `json:"labels"`
		} `json:"rules"`
	} `json:"groups"`
}

func readYAML(t *testing.T, file string, into any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

var (
	versionMatcher    = regexp.MustCompile("git_version=~`([^`]*)`")
	versionExclusions = regexp.MustCompile("git_version!~`([^`]*)`")
)

// promMatches reports whether value matches a Prometheus label regexp, which
// is anchored at both ends.
func promMatches(t *testing.T, pattern, value string) bool {
	t.Helper()
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		t.Fatalf("pattern %q: %v", pattern, err)
	}
	return re.MatchString(value)
}

// The version alert's patterns are the ones the version facts give, and
// select exactly the versions ctxleak classifies as having each problem: every
// release in the table, builds of them by another vendor, and this project's
// builds.
func TestVersionAlertFollowsTheFacts(t *testing.T) {
	var file ruleGroups
	readYAML(t, "../../build/ctxleak/prometheus-rules.yaml", &file)
	facts, err := ctxleak.VersionFacts()
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, fact := range facts {
		versions = append(versions, fact.Version, fact.Version+"-eks-1-36-5", fact.Version+"+vendor.1", fact.Version+"-ctxfix.2", fact.Version+"0")
	}
	versions = append(versions, "v1.34.0", "v1.38.0", "v2.36.2")

	problems := map[ctxleak.Problem]bool{}
	for _, group := range file.Groups {
		for _, rule := range group.Rules {
			if rule.Alert != "KubeletVersionAffected" {
				continue
			}
			problem := ctxleak.Problem(rule.Labels["problem"])
			problems[problem] = true
			want, err := ctxleak.VersionPattern(problem)
			if err != nil {
				t.Fatalf("rule for problem %q: %v", problem, err)
			}
			include := versionMatcher.FindStringSubmatch(rule.Expr)
			exclude := versionExclusions.FindStringSubmatch(rule.Expr)
			if include == nil || exclude == nil {
				t.Fatalf("rule for problem %q selects no git_version=~ and git_version!~: %s", problem, rule.Expr)
			}
			if include[1] != want {
				t.Errorf("rule for problem %q selects git_version=~`%s`; versionfacts.tsv gives git_version=~`%s` (update build/ctxleak/prometheus-rules.yaml and prometheusrule.yaml)", problem, include[1], want)
			}
			for _, version := range versions {
				fires := promMatches(t, include[1], version) && !promMatches(t, exclude[1], version)
				classified, _ := ctxleak.ClassifyVersion(version)
				if fires != (classified == problem) {
					t.Errorf("rule for problem %q: fires for %s is %v, but ctxleak classifies it %q", problem, version, fires, classified)
				}
			}
		}
	}
	for _, problem := range []ctxleak.Problem{ctxleak.ProblemLeak, ctxleak.ProblemProbeRegression} {
		if !problems[problem] {
			t.Errorf("no KubeletVersionAffected rule for problem %q", problem)
		}
	}
}

// The PrometheusRule manifest carries the rule file's groups, unchanged.
func TestPrometheusRuleIsTheRuleFile(t *testing.T) {
	var file map[string]any
	readYAML(t, "../../build/ctxleak/prometheus-rules.yaml", &file)
	var manifest struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Spec       map[string]any `json:"spec"`
	}
	readYAML(t, "../../build/ctxleak/prometheusrule.yaml", &manifest)
	if manifest.APIVersion != "monitoring.coreos.com/v1" || manifest.Kind != "PrometheusRule" {
		t.Errorf("manifest is %s %s, want monitoring.coreos.com/v1 PrometheusRule", manifest.APIVersion, manifest.Kind)
	}
	if file["groups"] == nil || !reflect.DeepEqual(file, manifest.Spec) {
		spec, _ := yaml.Marshal(manifest.Spec)
		t.Errorf("prometheusrule.yaml's spec differs from prometheus-rules.yaml:\n%s", spec)
	}
}
