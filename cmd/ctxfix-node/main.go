// Command ctxfix-node does, for the real node of hack/e2e.sh, what pkg/cluster
// does for a kubeadm cluster's nodes, from the same packages.
//
// runtime-config writes the node's containerd configuration and its CNI
// network (pkg/runtimeconfig):
//
//	ctxfix-node runtime-config -root RUN/containerd/root -state RUN/containerd/state \
//	    -address RUN/containerd.sock -sandbox-image registry.k8s.io/pause:3.10.2 \
//	    -cni-bin-dir /usr/lib/cni -cni-conf-dir RUN/cni/net.d -netns-under-state \
//	    -cdi-spec-dir RUN/cdi -runc-root RUN/runc \
//	    -network ctxfix-e2e -pod-subnet 10.214.0.0/24 -ipam-data-dir RUN/cni/ipam \
//	    -containerd-config RUN/containerd/config.toml -cni-config RUN/cni/net.d/10-bridge.conflist
//
// Both are checked before either is written.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/runtimeconfig"
)

// list collects a repeated flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "ctxfix-node: %v\n", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] != "runtime-config" {
		return fmt.Errorf("usage: ctxfix-node runtime-config FLAGS")
	}
	fs := flag.NewFlagSet("ctxfix-node runtime-config", flag.ContinueOnError)
	var c runtimeconfig.Containerd
	var b runtimeconfig.Bridge
	var binDirs, cdiDirs list
	fs.StringVar(&c.Root, "root", "", "containerd's root folder")
	fs.StringVar(&c.State, "state", "", "containerd's state folder")
	fs.StringVar(&c.Address, "address", "", "containerd's socket")
	fs.StringVar(&c.SandboxImage, "sandbox-image", "", "the pause image")
	fs.Var(&binDirs, "cni-bin-dir", "folder of the CNI plugins, repeatable")
	fs.StringVar(&c.CNIConfDir, "cni-conf-dir", "", "folder of the CNI networks")
	fs.BoolVar(&c.NetnsUnderState, "netns-under-state", false, "the pods' network namespaces under the state folder, not /run/netns")
	fs.Var(&cdiDirs, "cdi-spec-dir", "folder of CDI specs in place of /etc/cdi and /var/run/cdi, repeatable")
	fs.StringVar(&c.RuncRoot, "runc-root", "", "runc's state folder, if not its default under /run")
	fs.StringVar(&b.Name, "network", "", "the CNI network's name")
	subnet := fs.String("pod-subnet", "", "the node's pod subnet, e.g. 10.214.0.0/24")
	fs.BoolVar(&b.RouteAll, "route-all", false, "a route to 0.0.0.0/0 through the bridge, for Service addresses")
	fs.StringVar(&b.IPAMDataDir, "ipam-data-dir", "", "host-local's folder, if not /var/lib/cni/networks")
	containerdOut := fs.String("containerd-config", "", "the containerd configuration to write")
	cniOut := fs.String("cni-config", "", "the CNI configuration list to write")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *containerdOut == "" || *cniOut == "" {
		return fmt.Errorf("-containerd-config and -cni-config are required")
	}
	c.CNIBinDirs, c.CDISpecDirs = binDirs, cdiDirs
	prefix, err := netip.ParsePrefix(*subnet)
	if err != nil {
		return fmt.Errorf("-pod-subnet: %w", err)
	}
	b.Subnet = prefix
	containerd, err := c.TOML()
	if err != nil {
		return err
	}
	cni, err := b.Conflist()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*containerdOut, []byte(containerd), 0o644); err != nil {
		return err
	}
	return os.WriteFile(*cniOut, append(cni, '\n'), 0o644)
}
