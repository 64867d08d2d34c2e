// Package provenance writes and checks the SLSA v1 provenance of what a
// release builds from the patched tree (the kubelet, kubeadm, kubectl and
// the control-plane images): an in-toto statement whose subject is the
// file's sha256 and whose resolved dependencies are exactly the inputs of
// the build: upstream's module k8s.io/kubernetes@<base> with the sum
// build/upstream.sum pins, the published staging modules it requires, each
// patch of the series with its sha256, and the Go toolchain.
package provenance

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/release"
)

const (
	// PredicateType is SLSA provenance v1's, which
	// `cosign verify-blob-attestation --type slsaprovenance1` asks for.
	PredicateType = "https://slsa.dev/provenance/v1"
	// BuildType names how the release builds: hack/release.sh of this
	// repository, whose external parameters are Parameters.
	BuildType = "https://github.com/kubelet-ctxfix/kubelet-ctxfix/hack/release.sh@v1"
	// goDirHash is the in-toto digest algorithm of a Go module's h1 sum.
	goDirHash = "dirHash"
)

// Module is a Go module at a version with its h1 sum.
type Module struct {
	Path, Version, Sum string
	// dirHash is the h1 sum's SHA-256 in hex, as in-toto's digest set
	// records a Go module's directory hash.
	dirHash string
}

// parseModule reads a go.sum line's module, version and h1 sum.
func parseModule(path, version, sum string) (Module, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sum, "h1:"))
	if !strings.HasPrefix(sum, "h1:") || err != nil || len(raw) != sha256.Size {
		return Module{}, fmt.Errorf("%s %s: %q is not an h1 sum", path, version, sum)
	}
	return Module{Path: path, Version: version, Sum: sum, dirHash: hex.EncodeToString(raw)}, nil
}

// File is a file of this repository (a patch) with its sha256.
type File struct {
	Name, SHA256 string
}

// Inputs are what a build of the patched tree is made of.
type Inputs struct {
	// Upstream is k8s.io/kubernetes at the base.
	Upstream Module
	// Staging are the published staging modules the tree requires.
	Staging []Module
	// Patches are the series applied to the base, in order.
	Patches []File
	// GoVersion is the toolchain's version, as `go env GOVERSION` says it.
	GoVersion string
}

// Parameters are the external parameters of the build: the make target and
// the variables that choose what it builds.
type Parameters struct {
	Target          string `json:"target"`
	KubeVersion     string `json:"KUBE_VERSION"`
	Arch            string `json:"ARCH"`
	SourceDateEpoch string `json:"SOURCE_DATE_EPOCH"`
	Revision        string `json:"CTXFIX_REVISION"`
}

func (p Parameters) structValue() (*structpb.Struct, error) {
	return structpb.NewStruct(map[string]any{
		"target":            p.Target,
		"KUBE_VERSION":      p.KubeVersion,
		"ARCH":              p.Arch,
		"SOURCE_DATE_EPOCH": p.SourceDateEpoch,
		"CTXFIX_REVISION":   p.Revision,
	})
}

// ReadInputs reads the inputs of a build of base: upstream's module and the
// staging modules at stagingVersion from upstreamSum (build/upstream.sum),
// the patches of seriesDir (named relative to root, the repository), and
// goVersion.
func ReadInputs(upstreamSum, root, seriesDir, base, stagingVersion, goVersion string) (Inputs, error) {
	in := Inputs{GoVersion: goVersion}
	text, err := os.ReadFile(upstreamSum)
	if err != nil {
		return in, err
	}
	for n, line := range strings.Split(string(text), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return in, fmt.Errorf("%s:%d: not a go.sum line: %q", upstreamSum, n+1, line)
		}
		if strings.HasSuffix(fields[1], "/go.mod") {
			continue
		}
		module, err := parseModule(fields[0], fields[1], fields[2])
		if err != nil {
			return in, fmt.Errorf("%s:%d: %w", upstreamSum, n+1, err)
		}
		switch {
		case module.Path == "k8s.io/kubernetes" && module.Version == base:
			in.Upstream = module
		case strings.HasPrefix(module.Path, "k8s.io/") && module.Version == stagingVersion:
			in.Staging = append(in.Staging, module)
		}
	}
	if in.Upstream.Sum == "" {
		return in, fmt.Errorf("%s pins no k8s.io/kubernetes %s", upstreamSum, base)
	}
	if len(in.Staging) == 0 {
		return in, fmt.Errorf("%s pins no staging module at %s", upstreamSum, stagingVersion)
	}
	series, err := release.ReadSeries(seriesDir)
	if err != nil {
		return in, err
	}
	seriesName, err := relative(root, seriesDir)
	if err != nil {
		return in, err
	}
	for _, patch := range series {
		in.Patches = append(in.Patches, File{Name: path.Join(seriesName, patch.File), SHA256: patch.SHA256()})
	}
	return in, nil
}

