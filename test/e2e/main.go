// Command e2e runs the stock and the patched kubelet of one base, one after
// the other, as the real node that hack/e2e.sh brings up (API server,
// containerd, runc, CNI), judges each by the scenarios of pkg/nodee2e, and
// prints them side by side. It exits 1 if any kubelet did not do what it
// must: the patched one pass everything, the stock one fail where its base
// is known to be broken.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/conformance"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/kubeletconfig"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodee2e"
)

var errInterrupted = errors.New("interrupted")

type kubeletFlags []string

func (k *kubeletFlags) String() string     { return strings.Join(*k, ",") }
func (k *kubeletFlags) Set(v string) error { *k = append(*k, v); return nil }

// config is what the flags say.
type config struct {
	base, kubeconfig, node, netns, runDir, recordDir, kubeletArgs, criSocket, ctxleak, kubectl, out, scenarios string
	nodeIP, clientCAFile                                                                                       string
	kubelets, debs                                                                                             kubeletFlags
	repeatStock                                                                                                bool
	runtime                                                                                                    runtimeFlags
	sync                                                                                                       nodee2e.SyncOptions
	swap                                                                                                       nodee2e.SwapOptions
	churn                                                                                                      nodee2e.ChurnOptions
	crashes                                                                                                    nodee2e.CrashOptions
	conformance                                                                                                conformanceFlags
}

// runtimeFlags say where containerd keeps what a reboot takes or leaves.
type runtimeFlags struct {
	root, state, cgroups, bridge, ipamDir string
}

// conformanceFlags say how to run upstream\'s node conformance list.
type conformanceFlags struct {
	binary, ginkgo, host, tokenFile, knownFailures string
	procs                                          int
	timeout                                        time.Duration
}

func main() {
	klog.InitFlags(nil)
	var c config
	flag.Var(&c.kubelets, "kubelet", "NAME=BINARY, repeatable, run in this order")
	flag.Var(&c.debs, "kubelet-deb", "NAME=DEB: the deb of the kubelet NAME, made from its binary, repeatable; required by the kubelet-package-swap scenario")
	flag.StringVar(&c.base, "base", "", "the upstream base, e.g. v1.36.5")
	flag.StringVar(&c.kubeconfig, "kubeconfig", "", "admin kubeconfig of the API server")
	flag.StringVar(&c.node, "node", "", "node name the kubelets register")
	flag.StringVar(&c.netns, "netns", "", "the node's network namespace")
	flag.StringVar(&c.runDir, "run-dir", "", "folder for the kubelets' root folders")
	flag.StringVar(&c.recordDir, "record-dir", "", "folder for the PID records of the processes the run starts (pkg/nodeproc)")
	flag.StringVar(&c.kubeletArgs, "kubelet-args", "", "flags every kubelet gets, separated by spaces, but --config: the kubelet configuration is written here")
	flag.StringVar(&c.nodeIP, "node-ip", "", "the node's address, where its kubelet serves the API server")
	flag.StringVar(&c.clientCAFile, "client-ca-file", "", "the CA of the API server's client certificate, which the kubelet verifies")
	flag.StringVar(&c.criSocket, "cri-socket", "", "containerd's socket")
	flag.StringVar(&c.ctxleak, "ctxleak", "", "the ctxleak binary")
	flag.StringVar(&c.kubectl, "kubectl", "", "kubectl, which runs ctxleak as its plugin")
	flag.StringVar(&c.out, "out", "", "folder for results, logs and heap profiles")
	flag.StringVar(&c.scenarios, "scenarios", "", "scenarios to run, comma separated (default: all)")
	flag.IntVar(&c.sync.Pods, "sync-pods", 100, "pods of the sustained-sync scenario")
	flag.DurationVar(&c.sync.Duration, "sync-duration", 10*time.Minute, "length of the sustained-sync scenario")
	flag.DurationVar(&c.sync.Interval, "sync-interval", 30*time.Second, "time between heap profiles of the sustained-sync scenario")
	flag.IntVar(&c.swap.Pods, "swap-pods", 20, "pods of the kubelet-swap scenario")
	flag.IntVar(&c.churn.Waves, "churn-waves", 10, "waves of the churn scenario")
	flag.IntVar(&c.churn.Pods, "churn-pods", 25, "pods of each wave of the churn scenario")
	flag.DurationVar(&c.churn.Settle, "churn-settle", time.Minute, "time after the churn's last wave before the node is judged")
	flag.IntVar(&c.crashes.Pods, "crash-pods", 20, "pods running while the kubelet-killed-mid-sync scenario kills the kubelet")
	flag.IntVar(&c.crashes.NewPods, "crash-new-pods", 10, "pods created 2 s before the kubelet-killed-mid-sync scenario's last kill")
	flag.IntVar(&c.crashes.Kills, "crash-kills", 5, "kills at random intervals before the kubelet-killed-mid-sync scenario's last")
	flag.Uint64Var(&c.crashes.Seed, "crash-seed", 1, "seed of the kubelet-killed-mid-sync scenario's intervals")
	flag.StringVar(&c.runtime.root, "runtime-root", "", "containerd's root folder, kept across a reboot")
	flag.StringVar(&c.runtime.state, "runtime-state", "", "containerd's state folder and runc's root, comma separated, emptied by a reboot")
	flag.StringVar(&c.runtime.cgroups, "runtime-cgroups", "", "cgroup folders of containerd's shims and of the pods' containers, comma separated, killed by a reboot")
	flag.StringVar(&c.runtime.bridge, "cni-bridge", "", "the CNI bridge in the node's namespace, removed by a reboot")
	flag.StringVar(&c.runtime.ipamDir, "cni-ipam-dir", "", "the CNI host-local plugin's data folder")
	flag.BoolVar(&c.repeatStock, "repeat-stock", false, "run the stock kubelet a second time, as stock-again, for the scenarios that measure performance: their noise band")
	flag.StringVar(&c.conformance.binary, "conformance-binary", "", "e2e_node.test of the base's patched tree; required by the node-conformance scenario")
	flag.StringVar(&c.conformance.ginkgo, "conformance-ginkgo", "", "the ginkgo command of the same tree, which runs e2e_node.test")
	flag.IntVar(&c.conformance.procs, "conformance-procs", 4, "parallel processes of the conformance list")
	flag.StringVar(&c.conformance.host, "conformance-host", "", "the API server's URL, for e2e_node.test")
	flag.StringVar(&c.conformance.tokenFile, "conformance-token-file", "", "a bearer token the API server accepts, for e2e_node.test")
	flag.StringVar(&c.conformance.knownFailures, "conformance-known-failures", "", "specs allowed to fail, with reasons (SPEC-REGEXP<TAB>REASON)")
	flag.DurationVar(&c.conformance.timeout, "conformance-timeout", 90*time.Minute, "time the conformance list may take on one kubelet")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		if errors.Is(err, errInterrupted) {
			// As a shell reports a command stopped by SIGINT.
			os.Exit(130)
		}
		os.Exit(2)
	}
}

