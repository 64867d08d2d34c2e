package release

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
)

// KubeadmConstants is where a tree keeps the versions of the images kubeadm
// names besides the control plane's own.
const KubeadmConstants = "cmd/kubeadm/app/constants/constants.go"

// KubeadmImage is an image that kubeadm names and that is upstream's code,
// not Kubernetes': etcd, CoreDNS, pause.
type KubeadmImage struct {
	// Name is how the release and its logs call it: etcd, coredns, pause.
	Name string
	// Ref is the image as kubeadm names it under registry.k8s.io, e.g.
	// registry.k8s.io/etcd:3.6.8-0.
	Ref string
	// Version is the version of the code inside: for etcd the module
	// version of its tag (3.6.8-0 is v3.6.8, image revision 0).
	Version string
}

// kubeadmImageConstants are the constants kubeadm builds the names from
// (cmd/kubeadm/app/images: GetEtcdImage, GetDNSImage, GetPauseImage).
var kubeadmImageConstants = []struct {
	name, repository, versionConstant string
}{
	{"etcd", "etcd", "DefaultEtcdVersion"},
	{"coredns", "coredns/coredns", "CoreDNSVersion"},
	{"pause", "pause", "PauseVersion"},
}

// etcdImageTag is an etcd image tag: the etcd version, then the image's own
// revision.
var etcdImageTag = regexp.MustCompile(`^(\d+\.\d+\.\d+)-\d+$`)

// ReadKubeadmImages reads, from tree's cmd/kubeadm/app/constants, the etcd,
// CoreDNS and pause images that its kubeadm pulls by default, or an error
// naming the constant it could not read.
func ReadKubeadmImages(tree string) ([]KubeadmImage, error) {
	file := filepath.Join(tree, KubeadmConstants)
	parsed, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	constants := map[string]string{}
	for _, decl := range parsed.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			values := spec.(*ast.ValueSpec)
			for i, name := range values.Names {
				if i >= len(values.Values) {
					continue
				}
				if literal, ok := values.Values[i].(*ast.BasicLit); ok && literal.Kind == token.STRING {
					if value, err := strconv.Unquote(literal.Value); err == nil {
						constants[name.Name] = value
					}
				}
			}
		}
	}
	var images []KubeadmImage
	for _, c := range kubeadmImageConstants {
		tag := constants[c.versionConstant]
		if tag == "" {
			return nil, fmt.Errorf("%s: no string constant %s (the %s image's tag)", file, c.versionConstant, c.name)
		}
		version := tag
		switch c.name {
		case "etcd":
			match := etcdImageTag.FindStringSubmatch(tag)
			if match == nil {
				return nil, fmt.Errorf("%s: %s = %q is not an etcd image tag like 3.6.8-0", file, c.versionConstant, tag)
			}
			version = "v" + match[1]
		case "pause":
			version = "v" + tag
		}
		images = append(images, KubeadmImage{Name: c.name, Ref: "registry.k8s.io/" + c.repository + ":" + tag, Version: version})
	}
	return images, nil
}
