package release

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReadSeries(t *testing.T) {
	series, err := ReadSeries("../../patches/from-v1.36.3")
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 4 {
		t.Fatalf("read %d patches, want 4", len(series))
	}
	if !series[0].Backport || !strings.HasPrefix(series[0].Subject, "UPSTREAM: 140882:") {
		t.Errorf("first patch: backport=%v subject %q; want the backport of 140882", series[0].Backport, series[0].Subject)
	}
	for _, p := range series[1:] {
		if p.Backport || !strings.HasPrefix(p.Subject, "UPSTREAM: <carry>:") {
			t.Errorf("%s: backport=%v subject %q; want a carry", p.File, p.Backport, p.Subject)
		}
	}
	if !strings.Contains(strings.Join(series[2].References, " "), "kubernetes#139823") {
		t.Errorf("%s references %v, want kubernetes#139823 among them", series[2].File, series[2].References)
	}
}

func TestAddPedigree(t *testing.T) {
	sbom := []byte(`{"bomFormat":"CycloneDX","metadata":{"component":{"name":"k8s.io/kubernetes","version":"v1.36.5-ctxfix.1"}},"components":[]}`)
	series := []Patch{
		{Subject: "UPSTREAM: 140882: x", Backport: true, References: []string{"kubernetes#140881"}, Diff: "diff a"},
		{Subject: "UPSTREAM: <carry>: y", Diff: "diff b"},
	}
	out, err := AddPedigree(sbom, "v1.36.5", series)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Metadata struct {
			Component struct {
				Pedigree struct {
					Ancestors []struct{ Name, Version, Purl string }
					Patches   []struct {
						Type     string
						Resolves []struct{ ID string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Metadata.Component.Pedigree
	if len(p.Ancestors) != 1 || p.Ancestors[0].Version != "v1.36.5" || p.Ancestors[0].Purl != "pkg:golang/k8s.io/kubernetes@v1.36.5?type=module" {
		t.Errorf("ancestors %+v", p.Ancestors)
	}
	if len(p.Patches) != 2 || p.Patches[0].Type != "backport" || p.Patches[1].Type != "unofficial" {
		t.Errorf("patches %+v", p.Patches)
	}
	if len(p.Patches[0].Resolves) != 1 || p.Patches[0].Resolves[0].ID != "kubernetes#140881" {
		t.Errorf("resolves %+v", p.Patches[0].Resolves)
	}

	if _, err := AddPedigree([]byte(`{"metadata":{"component":{"name":"example.com/other"}}}`), "v1.36.5", series); err == nil {
		t.Error("an SBOM of another component was accepted")
	}
	if _, err := AddPedigree([]byte(`not json`), "v1.36.5", series); err == nil {
		t.Error("a non-JSON SBOM was accepted")
	}
}
