package conformance

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
)

// ReadSpecList reads a named list of specs: one spec's full name a line, as
// ginkgo gives it (its containers' texts and its own, joined by spaces); #
// starts a comment. A name listed twice is an error.
func ReadSpecList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	scanner := bufio.NewScanner(f)
	line := 0
	for scanner.Scan() {
		line++
		name := strings.TrimSpace(scanner.Text())
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		if slices.Contains(names, name) {
			return nil, fmt.Errorf("%s:%d: %q is listed twice", path, line, name)
		}
		names = append(names, name)
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s names no spec", path)
	}
	return names, nil
}

// Focus is a ginkgo focus that selects exactly the specs names of the
// suite described as suite: each name whole, as literal text. ginkgo
// matches a focus against the suite's description, a space, and the
// spec's full name.
func Focus(suite string, names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = regexp.QuoteMeta(n)
	}
	return "^" + regexp.QuoteMeta(suite) + " (?:" + strings.Join(quoted, "|") + ")$"
}

// Unmatched returns the names that no spec of a dry run selected: names
// the suite does not have, under that name.
func Unmatched(names []string, dryRun []SpecResult) []string {
	var missing []string
	for _, n := range names {
		if !slices.ContainsFunc(dryRun, func(s SpecResult) bool { return s.Name == n && s.Status == "passed" }) {
			missing = append(missing, n)
		}
	}
	return missing
}

// Row is one spec of a named list, as it went with stock kubelets and with
// ours.
type Row struct {
	Spec           string
	Stock, Patched SpecResult
	// Known is the reason of the known failure that explains a failure,
	// if one does.
	Known string
}

// Compare sets the runs with stock and with patched kubelets, of a base
// with problem, side by side for every spec of names, and says what does
// not hold: a spec that did not run or was skipped; a failure that no
// known failure explains; a spec that fails with our kubelets and passed
// with stock ones, whatever the known failures say; a known stock failure
// that passed on stock. With patchedOnly, there was a run with ours alone,
// judged alone, and stock is not read.
func Compare(names []string, stock, patched []SpecResult, patchedOnly bool, known []KnownFailure, problem ctxleak.Problem) ([]Row, []string) {
	var rows []Row
	var problems []string
	find := func(results []SpecResult, name string) SpecResult {
		i := slices.IndexFunc(results, func(s SpecResult) bool { return s.Name == name })
		if i < 0 {
			return SpecResult{Name: name, Status: "not run"}
		}
		return results[i]
	}
	for _, name := range names {
		row := Row{Spec: name, Patched: find(patched, name)}
		runs := map[string]SpecResult{"patched": row.Patched}
		if !patchedOnly {
			row.Stock = find(stock, name)
			runs["stock"] = row.Stock
		}
		for kubelet, r := range runs {
			v := Judge([]SpecResult{r}, known, kubelet, problem)
			switch {
			case r.Status == "not run" || v.Skipped > 0:
				problems = append(problems, fmt.Sprintf("%s with %s kubelets: %s", name, kubelet, r.Status))
			case len(v.Unexplained) > 0:
				problems = append(problems, fmt.Sprintf("%s failed with %s kubelets, and no known failure says why: %s", name, kubelet, firstLine(r.Message)))
			case len(v.Unshown) > 0:
				problems = append(problems, fmt.Sprintf("%s passed with stock kubelets, where it is known to fail on %s", name, problem))
			}
		}
		if !patchedOnly && row.Patched.Status != "passed" && row.Stock.Status == "passed" {
			problems = append(problems, fmt.Sprintf("%s fails only with our kubelets: %s", name, firstLine(row.Patched.Message)))
		}
		// The reason of the known failure that explains a failure, if one
		// does: one that applies to the kubelet that failed.
		for kubelet, r := range runs {
			if row.Known != "" || r.Status == "passed" {
				continue
			}
			for _, k := range known {
				if k.Spec.MatchString(name) && k.Applies(kubelet, problem) {
					row.Known = k.Reason
					break
				}
			}
		}
		rows = append(rows, row)
	}
	slices.Sort(problems)
	return rows, problems
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return first
}

// Table is rows as a Markdown table.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| Spec | Stock kubelets | Our kubelets | Known failure |\n|---|---|---|---|\n")
	for _, r := range rows {
		stock := r.Stock.Status
		if stock == "" {
			stock = "not run"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", strings.ReplaceAll(r.Spec, "|", `\|`), stock, r.Patched.Status, r.Known)
	}
	return b.String()
}
