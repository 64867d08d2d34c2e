package release

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"path"
	"strconv"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
)

// SPDX element IDs of the kubelet's document.
const (
	spdxKubelet  = "Package-kubelet"
	spdxUpstream = "Package-upstream"
)

// SPDXOptions say what a kubelet's SPDX SBOM describes.
type SPDXOptions struct {
	// Kubelet is the binary; its build information lists the modules it
	// links.
	Kubelet string
	// Version is the release's version (v1.36.5-ctxfix.3).
	Version string
	// Base is the upstream release the series applies to.
	Base string
	// Series is the series applied to Base, and SeriesName its folder in
	// this repository (patches/from-v1.36.3), which names its files.
	Series     []Patch
	SeriesName string
	// Namespace is the document's unique URI.
	Namespace string
	// Created is when it was made: SOURCE_DATE_EPOCH, so that it is
	// reproducible.
	Created time.Time
}

// SPDX is the SPDX 2.3 JSON document of a kubelet, with the same components
// as its CycloneDX SBOM (AddPedigree): the kubelet, statically linked to
// every module its build information lists, generated from upstream's
// k8s.io/kubernetes at the base, to which each patch of the series is
// applied (PATCH_APPLIED), each patch a file with its sha256.
func SPDX(opts SPDXOptions) ([]byte, error) {
	info, err := buildinfo.ReadFile(opts.Kubelet)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opts.Kubelet, err)
	}
	sum, err := FileSHA256(opts.Kubelet)
	if err != nil {
		return nil, err
	}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      "kubelet " + opts.Version,
		DocumentNamespace: opts.Namespace,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "kubelet-ctxfix ctxfix-release"}},
			Created:  opts.Created.UTC().Format(time.RFC3339),
		},
	}
	relate := func(a, b, kind string) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", a), RefB: common.MakeDocElementID("", b), Relationship: kind,
		})
	}
	doc.Packages = append(doc.Packages,
		&spdx.Package{
			PackageName:             "kubelet",
			PackageSPDXIdentifier:   spdxKubelet,
			PackageVersion:          opts.Version,
			PackageDownloadLocation: "NOASSERTION",
			PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: sum}},
			PrimaryPackagePurpose:   "APPLICATION",
			PackageLicenseConcluded: "NOASSERTION",
			PackageLicenseDeclared:  "Apache-2.0",
			PackageCopyrightText:    "NOASSERTION",
		},
		goPackage(spdxUpstream, "k8s.io/kubernetes", opts.Base))
	relate("DOCUMENT", spdxKubelet, common.TypeRelationshipDescribe)
	relate(spdxKubelet, spdxUpstream, common.TypeRelationshipGeneratedFrom)
	for i, patch := range opts.Series {
		id := "File-patch-" + strconv.Itoa(i+1)
		doc.Files = append(doc.Files, &spdx.File{
			FileName:           "./" + path.Join(opts.SeriesName, patch.File),
			FileSPDXIdentifier: common.ElementID(id),
			FileTypes:          []string{"SOURCE"},
			Checksums:          []common.Checksum{{Algorithm: common.SHA256, Value: patch.SHA256()}},
			FileCopyrightText:  "NOASSERTION",
			FileComment:        patch.Subject,
		})
		relate(id, spdxUpstream, common.TypeRelationshipPatchApplied)
	}
	for i, dep := range info.Deps {
		module := dep
		if dep.Replace != nil {
			module = dep.Replace
		}
		id := "Package-module-" + strconv.Itoa(i+1)
		doc.Packages = append(doc.Packages, goPackage(id, module.Path, module.Version))
		relate(spdxKubelet, id, common.TypeRelationshipStaticLink)
	}
	var out bytes.Buffer
	if err := spdxjson.Write(doc, &out, spdxjson.Indent("  ")); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// goPackage is the SPDX package of a Go module at a version, with its
// package URL, as the module proxy serves it.
func goPackage(id, modulePath, version string) *spdx.Package {
	return &spdx.Package{
		PackageName:             modulePath,
		PackageSPDXIdentifier:   common.ElementID(id),
		PackageVersion:          version,
		PackageDownloadLocation: "https://proxy.golang.org/" + modulePath + "/@v/" + version + ".zip",
		PackageLicenseConcluded: "NOASSERTION",
		PackageLicenseDeclared:  "NOASSERTION",
		PackageCopyrightText:    "NOASSERTION",
		PackageExternalReferences: []*spdx.PackageExternalReference{{
			Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL,
			Locator: "pkg:golang/" + modulePath + "@" + version,
		}},
	}
}

