package release

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Patch is one patch of the series, as the SBOM's pedigree records it.
type Patch struct {
	File    string
	Subject string
	// Backport is true for "UPSTREAM: <PR>:" patches, false for carries.
	Backport bool
	// References are the upstream issues and PRs the message names:
	// kubernetes#139823.
	References []string
	Diff       string
}

// SHA256 is the sha256 of the patch file, in hex.
func (p Patch) SHA256() string {
	sum := sha256.Sum256([]byte(p.Diff))
	return hex.EncodeToString(sum[:])
}

var (
	subjectPattern   = regexp.MustCompile(`^Subject: (?:\[PATCH[^\]]*\] )?(.*)$`)
	backportPattern  = regexp.MustCompile(`^UPSTREAM: [0-9]+:`)
	referencePattern = regexp.MustCompile(`kubernetes#[0-9]+`)
)

// ReadSeries reads the patches of a series folder in order.
func ReadSeries(dir string) ([]Patch, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.patch"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no patches", dir)
	}
	sort.Strings(files)
	var series []Patch
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		p := Patch{File: filepath.Base(file), Diff: string(text)}
		scanner := bufio.NewScanner(bytes.NewReader(text))
		scanner.Buffer(make([]byte, 0, 64*1024), len(text)+1)
		for scanner.Scan() {
			if m := subjectPattern.FindStringSubmatch(scanner.Text()); m != nil {
				p.Subject = m[1]
				// git format-patch folds long subjects onto continuation
				// lines that start with a space (RFC 5322 folding).
				for scanner.Scan() && strings.HasPrefix(scanner.Text(), " ") {
					p.Subject += scanner.Text()
				}
				break
			}
		}
		if p.Subject == "" {
			return nil, fmt.Errorf("%s: no Subject line", file)
		}
		p.Backport = backportPattern.MatchString(p.Subject)
		// References in the commit message, which ends where the diff starts.
		message, _, _ := strings.Cut(string(text), "\n---\n")
		seen := map[string]bool{}
		for _, ref := range referencePattern.FindAllString(message, -1) {
			if !seen[ref] {
				seen[ref] = true
				p.References = append(p.References, ref)
			}
		}
		series = append(series, p)
	}
	return series, nil
}

// AddPedigree records in a CycloneDX SBOM of the kubelet (as
// cyclonedx-gomod writes it) that its main component is upstream's
// k8s.io/kubernetes at base with the series applied: the base as the
// pedigree's ancestor, each patch with its type, the issues it resolves and
// its diff.
func AddPedigree(sbom []byte, base string, series []Patch) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(sbom, &doc); err != nil {
		return nil, fmt.Errorf("not a JSON SBOM: %w", err)
	}
	metadata, ok := doc["metadata"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("SBOM has no metadata")
	}
	component, ok := metadata["component"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("SBOM has no metadata.component")
	}
	if name := component["name"]; name != "k8s.io/kubernetes" {
		return nil, fmt.Errorf("SBOM describes %v, not k8s.io/kubernetes", name)
	}
	var patches []any
	for _, p := range series {
		kind := "unofficial"
		if p.Backport {
			kind = "backport"
		}
		var resolves []any
		for _, ref := range p.References {
			number := strings.TrimPrefix(ref, "kubernetes#")
			resolves = append(resolves, map[string]any{
				"type": "defect",
				"id":   ref,
				"url":  "https://github.com/kubernetes/kubernetes/issues/" + number,
			})
		}
		patch := map[string]any{
			"type": kind,
			"diff": map[string]any{
				"text": map[string]any{"contentType": "text/x-diff", "content": p.Diff},
			},
		}
		if len(resolves) > 0 {
			patch["resolves"] = resolves
		}
		patches = append(patches, patch)
	}
	component["pedigree"] = map[string]any{
		"ancestors": []any{map[string]any{
			"type":    "application",
			"name":    "k8s.io/kubernetes",
			"version": base,
			"purl":    "pkg:golang/k8s.io/kubernetes@" + base + "?type=module",
		}},
		"patches": patches,
		"notes":   fmt.Sprintf("upstream k8s.io/kubernetes %s with %d patches of kubelet-ctxfix applied", base, len(series)),
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// CheckSBOM verifies an SBOM against the kubelet it describes: its main
// component has base as pedigree ancestor and patches patches, and every
// module the binary was built from (its build info) is a component with the
// version the binary used.
func CheckSBOM(sbom []byte, kubelet string, base string, patches int) error {
	var doc struct {
		Metadata struct {
			Component struct {
				Name     string `json:"name"`
				Pedigree struct {
					Ancestors []struct {
						Name    string `json:"name"`
						Version string `json:"version"`
					} `json:"ancestors"`
					Patches []json.RawMessage `json:"patches"`
				} `json:"pedigree"`
			} `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"components"`
	}
	if err := json.Unmarshal(sbom, &doc); err != nil {
		return fmt.Errorf("not a JSON SBOM: %w", err)
	}
	main := doc.Metadata.Component
	if main.Name != "k8s.io/kubernetes" {
		return fmt.Errorf("main component is %q, want k8s.io/kubernetes", main.Name)
	}
	if len(main.Pedigree.Ancestors) != 1 || main.Pedigree.Ancestors[0].Name != "k8s.io/kubernetes" || main.Pedigree.Ancestors[0].Version != base {
		return fmt.Errorf("pedigree ancestors %+v, want k8s.io/kubernetes %s", main.Pedigree.Ancestors, base)
	}
	if len(main.Pedigree.Patches) != patches {
		return fmt.Errorf("pedigree has %d patches, the series %d", len(main.Pedigree.Patches), patches)
	}
	listed := map[string]string{}
	for _, c := range doc.Components {
		listed[c.Name] = c.Version
	}
	info, err := buildinfo.ReadFile(kubelet)
	if err != nil {
		return fmt.Errorf("build info of %s: %w", kubelet, err)
	}
	if listed["std"] != info.GoVersion {
		return fmt.Errorf("standard library: SBOM says %q, the binary was built with %s", listed["std"], info.GoVersion)
	}
	var wrong []string
	for _, dep := range info.Deps {
		version := dep.Version
		if dep.Replace != nil {
			version = dep.Replace.Version
		}
		if got, ok := listed[dep.Path]; !ok || got != version {
			wrong = append(wrong, fmt.Sprintf("%s %s (SBOM: %q)", dep.Path, version, got))
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("%d of %d modules in the binary are missing or differ in the SBOM: %s", len(wrong), len(info.Deps), strings.Join(wrong, "; "))
	}
	return nil
}
