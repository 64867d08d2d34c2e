package release

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSPDX(t *testing.T) {
	kubelet := filepath.Join(t.TempDir(), "ctxfix-build")
	if out, err := exec.Command("go", "build", "-mod=readonly", "-o", kubelet, "../../cmd/ctxfix-build").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	series := []Patch{
		{File: "0001-probe.patch", Subject: "UPSTREAM: 140882: probes", Diff: "first patch"},
		{File: "0002-context.patch", Subject: "UPSTREAM: <carry>: context", Diff: "second patch"},
	}
	opts := SPDXOptions{
		Kubelet: kubelet, Version: "v1.36.5-ctxfix.3", Base: "v1.36.5", Series: series, SeriesName: "patches/from-v1.36.3",
		Namespace: "https://example.com/kubelet-linux-amd64.spdx.json", Created: time.Unix(1796464860, 0),
	}
	doc, err := SPDX(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSPDX(doc, kubelet, "v1.36.5", series); err != nil {
		t.Fatalf("the document of this kubelet does not check: %v", err)
	}
	again, err := SPDX(opts)
	if err != nil || string(again) != string(doc) {
		t.Errorf("two documents of one kubelet differ (%v)", err)
	}
	var fields struct {
		Version string `json:"spdxVersion"`
		Created struct {
			Created string `json:"created"`
		} `json:"creationInfo"`
		Files []struct {
			Name string `json:"fileName"`
		} `json:"files"`
	}
	if err := json.Unmarshal(doc, &fields); err != nil {
		t.Fatal(err)
	}
	if fields.Version != "SPDX-2.3" || fields.Created.Created != "2026-12-05T10:01:00Z" || len(fields.Files) != 2 ||
		fields.Files[0].Name != "./patches/from-v1.36.3/0001-probe.patch" {
		t.Errorf("document has %+v", fields)
	}

	// A module linked twice, at another version the first time.
	var twice map[string]any
	if err := json.Unmarshal(doc, &twice); err != nil {
		t.Fatal(err)
	}
	packages := twice["packages"].([]any)
	first := packages[2].(map[string]any)
	other := map[string]any{}
	for k, v := range first {
		other[k] = v
	}
	other["SPDXID"], other["versionInfo"] = "SPDXRef-Package-module-other", "v0.0.0"
	twice["packages"] = append(packages, other)
	twice["relationships"] = append([]any{map[string]any{
		"spdxElementId": "SPDXRef-Package-kubelet", "relatedSpdxElement": "SPDXRef-Package-module-other", "relationshipType": "STATIC_LINK",
	}}, twice["relationships"].([]any)...)
	linkedTwice, err := json.Marshal(twice)
	if err != nil {
		t.Fatal(err)
	}

	// Each difference fails, naming what differs.
	for _, tt := range []struct {
		name   string
		doc    []byte
		base   string
		series []Patch
		want   string
	}{
		{"a patch changed", doc, "v1.36.5", []Patch{series[0], {File: "0002-context.patch", Diff: "second patcH"}}, "the series' 0002-context.patch, is applied"},
		{"a patch fewer in the series", doc, "v1.36.5", series[:1], "2 patches are applied to k8s.io/kubernetes v1.36.5, the series has 1"},
		{"another base", doc, "v1.36.4", series, "not generated from k8s.io/kubernetes v1.36.4"},
		{"a module left out", []byte(strings.Replace(string(doc), `"STATIC_LINK"`, `"OTHER"`, 1)), "v1.36.5", series, "links "},
		{"a module linked twice", linkedTwice, "v1.36.5", series, "links " + first["name"].(string) + " twice"},
		{"another kubelet", []byte(strings.Replace(string(doc), `"checksumValue": "`, `"checksumValue": "0`, 1)), "v1.36.5", series, "its kubelet's checksums are"},
	} {
		if err := CheckSPDX(tt.doc, kubelet, tt.base, tt.series); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}
