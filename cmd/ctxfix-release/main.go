// Command ctxfix-release assembles the release artifacts that are easier to
// get right, and reproducible, in Go than in shell. hack/release.sh drives
// it.
//
//	ctxfix-release package-version -base v1.36.5 [-component-version v1.10.0] -revision 1 [-format deb|rpm|upstream-deb|upstream-rpm]
//	ctxfix-release kubeadm-images -tree DIR   (lines "etcd registry.k8s.io/etcd:3.6.8-0 v3.6.8": the etcd, CoreDNS and pause images its kubeadm names)
//	ctxfix-release src-tarball -tree DIR -extra NAME=FILE... -source-date-epoch N -out FILE
//	ctxfix-release node-tarball -kubelet FILE -licenses DIR -src-tarball FILE -version V -source-date-epoch N -out FILE
//	ctxfix-release package -format deb|rpm -config FILE -set NAME=VALUE... -arch A -base B [-component-version V] -revision N -source-date-epoch N -out-dir DIR
//	ctxfix-release sbom-pedigree -in FILE -base B -series DIR -out FILE
//	ctxfix-release check-sbom -in FILE -kubelet FILE -base B -series DIR
//	ctxfix-release spdx -kubelet FILE -version V -base B -series DIR -series-name PATH -namespace URI -source-date-epoch N -out FILE
//	ctxfix-release check-spdx -in FILE -kubelet FILE -base B -series DIR
//	ctxfix-release plugin-archive -binary FILE -license FILE -os OS -source-date-epoch N -out FILE
//	ctxfix-release krew-manifest -version V -homepage URL -base-url URL -archive OS/ARCH=FILE... -out FILE
//	ctxfix-release image-layout -out DIR IMAGE.tar...   (one OCI image layout, each name a multi-arch index)
//	ctxfix-release check-image-layout -layout DIR IMAGE.tar...
//	ctxfix-release push -layout DIR -repository HOST[:PORT]/PATH [-ca FILE]   (as kubeadm names them with imageRepository)
//	ctxfix-release run-ca -dir DIR -host HOST...   (a CA for one run, and a serving certificate for HOST)
//	ctxfix-release node-pki -dir DIR -server NAME=CN@HOST,... -client NAME=CN[@GROUP,...] -kubeconfig PATH=NAME@SERVER   (the real node's PKI and kubeconfigs)
//	ctxfix-release provenance -subject FILE -name NAME -root DIR -series DIR -base B -go V -arch A -source-date-epoch N -revision R -builder-id URL -out FILE
//	ctxfix-release verify-provenance -release DIR [-root DIR]   (from a checkout of this repository: the provenance names exactly its inputs)
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/imagelayout"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/provenance"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/release"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/runca"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/upstream"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "ctxfix-release: %v\n", err)
		os.Exit(2)
	}
}

// pairs collects repeated NAME=VALUE flags.
type pairs map[string]string

func (p pairs) String() string {
	var names []string
	for name := range p {
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func (p pairs) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q: want NAME=VALUE", s)
	}
	p[name] = value
	return nil
}