// dependencies are the resolved dependencies that name inputs, in a fixed
// order: upstream, the staging modules by path, the patches in series
// order, the toolchain.
func (in Inputs) dependencies() []*intoto.ResourceDescriptor {
	module := func(m Module) *intoto.ResourceDescriptor {
		return &intoto.ResourceDescriptor{
			Name:   m.Path,
			Uri:    "pkg:golang/" + m.Path + "@" + m.Version,
			Digest: map[string]string{goDirHash: m.dirHash},
		}
	}
	deps := []*intoto.ResourceDescriptor{module(in.Upstream)}
	staging := append([]Module(nil), in.Staging...)
	sort.Slice(staging, func(i, j int) bool { return staging[i].Path < staging[j].Path })
	for _, m := range staging {
		deps = append(deps, module(m))
	}
	for _, p := range in.Patches {
		deps = append(deps, &intoto.ResourceDescriptor{Name: p.Name, Digest: map[string]string{"sha256": p.SHA256}})
	}
	return append(deps, &intoto.ResourceDescriptor{Name: "go", Uri: "https://go.dev/dl/#" + in.GoVersion})
}

// Statement is the provenance of the file subject (named name in it) built
// from in with params by builderID.
func Statement(subject, name string, in Inputs, params Parameters, builderID string) (*intoto.Statement, error) {
	sum, err := release.FileSHA256(subject)
	if err != nil {
		return nil, err
	}
	external, err := params.structValue()
	if err != nil {
		return nil, err
	}
	provenance := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType:            BuildType,
			ExternalParameters:   external,
			ResolvedDependencies: in.dependencies(),
		},
		RunDetails: &slsa.RunDetails{Builder: &slsa.Builder{Id: builderID}},
	}
	if err := provenance.Validate(); err != nil {
		return nil, fmt.Errorf("provenance of %s: %w", name, err)
	}
	predicate, err := toStruct(provenance)
	if err != nil {
		return nil, err
	}
	statement := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{{Name: name, Digest: map[string]string{"sha256": sum}}},
		PredicateType: PredicateType,
		Predicate:     predicate,
	}
	if err := statement.Validate(); err != nil {
		return nil, fmt.Errorf("statement of %s: %w", name, err)
	}
	return statement, nil
}

// Marshal is the statement as JSON, with the field names of the in-toto and
// SLSA specifications.
func Marshal(statement *intoto.Statement) ([]byte, error) {
	return protojson.MarshalOptions{Multiline: true}.Marshal(statement)
}

