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
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodee2e"
)

var errInterrupted = errors.New("interrupted")

type kubeletFlags []string

func (k *kubeletFlags) String() string     { return strings.Join(*k, ",") }
func (k *kubeletFlags) Set(v string) error { *k = append(*k, v); return nil }

func main() {
	klog.InitFlags(nil)
	var kubelets kubeletFlags
	flag.Var(&kubelets, "kubelet", "NAME=BINARY, repeatable, run in this order")
	base := flag.String("base", "", "the upstream base, e.g. v1.36.5")
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig of the API server")
	node := flag.String("node", "", "node name the kubelets register")
	netns := flag.String("netns", "", "the node's network namespace")
	runDir := flag.String("run-dir", "", "folder for the kubelets' root folders")
	kubeletArgs := flag.String("kubelet-args", "", "flags every kubelet gets, separated by spaces")
	criSocket := flag.String("cri-socket", "", "containerd's socket")
	ctxleakBin := flag.String("ctxleak", "", "the ctxleak binary")
	out := flag.String("out", "", "folder for results, logs and heap profiles")
	scenarios := flag.String("scenarios", "", "scenarios to run, comma separated (default: all)")
	syncPods := flag.Int("sync-pods", 100, "pods of the sustained-sync scenario")
	syncDuration := flag.Duration("sync-duration", 10*time.Minute, "length of the sustained-sync scenario")
	syncInterval := flag.Duration("sync-interval", 30*time.Second, "time between heap profiles of the sustained-sync scenario")
	flag.Parse()
	if err := run(*base, kubelets, *kubeconfig, *node, *netns, *runDir, *kubeletArgs, *criSocket, *ctxleakBin, *out, *scenarios,
		nodee2e.SyncOptions{Pods: *syncPods, Duration: *syncDuration, Interval: *syncInterval}); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		if errors.Is(err, errInterrupted) {
			// As a shell reports a command stopped by SIGINT.
			os.Exit(130)
		}
		os.Exit(2)
	}
}

func run(base string, kubelets []string, kubeconfig, node, netns, runDir, kubeletArgs, criSocket, ctxleakBin, out, scenarios string, sync nodee2e.SyncOptions) error {
	for name, v := range map[string]string{"-base": base, "-kubeconfig": kubeconfig, "-node": node, "-netns": netns, "-run-dir": runDir, "-cri-socket": criSocket, "-ctxleak": ctxleakBin, "-out": out} {
		if v == "" {
			return fmt.Errorf("%s is required", name)
		}
	}
	if len(kubelets) == 0 {
		return fmt.Errorf("-kubelet NAME=BINARY is required")
	}
	// Ctrl-C and SIGTERM stop the kubelet and end the run; hack/e2e.sh then
	// takes down the rest.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = klog.NewContext(ctx, klog.Background())

	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	selected := strings.Split(scenarios, ",")
	if scenarios == "" {
		selected = nil
		for _, s := range nodee2e.Scenarios {
			selected = append(selected, s.Name)
		}
	}
	for _, name := range selected {
		known := false
		for _, s := range nodee2e.Scenarios {
			known = known || s.Name == name
		}
		if !known {
			return fmt.Errorf("unknown scenario %q", name)
		}
	}
	opts := nodee2e.RunOptions{
		Base:      base,
		Scenarios: selected,
		OutDir:    out,
		Env: nodee2e.Env{
			Cluster:    &nodee2e.Cluster{Client: client, Config: config, Node: node},
			OutDir:     out,
			CRISocket:  criSocket,
			Ctxleak:    ctxleakBin,
			Kubeconfig: kubeconfig,
			Sync:       sync,
		},
	}
	var names []string
	for _, k := range kubelets {
		name, binary, ok := strings.Cut(k, "=")
		if !ok {
			return fmt.Errorf("-kubelet %q: want NAME=BINARY", k)
		}
		root := filepath.Join(runDir, "kubelet-"+name)
		args := append(strings.Fields(kubeletArgs), "--root-dir="+root, "--cert-dir="+filepath.Join(root, "pki"))
		opts.Kubelets = append(opts.Kubelets, nodee2e.KubeletSpec{Name: name, Binary: binary, NetNS: netns, Args: args, LogPath: filepath.Join(out, name+"-kubelet.log")})
		names = append(names, name)
	}
	results, err := nodee2e.Run(ctx, opts)
	fmt.Println()
	nodee2e.PrintTable(os.Stdout, results, names)
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
