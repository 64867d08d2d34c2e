package cluster

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// HTTPRecipe is image-builder's http mode as docs/node-images.md gives it
// (its json block under "image-builder, http mode"): the variables that
// roles/kubernetes reads to download the Kubernetes binaries and images,
// the CNI plugins and crictl. Packer passes every variable as a string.
type HTTPRecipe struct {
	SourceType           string `json:"kubernetes_source_type"`
	CNISourceType        string `json:"kubernetes_cni_source_type"`
	HTTPSource           string `json:"kubernetes_http_source"`
	Semver               string `json:"kubernetes_semver"`
	CNISemver            string `json:"kubernetes_cni_semver"`
	CrictlVersion        string `json:"crictl_version"`
	LoadAdditionalImages string `json:"kubernetes_load_additional_imgs"`
}

// ReadHTTPRecipe reads the recipe's json, and fails where image-builder
// would not install what the recipe means it to.
func ReadHTTPRecipe(file string) (HTTPRecipe, error) {
	var r HTTPRecipe
	data, err := os.ReadFile(file)
	if err != nil {
		return r, fmt.Errorf("the http recipe: %w", err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("the http recipe %s: %w", file, err)
	}
	return r, r.validate()
}

func (r HTTPRecipe) validate() error {
	var problems []string
	// roles/kubernetes/tasks/main.yml imports url.yml only "when:
	// kubernetes_source_type == "http" and kubernetes_cni_source_type ==
	// "http"", and debian.yml only for "pkg": with one of each, the role
	// installs no kubelet at all.
	if r.SourceType != "http" || r.CNISourceType != "http" {
		problems = append(problems, fmt.Sprintf("kubernetes_source_type is %q and kubernetes_cni_source_type %q: image-builder downloads the binaries (roles/kubernetes/tasks/url.yml) only when both are \"http\", and installs no kubelet otherwise", r.SourceType, r.CNISourceType))
	}
	for name, value := range map[string]string{"kubernetes_http_source": r.HTTPSource, "kubernetes_semver": r.Semver, "kubernetes_cni_semver": r.CNISemver, "crictl_version": r.CrictlVersion} {
		if value == "" {
			problems = append(problems, name+" is not set")
		}
	}
	if r.LoadAdditionalImages != "true" {
		problems = append(problems, fmt.Sprintf("kubernetes_load_additional_imgs is %q: without \"true\", etcd, CoreDNS and pause are not loaded, and kubeadm would pull them", r.LoadAdditionalImages))
	}
	if len(problems) > 0 {
		return fmt.Errorf("the http recipe: %s", strings.Join(problems, "; "))
	}
	return nil
}

// HTTPMode installs the nodes as image-builder's http mode does, from the
// release's http layout (…/<version>/bin/linux/<arch>/) instead of its
// apt repository.
type HTTPMode struct {
	Recipe HTTPRecipe
	// KubeletUnit and KubeadmDropIn are kubelet.service and
	// 10-kubeadm.conf as kubeadm's install guide installs them without a
	// package manager: kubernetes/release's krel templates.
	KubeletUnit, KubeadmDropIn string
}

// The paths under the switch's web server of upstream's CNI plugins and
// cri-tools releases, which image-builder downloads from GitHub by default
// (kubernetes_cni_http_source, crictl_url).
const (
	cniPluginsPath = "containernetworking-plugins-stand-in"
	criToolsPath   = "cri-tools-stand-in"
)

// kubernetesBins are image-builder's kubernetes_bins.
var kubernetesBins = []string{"kubeadm", "kubectl", "kubelet"}

// kubernetesImages are image-builder's kubernetes_imgs with
// kubernetes_load_additional_imgs: its primary and additional images.
var kubernetesImages = []string{"kube-apiserver.tar", "kube-controller-manager.tar", "kube-scheduler.tar", "kube-proxy.tar", "pause.tar", "coredns.tar", "etcd.tar"}

// makeUpstreamStandIns writes, under dir, stand-ins for the two upstream
// releases image-builder's http mode downloads besides ours, which no
// node here can reach: containernetworking/plugins'
// <semver>/cni-plugins-linux-<arch>-<semver>.tgz and cri-tools'
// v<version>/crictl-v<version>-linux-<arch>.tar.gz, each with its .sha256
// as upstream publishes it. Their files are the release's kubernetes-cni
// and cri-tools packages' own: the same code at the same versions, built
// here. It returns the folders to serve, by path.
func makeUpstreamStandIns(ctx context.Context, dir, release, arch string, r HTTPRecipe) (map[string]string, error) {
	cni := filepath.Join(dir, cniPluginsPath)
	cniName := fmt.Sprintf("cni-plugins-linux-%s-%s.tgz", arch, r.CNISemver)
	if err := standInTarball(ctx, filepath.Join(release, "deb"), "kubernetes-cni", arch, "opt/cni/bin/",
		filepath.Join(cni, r.CNISemver, cniName), "./"); err != nil {
		return nil, err
	}
	crictl := filepath.Join(dir, criToolsPath)
	crictlName := fmt.Sprintf("crictl-v%s-linux-%s.tar.gz", r.CrictlVersion, arch)
	if err := standInTarball(ctx, filepath.Join(release, "deb"), "cri-tools", arch, "usr/bin/",
		filepath.Join(crictl, "v"+r.CrictlVersion, crictlName), ""); err != nil {
		return nil, err
	}
	return map[string]string{cniPluginsPath: cni, criToolsPath: crictl}, nil
}

// standInTarball writes out, a gzipped tarball of the regular files under
// folder in the package's deb of arch in debDir, each named prefix and its
// base name, and out.sha256 ("<sum>  <name>").
func standInTarball(ctx context.Context, debDir, pkg, arch, folder, out, prefix string) error {
	debs, err := filepath.Glob(filepath.Join(debDir, pkg+"_*_"+arch+".deb"))
	if err != nil || len(debs) != 1 {
		return fmt.Errorf("want one %s package for %s in %s, found %v", pkg, arch, debDir, debs)
	}
	// dpkg-deb reads the package's data whatever its compression.
	fsys, err := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", debs[0]).Output()
	if err != nil {
		return fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w", debs[0], err)
	}
	var packed bytes.Buffer
	zw := gzip.NewWriter(&packed)
	tw := tar.NewWriter(zw)
	tr := tar.NewReader(bytes.NewReader(fsys))
	files := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", debs[0], err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag != tar.TypeReg || path.Dir(name)+"/" != folder {
			continue
		}
		entry := &tar.Header{Name: prefix + path.Base(name), Mode: 0o755, Size: h.Size, ModTime: h.ModTime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(entry); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
		files++
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		return err
	}
	if files == 0 {
		return fmt.Errorf("%s has no file under /%s", debs[0], folder)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	sum := sha256.Sum256(packed.Bytes())
	return errors.Join(os.WriteFile(out, packed.Bytes(), 0o644),
		os.WriteFile(out+".sha256", []byte(hex.EncodeToString(sum[:])+"  "+filepath.Base(out)+"\n"), 0o644))
}

// installFromHTTP installs the node as image-builder's http mode does
// (roles/kubernetes/tasks/url.yml and crictl-url.yml), each download
// checked against its .sha256 as get_url's checksum is, over client from
// the node's own network namespace: the CNI plugins into /opt/cni/bin,
// kubeadm, kubectl and kubelet into /usr/bin, crictl into /usr/local/bin,
// kubelet.service and 10-kubeadm.conf into /usr/lib/systemd/system. The
// images are downloaded into images; it returns their files, for
// importImages.
func (n *Node) installFromHTTP(ctx context.Context, client *http.Client, m HTTPMode, arch, images string) ([]string, error) {
	root := n.View()
	r := m.Recipe
	// The recipe's example address is the switch's web server here.
	serving := fmt.Sprintf("http://%s", repoAddress)
	r.HTTPSource = serving
	cniURL := fmt.Sprintf("%s/%s/%s/cni-plugins-linux-%s-%s.tgz", serving, cniPluginsPath, r.CNISemver, arch, r.CNISemver)
	cni, err := fetchChecked(ctx, client, cniURL)
	if err != nil {
		return nil, err
	}
	if err := unpack(cni, filepath.Join(root, "opt/cni/bin")); err != nil {
		return nil, fmt.Errorf("%s: %w", cniURL, err)
	}
	base := fmt.Sprintf("%s/%s/bin/linux/%s/", r.HTTPSource, r.Semver, arch)
	for _, item := range kubernetesBins {
		data, err := fetchChecked(ctx, client, base+item)
		if err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(root, "usr/bin", item), data, 0o755); err != nil {
			return nil, err
		}
	}
	var files []string
	for _, item := range kubernetesImages {
		data, err := fetchChecked(ctx, client, base+item)
		if err != nil {
			return nil, err
		}
		file := filepath.Join(images, item)
		if err := writeFile(file, data, 0o600); err != nil {
			return nil, err
		}
		files = append(files, file)
	}
	crictlURL := fmt.Sprintf("%s/%s/v%s/crictl-v%s-linux-%s.tar.gz", serving, criToolsPath, r.CrictlVersion, r.CrictlVersion, arch)
	crictl, err := fetchChecked(ctx, client, crictlURL)
	if err != nil {
		return nil, err
	}
	if err := unpack(crictl, filepath.Join(root, "usr/local/bin")); err != nil {
		return nil, fmt.Errorf("%s: %w", crictlURL, err)
	}
	for file, dst := range map[string]string{m.KubeletUnit: "usr/lib/systemd/system/kubelet.service", m.KubeadmDropIn: "usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"} {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(root, dst), data, 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "etc/kubernetes/manifests"), 0o755); err != nil {
		return nil, err
	}
	klog.FromContext(ctx).Info("Installed from the http layout", "node", n.Name, "binaries", base, "cni", cniURL, "crictl", crictlURL)
	return files, nil
}

