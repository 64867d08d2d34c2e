// Command ctxleak tells an operator whether kubelets leak pod sync contexts
// (kubernetes#139823), from a heap profile or across a cluster.
//
//	ctxleak analyze FILE|-              a heap profile (/debug/pprof/heap)
//	ctxleak nodes [-l SELECTOR] [--profile] [-o wide|json|yaml]
//	                                    every node of the cluster (or kubectl ctxleak nodes)
//	ctxleak versions [-o json]           the version facts, from the sources
//
// Exit codes: 0 clean, 1 a leaking or affected kubelet found, 2 usage or
// access errors.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/heapprofile"
)

const (
	exitClean    = 0
	exitAffected = 1
	exitError    = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage:
  ctxleak analyze FILE|-              verdict on a kubelet heap profile (/debug/pprof/heap)
  ctxleak nodes [--kubeconfig FILE] [--context NAME] [-l SELECTOR] [--profile] [-o wide|json|yaml]
                                      every node's kubelet version, its known problem,
                                      and with --profile a verdict on its heap; takes
                                      kubectl's flags, and runs as kubectl-ctxleak too
  ctxleak versions [-o table|json]    the facts about kubelet versions that nodes uses
  ctxleak node-check [--kubelet-url URL --token-file FILE | --kubelet-binary PATH] [--profile]
                                      this node's kubelet, as a node-problem-detector
                                      custom plugin: exit 0 OK, 1 problem, 2 unknown,
                                      one line of at most 80 characters

Version facts are read from the sources of every upstream release from v1.35.0
to v1.37.2 that the Go module proxy serves: startPodSync in
pkg/kubelet/pod_workers.go and AddPod in pkg/kubelet/prober/prober_manager.go
of k8s.io/kubernetes at that version. A release the proxy does not serve, or
a later one, is unknown. Another vendor's build (v1.36.2-eks-1-36-5) gets the
facts of its base, with its own patches unknown: confirm with --profile.

Exit codes: 0 clean, 1 a leaking or affected kubelet found, 2 usage or access errors.`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return exitError
	}
	var err error
	var code int
	switch args[0] {
	case "analyze":
		code, err = analyze(args[1:], stdin, stdout)
	case "nodes":
		code, err = nodes(ctx, args[1:], stdout, stderr)
	case "versions":
		code, err = versions(args[1:], stdout)
	case "node-check":
		code, err = nodeCheck(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
	default:
		err = fmt.Errorf("unknown command %q\n%s", args[0], usage)
		code = exitError
	}
	if err != nil {
		fmt.Fprintf(stderr, "ctxleak: %v\n", err)
	}
	return code
}

// nodeCheck speaks node-problem-detector's custom plugin interface: the exit
// code is the status and stdout the message, so a usage error is status 2
// (unknown) too.
func nodeCheck(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs, opts, tokenFile := nodeCheckFlags(stderr)
	if err := fs.Parse(args); err != nil {
		return ctxleak.NPDUnknown, err
	}
	if *tokenFile != "" {
		token, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintln(stdout, "ctxleak: cannot read the token file")
			return ctxleak.NPDUnknown, err
		}
		opts.Token = strings.TrimSpace(string(token))
	}
	result := ctxleak.NodeCheck(ctx, *opts)
	fmt.Fprintln(stdout, result.Message)
	return result.Status, nil
}

// nodeCheckFlags are node-check's flags, where they land, and the token
// file's path.
func nodeCheckFlags(stderr io.Writer) (*flag.FlagSet, *ctxleak.NodeCheckOptions, *string) {
	fs := flag.NewFlagSet("node-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := &ctxleak.NodeCheckOptions{}
	fs.StringVar(&opts.KubeletURL, "kubelet-url", "", "the kubelet's server on this node, e.g. https://127.0.0.1:10250")
	tokenFile := fs.String("token-file", "", "bearer token for the kubelet (a service account's, allowed nodes/metrics and nodes/proxy)")
	fs.StringVar(&opts.CAFile, "kubelet-ca-file", "", "CA of the kubelet's serving certificate")
	fs.BoolVar(&opts.Insecure, "insecure-skip-tls-verify", false, "do not verify the kubelet's certificate (a self-signed one on 127.0.0.1)")
	fs.StringVar(&opts.KubeletBinary, "kubelet-binary", "", "instead of --kubelet-url: the kubelet binary to ask for its version")
	fs.BoolVar(&opts.Profile, "profile", false, "also analyze the kubelet's heap profile (needs --kubelet-url)")
	fs.DurationVar(&opts.Timeout, "timeout", time.Minute, "time allowed for the whole check")
	return fs, opts, tokenFile
}

func analyze(args []string, stdin io.Reader, stdout io.Writer) (int, error) {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	output := fs.String("o", "text", "output: text or json")
	podWorkers := fs.Int64("pod-workers", -1, "the kubelet's pod workers when the profile was taken (kubelet_working_pods, every label summed); without it, the profile's own count")
	probedPods := fs.Int64("probed-pods", -1, "how many of those pods have probes; without it, all of them (needs --pod-workers)")
	if err := fs.Parse(args); err != nil {
		return exitError, err
	}
	if fs.NArg() != 1 {
		return exitError, errors.New("analyze takes one heap profile: a file, or - for standard input")
	}
	var workload *ctxleak.Workload
	switch {
	case *podWorkers < 0 && *probedPods >= 0:
		return exitError, errors.New("--probed-pods needs --pod-workers")
	case *podWorkers >= 0:
		workload = &ctxleak.Workload{PodWorkers: *podWorkers, ProbedPods: *podWorkers, Source: "--pod-workers"}
		if *probedPods >= 0 {
			if *probedPods > *podWorkers {
				return exitError, fmt.Errorf("--probed-pods %d is more than --pod-workers %d", *probedPods, *podWorkers)
			}
			workload.ProbedPods = *probedPods
			workload.Source = "--pod-workers and --probed-pods"
		}
	}
	name := fs.Arg(0)
	in := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return exitError, err
		}
		defer f.Close()
		in = f
	}
	p, err := heapprofile.Parse(in)
	if err != nil {
		return exitError, fmt.Errorf("%s: %w", name, err)
	}
	a, err := ctxleak.Analyze(p, workload)
	if err != nil {
		return exitError, fmt.Errorf("%s: %w", name, err)
	}
	switch *output {
	case "json":
		if err := writeJSON(stdout, a); err != nil {
			return exitError, err
		}
	case "text":
		printAnalysis(stdout, a)
	default:
		return exitError, fmt.Errorf("unknown output %q: want text or json", *output)
	}
	if a.Verdict == ctxleak.Leaking {
		return exitAffected, nil
	}
	return exitClean, nil
}

func printAnalysis(w io.Writer, a ctxleak.Analysis) {
	fmt.Fprintf(w, "verdict: %s\n", a.Verdict)
	fmt.Fprintf(w, "  %s\n", a.Reason)
	if a.Exact {
		fmt.Fprintln(w, "  counts are exact (every allocation sampled)")
	} else {
		fmt.Fprintf(w, "  counts are estimates: the profile sampled one allocation per %d bytes\n", a.SamplingRate)
	}
	fmt.Fprintf(w, "live contexts by creation site:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  site\tcontexts\tobjects\tbytes")
	for _, site := range heapprofile.Sites {
		c := a.Sites[site]
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\n", site, c.Contexts, c.Objects, c.Bytes)
	}
	tw.Flush()
	if len(a.Evidence) > 0 {
		fmt.Fprintln(w, "stacks holding the most sync contexts:")
		for _, stack := range a.Evidence {
			fmt.Fprintf(w, "  %s\n", stack)
		}
	}
}

func nodes(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := pflag.NewFlagSet("nodes", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	// kubectl's own flags (--kubeconfig, --context, --cluster, --user,
	// --server, ...), so that ctxleak works as kubectl-ctxleak, a kubectl
	// plugin, and takes what kubectl passes it.
	configFlags := genericclioptions.NewConfigFlags(false)
	configFlags.AddFlags(fs)
	selector := fs.StringP("selector", "l", "", "label selector of the nodes (e.g. -l kubernetes.io/hostname=NODE)")
	profile := fs.Bool("profile", false, "pull and analyze each node's heap profile through the API server")
	parallel := fs.Int("parallel", 5, "profiles pulled at once")
	timeout := fs.Duration("timeout", time.Minute, "time allowed to pull one node's profile")
	output := fs.StringP("output", "o", "", "output: (table), wide, json or yaml")
	if err := fs.Parse(args); err != nil {
		return exitError, err
	}
	if fs.NArg() != 0 {
		return exitError, fmt.Errorf("nodes takes no arguments, got %q (select nodes with -l)", fs.Args())
	}
	switch *output {
	case "", "table", "wide", "json", "yaml":
	default:
		return exitError, fmt.Errorf("unknown output %q: want wide, json or yaml", *output)
	}
	if *parallel < 1 || *timeout <= 0 {
		return exitError, errors.New("--parallel and --timeout must be positive")
	}
	config, err := configFlags.ToRESTConfig()
	if err != nil {
		return exitError, fmt.Errorf("no cluster to talk to: %w", err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return exitError, err
	}
	var progress io.Writer
	if *profile {
		progress = stderr
	}
	reports, err := ctxleak.Nodes(ctx, client, ctxleak.NodesOptions{Selector: *selector, Profile: *profile, Parallelism: *parallel, Timeout: *timeout, Progress: progress})
	if err != nil {
		return exitError, err
	}
	if len(reports) == 0 && *selector != "" {
		fmt.Fprintf(stderr, "no node matches %q\n", *selector)
	}
	switch *output {
	case "json":
		err = writeJSON(stdout, reports)
	case "yaml":
		err = writeYAML(stdout, reports)
	default:
		printNodes(stdout, reports, *profile, *output == "wide")
	}
	if err != nil {
		return exitError, err
	}
	code := exitClean
	for _, r := range reports {
		if r.Affected() {
			return exitAffected, nil
		}
		if r.Error != "" {
			code = exitError
		}
	}
	return code, nil
}

func printNodes(w io.Writer, reports []ctxleak.NodeReport, profiled, wide bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "NODE\tKUBELET\tKNOWN PROBLEM"
	if profiled {
		header += "\tVERDICT\tSYNC CONTEXTS\tPOD WORKERS\tDETAIL"
	}
	if wide {
		header += "\tWHY"
	}
	fmt.Fprintln(tw, header)
	for _, r := range reports {
		line := fmt.Sprintf("%s\t%s\t%s", r.Name, r.KubeletVersion, r.Problem)
		if profiled {
			switch {
			case r.Error != "":
				line += fmt.Sprintf("\terror\t-\t-\t%s", r.Error)
			default:
				exact := "exact"
				if !r.Analysis.Exact {
					exact = "estimated"
				}
				line += fmt.Sprintf("\t%s\t%d\t%d\t%s", r.Analysis.Verdict, r.Analysis.SyncContexts, r.Analysis.Workload.PodWorkers, exact)
			}
		}
		if wide {
			line += "\t" + r.ProblemDetail
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	for _, r := range reports {
		if r.Problem.Affected() && !wide {
			fmt.Fprintf(w, "%s: %s\n", r.Name, strings.TrimSpace(r.ProblemDetail))
		}
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeYAML writes v as kubectl -o yaml would: through its JSON form, so that
// the field names are the JSON ones.
func writeYAML(w io.Writer, v any) error {
	out, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

func versions(args []string, stdout io.Writer) (int, error) {
	fs := flag.NewFlagSet("versions", flag.ContinueOnError)
	output := fs.String("o", "table", "output: table or json")
	if err := fs.Parse(args); err != nil {
		return exitError, err
	}
	if fs.NArg() != 0 {
		return exitError, fmt.Errorf("versions takes no arguments")
	}
	facts, err := ctxleak.VersionFacts()
	if err != nil {
		return exitError, err
	}
	switch *output {
	case "json":
		return exitClean, writeJSON(stdout, facts)
	case "table":
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "VERSION\tPROBLEM\tSYNC CONTEXT (startPodSync)\tPROBE CONTEXT (prober AddPod)")
		for _, f := range facts {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.Version, f.Problem, f.SyncContext, f.ProbeContext)
		}
		return exitClean, w.Flush()
	}
	return exitError, fmt.Errorf("unknown output %q: want table or json", *output)
}