func run(c config) error {
	for name, v := range map[string]string{"-base": c.base, "-kubeconfig": c.kubeconfig, "-node": c.node, "-netns": c.netns, "-run-dir": c.runDir, "-record-dir": c.recordDir, "-cri-socket": c.criSocket, "-ctxleak": c.ctxleak, "-kubectl": c.kubectl, "-out": c.out, "-node-ip": c.nodeIP, "-client-ca-file": c.clientCAFile} {
		if v == "" {
			return fmt.Errorf("%s is required", name)
		}
	}
	if len(c.kubelets) == 0 {
		return fmt.Errorf("-kubelet NAME=BINARY is required")
	}
	var selected []string
	for _, s := range nodee2e.Scenarios {
		selected = append(selected, s.Name)
	}
	if c.scenarios != "" {
		known := selected
		selected = strings.Split(c.scenarios, ",")
		for _, name := range selected {
			if !slices.Contains(known, name) {
				return fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(known, ", "))
			}
		}
	}
	// Ctrl-C and SIGTERM stop the kubelet and end the run; hack/e2e.sh then
	// takes down the rest.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = klog.NewContext(ctx, klog.Background())

	restConfig, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	operator, err := nodee2e.NewOperator(c.kubectl, c.ctxleak, c.kubeconfig, filepath.Join(c.runDir, "operator"))
	if err != nil {
		return err
	}
	conformance, err := c.conformance.options()
	if err != nil {
		return err
	}
	if slices.Contains(selected, "node-rebooted") && (c.runtime.root == "" || c.runtime.state == "" || c.runtime.cgroups == "" || c.runtime.bridge == "" || c.runtime.ipamDir == "") {
		return fmt.Errorf("the node-rebooted scenario needs -runtime-root, -runtime-state, -runtime-cgroups, -cni-bridge and -cni-ipam-dir")
	}
	if slices.Contains(selected, "node-conformance") && conformance == nil {
		return fmt.Errorf("the node-conformance scenario needs -conformance-binary")
	}
	opts := nodee2e.RunOptions{
		Base:      c.base,
		Scenarios: selected,
		Env: nodee2e.Env{
			Cluster:   &nodee2e.Cluster{Client: client, Config: restConfig, Node: c.node},
			OutDir:    c.out,
			CRISocket: c.criSocket,
			Runtime: nodee2e.Runtime{
				RecordDir: c.recordDir, Name: "containerd", Socket: c.criSocket, NetNS: c.netns,
				Root: c.runtime.root, StateDirs: splitList(c.runtime.state), Cgroups: splitList(c.runtime.cgroups),
				Bridge: c.runtime.bridge, IPAMDir: c.runtime.ipamDir,
			},
			Ctxleak:     c.ctxleak,
			Operator:    operator,
			Sync:        c.sync,
			Swap:        c.swap,
			Churn:       c.churn,
			Crashes:     c.crashes,
			Conformance: conformance,
		},
	}
	// Every kubelet of the run gets the same configuration, as the kubelets
	// of one node do across an upgrade.
	config, err := kubeletconfig.Node(kubeletconfig.NodeOptions{
		RuntimeEndpoint: "unix://" + c.criSocket, PodLogsDir: filepath.Join(c.runDir, "pod-logs"), Address: c.nodeIP, ClientCAFile: c.clientCAFile,
	})
	if err != nil {
		return err
	}
	configPath := filepath.Join(c.runDir, "kubelet-config.yaml")
	if err := kubeletconfig.Write(configPath, config); err != nil {
		return err
	}
	kubeletArgs := append([]string{"--config=" + configPath}, strings.Fields(c.kubeletArgs)...)
	for _, arg := range kubeletArgs[1:] {
		if arg == "--config" || strings.HasPrefix(arg, "--config=") {
			return fmt.Errorf("-kubelet-args %q: the kubelet configuration is written here (pkg/kubeletconfig), not given", c.kubeletArgs)
		}
	}
	debs := map[string]string{}
	for _, d := range c.debs {
		name, deb, ok := strings.Cut(d, "=")
		if !ok {
			return fmt.Errorf("-kubelet-deb %q: want NAME=DEB", d)
		}
		debs[name] = deb
	}
	if slices.Contains(selected, "kubelet-package-swap") && (debs["stock"] == "" || debs["patched"] == "") {
		return fmt.Errorf("the kubelet-package-swap scenario needs -kubelet-deb stock=DEB and -kubelet-deb patched=DEB")
	}
	var names []string
	for _, k := range c.kubelets {
		name, binary, ok := strings.Cut(k, "=")
		if !ok {
			return fmt.Errorf("-kubelet %q: want NAME=BINARY", k)
		}
		opts.Kubelets = append(opts.Kubelets, nodee2e.KubeletSpec{
			Name: name, Binary: binary, NetNS: c.netns, Args: kubeletArgs, RootDir: filepath.Join(c.runDir, "kubelet-"+name),
			LogPath: filepath.Join(c.out, name+"-kubelet.log"), RecordDir: c.recordDir, Deb: debs[name],
		})
		names = append(names, name)
	}
	if c.repeatStock {
		stock := slices.IndexFunc(opts.Kubelets, func(k nodee2e.KubeletSpec) bool { return k.Name == "stock" })
		if stock < 0 {
			return fmt.Errorf("-repeat-stock needs a -kubelet named stock")
		}
		again := opts.Kubelets[stock]
		again.Name, again.Repeats = "stock-again", "stock"
		again.RootDir = filepath.Join(c.runDir, "kubelet-"+again.Name)
		again.LogPath = filepath.Join(c.out, again.Name+"-kubelet.log")
		opts.Kubelets = append(opts.Kubelets, again)
		names = append(names, again.Name)
	}
	results, err := nodee2e.Run(ctx, opts)
	fmt.Println()
	nodee2e.PrintTable(os.Stdout, results, names)
	fmt.Println()
	nodee2e.PrintPerf(os.Stdout, results, "stock", "patched", "stock-again")
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %v", errInterrupted, err)
	}
	if err != nil {
		return err
	}
	for _, r := range results {
		if !r.OK() {
			return fmt.Errorf("%s on the %s kubelet: %s, want %s", r.Scenario, r.Kubelet, r.Outcome+r.Error, r.Expected)
		}
	}
	return nil
}

// options gives the conformance options the flags say, or nil without a
// binary.
func (f conformanceFlags) options() (*nodee2e.ConformanceOptions, error) {
	if f.binary == "" {
		return nil, nil
	}
	if f.ginkgo == "" || f.host == "" || f.tokenFile == "" || f.knownFailures == "" {
		return nil, fmt.Errorf("-conformance-binary needs -conformance-ginkgo, -conformance-host, -conformance-token-file and -conformance-known-failures")
	}
	token, err := os.ReadFile(f.tokenFile)
	if err != nil {
		return nil, err
	}
	known, err := conformance.ReadKnownFailures(f.knownFailures)
	if err != nil {
		return nil, err
	}
	return &nodee2e.ConformanceOptions{
		Binary: f.binary, Ginkgo: f.ginkgo, Procs: f.procs, Host: f.host, Token: strings.TrimSpace(string(token)),
		Focus: nodee2e.ConformanceFocus, LabelFilter: nodee2e.ConformanceLabelFilter,
		KnownFailures: known, Timeout: f.timeout,
	}, nil
}

// splitList splits a comma-separated flag; empty gives none.
func splitList(list string) []string {
	if list == "" {
		return nil
	}
	return strings.Split(list, ",")
}
