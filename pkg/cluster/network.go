package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/klog/v2"
)

// The cluster's address plan. Every address exists only inside network
// namespaces that the run makes; the host's own interfaces get none.
var (
	// nodeRange holds the links between the switch and the nodes: node i
	// is 10.228.i.2, its end of the switch 10.228.i.1.
	nodeRange = netip.MustParsePrefix("10.228.0.0/16")
	// podRange holds the nodes' pod subnets: node i's pods are 10.229.i.0/24.
	podRange = netip.MustParsePrefix("10.229.0.0/16")
	// serviceRange is the cluster's Service subnet.
	serviceRange = netip.MustParsePrefix("10.230.0.0/16")
	// runRange covers all three: the only sources and destinations the
	// switch forwards.
	runRange = netip.MustParsePrefix("10.228.0.0/14")
)

// switchNamespace joins the nodes: one veth pair per node, routed, not
// bridged, so that every packet between nodes crosses its FORWARD chain,
// where a counted DROP rule catches any packet bound anywhere else.
const switchNamespace = "ctxfix-cluster-switch"

// nodeAddress is node i's address (i from 1).
func nodeAddress(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 228, byte(i), 2}) }

// repoAddress is the switch's own address, on its loopback, where the
// release's repository is served to the nodes: their only neighbour, as an
// image pipeline's package mirror would be.
var repoAddress = netip.MustParseAddrPort("10.228.0.1:80")

// switchAddress is the switch's end of node i's link.
func switchAddress(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 228, byte(i), 1}) }

// podSubnet is node i's pod subnet.
func podSubnet(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 229, byte(i), 0}), 24)
}

// dropComment marks the switch's rule for packets bound outside the run:
// its counters are the run's proof that nothing left.
const dropComment = "ctxfix-cluster: bound outside the run"

// netnsPath is where ip netns keeps a namespace.
func netnsPath(name string) string { return "/run/netns/" + name }

