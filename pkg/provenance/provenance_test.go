package provenance

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	intoto "github.com/in-toto/attestation/go/v1"
)

// fixture is a repository with build/upstream.sum, a series of two patches
// and a built file.
type fixture struct {
	root, sum, series, subject string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	root := t.TempDir()
	f := fixture{
		root:    root,
		sum:     filepath.Join(root, "build", "upstream.sum"),
		series:  filepath.Join(root, "patches", "v1.36"),
		subject: filepath.Join(root, "kubelet"),
	}
	write(t, f.sum, strings.Join([]string{
		"k8s.io/api v0.36.4 " + h1("api364"),
		"k8s.io/api v0.36.5 " + h1("api365"),
		"k8s.io/api v0.36.5/go.mod " + h1("apimod"),
		"k8s.io/apimachinery v0.36.5 " + h1("apimachinery365"),
		"k8s.io/kubernetes v1.36.4 " + h1("kubernetes1364"),
		"k8s.io/kubernetes v1.36.5 " + h1("kubernetes1365"),
		"",
	}, "\n"))
	write(t, filepath.Join(f.series, "0001-probe.patch"), "Subject: [PATCH 1/2] UPSTREAM: 140882: probes\n")
	write(t, filepath.Join(f.series, "0002-context.patch"), "Subject: [PATCH 2/2] UPSTREAM: <carry>: context\n")
	write(t, f.subject, "kubelet bytes")
	return f
}

// h1 is a go.sum h1 sum (a SHA-256, base64) made from text; hexOf is the
// same SHA-256 in hex.
func h1(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "h1:" + base64.StdEncoding.EncodeToString(sum[:])
}

