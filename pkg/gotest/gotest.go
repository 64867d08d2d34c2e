// Package gotest reads the event stream of `go test -json` (test2json) and
// says, package by package, what failed: named tests, and failures that no
// named test explains (a build failure, a panic or timeout, which stop a
// package's remaining tests, or a failure without any failed test). A reader
// of go test's text output sees only "--- FAIL:" lines and misses the last
// three; that is what this package is for.
package gotest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// event is one line of test2json's output (cmd/test2json's TestEvent, plus
// the build events go test -json writes since Go 1.24).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string
	FailedBuild string
}

// Package is what one package's run came to.
type Package struct {
	Name string
	// Result is the package's final action: pass, fail or skip; empty if the
	// stream ended before the package finished.
	Result string
	// FailedTests are the top-level tests that failed, sorted. A failed
	// subtest fails its parent, which is what a rerun can name.
	FailedTests []string
	// Passed counts the top-level tests that passed.
	Passed int
	// Unexplained says why the package failed beyond its named tests, or is
	// empty: a failure that a rerun of named tests cannot clear.
	Unexplained string
}

// Report is the outcome of one go test -json run.
type Report struct {
	Packages []Package
}

// Parse reads a go test -json stream. Lines that are not JSON (a go command
// that wrote to stdout outside test2json) are an error: they would be
// output nobody reads.
func Parse(r io.Reader) (*Report, error) {
	type state struct {
		pkg    Package
		failed map[string]bool
		panic  string
	}
	packages := map[string]*state{}
	get := func(name string) *state {
		s, ok := packages[name]
		if !ok {
			s = &state{pkg: Package{Name: name}, failed: map[string]bool{}}
			packages[name] = s
		}
		return s
	}
	buildFailed := map[string]bool{}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for line := 1; scanner.Scan(); line++ {
		text := scanner.Bytes()
		if len(strings.TrimSpace(string(text))) == 0 {
			continue
		}
		var e event
		if err := json.Unmarshal(text, &e); err != nil {
			return nil, fmt.Errorf("line %d is not a go test -json event: %q", line, truncate(string(text)))
		}
		if e.Action == "build-fail" {
			buildFailed[e.ImportPath] = true
			continue
		}
		if e.Package == "" {
			continue
		}
		s := get(e.Package)
		topLevel := e.Test != "" && !strings.Contains(e.Test, "/")
		switch e.Action {
		case "output":
			// A panic, a test timeout ("panic: test timed out after ...")
			// included, ends the test binary: the tests after it never ran.
			if s.panic == "" && strings.HasPrefix(e.Output, "panic: ") {
				s.panic = strings.TrimSpace(e.Output)
			}
		case "pass":
			if topLevel {
				s.pkg.Passed++
			} else if e.Test == "" {
				s.pkg.Result = "pass"
			}
		case "fail":
			switch {
			case topLevel:
				s.failed[e.Test] = true
			case e.Test == "":
				s.pkg.Result = "fail"
				if e.FailedBuild != "" {
					buildFailed[e.FailedBuild] = true
					s.pkg.Unexplained = "build failed (" + e.FailedBuild + ")"
				}
			}
		case "skip":
			if e.Test == "" {
				s.pkg.Result = "skip"
			}
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	report := &Report{}
	for _, s := range packages {
		for name := range s.failed {
			s.pkg.FailedTests = append(s.pkg.FailedTests, name)
		}
		sort.Strings(s.pkg.FailedTests)
		switch {
		case s.pkg.Unexplained != "":
		case buildFailed[s.pkg.Name]:
			s.pkg.Unexplained = "build failed"
		case s.pkg.Result == "":
			s.pkg.Unexplained = "no result: the run ended before the package did"
		case s.pkg.Result == "fail" && s.panic != "":
			s.pkg.Unexplained = s.panic
		case s.pkg.Result == "fail" && len(s.pkg.FailedTests) == 0:
			s.pkg.Unexplained = "failed without a failing test"
		}
		report.Packages = append(report.Packages, s.pkg)
	}
	sort.Slice(report.Packages, func(i, j int) bool { return report.Packages[i].Name < report.Packages[j].Name })
	return report, nil
}

// Failed reports whether any package failed.
func (r *Report) Failed() bool {
	for _, p := range r.Packages {
		if p.Result != "pass" && p.Result != "skip" {
			return true
		}
	}
	return false
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