// multi collects a repeated flag's values in order.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: ctxfix-release package-version|kubeadm-images|src-tarball|node-tarball|attribution|serve|package|sbom-pedigree|check-sbom|plugin-archive|krew-manifest|image-layout|check-image-layout|push|run-ca|node-pki|provenance|verify-provenance|spdx|check-spdx [flags]")
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	required := func(names ...string) error {
		var missing []string
		for _, name := range names {
			if fs.Lookup(name).Value.String() == "" {
				missing = append(missing, "-"+name)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s: %s required", cmd, strings.Join(missing, ", "))
		}
		return nil
	}
	switch cmd {
	case "package-version":
		base := fs.String("base", "", "upstream base, e.g. v1.36.5")
		component := fs.String("component-version", "", "version of a component packaged beside base's binaries (cri-tools, kubernetes-cni); the base itself when empty")
		revision := fs.Int("revision", 0, "this project's revision")
		format := fs.String("format", "deb", "deb, rpm, upstream-deb or upstream-rpm")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *component == "" {
			*component = *base
		}
		v, err := release.ComponentPackageVersionFor(*base, *component, *revision)
		if err != nil {
			return err
		}
		switch *format {
		case "deb":
			fmt.Println(v.Deb())
		case "rpm":
			fmt.Println(v.RPM())
		case "upstream-deb", "upstream-rpm":
			spell := release.UpstreamDeb
			if *format == "upstream-rpm" {
				spell = release.UpstreamRPM
			}
			upstreamVersion, err := spell(*base)
			if err != nil {
				return err
			}
			fmt.Println(upstreamVersion)
		default:
			return fmt.Errorf("package-version: unknown -format %q", *format)
		}
		return nil

	case "image-layout":
		out := fs.String("out", "", "folder to write the layout to; it must not exist")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("out"); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			return fmt.Errorf("image-layout: no image tarballs given")
		}
		return imagelayout.Write(*out, fs.Args())

	case "check-image-layout":
		dir := fs.String("layout", "", "OCI image layout made by image-layout")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("layout"); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			return fmt.Errorf("check-image-layout: no image tarballs given")
		}
		return imagelayout.Check(*dir, fs.Args())

	case "push":
		dir := fs.String("layout", "", "OCI image layout made by image-layout")
		repository := fs.String("repository", "", "registry and path to push to, as kubeadm's imageRepository names it: registry.example.com/ctxfix")
		ca := fs.String("ca", "", "PEM file of a certificate authority to trust besides the system's")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("layout", "repository"); err != nil {
			return err
		}
		transport, err := imagelayout.HTTPSTransport(*ca)
		if err != nil {
			return fmt.Errorf("push: -ca %s: %w", *ca, err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		pushed, err := imagelayout.Push(ctx, *dir, *repository,
			remote.WithTransport(transport), remote.WithAuthFromKeychain(authn.DefaultKeychain))
		if err != nil {
			return err
		}
		for _, p := range pushed {
			platforms := slices.Sorted(maps.Keys(p.Platforms))
			for i, platform := range platforms {
				platforms[i] = platform + "=" + p.Platforms[platform].String()
			}
			fmt.Println(p.Target.String(), p.Digest.String(), strings.Join(platforms, " "))
		}
		return nil

	case "run-ca":
		dir := fs.String("dir", "", "folder to write ca.crt, tls.crt and tls.key to")
		var hosts multi
		fs.Var(&hosts, "host", "IP address or DNS name the serving certificate is for (repeatable)")
		validFor := fs.Duration("valid-for", 24*time.Hour, "how long the certificates are valid")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("dir", "host"); err != nil {
			return err
		}
		return runca.Write(*dir, hosts, time.Now(), *validFor)

	case "node-pki":
		dir := fs.String("dir", "", "folder to create, for ca.crt, ca.key, NAME.crt, NAME.key, sa.key and sa.pub")
		var servers, clients, kubeconfigs multi
		fs.Var(&servers, "server", "NAME=COMMON-NAME@HOST,HOST...: a serving certificate for HOSTs (repeatable)")
		fs.Var(&clients, "client", "NAME=COMMON-NAME[@GROUP,GROUP...]: a client certificate for that user in those groups (repeatable)")
		fs.Var(&kubeconfigs, "kubeconfig", "PATH=NAME@SERVER: a kubeconfig for client NAME to the API server at SERVER (repeatable)")
		validFor := fs.Duration("valid-for", 48*time.Hour, "how long the certificates are valid")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("dir"); err != nil {
			return err
		}
		var identities []runca.Identity
		for _, set := range []struct {
			flag   string
			values []string
		}{{"server", servers}, {"client", clients}} {
			for _, v := range set.values {
				name, rest, ok := strings.Cut(v, "=")
				commonName, list, _ := strings.Cut(rest, "@")
				if !ok || name == "" || commonName == "" || (set.flag == "server" && list == "") {
					return fmt.Errorf("node-pki: -%s %q: want %s", set.flag, v, fs.Lookup(set.flag).Usage)
				}
				id := runca.Identity{Name: name, CommonName: commonName}
				if list != "" && set.flag == "server" {
					id.Hosts = strings.Split(list, ",")
				} else if list != "" {
					id.Organizations = strings.Split(list, ",")
				}
				identities = append(identities, id)
			}
		}
		type kubeconfig struct{ path, user, server string }
		var wanted []kubeconfig
		paths := map[string]bool{}
		for _, k := range kubeconfigs {
			path, rest, ok := strings.Cut(k, "=")
			user, server, ok2 := strings.Cut(rest, "@")
			if !ok || !ok2 || path == "" || user == "" || server == "" {
				return fmt.Errorf("node-pki: -kubeconfig %q: want PATH=NAME@SERVER", k)
			}
			if !slices.ContainsFunc(identities, func(id runca.Identity) bool { return id.Name == user && len(id.Hosts) == 0 }) {
				return fmt.Errorf("node-pki: -kubeconfig %q: no -client named %s", k, user)
			}
			if _, err := os.Lstat(path); err == nil || paths[path] {
				return fmt.Errorf("node-pki: -kubeconfig %q: %s exists or is given twice", k, path)
			}
			paths[path] = true
			wanted = append(wanted, kubeconfig{path, user, server})
		}
		if err := (runca.NodePKI{Dir: *dir, Identities: identities, Now: time.Now(), ValidFor: *validFor}).Write(); err != nil {
			return err
		}
		for i, k := range wanted {
			if err := runca.WriteKubeconfig(k.path, k.server, *dir, k.user); err != nil {
				// Nothing half-made: the PKI and the kubeconfigs written.
				os.RemoveAll(*dir)
				for _, written := range wanted[:i+1] {
					os.Remove(written.path)
				}
				return err
			}
		}
		return nil

	case "kubeadm-images":
		tree := fs.String("tree", "", "Kubernetes tree whose kubeadm names the images")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("tree"); err != nil {
			return err
		}
		images, err := release.ReadKubeadmImages(*tree)
		if err != nil {
			return err
		}
		for _, image := range images {
			fmt.Println(image.Name, image.Ref, image.Version)
		}
		return nil

	case "src-tarball":
		tree := fs.String("tree", "", "patched tree (a clean git repository)")
		extra := pairs{}
		fs.Var(extra, "extra", "NAME=FILE: add FILE to the archive as NAME (repeatable)")
		epoch := fs.String("source-date-epoch", "", "mtime of every member")
		out := fs.String("out", "", "archive to write")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("tree", "source-date-epoch", "out"); err != nil {
			return err
		}
		mtime, err := upstream.ParseEpoch(*epoch)
		if err != nil {
			return err
		}
		var extras []release.Entry
		for name, file := range extra {
			info, err := os.Stat(file)
			if err != nil {
				return err
			}
			// Executable stays executable: .ctxfix/build-kubelet.sh.
			mode := int64(0o644)
			if info.Mode().Perm()&0o100 != 0 {
				mode = 0o755
			}
			extras = append(extras, release.Entry{Name: name, Source: file, Mode: mode})
		}
		entries, err := release.SourceTarball(*tree, extras)
		if err != nil {
			return err
		}
		return release.WriteTarGz(*out, entries, mtime)

	case "node-tarball":
		var binaries multi
		fs.Var(&binaries, "binary", "a binary for node/bin, the kubelet first (repeatable)")
		licenses := fs.String("licenses", "", "LICENSES folder of the tree")
		attribution := fs.String("attribution", "", "ATTRIBUTION.txt of the release")
		src := fs.String("src-tarball", "", "kubernetes-src.tar.gz")
		version := fs.String("version", "", "version the release folder is named after")
		epoch := fs.String("source-date-epoch", "", "mtime of every member")
		out := fs.String("out", "", "archive to write")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("licenses", "attribution", "src-tarball", "version", "source-date-epoch", "out"); err != nil {
			return err
		}
		mtime, err := upstream.ParseEpoch(*epoch)
		if err != nil {
			return err
		}
		entries, err := release.NodeTarball(binaries, *licenses, *attribution, *src, *version)
		if err != nil {
			return err
		}
		return release.WriteTarGz(*out, entries, mtime)

	case "attribution":
		var binaries multi
		fs.Var(&binaries, "binary", "a Go binary of the release (repeatable)")
		var components multi
		fs.Var(&components, "component", "PATH VERSION BINARY LICENSE-FILE: code in a binary without build information, e.g. \"glibc 2.36-9 pause /usr/share/doc/libc6-dev/copyright\" (repeatable)")
		title := fs.String("title", "", "first line: what the release is")
		tree := fs.String("tree", "", "the tree the binaries were built in")
		version := fs.String("version", "", "the version they were stamped with")
		modCache := fs.String("modcache", "", "GOMODCACHE they were built from")
		goRoot := fs.String("goroot", "", "GOROOT of the toolchain that built them")
		out := fs.String("out", "", "file to write")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("title", "tree", "version", "modcache", "goroot", "out"); err != nil {
			return err
		}
		opts := release.AttributionOptions{
			Title: *title, Binaries: binaries, ModCache: *modCache, GoRoot: *goRoot, MainDir: *tree, MainVersion: *version,
		}
		for _, c := range components {
			fields := strings.Fields(c)
			if len(fields) != 4 {
				return fmt.Errorf("attribution: -component %q: want PATH VERSION BINARY LICENSE-FILE", c)
			}
			opts.Components = append(opts.Components, release.Component{Path: fields[0], Version: fields[1], Binary: fields[2], LicenseFile: fields[3]})
		}
		text, err := release.Attribution(opts)
		if err != nil {
			return err
		}
		return os.WriteFile(*out, text, 0o644)

	case "serve":
		dir := fs.String("dir", "", "folder to serve")
		addrFile := fs.String("addr-file", "", "file to write the address listened on to")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("dir", "addr-file"); err != nil {
			return err
		}
		// SIGTERM, as the scripts stop it, ends it cleanly.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return release.Serve(ctx, *dir, *addrFile)

	case "plugin-archive":
		binary := fs.String("binary", "", "ctxleak built for -os")
		license := fs.String("license", "", "the project's LICENSE")
		goos := fs.String("os", "", "the binary's GOOS")
		epoch := fs.String("source-date-epoch", "", "mtime of every member")
		out := fs.String("out", "", "archive to write")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("binary", "license", "os", "source-date-epoch", "out"); err != nil {
			return err
		}
		mtime, err := upstream.ParseEpoch(*epoch)
		if err != nil {
			return err
		}
		return release.WriteTarGz(*out, release.PluginArchive(*binary, *license, *goos), mtime)

	case "krew-manifest":
		version := fs.String("version", "", "the plugin's version: the release's")
		homepage := fs.String("homepage", "", "the project's home page")
		baseURL := fs.String("base-url", "", "URL of the published release folder")
		archives := pairs{}
		fs.Var(archives, "archive", "OS/ARCH=FILE: the plugin archive of a platform (repeatable)")
		out := fs.String("out", "", "manifest to write")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("version", "homepage", "base-url", "out"); err != nil {
			return err
		}
		var platforms []release.PluginPlatform
		for _, platform := range slices.Sorted(maps.Keys(archives)) {
			goos, goarch, ok := strings.Cut(platform, "/")
			if !ok {
				return fmt.Errorf("krew-manifest: -archive %s=...: want OS/ARCH=FILE", platform)
			}
			platforms = append(platforms, release.PluginPlatform{OS: goos, Arch: goarch, Archive: archives[platform]})
		}
		manifest, err := release.KrewManifest(*version, *homepage, *baseURL, platforms)
		if err != nil {
			return err
		}
		return os.WriteFile(*out, manifest, 0o644)

	case "package":
		format := fs.String("format", "", "deb or rpm")
		config := fs.String("config", "", "nfpm configuration")
		vars := pairs{}
		fs.Var(vars, "set", "NAME=VALUE for ${NAME} in the configuration (repeatable)")
		arch := fs.String("arch", "", "Go architecture")
		base := fs.String("base", "", "upstream base")
		component := fs.String("component-version", "", "version of a component packaged beside base's binaries (cri-tools, kubernetes-cni); the base itself when empty")
		revision := fs.Int("revision", 0, "this project's revision")
		epoch := fs.String("source-date-epoch", "", "mtime of every file in the package")
		outDir := fs.String("out-dir", "", "folder to write the package to")
		standIn := fs.Bool("upstream-stand-in", false, "a test's stand-in for upstream's package of base's stock binaries: upstream's version, and a description that says what it is")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("format", "config", "arch", "base", "source-date-epoch", "out-dir"); err != nil {
			return err
		}
		if *component == "" {
			*component = *base
		}
		version, err := release.ComponentPackageVersionFor(*base, *component, *revision)
		if err != nil {
			return err
		}
		description := ""
		if *standIn {
			if *component != *base {
				return fmt.Errorf("package: -upstream-stand-in is for base's own binaries, not a component at %s", *component)
			}
			if version, err = release.UpstreamPackageVersionFor(*base); err != nil {
				return err
			}
			description = release.StandInDescription(*base)
		}
		mtime, err := upstream.ParseEpoch(*epoch)
		if err != nil {
			return err
		}
		out, err := release.BuildPackage(release.PackageOptions{
			Format: *format, Config: *config, Vars: vars, Arch: *arch,
			Version: version, Description: description, MTime: mtime, OutDir: *outDir,
		})
		if err != nil {
			return err
		}
		fmt.Println(out)
		return nil

	case "provenance":
		subject := fs.String("subject", "", "the built file")
		name := fs.String("name", "", "its name in the statement (bin/linux/amd64/kubelet)")
		root := fs.String("root", "", "this repository")
		seriesDir := fs.String("series", "", "folder of the series applied to base")
		base := fs.String("base", "", "upstream base")
		goVersion := fs.String("go", "", "the Go toolchain's version (go1.26.8)")
		arch := fs.String("arch", "", "GOARCH of the build")
		epoch := fs.String("source-date-epoch", "", "SOURCE_DATE_EPOCH of the build")
		revision := fs.String("revision", "", "CTXFIX_REVISION of the build")
		builderID := fs.String("builder-id", "", "who built it")
		out := fs.String("out", "", "in-toto statement to write")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("subject", "name", "root", "series", "base", "go", "arch", "source-date-epoch", "revision", "builder-id", "out"); err != nil {
			return err
		}
		staging, err := upstream.StagingVersion(*base)
		if err != nil {
			return err
		}
		in, err := provenance.ReadInputs(filepath.Join(*root, "build", "upstream.sum"), *root, *seriesDir, *base, staging, *goVersion)
		if err != nil {
			return err
		}
		params := provenance.Parameters{Target: "release", KubeVersion: *base, Arch: *arch, SourceDateEpoch: *epoch, Revision: *revision}
		statement, err := provenance.Statement(*subject, *name, in, params, *builderID)
		if err != nil {
			return err
		}
		text, err := provenance.Marshal(statement)
		if err != nil {
			return err
		}
		return os.WriteFile(*out, text, 0o644)

	case "verify-provenance":
		dir := fs.String("release", "", "release folder (v1.36.5-ctxfix.3)")
		root := fs.String("root", ".", "this repository, at the release's tag")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("release", "root"); err != nil {
			return err
		}
		checked, err := provenance.VerifyRelease(*root, *dir)
		if err != nil {
			return err
		}
		for _, line := range checked {
			fmt.Println(line)
		}
		return nil

	case "sbom-pedigree":
		in := fs.String("in", "", "CycloneDX JSON SBOM from cyclonedx-gomod")
		base := fs.String("base", "", "upstream base")
		seriesDir := fs.String("series", "", "folder of the series applied to base")
		out := fs.String("out", "", "SBOM to write")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("in", "base", "series", "out"); err != nil {
			return err
		}
		sbom, series, err := readSBOMAndSeries(*in, *seriesDir)
		if err != nil {
			return err
		}
		withPedigree, err := release.AddPedigree(sbom, *base, series)
		if err != nil {
			return fmt.Errorf("%s: %w", *in, err)
		}
		return os.WriteFile(*out, withPedigree, 0o644)

	case "spdx":
		kubelet := fs.String("kubelet", "", "the kubelet it describes")
		version := fs.String("version", "", "the release's version")
		base := fs.String("base", "", "upstream base")
		seriesDir := fs.String("series", "", "folder of the series applied to base")
		seriesName := fs.String("series-name", "", "that folder's path in this repository")
		namespace := fs.String("namespace", "", "the document's unique URI")
		epoch := fs.String("source-date-epoch", "", "when it was made")
		out := fs.String("out", "", "SPDX JSON document to write")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("kubelet", "version", "base", "series", "series-name", "namespace", "source-date-epoch", "out"); err != nil {
			return err
		}
		created, err := upstream.ParseEpoch(*epoch)
		if err != nil {
			return err
		}
		series, err := release.ReadSeries(*seriesDir)
		if err != nil {
			return err
		}
		doc, err := release.SPDX(release.SPDXOptions{
			Kubelet: *kubelet, Version: *version, Base: *base, Series: series, SeriesName: *seriesName,
			Namespace: *namespace, Created: created,
		})
		if err != nil {
			return err
		}
		return os.WriteFile(*out, doc, 0o644)

	case "check-spdx":
		in := fs.String("in", "", "SPDX SBOM of the release")
		kubelet := fs.String("kubelet", "", "the kubelet it describes")
		base := fs.String("base", "", "upstream base")
		seriesDir := fs.String("series", "", "folder of the series applied to base")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("in", "kubelet", "base", "series"); err != nil {
			return err
		}
		doc, series, err := readSBOMAndSeries(*in, *seriesDir)
		if err != nil {
			return err
		}
		if err := release.CheckSPDX(doc, *kubelet, *base, series); err != nil {
			return fmt.Errorf("%s: %w", *in, err)
		}
		fmt.Printf("%s: SPDX 2.3, %s with %d patches applied; every module of %s statically linked at its version\n", *in, *base, len(series), *kubelet)
		return nil

	case "check-sbom":
		in := fs.String("in", "", "SBOM of the release")
		kubelet := fs.String("kubelet", "", "the kubelet it describes")
		base := fs.String("base", "", "upstream base")
		seriesDir := fs.String("series", "", "folder of the series applied to base")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required("in", "kubelet", "base", "series"); err != nil {
			return err
		}
		sbom, series, err := readSBOMAndSeries(*in, *seriesDir)
		if err != nil {
			return err
		}
		if err := release.CheckSBOM(sbom, *kubelet, *base, len(series)); err != nil {
			return fmt.Errorf("%s: %w", *in, err)
		}
		fmt.Printf("%s: %s with %d patches; every module of %s listed at its version\n", *in, *base, len(series), *kubelet)
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// readSBOMAndSeries reads an SBOM and the series it is about.
func readSBOMAndSeries(sbomFile, seriesDir string) ([]byte, []release.Patch, error) {
	sbom, err := os.ReadFile(sbomFile)
	if err != nil {
		return nil, nil, err
	}
	series, err := release.ReadSeries(seriesDir)
	if err != nil {
		return nil, nil, err
	}
	return sbom, series, nil
}
