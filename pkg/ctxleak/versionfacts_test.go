package ctxleak

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

var updateVersionFacts = flag.Bool("update", false, "rewrite versionfacts.tsv from the sources CTXFIX_KUBERNETES_SOURCES lists")

const versionFactsHeader = `# What the source of each upstream kubelet release says about the sync
# context leak (kubernetes#139823) and the probe regression (kubernetes#140881,
# fixed by kubernetes#140882; release-1.35 pick kubernetes#141005, release-1.36
# pick kubernetes#141006), read from pkg/kubelet/pod_workers.go (startPodSync)
# and pkg/kubelet/prober/prober_manager.go (AddPod) of the Go module
# k8s.io/kubernetes at that version (FactsFromSource). Generated, for every
# release the Go module proxy serves in the range the script names, by
# hack/verify-version-facts.sh --update; make test checks it against the
# sources with the same script. A release the proxy does not serve is unknown.
#
# version	problem	sync context (startPodSync)	probe context (prober AddPod)
`

// TestVersionFactsMatchSources reads every release's source that
// hack/verify-version-facts.sh downloaded and checks versionfacts.tsv against
// it (or, with -update, writes it).
func TestVersionFactsMatchSources(t *testing.T) {
	list := os.Getenv("CTXFIX_KUBERNETES_SOURCES")
	if list == "" {
		t.Skip("needs the sources: run hack/verify-version-facts.sh")
	}
	sources, err := readSourceList(list)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(versionFactsHeader)
	for _, source := range sources {
		if source.dir == "" {
			fmt.Fprintf(&b, "%s\t%s\tnot served by the Go module proxy\t-\n", source.version, ProblemUnknown)
			continue
		}
		fact, err := factOfTree(source.version, source.dir)
		if err != nil {
			t.Fatalf("%s: %v", source.version, err)
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", fact.Version, fact.Problem, fact.SyncContext, fact.ProbeContext)
	}
	want := b.String()
	if *updateVersionFacts {
		if err := os.WriteFile("versionfacts.tsv", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if versionFactsTSV != want {
		t.Errorf("versionfacts.tsv does not match the sources; run hack/verify-version-facts.sh --update and review the change.\nthe sources say:\n%s\nthe table says:\n%s",
			linesNotIn(want, versionFactsTSV), linesNotIn(versionFactsTSV, want))
	}
}

type source struct{ version, dir string }

// readSourceList reads "version<TAB>module folder" lines, with "-" for a
// version the proxy does not serve, and sorts them by version.
func readSourceList(path string) ([]source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var sources []source
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		version, dir, ok := strings.Cut(scanner.Text(), "\t")
		if !ok || !semver.IsValid(version) {
			return nil, fmt.Errorf("%s: bad line %q", path, scanner.Text())
		}
		if dir == "-" {
			dir = ""
		}
		sources = append(sources, source{version, dir})
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("%s lists no release", path)
	}
	sort.Slice(sources, func(i, j int) bool { return semver.Compare(sources[i].version, sources[j].version) < 0 })
	return sources, nil
}

func factOfTree(version, dir string) (VersionFact, error) {
	podWorkers, err := os.ReadFile(filepath.Join(dir, "pkg/kubelet/pod_workers.go"))
	if err != nil {
		return VersionFact{}, err
	}
	proberManager, err := os.ReadFile(filepath.Join(dir, "pkg/kubelet/prober/prober_manager.go"))
	if err != nil {
		return VersionFact{}, err
	}
	facts, err := FactsFromSource(podWorkers, proberManager)
	if err != nil {
		return VersionFact{}, err
	}
	problem := ProblemNone
	switch {
	case facts.Leak:
		problem = ProblemLeak
	case facts.ProbeRegression:
		problem = ProblemProbeRegression
	}
	return VersionFact{Version: version, Problem: problem, SyncContext: facts.SyncContext, ProbeContext: facts.ProbeContext}, nil
}

// linesNotIn returns the lines of a that b does not have.
func linesNotIn(a, b string) string {
	have := map[string]bool{}
	for _, line := range strings.Split(b, "\n") {
		have[line] = true
	}
	var out []string
	for _, line := range strings.Split(a, "\n") {
		if !have[line] {
			out = append(out, "  "+line)
		}
	}
	return strings.Join(out, "\n")
}