func hexOf(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

func write(t *testing.T, file, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f fixture) inputs(t *testing.T) Inputs {
	t.Helper()
	in, err := ReadInputs(f.sum, f.root, f.series, "v1.36.5", "v0.36.5", "go1.26.8")
	if err != nil {
		t.Fatal(err)
	}
	return in
}

var params = Parameters{Target: "release", KubeVersion: "v1.36.5", Arch: "amd64", SourceDateEpoch: "1780000000", Revision: "3"}

func (f fixture) statement(t *testing.T) []byte {
	t.Helper()
	statement, err := Statement(f.subject, "bin/linux/amd64/kubelet", f.inputs(t), params, "https://example.com/builder")
	if err != nil {
		t.Fatal(err)
	}
	text, err := Marshal(statement)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func TestReadInputs(t *testing.T) {
	in := newFixture(t).inputs(t)
	if in.Upstream.Path != "k8s.io/kubernetes" || in.Upstream.Version != "v1.36.5" || in.Upstream.Sum != h1("kubernetes1365") {
		t.Errorf("upstream is %+v", in.Upstream)
	}
	// The staging modules at the base's staging version only, without their
	// go.mod lines.
	if len(in.Staging) != 2 || in.Staging[0].Sum != h1("api365") || in.Staging[1].Path != "k8s.io/apimachinery" {
		t.Errorf("staging is %+v", in.Staging)
	}
	if len(in.Patches) != 2 || in.Patches[0].Name != "patches/v1.36/0001-probe.patch" || len(in.Patches[0].SHA256) != 64 {
		t.Errorf("patches are %+v", in.Patches)
	}
}

func TestStatementHasTheSpecsFieldNames(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(newFixture(t).statement(t), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["_type"] != "https://in-toto.io/Statement/v1" || doc["predicateType"] != PredicateType {
		t.Errorf("statement is %v", doc)
	}
	definition := doc["predicate"].(map[string]any)["buildDefinition"].(map[string]any)
	deps := definition["resolvedDependencies"].([]any)
	// upstream, two staging modules, two patches, go.
	if len(deps) != 6 {
		t.Fatalf("%d resolved dependencies, want 6: %v", len(deps), deps)
	}
	if first := deps[0].(map[string]any); first["uri"] != "pkg:golang/k8s.io/kubernetes@v1.36.5" ||
		first["digest"].(map[string]any)["dirHash"] != hexOf("kubernetes1365") {
		t.Errorf("first dependency is %v", first)
	}
	if external := definition["externalParameters"].(map[string]any); external["KUBE_VERSION"] != "v1.36.5" || external["SOURCE_DATE_EPOCH"] != "1780000000" {
		t.Errorf("external parameters are %v", external)
	}
}

func TestCheck(t *testing.T) {
	f := newFixture(t)
	statement := f.statement(t)
	if err := Check(statement, f.subject, f.inputs(t), params); err != nil {
		t.Fatalf("the statement of this build does not check: %v", err)
	}

	tests := []struct {
		name  string
		alter func(t *testing.T, f fixture) (Inputs, Parameters)
		want  string
	}{{
		name: "a patch changed by one byte",
		alter: func(t *testing.T, f fixture) (Inputs, Parameters) {
			write(t, filepath.Join(f.series, "0002-context.patch"), "Subject: [PATCH 2/2] UPSTREAM: <carry>: contexT\n")
			return f.inputs(t), params
		},
		want: "resolved dependency patches/v1.36/0002-context.patch has digest",
	}, {
		name: "another base's module sum",
		alter: func(t *testing.T, f fixture) (Inputs, Parameters) {
			in := f.inputs(t)
			other, err := parseModule("k8s.io/kubernetes", "v1.36.5", h1("kubernetes1364"))
			if err != nil {
				t.Fatal(err)
			}
			in.Upstream = other
			return in, params
		},
		want: "resolved dependency k8s.io/kubernetes (pkg:golang/k8s.io/kubernetes@v1.36.5) has digest",
	}, {
		name: "another Go",
		alter: func(t *testing.T, f fixture) (Inputs, Parameters) {
			in := f.inputs(t)
			in.GoVersion = "go1.26.7"
			return in, params
		},
		want: "resolved dependencies lack go (https://go.dev/dl/#go1.26.7)",
	}, {
		name: "a patch more in the statement than in the series",
		alter: func(t *testing.T, f fixture) (Inputs, Parameters) {
			if err := os.Remove(filepath.Join(f.series, "0002-context.patch")); err != nil {
				t.Fatal(err)
			}
			return f.inputs(t), params
		},
		want: "resolved dependency patches/v1.36/0002-context.patch is not an input of this repository",
	}, {
		name: "another architecture",
		alter: func(t *testing.T, f fixture) (Inputs, Parameters) {
			p := params
			p.Arch = "arm64"
			return f.inputs(t), p
		},
		want: `external parameter ARCH is "amd64", want "arm64"`,
	}, {
		name: "another file",
		alter: func(t *testing.T, f fixture) (Inputs, Parameters) {
			write(t, f.subject, "kubelet byteS")
			return f.inputs(t), params
		},
		want: "its subject is not",
	}}
	tests = append(tests, struct {
		name  string
		alter func(t *testing.T, f fixture) (Inputs, Parameters)
		want  string
	}{
		name: "the patches in another order",
		alter: func(t *testing.T, f fixture) (Inputs, Parameters) {
			in := f.inputs(t)
			in.Patches[0], in.Patches[1] = in.Patches[1], in.Patches[0]
			return in, params
		},
		want: "resolved dependency 4 is patches/v1.36/0001-probe.patch, this repository's inputs have patches/v1.36/0002-context.patch there",
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			statement := f.statement(t)
			in, p := tt.alter(t, f)
			err := Check(statement, f.subject, in, p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestCheckRefusesADependencyListedTwice(t *testing.T) {
	f := newFixture(t)
	in := f.inputs(t)
	deps := in.dependencies()
	// The first patch twice: first with another digest, then its own.
	twice := append(append([]*intoto.ResourceDescriptor(nil), deps[:3]...),
		&intoto.ResourceDescriptor{Name: deps[3].GetName(), Digest: map[string]string{"sha256": hexOf("other")}})
	twice = append(twice, deps[3:]...)
	if err := compareDependencies(twice, deps); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("compareDependencies: %v, want an error naming a dependency listed twice", err)
	}
}

func TestStatementFromBundle(t *testing.T) {
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	bundle := `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"` +
		base64.StdEncoding.EncodeToString(payload) + `","payloadType":"application/vnd.in-toto+json","signatures":[]}}`
	got, err := StatementFromBundle([]byte(bundle))
	if err != nil || string(got) != string(payload) {
		t.Errorf("StatementFromBundle: %q, %v", got, err)
	}
	// A signature bundle (cosign sign-blob's) is not an attestation.
	if _, err := StatementFromBundle([]byte(`{"messageSignature":{}}`)); err == nil || !strings.Contains(err.Error(), "no DSSE envelope") {
		t.Errorf("a signature bundle: %v", err)
	}
}