// Check checks that statement (JSON) is the provenance of the file subject
// built from exactly want with params: its subject is the file's sha256, and
// every resolved dependency is one of want's, with want's digest, and none
// is missing. A difference names the dependency.
func Check(statementJSON []byte, subject string, want Inputs, params Parameters) error {
	var statement intoto.Statement
	if err := protojson.Unmarshal(statementJSON, &statement); err != nil {
		return fmt.Errorf("not an in-toto statement: %w", err)
	}
	if err := statement.Validate(); err != nil {
		return err
	}
	if statement.GetPredicateType() != PredicateType {
		return fmt.Errorf("predicate type is %q, want %q", statement.GetPredicateType(), PredicateType)
	}
	sum, err := release.FileSHA256(subject)
	if err != nil {
		return err
	}
	if subjects := statement.GetSubject(); len(subjects) != 1 || subjects[0].GetDigest()["sha256"] != sum {
		return fmt.Errorf("its subject is not %s (sha256 %s)", subject, sum)
	}
	var provenance slsa.Provenance
	if err := fromStruct(statement.GetPredicate(), &provenance); err != nil {
		return fmt.Errorf("not SLSA v1 provenance: %w", err)
	}
	if err := provenance.Validate(); err != nil {
		return err
	}
	definition := provenance.GetBuildDefinition()
	if definition.GetBuildType() != BuildType {
		return fmt.Errorf("build type is %q, want %q", definition.GetBuildType(), BuildType)
	}
	external, err := params.structValue()
	if err != nil {
		return err
	}
	for key, value := range external.GetFields() {
		if got := definition.GetExternalParameters().GetFields()[key].GetStringValue(); got != value.GetStringValue() {
			return fmt.Errorf("external parameter %s is %q, want %q", key, got, value.GetStringValue())
		}
	}
	if got, wantN := len(definition.GetExternalParameters().GetFields()), len(external.GetFields()); got != wantN {
		return fmt.Errorf("%d external parameters, want %d", got, wantN)
	}
	return compareDependencies(definition.GetResolvedDependencies(), want.dependencies())
}

// compareDependencies names the first dependency of want that got lacks or
// records with another digest, then the first of got that want lacks, then
// one that got lists twice; and got must list them in want's order (the
// patches' order is the series').
func compareDependencies(got, want []*intoto.ResourceDescriptor) error {
	key := func(d *intoto.ResourceDescriptor) string { return d.GetName() + " " + d.GetUri() }
	gotByKey := map[string]*intoto.ResourceDescriptor{}
	for _, d := range got {
		if gotByKey[key(d)] != nil {
			return fmt.Errorf("resolved dependency %s is listed twice", describe(d))
		}
		gotByKey[key(d)] = d
	}
	wantByKey := map[string]bool{}
	for _, w := range want {
		wantByKey[key(w)] = true
		g, ok := gotByKey[key(w)]
		if !ok {
			return fmt.Errorf("resolved dependencies lack %s", describe(w))
		}
		if !sameDigest(g.GetDigest(), w.GetDigest()) {
			return fmt.Errorf("resolved dependency %s has digest %v, this repository's inputs give %v", describe(w), g.GetDigest(), w.GetDigest())
		}
	}
	for _, g := range got {
		if !wantByKey[key(g)] {
			return fmt.Errorf("resolved dependency %s is not an input of this repository", describe(g))
		}
	}
	// The same set, without duplicates: the same length.
	for i := range want {
		if key(got[i]) != key(want[i]) {
			return fmt.Errorf("resolved dependency %d is %s, this repository's inputs have %s there", i+1, describe(got[i]), describe(want[i]))
		}
	}
	return nil
}

func describe(d *intoto.ResourceDescriptor) string {
	if d.GetUri() != "" {
		return d.GetName() + " (" + d.GetUri() + ")"
	}
	return d.GetName()
}

func sameDigest(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func toStruct(provenance *slsa.Provenance) (*structpb.Struct, error) {
	text, err := protojson.Marshal(provenance)
	if err != nil {
		return nil, err
	}
	value := &structpb.Struct{}
	if err := protojson.Unmarshal(text, value); err != nil {
		return nil, err
	}
	return value, nil
}

func fromStruct(value *structpb.Struct, provenance *slsa.Provenance) error {
	text, err := protojson.Marshal(value)
	if err != nil {
		return err
	}
	return protojson.Unmarshal(text, provenance)
}

// relative names file relative to root, with slashes.
func relative(root, file string) (string, error) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	absFile, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(absRoot, absFile)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("%s is not inside %s", file, root)
	}
	return filepath.ToSlash(rel), nil
}
