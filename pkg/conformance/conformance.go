// Package conformance runs upstream's e2e suites (e2e.test, e2e_node.test)
// with ginkgo, as sonobuoy and node e2e run them, and judges what they
// report against a list of known failures: each with its reason, on every
// kubelet or only on the stock kubelet of a base with a known problem,
// where the spec must then fail.
package conformance

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
)

// KnownFailure is a spec that fails, and where: on every kubelet, for a
// reason of this machine's and not the kubelet's (Problem empty), or only on
// the stock kubelet of a base with a known problem, which the spec shows.
type KnownFailure struct {
	Spec *regexp.Regexp
	// Problem, when set, limits the failure to stock kubelets of bases with
	// that problem; there the spec must fail.
	Problem ctxleak.Problem
	Reason  string
}

// Applies reports whether the failure is expected of kubelet on a base
// with problem.
func (k KnownFailure) Applies(kubelet string, problem ctxleak.Problem) bool {
	return k.Problem == "" || (kubelet == "stock" && k.Problem == problem)
}

// ReadKnownFailures reads a file of lines SPEC-REGEXP<TAB>WHERE<TAB>REASON,
// WHERE being "all" or "stock:PROBLEM"; # starts a comment.
func ReadKnownFailures(path string) ([]KnownFailure, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var known []KnownFailure
	scanner := bufio.NewScanner(f)
	line := 0
	for scanner.Scan() {
		line++
		text := scanner.Text()
		if strings.HasPrefix(text, "#") || strings.TrimSpace(text) == "" {
			continue
		}
		fields := strings.Split(text, "\t")
		if len(fields) != 3 || strings.TrimSpace(fields[2]) == "" {
			return nil, fmt.Errorf("%s:%d: want SPEC-REGEXP<TAB>WHERE<TAB>REASON", path, line)
		}
		re, err := regexp.Compile(fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		k := KnownFailure{Spec: re, Reason: fields[2]}
		switch where := fields[1]; {
		case where == "all":
		case strings.HasPrefix(where, "stock:") && ctxleak.Problem(strings.TrimPrefix(where, "stock:")).Affected():
			k.Problem = ctxleak.Problem(strings.TrimPrefix(where, "stock:"))
		default:
			return nil, fmt.Errorf("%s:%d: where %q: want all, stock:%s or stock:%s", path, line, where, ctxleak.ProblemLeak, ctxleak.ProblemProbeRegression)
		}
		known = append(known, k)
	}
	return known, scanner.Err()
}

// SpecResult is one spec of a conformance run: its name, ginkgo's status
// (passed, failed, skipped, ...), and for a failure, its message.
type SpecResult struct {
	Name, Status, Message string
}

// ReadReport returns the specs ([It]) of ginkgo's JSON report, by full
// name: the texts of the spec's containers and its own, as ginkgo's focus
// reads them, without its labels.
func ReadReport(path string) ([]SpecResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var reports []types.Report
	if err := json.Unmarshal(data, &reports); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var specs []SpecResult
	for _, report := range reports {
		for _, r := range report.SpecReports.WithLeafNodeType(types.NodeTypeIt) {
			specs = append(specs, SpecResult{Name: r.FullText(), Status: r.State.String(), Message: r.Failure.Message})
		}
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	return specs, nil
}

// Verdict is a conformance run judged against the known failures.
type Verdict struct {
	Passed, Skipped int
	// Explained failed as a known failure says they do; Unexplained failed
	// otherwise; Unshown are known stock failures that passed.
	Explained, Unexplained, Unshown []string
}

// Judge sorts the specs of kubelet, on a base with problem, by the known
// failures that apply to it.
func Judge(specs []SpecResult, known []KnownFailure, kubelet string, problem ctxleak.Problem) Verdict {
	var v Verdict
	for _, s := range specs {
		var applies *KnownFailure
		for i := range known {
			if known[i].Spec.MatchString(s.Name) && known[i].Applies(kubelet, problem) {
				applies = &known[i]
				break
			}
		}
		switch s.Status {
		case "passed":
			v.Passed++
			if applies != nil && applies.Problem != "" {
				v.Unshown = append(v.Unshown, s.Name)
			}
		case "skipped", "pending":
			v.Skipped++
		default:
			if applies != nil {
				v.Explained = append(v.Explained, s.Name)
			} else {
				v.Unexplained = append(v.Unexplained, s.Name)
			}
		}
	}
	return v
}
