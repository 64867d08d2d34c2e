package release

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/mod/module"
)

// AttributionOptions says what ATTRIBUTION.txt covers.
type AttributionOptions struct {
	// Title names the release, e.g. "kubelet-ctxfix v1.36.5-ctxfix.2".
	Title string
	// Binaries are the Go binaries of the release; the modules they link
	// come from their build information.
	Binaries []string
	// ModCache is the GOMODCACHE the binaries were built from; each
	// module's license is read from its folder there.
	ModCache string
	// GoRoot is the GOROOT of the toolchain that built them, for the
	// license of the standard library.
	GoRoot string
	// MainDir is the tree the binaries were built in (their main module,
	// k8s.io/kubernetes for a release), and MainVersion the version it was
	// stamped with. Binaries built from a module at a version, with go
	// install, are attributed from ModCache instead.
	MainDir, MainVersion string
	// Components are what the release's other binaries contain, which
	// have no build information to read it from (pause: the tree's
	// pause.c and the C library linked into it).
	Components []Component
}

// Component is code in a binary that is not a Go module it links.
type Component struct {
	// Path and Version name it as ATTRIBUTION.txt lists it: "glibc",
	// "2.36-9+deb12u14". A component named as a module a Go binary
	// links, at the same version (k8s.io/kubernetes for pause), is listed
	// once, with every binary that has it.
	Path, Version string
	// Binary is the name of the binary that has it.
	Binary string
	// LicenseFile is its license, for a Debian package its copyright file.
	LicenseFile string
}

// linkedModule is one module (or the standard library) a binary links.
type linkedModule struct {
	path, version string
	binaries      []string
}

// Attribution writes the text EKS Distro ships as ATTRIBUTION.txt: every
// module linked into the binaries, with its version and which binaries link
// it, grouped under the license text each module ships. A module whose
// folder holds no license file is an error that names it: a release must not
// go out with a dependency it cannot attribute.
func Attribution(opts AttributionOptions) ([]byte, error) {
	if len(opts.Binaries) == 0 {
		return nil, fmt.Errorf("no binaries to attribute")
	}
	modules := map[string]*linkedModule{}
	goVersion, mainPath := "", ""
	for _, bin := range opts.Binaries {
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			return nil, fmt.Errorf("reading the build information of %s: %w", bin, err)
		}
		// A binary built from the tree has no module version; one that go
		// install built from a module at a version (crictl, the CNI
		// plugins) has that version, and its module is in ModCache.
		fromTree := !strings.HasPrefix(info.Main.Version, "v")
		mainVersion := info.Main.Version
		if fromTree {
			if mainPath != "" && info.Main.Path != mainPath {
				return nil, fmt.Errorf("%s was built from %s, the other binaries from %s", bin, info.Main.Path, mainPath)
			}
			mainPath, mainVersion = info.Main.Path, opts.MainVersion
		}
		if goVersion != "" && info.GoVersion != goVersion {
			return nil, fmt.Errorf("%s was built with %s, the other binaries with %s", bin, info.GoVersion, goVersion)
		}
		goVersion = info.GoVersion
		name := filepath.Base(bin)
		link := func(path, version string) {
			key := path + "@" + version
			if modules[key] == nil {
				modules[key] = &linkedModule{path: path, version: version}
			}
			if !slices.Contains(modules[key].binaries, name) {
				modules[key].binaries = append(modules[key].binaries, name)
			}
		}
		link(info.Main.Path, mainVersion)
		for _, dep := range info.Deps {
			if dep.Replace != nil {
				dep = dep.Replace
			}
			link(dep.Path, dep.Version)
		}
	}

	components := map[string]string{}
	for _, c := range opts.Components {
		if c.Path == "" || c.Version == "" || c.Binary == "" || c.LicenseFile == "" {
			return nil, fmt.Errorf("component %+v: want a path, a version, a binary and a license file", c)
		}
		key := c.Path + "@" + c.Version
		if modules[key] == nil {
			modules[key] = &linkedModule{path: c.Path, version: c.Version}
			components[key] = c.LicenseFile
		}
		if !slices.Contains(modules[key].binaries, c.Binary) {
			modules[key].binaries = append(modules[key].binaries, c.Binary)
		}
	}

	// Group the modules by the bytes of their license, as EKS Distro does.
	type group struct {
		text    []byte
		modules []*linkedModule
	}
	groups := map[[32]byte]*group{}
	add := func(m *linkedModule, text []byte) {
		sum := sha256.Sum256(text)
		if groups[sum] == nil {
			groups[sum] = &group{text: text}
		}
		groups[sum].modules = append(groups[sum].modules, m)
	}
	for key, m := range modules {
		if file, ok := components[key]; ok {
			text, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("the license of %s %s (in %s): %w", m.path, m.version, strings.Join(m.binaries, ", "), err)
			}
			add(m, text)
			continue
		}
		dir := opts.MainDir
		if m.version != opts.MainVersion {
			var err error
			if dir, err = moduleDir(opts.ModCache, m.path, m.version); err != nil {
				return nil, err
			}
		}
		text, err := licenseText(dir)
		if err != nil {
			return nil, fmt.Errorf("module %s %s (linked into %s): %w", m.path, m.version, strings.Join(m.binaries, ", "), err)
		}
		add(m, text)
	}
	stdlib := &linkedModule{path: "Go standard library", version: goVersion}
	for _, name := range binaryNames(opts.Binaries) {
		stdlib.binaries = append(stdlib.binaries, name)
	}
	goLicense, err := os.ReadFile(filepath.Join(opts.GoRoot, "LICENSE"))
	if err != nil {
		return nil, fmt.Errorf("the Go standard library's license: %w", err)
	}
	add(stdlib, goLicense)

	ordered := make([]*group, 0, len(groups))
	for _, g := range groups {
		sortModules(g.modules)
		ordered = append(ordered, g)
	}
	// Largest group first, then by first module: the same inputs give the
	// same file.
	sort.Slice(ordered, func(i, j int) bool {
		if len(ordered[i].modules) != len(ordered[j].modules) {
			return len(ordered[i].modules) > len(ordered[j].modules)
		}
		return moduleLess(ordered[i].modules[0], ordered[j].modules[0])
	})

	var out bytes.Buffer
	names := binaryNames(opts.Binaries)
	for _, c := range opts.Components {
		if !slices.Contains(names, c.Binary) {
			names = append(names, c.Binary)
		}
	}
	fmt.Fprintf(&out, "%s\n\nThe binaries of this release (%s) contain the following software.\n", opts.Title, strings.Join(names, ", "))
	for _, g := range ordered {
		out.WriteString("\n")
		for _, m := range g.modules {
			sort.Strings(m.binaries)
			fmt.Fprintf(&out, "** %s; version %s -- %s\n", m.path, m.version, strings.Join(m.binaries, ", "))
		}
		out.WriteString("\n")
		out.Write(bytes.TrimRight(g.text, "\n"))
		out.WriteString("\n\n------\n")
	}
	return out.Bytes(), nil
}

