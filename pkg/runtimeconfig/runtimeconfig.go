// Package runtimeconfig writes a node's container runtime configuration:
// containerd's config.toml and the CNI bridge network its pods join.
//
// The real node (hack/e2e.sh) and the kubeadm cluster's nodes (pkg/cluster)
// run the same containerd and runc on the same machine, and need the same
// settings for the same reasons. What differs between them is where things
// are: the real node shares the host's /run and keeps everything under its
// run folder, a cluster node has its own /run, /var and /etc.
package runtimeconfig

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
)

// Containerd is a node's containerd configuration, version 3 (containerd
// 2.x).
type Containerd struct {
	// Root and State are containerd's folders; Address is its socket.
	Root, State, Address string
	// SandboxImage is the pause image, pinned so that image garbage
	// collection keeps it: nothing can be pulled again here.
	SandboxImage string
	// CNIBinDirs and CNIConfDir are where the CRI plugin finds the CNI
	// plugins and the networks.
	CNIBinDirs []string
	CNIConfDir string
	// NetnsUnderState keeps the pods' network namespaces under State
	// instead of /run/netns, for a node that shares the host's /run.
	NetnsUnderState bool
	// CDISpecDirs, when set, replace /etc/cdi and /var/run/cdi, for a node
	// that shares the host's.
	CDISpecDirs []string
	// RuncRoot, when set, is runc's state folder instead of runc's default
	// under /run, for a node that shares the host's /run.
	RuncRoot string
}

// TOML renders the configuration, or says which setting is missing or not
// an absolute path.
func (c Containerd) TOML() (string, error) {
	paths := map[string]string{"root": c.Root, "state": c.State, "address": c.Address, "CNI configuration folder": c.CNIConfDir}
	for i, dir := range c.CNIBinDirs {
		paths[fmt.Sprintf("CNI plugin folder %d", i+1)] = dir
	}
	for i, dir := range c.CDISpecDirs {
		paths[fmt.Sprintf("CDI spec folder %d", i+1)] = dir
	}
	if c.RuncRoot != "" {
		paths["runc root"] = c.RuncRoot
	}
	for what, path := range paths {
		if !filepath.IsAbs(path) {
			return "", fmt.Errorf("containerd's %s %q is not an absolute path", what, path)
		}
	}
	if c.SandboxImage == "" {
		return "", fmt.Errorf("containerd's sandbox image is not set")
	}
	if len(c.CNIBinDirs) == 0 {
		return "", fmt.Errorf("containerd has no CNI plugin folder")
	}

	var b strings.Builder
	fmt.Fprintf(&b, "version = 3\nroot = %s\nstate = %s\n", quote(c.Root), quote(c.State))
	b.WriteString(`# No NRI socket, and no /opt/containerd: /opt is the host's, or the node
# image's, read-only.
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt"]
`)
	fmt.Fprintf(&b, "[grpc]\n  address = %s\n", quote(c.Address))
	fmt.Fprintf(&b, "[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = %s\n", quote(c.SandboxImage))
	b.WriteString(`[plugins.'io.containerd.cri.v1.runtime']
  # Root here lacks CAP_SYS_RESOURCE: runc cannot set oom_score_adj -998,
  # and every sandbox would fail with "can't get final child's PID from
  # pipe: EOF".
  restrict_oom_score_adj = true
`)
	if c.NetnsUnderState {
		b.WriteString("  netns_mounts_under_state_dir = true\n")
	}
	if len(c.CDISpecDirs) > 0 {
		fmt.Fprintf(&b, "  cdi_spec_dirs = %s\n", quoteList(c.CDISpecDirs))
	}
	if c.RuncRoot != "" {
		fmt.Fprintf(&b, "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  Root = %s\n", quote(c.RuncRoot))
	}
	fmt.Fprintf(&b, "[plugins.'io.containerd.cri.v1.runtime'.cni]\n  bin_dirs = %s\n  conf_dir = %s\n", quoteList(c.CNIBinDirs), quote(c.CNIConfDir))
	return b.String(), nil
}

// quote is a TOML basic string: JSON's escapes are TOML's, for the paths
// and names written here.
func quote(s string) string {
	data, err := json.Marshal(s)
	if err != nil {
		// A string always marshals.
		panic(err)
	}
	return string(data)
}

func quoteList(items []string) string {
	quoted := make([]string, len(items))
	for i, item := range items {
		quoted[i] = quote(item)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// Bridge is the node's CNI network: a bridge over the node's pod subnet,
// with host-local addresses, and ports mapped by portmap.
type Bridge struct {
	// Name is the network's name.
	Name string
	// Subnet is the node's pod subnet. The bridge, the pods' gateway, takes
	// its first address.
	Subnet netip.Prefix
	// RouteAll gives pods a route to 0.0.0.0/0 through the bridge. It takes
	// their packets for a Service's address to the node, where kube-proxy's
	// rules translate them; without it they have no route there.
	RouteAll bool
	// IPAMDataDir is host-local's folder of the addresses it gave, when
	// not /var/lib/cni/networks.
	IPAMDataDir string
}

// Conflist renders the network as a CNI configuration list.
func (b Bridge) Conflist() ([]byte, error) {
	if b.Name == "" {
		return nil, fmt.Errorf("the CNI network has no name")
	}
	if !b.Subnet.IsValid() || !b.Subnet.Addr().Is4() || b.Subnet.Bits() > 30 {
		return nil, fmt.Errorf("the CNI network %s: pod subnet %s is not an IPv4 subnet of 4 addresses or more", b.Name, b.Subnet)
	}
	if b.IPAMDataDir != "" && !filepath.IsAbs(b.IPAMDataDir) {
		return nil, fmt.Errorf("the CNI network %s: host-local's folder %q is not an absolute path", b.Name, b.IPAMDataDir)
	}
	subnet := b.Subnet.Masked()
	ipam := map[string]any{
		"type":   "host-local",
		"ranges": [][]map[string]string{{{"subnet": subnet.String(), "gateway": subnet.Addr().Next().String()}}},
	}
	if b.RouteAll {
		ipam["routes"] = []map[string]string{{"dst": "0.0.0.0/0"}}
	}
	if b.IPAMDataDir != "" {
		ipam["dataDir"] = b.IPAMDataDir
	}
	return json.MarshalIndent(map[string]any{
		"cniVersion": "1.0.0",
		"name":       b.Name,
		"plugins": []any{
			map[string]any{"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "ipam": ipam},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}, "", "  ")
}
