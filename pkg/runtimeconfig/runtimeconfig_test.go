package runtimeconfig

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

// realNode is the real node's form: everything under its run folder, as it
// shares the host's /run.
var realNode = Containerd{
	Root: "/r/containerd/root", State: "/r/containerd/state", Address: "/r/containerd.sock",
	SandboxImage: "registry.k8s.io/pause:3.10.2",
	CNIBinDirs:   []string{"/usr/lib/cni"}, CNIConfDir: "/r/cni/net.d",
	NetnsUnderState: true, CDISpecDirs: []string{"/r/cdi"}, RuncRoot: "/r/runc",
}

func TestContainerdTOML(t *testing.T) {
	got, err := realNode.TOML()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"version = 3\n",
		`root = "/r/containerd/root"`,
		`address = "/r/containerd.sock"`,
		`sandbox = "registry.k8s.io/pause:3.10.2"`,
		// What this machine needs, on every node.
		"restrict_oom_score_adj = true\n",
		`disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt"]`,
		"netns_mounts_under_state_dir = true\n",
		`cdi_spec_dirs = ["/r/cdi"]`,
		"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  Root = \"/r/runc\"\n",
		"[plugins.'io.containerd.cri.v1.runtime'.cni]\n  bin_dirs = [\"/usr/lib/cni\"]\n  conf_dir = \"/r/cni/net.d\"\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the real node's configuration lacks %q:\n%s", want, got)
		}
	}

	// A node of its own keeps containerd's defaults for what it does not
	// share.
	own := realNode
	own.NetnsUnderState, own.CDISpecDirs, own.RuncRoot = false, nil, ""
	got, err = own.TOML()
	if err != nil {
		t.Fatal(err)
	}
	for _, unwanted := range []string{"netns_mounts_under_state_dir", "cdi_spec_dirs", "runtimes.runc.options"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("a node of its own got %s:\n%s", unwanted, got)
		}
	}
	if !strings.Contains(got, "restrict_oom_score_adj = true\n") {
		t.Errorf("a node of its own lacks restrict_oom_score_adj:\n%s", got)
	}
}

func TestContainerdTOMLRefusesBadSettings(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(*Containerd)
		want   string
	}{
		"relative root":      {func(c *Containerd) { c.Root = "containerd" }, `root "containerd" is not an absolute path`},
		"no address":         {func(c *Containerd) { c.Address = "" }, `address "" is not an absolute path`},
		"relative runc root": {func(c *Containerd) { c.RuncRoot = "runc" }, `runc root "runc"`},
		"relative CDI":       {func(c *Containerd) { c.CDISpecDirs = []string{"/a", "cdi"} }, `CDI spec folder 2 "cdi"`},
		"no sandbox image":   {func(c *Containerd) { c.SandboxImage = "" }, "sandbox image is not set"},
		"no CNI plugins":     {func(c *Containerd) { c.CNIBinDirs = nil }, "no CNI plugin folder"},
	} {
		t.Run(name, func(t *testing.T) {
			c := realNode
			c.CDISpecDirs = append([]string(nil), realNode.CDISpecDirs...)
			tc.change(&c)
			_, err := c.TOML()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestBridgeConflist(t *testing.T) {
	for name, tc := range map[string]struct {
		bridge     Bridge
		routes     bool
		ipamFolder string
	}{
		"cluster node": {Bridge{Name: "n", Subnet: netip.MustParsePrefix("10.229.2.0/24"), RouteAll: true}, true, ""},
		"real node":    {Bridge{Name: "n", Subnet: netip.MustParsePrefix("10.229.2.0/24"), IPAMDataDir: "/r/cni/ipam"}, false, "/r/cni/ipam"},
	} {
		t.Run(name, func(t *testing.T) {
			data, err := tc.bridge.Conflist()
			if err != nil {
				t.Fatal(err)
			}
			var conf struct {
				Name    string `json:"name"`
				Plugins []struct {
					Type   string `json:"type"`
					IPMasq *bool  `json:"ipMasq"`
					IPAM   struct {
						Ranges  [][]map[string]string `json:"ranges"`
						Routes  []map[string]string   `json:"routes"`
						DataDir string                `json:"dataDir"`
					} `json:"ipam"`
				} `json:"plugins"`
			}
			if err := json.Unmarshal(data, &conf); err != nil {
				t.Fatal(err)
			}
			if len(conf.Plugins) != 2 || conf.Plugins[0].Type != "bridge" || conf.Plugins[1].Type != "portmap" {
				t.Fatalf("plugins are not bridge and portmap:\n%s", data)
			}
			ipam := conf.Plugins[0].IPAM
			if got := ipam.Ranges[0][0]; got["subnet"] != "10.229.2.0/24" || got["gateway"] != "10.229.2.1" {
				t.Errorf("range %v, want 10.229.2.0/24 through 10.229.2.1", got)
			}
			if hasRoute := len(ipam.Routes) == 1 && ipam.Routes[0]["dst"] == "0.0.0.0/0"; hasRoute != tc.routes {
				t.Errorf("route to 0.0.0.0/0: %v, want %v:\n%s", hasRoute, tc.routes, data)
			}
			if ipam.DataDir != tc.ipamFolder {
				t.Errorf("host-local's folder %q, want %q", ipam.DataDir, tc.ipamFolder)
			}
			if masq := conf.Plugins[0].IPMasq; masq == nil || *masq {
				t.Errorf("ipMasq %v, want false: no packet leaves the run's namespaces", masq)
			}
		})
	}
	for _, bad := range []Bridge{
		{Name: "", Subnet: netip.MustParsePrefix("10.0.0.0/24")},
		{Name: "n"},
		{Name: "n", Subnet: netip.MustParsePrefix("10.0.0.0/31")},
		{Name: "n", Subnet: netip.MustParsePrefix("fd00::/64")},
		{Name: "n", Subnet: netip.MustParsePrefix("10.0.0.0/24"), IPAMDataDir: "ipam"},
	} {
		if _, err := bad.Conflist(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
