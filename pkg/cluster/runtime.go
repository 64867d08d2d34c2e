package cluster

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodeproc"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/runtimeconfig"
	"k8s.io/klog/v2"
)

// criSocket is containerd's socket on every node, where kubeadm looks for it
// first.
const criSocket = "/run/containerd/containerd.sock"

// runtimeConfig is the node's containerd and CNI configuration: at their
// usual paths, which are the node's own, and a bridge over its pod subnet
// through which pods reach the Services.
func runtimeConfig(n *Node, pauseImage string) (containerd string, cni []byte, err error) {
	containerd, err = runtimeconfig.Containerd{
		Root: "/var/lib/containerd", State: "/run/containerd", Address: criSocket,
		SandboxImage: pauseImage,
		CNIBinDirs:   []string{"/opt/cni/bin"}, CNIConfDir: "/etc/cni/net.d",
	}.TOML()
	if err != nil {
		return "", nil, err
	}
	cni, err = runtimeconfig.Bridge{Name: "ctxfix-cluster", Subnet: n.PodSubnet, RouteAll: true}.Conflist()
	return containerd, cni, err
}

// startRuntime writes the node's containerd and CNI configurations and
// starts containerd, in the node's runtime cgroup, which its shims inherit.
func (n *Node) startRuntime(ctx context.Context, tools Tools, pauseImage string) error {
	containerd, cni, err := runtimeConfig(n, pauseImage)
	if err != nil {
		return err
	}
	config := filepath.Join(n.Dir, "containerd.toml")
	if err := os.WriteFile(config, []byte(containerd), 0o644); err != nil {
		return err
	}
	// Through the node's view: its /etc is an overlay, mounted.
	netd := filepath.Join(n.View(), "etc", "cni", "net.d")
	if err := os.MkdirAll(netd, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(netd, "10-ctxfix-cluster.conflist"), cni, 0o644); err != nil {
		return err
	}
	_, err = nodeproc.Start(ctx, nodeproc.Spec{
		Name: n.Name + "-containerd", Path: tools.Containerd, Args: []string{"--config", config},
		// The shim is found on PATH.
		Env:   []string{"PATH=" + filepath.Dir(tools.Containerd) + ":/usr/sbin:/usr/bin:/sbin:/bin"},
		NetNS: netnsPath(n.Namespace), MountNS: n.MountNS(),
		LogPath: filepath.Join(n.logs, "containerd.log"), RecordDir: n.records,
		Cgroups: []string{n.runtimeCgroup()}, Detached: true,
	})
	if err != nil {
		return err
	}
	return waitFor(ctx, "containerd on "+n.Name, func() (bool, error) {
		return n.exec(ctx, tools.Ctr, "--address", criSocket, "version") == nil, nil
	})
}

// importImages loads image tarballs of the release into the node's
// containerd under the names kubeadm asks for: a control-plane image's
// architecture suffix ("kube-apiserver-amd64") taken out of its name, as
// image-builder's modify-k8s-img.sh does before it imports.
func (n *Node) importImages(ctx context.Context, tools Tools, tarballs []string, arch string) ([]string, error) {
	var names []string
	for _, tarball := range tarballs {
		tags, err := tarballTags(tarball)
		if err != nil {
			return nil, err
		}
		ctr := []string{tools.Ctr, "--address", criSocket, "-n", "k8s.io", "images"}
		if err := n.execLogged(ctx, "images", nil, append(ctr, "import", "--all-platforms", tarball)...); err != nil {
			return nil, err
		}
		for _, tag := range tags {
			name := withoutArchSuffix(tag, arch)
			if name != tag {
				if err := n.execLogged(ctx, "images", nil, append(ctr, "tag", "--force", tag, name)...); err != nil {
					return nil, err
				}
				if err := n.execLogged(ctx, "images", nil, append(ctr, "rm", tag)...); err != nil {
					return nil, err
				}
			}
			names = append(names, name)
		}
	}
	klog.FromContext(ctx).Info("Images imported", "node", n.Name, "images", names)
	n.Imported = names
	return names, nil
}

// withoutArchSuffix takes "-ARCH" out of an image's repository name.
func withoutArchSuffix(ref, arch string) string {
	repo, tag, ok := strings.Cut(ref[strings.LastIndex(ref, "/")+1:], ":")
	if !ok {
		return ref
	}
	prefix := ref[:strings.LastIndex(ref, "/")+1]
	return prefix + strings.TrimSuffix(repo, "-"+arch) + ":" + tag
}

// tarballTags reads the names an image tarball (docker save's format)
// gives its images.
func tarballTags(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := tar.NewReader(f)
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s has no manifest.json", path)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var manifest []struct{ RepoTags []string }
		if err := json.NewDecoder(r).Decode(&manifest); err != nil {
			return nil, fmt.Errorf("%s manifest.json: %w", path, err)
		}
		var tags []string
		for _, m := range manifest {
			tags = append(tags, m.RepoTags...)
		}
		if len(tags) == 0 {
			return nil, fmt.Errorf("%s names no image", path)
		}
		return tags, nil
	}
}

// ImageNames lists the images the node's containerd holds, by name.
func (n *Node) ImageNames(ctx context.Context, tools Tools) ([]string, error) {
	out, err := output(ctx, "nsenter", "--net="+netnsPath(n.Namespace), "--mount="+n.MountNS(), "--",
		tools.Ctr, "--address", criSocket, "-n", "k8s.io", "images", "ls", "-q")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Fields(out) {
		// containerd lists each image by digest too.
		if !strings.HasPrefix(line, "sha256:") {
			names = append(names, line)
		}
	}
	return names, nil
}