// CheckSPDX checks a kubelet's SPDX document against the binary and the
// series: it describes the kubelet with its sha256, generated from
// k8s.io/kubernetes at base, with every patch applied to it at the sha256 of
// the series' file, and statically linked to exactly the modules of the
// kubelet's build information, each at the version the binary used.
func CheckSPDX(document []byte, kubelet, base string, series []Patch) error {
	var doc spdx.Document
	if err := spdxjson.ReadInto(bytes.NewReader(document), &doc); err != nil {
		return fmt.Errorf("not an SPDX JSON document: %w", err)
	}
	if doc.SPDXVersion != spdx.Version {
		return fmt.Errorf("spdxVersion is %q, want %q", doc.SPDXVersion, spdx.Version)
	}
	packages := map[common.ElementID]*spdx.Package{}
	for _, p := range doc.Packages {
		packages[p.PackageSPDXIdentifier] = p
	}
	files := map[common.ElementID]*spdx.File{}
	for _, f := range doc.Files {
		files[f.FileSPDXIdentifier] = f
	}
	related := map[string][]common.ElementID{}
	for _, r := range doc.Relationships {
		key := string(r.RefA.ElementRefID) + " " + r.Relationship
		related[key] = append(related[key], r.RefB.ElementRefID)
	}
	described := related["DOCUMENT "+common.TypeRelationshipDescribe]
	if len(described) != 1 || packages[described[0]] == nil || packages[described[0]].PackageName != "kubelet" {
		return fmt.Errorf("the document does not describe one kubelet package")
	}
	kubeletID := described[0]
	sum, err := FileSHA256(kubelet)
	if err != nil {
		return err
	}
	if checksums := packages[kubeletID].PackageChecksums; len(checksums) != 1 || checksums[0].Algorithm != common.SHA256 || checksums[0].Value != sum {
		return fmt.Errorf("its kubelet's checksums are %v, %s has sha256 %s", checksums, kubelet, sum)
	}
	from := related[string(kubeletID)+" "+common.TypeRelationshipGeneratedFrom]
	if len(from) != 1 || packages[from[0]] == nil || packages[from[0]].PackageName != "k8s.io/kubernetes" || packages[from[0]].PackageVersion != base {
		return fmt.Errorf("its kubelet is not generated from k8s.io/kubernetes %s", base)
	}
	upstreamID := from[0]
	applied := map[string]bool{}
	for _, r := range doc.Relationships {
		if r.Relationship != common.TypeRelationshipPatchApplied || r.RefB.ElementRefID != upstreamID {
			continue
		}
		if f := files[r.RefA.ElementRefID]; f != nil && len(f.Checksums) == 1 && f.Checksums[0].Algorithm == common.SHA256 {
			applied[f.Checksums[0].Value] = true
		}
	}
	for _, patch := range series {
		if !applied[patch.SHA256()] {
			return fmt.Errorf("no file of sha256 %s, the series' %s, is applied to k8s.io/kubernetes %s", patch.SHA256(), patch.File, base)
		}
	}
	if len(applied) != len(series) {
		return fmt.Errorf("%d patches are applied to k8s.io/kubernetes %s, the series has %d", len(applied), base, len(series))
	}
	info, err := buildinfo.ReadFile(kubelet)
	if err != nil {
		return fmt.Errorf("%s: %w", kubelet, err)
	}
	linked := map[string]string{}
	for _, id := range related[string(kubeletID)+" "+common.TypeRelationshipStaticLink] {
		p := packages[id]
		if p == nil {
			return fmt.Errorf("its kubelet links %s, which is not a package of the document", id)
		}
		if _, twice := linked[p.PackageName]; twice {
			return fmt.Errorf("its kubelet links %s twice", p.PackageName)
		}
		linked[p.PackageName] = p.PackageVersion
	}
	for _, dep := range info.Deps {
		module := dep
		if dep.Replace != nil {
			module = dep.Replace
		}
		if got, ok := linked[module.Path]; !ok || got != module.Version {
			return fmt.Errorf("%s links %s %s; the document has %q", kubelet, module.Path, module.Version, got)
		}
	}
	if len(linked) != len(info.Deps) {
		return fmt.Errorf("the document links %d modules, %s %d", len(linked), kubelet, len(info.Deps))
	}
	return nil
}