// run runs a command and fails with its output.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// output runs a command and returns its standard output.
func output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// createNetwork makes the switch and one namespace per node, and links
// them. A node's routes reach the other nodes, their pods and the
// Services through the switch; there is no default route, so a packet for
// anywhere else (a DNS query to the host's resolver) is unreachable in the
// node itself.
func createNetwork(ctx context.Context, nodes []*Node) error {
	logger := klog.FromContext(ctx)
	if err := run(ctx, "ip", "netns", "add", switchNamespace); err != nil {
		return err
	}
	steps := [][]string{
		{"ip", "-n", switchNamespace, "link", "set", "lo", "up"},
		{"ip", "-n", switchNamespace, "addr", "add", repoAddress.Addr().String() + "/32", "dev", "lo"},
		{"ip", "netns", "exec", switchNamespace, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
		// The switch's way out is a veth pair with both ends in the
		// switch, which goes nowhere (this kernel has no dummy links): a
		// packet for anywhere else is routed there, through FORWARD,
		// where the drop rule counts it.
		{"ip", "-n", switchNamespace, "link", "add", "outside", "type", "veth", "peer", "name", "outside-end"},
		{"ip", "-n", switchNamespace, "link", "set", "outside", "up"},
		{"ip", "-n", switchNamespace, "link", "set", "outside-end", "up"},
		{"ip", "-n", switchNamespace, "route", "add", "default", "dev", "outside"},
		// Between the run's ranges: forwarded. Anything else: dropped and
		// counted, whatever the nodes' routes say.
		{"ip", "netns", "exec", switchNamespace, "iptables", "-w", "-A", "FORWARD", "-s", runRange.String(), "-d", runRange.String(), "-j", "ACCEPT"},
		{"ip", "netns", "exec", switchNamespace, "iptables", "-w", "-A", "FORWARD", "-m", "comment", "--comment", dropComment, "-j", "DROP"},
		{"ip", "netns", "exec", switchNamespace, "iptables", "-w", "-P", "FORWARD", "DROP"},
	}
	for _, n := range nodes {
		link := fmt.Sprintf("node%d", n.Index)
		steps = append(steps,
			[]string{"ip", "netns", "add", n.Namespace},
			[]string{"ip", "-n", n.Namespace, "link", "set", "lo", "up"},
			// kubeadm's preflight requires forwarding, for the pods.
			[]string{"ip", "netns", "exec", n.Namespace, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
			[]string{"ip", "-n", switchNamespace, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", n.Namespace},
			[]string{"ip", "-n", switchNamespace, "addr", "add", switchAddress(n.Index).String() + "/24", "dev", link},
			[]string{"ip", "-n", n.Namespace, "addr", "add", n.Address.String() + "/24", "dev", "eth0"},
			[]string{"ip", "-n", switchNamespace, "link", "set", link, "up"},
			[]string{"ip", "-n", n.Namespace, "link", "set", "eth0", "up"},
			[]string{"ip", "-n", switchNamespace, "route", "add", n.PodSubnet.String(), "via", n.Address.String()},
		)
		for _, to := range []netip.Prefix{nodeRange, podRange, serviceRange} {
			steps = append(steps, []string{"ip", "-n", n.Namespace, "route", "add", to.String(), "via", switchAddress(n.Index).String()})
		}
	}
	for _, step := range steps {
		if err := run(ctx, step[0], step[1:]...); err != nil {
			return err
		}
	}
	if err := proveDropCounts(ctx, nodes[0]); err != nil {
		return err
	}
	logger.Info("Network up", "switch", switchNamespace, "nodes", len(nodes))
	return nil
}

// testOutside is an address outside the run (TEST-NET-1, RFC 5737, for
// documentation): where proveDropCounts sends its packet.
const testOutside = "192.0.2.1"

// proveDropCounts shows that the switch's drop rule counts what it must: a
// node given a route out for a moment sends one UDP packet to testOutside,
// which the switch must drop and count; then the route goes and the
// counters are zeroed, so that what they count from here on is the
// cluster's.
func proveDropCounts(ctx context.Context, n *Node) error {
	via := switchAddress(n.Index).String()
	if err := run(ctx, "ip", "-n", n.Namespace, "route", "add", testOutside+"/32", "via", via); err != nil {
		return err
	}
	conn, err := dialIn(netnsPath(n.Namespace))(ctx, "udp", testOutside+":9")
	if err == nil {
		_, err = conn.Write([]byte("ctxfix-cluster: the switch must drop this\n"))
		conn.Close()
	}
	if delErr := run(ctx, "ip", "-n", n.Namespace, "route", "del", testOutside+"/32", "via", via); err == nil {
		err = delErr
	}
	if err != nil {
		return fmt.Errorf("sending the switch a packet bound outside: %w", err)
	}
	// The packet crosses the namespaces asynchronously.
	var dropped int
	if err := waitFor(ctx, "the switch's drop of a packet bound outside", func() (bool, error) {
		dropped, err = droppedPackets(ctx)
		return err == nil && dropped == 1, err
	}); err != nil {
		return fmt.Errorf("%w (counted %d)", err, dropped)
	}
	if err := run(ctx, "ip", "netns", "exec", switchNamespace, "iptables", "-w", "-Z", "FORWARD"); err != nil {
		return err
	}
	klog.FromContext(ctx).Info("The switch dropped and counted a packet bound outside the run; counters zeroed", "from", n.Name, "to", testOutside)
	return nil
}

// defaultRoutes lists the nodes that have a default route: none may.
func defaultRoutes(ctx context.Context, nodes []*Node) ([]string, error) {
	var with []string
	for _, n := range nodes {
		routes, err := output(ctx, "ip", "-n", n.Namespace, "route", "show", "default")
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(routes) != "" {
			with = append(with, n.Name+": "+strings.TrimSpace(routes))
		}
	}
	return with, nil
}

func nodeNamespaces(nodes []*Node) []string {
	var names []string
	for _, n := range nodes {
		names = append(names, n.Namespace)
	}
	return names
}

// droppedPackets reads the switch's count of packets bound outside the run.
func droppedPackets(ctx context.Context) (int, error) {
	rules, err := output(ctx, "ip", "netns", "exec", switchNamespace, "iptables", "-w", "-L", "FORWARD", "-v", "-n", "-x")
	if err != nil {
		return 0, err
	}
	return parseDropCount(rules)
}

var dropLine = regexp.MustCompile(`^\s*(\d+)\s+\d+\s+DROP\b.*` + regexp.QuoteMeta("/* "+dropComment+" */"))

// parseDropCount finds the drop rule's packet count in iptables -L -v -n -x.
func parseDropCount(rules string) (int, error) {
	for _, line := range strings.Split(rules, "\n") {
		if m := dropLine.FindStringSubmatch(line); m != nil {
			return strconv.Atoi(m[1])
		}
	}
	return 0, fmt.Errorf("no rule %q in the switch's FORWARD chain:\n%s", dropComment, rules)
}

// deleteNetwork deletes the namespaces this run made, the switch last;
// with them go their links, routes and rules.
func deleteNetwork(ctx context.Context, nodes []*Node) error {
	var errs []error
	for _, ns := range append(nodeNamespaces(nodes), switchNamespace) {
		if _, err := os.Stat(netnsPath(ns)); err != nil {
			continue
		}
		if err := run(ctx, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return joinErrors(errs)
}