// fetchChecked gets url and checks it against url.sha256: either the sum
// alone (dl.k8s.io's layout, and ours) or "<sum>  <name>" lines (GitHub
// release assets), as Ansible's get_url reads a checksum URL.
func fetchChecked(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	data, err := fetch(ctx, client, url)
	if err != nil {
		return nil, err
	}
	sums, err := fetch(ctx, client, url+".sha256")
	if err != nil {
		return nil, err
	}
	want, err := sumFor(string(sums), path.Base(url))
	if err != nil {
		return nil, fmt.Errorf("%s.sha256: %w", url, err)
	}
	got := sha256.Sum256(data)
	if hex.EncodeToString(got[:]) != want {
		return nil, fmt.Errorf("%s: sha256 %x, but %s.sha256 says %s", url, got, url, want)
	}
	return data, nil
}

// sumFor finds name's sum in a checksum file.
func sumFor(sums, name string) (string, error) {
	lines := strings.FieldsFunc(sums, func(r rune) bool { return r == '\n' })
	for _, line := range lines {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 1 && len(lines) == 1:
			return strings.ToLower(fields[0]), nil
		case len(fields) == 2 && strings.TrimPrefix(fields[1], "*") == name:
			return strings.ToLower(fields[0]), nil
		}
	}
	return "", fmt.Errorf("no sum for %s", name)
}

// unpack extracts a gzipped tarball's regular files into dir, as Ansible's
// unarchive does; a name that would land outside dir fails.
func unpack(data []byte, dir string) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if !filepath.IsLocal(name) {
			return fmt.Errorf("%q would land outside %s", h.Name, dir)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			body, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			if err := writeFile(filepath.Join(dir, name), body, os.FileMode(h.Mode)&0o777); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%q: not a file or folder (type %c)", h.Name, h.Typeflag)
		}
	}
}

// writeFile writes a file, and the folders above it.
func writeFile(file string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(file, data, mode); err != nil {
		return err
	}
	// WriteFile's mode is masked by the umask, and left alone on a file
	// that was there.
	return os.Chmod(file, mode)
}

// downloadTimeout bounds one download from the switch.
const downloadTimeout = 2 * time.Minute