// sortModules orders modules by path, then version: a release links some
// modules at two versions (crictl's k8s.io/client-go is not the kubelet's),
// and by path alone those would come in the order the map gave them.
func sortModules(modules []*linkedModule) {
	sort.Slice(modules, func(i, j int) bool { return moduleLess(modules[i], modules[j]) })
}

func moduleLess(a, b *linkedModule) bool {
	if a.path != b.path {
		return a.path < b.path
	}
	return a.version < b.version
}

// binaryNames lists the binaries' names once each, in order: a release has
// the same binaries for each architecture.
func binaryNames(binaries []string) []string {
	var names []string
	for _, b := range binaries {
		if name := filepath.Base(b); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// moduleDir is where the go command keeps path@version in modCache.
func moduleDir(modCache, path, version string) (string, error) {
	escapedPath, err := module.EscapePath(path)
	if err != nil {
		return "", fmt.Errorf("module %s: %w", path, err)
	}
	escapedVersion, err := module.EscapeVersion(version)
	if err != nil {
		return "", fmt.Errorf("module %s version %s: %w", path, version, err)
	}
	dir := filepath.Join(modCache, escapedPath+"@"+escapedVersion)
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("module %s %s is not in the module cache %s: %w", path, version, modCache, err)
	}
	return dir, nil
}

// licenseText reads the license file at the root of a module folder:
// LICENSE, LICENCE, COPYING or NOTICE, with or without an extension, in any
// case. More than one (LICENSE and NOTICE, or two licenses) are joined.
func licenseText(dir string) ([]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		stem := strings.ToUpper(strings.TrimSuffix(e.Name(), filepath.Ext(e.Name())))
		for _, prefix := range []string{"LICENSE", "LICENCE", "COPYING", "NOTICE"} {
			if strings.HasPrefix(stem, prefix) {
				names = append(names, e.Name())
				break
			}
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no LICENSE, LICENCE, COPYING or NOTICE file in %s", dir)
	}
	sort.Strings(names)
	var text bytes.Buffer
	for i, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if i > 0 {
			fmt.Fprintf(&text, "\n\n%s:\n\n", name)
		}
		text.Write(bytes.TrimRight(b, "\n"))
	}
	return text.Bytes(), nil
}
