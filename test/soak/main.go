// Command soak runs stock and patched kubelets of one base side by side,
// standalone against fake runtimes, under sustained pod sync, and reports
// the live sync contexts, goroutines and memory of each over time.
//
//	go run ./test/soak -base v1.36.2 \
//	  -kubelet stock=_output/stock-release/v1.36.2/bin/linux/amd64/kubelet \
//	  -kubelet patched=_output/release/v1.36.2-ctxfix.1/bin/linux/amd64/kubelet \
//	  -pods 50 -duration 90s -out _output/soak/v1.36.2
//
// With -probe-check it instead checks exec readiness probes of pods that
// start terminating; with -render DIR it redraws a report from its
// result.json. hack/soak.sh builds the kubelets and runs it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/soak"
)

type kubeletFlags []soak.KubeletSpec

func (k *kubeletFlags) String() string { return fmt.Sprint(*k) }

func (k *kubeletFlags) Set(value string) error {
	name, binary, ok := strings.Cut(value, "=")
	if !ok || name == "" || binary == "" {
		return fmt.Errorf("want NAME=PATH, got %q", value)
	}
	*k = append(*k, soak.KubeletSpec{Name: name, Binary: binary})
	return nil
}

func main() {
	klog.InitFlags(nil)
	var kubelets kubeletFlags
	base := flag.String("base", "", "upstream base the kubelets are built from (for the report)")
	pods := flag.Int("pods", 50, "static pods per kubelet")
	duration := flag.Duration("duration", 90*time.Second, "how long to run")
	interval := flag.Duration("interval", 10*time.Second, "time between samples")
	out := flag.String("out", "_output/soak", "folder for the report (JSON, table, SVG) and kubelet logs")
	check := flag.String("check", "", "assertions to make on the result: leak-fixed (patched flat, stock grows) or bounded (every kubelet flat); with -probe-check: probes-fixed (patched keeps probing, stock does not)")
	probeCheck := flag.Bool("probe-check", false, "instead of the soak, check exec readiness probes once the pods start terminating")
	window := flag.Duration("window", 5*time.Second, "with -probe-check: how long exec calls are counted before the pods' removal, and after their syncs are cancelled")
	verbosity := flag.Int("kubelet-v", 2, "the kubelets' log verbosity")
	flag.Var(&kubelets, "kubelet", "NAME=PATH of a kubelet to run; repeat for side by side")
	render := flag.String("render", "", "instead of running, rewrite the table and plot of the report in this folder from its result.json")
	flag.Parse()

	if *render != "" {
		if err := rerender(*render); err != nil {
			fmt.Fprintf(os.Stderr, "soak: %v\n", err)
			os.Exit(1)
		}
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if *probeCheck {
		err = runProbeCheck(ctx, kubelets, *pods, *window, *out, *check, *verbosity)
	} else {
		err = run(ctx, kubelets, *base, *pods, *duration, *interval, *out, *check, *verbosity)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, kubelets kubeletFlags, base string, pods int, duration, interval time.Duration, out, check string, verbosity int) error {
	if len(kubelets) == 0 {
		return fmt.Errorf("no -kubelet NAME=PATH given")
	}
	if pods < 1 || duration <= 0 || interval <= 0 {
		return fmt.Errorf("-pods, -duration and -interval must be positive")
	}
	for i := range kubelets {
		kubelets[i].Pods = pods
		kubelets[i].PodOptions = soak.DefaultPodOptions
		kubelets[i].LogDir = out
		kubelets[i].Verbosity = verbosity
	}
	result, runErr := soak.Run(ctx, soak.RunOptions{Base: base, Kubelets: kubelets, Duration: duration, Interval: interval, ProfileDir: out})
	if result != nil && len(result.Series) > 0 {
		if err := soak.WriteReport(out, result); err != nil {
			return err
		}
		fmt.Print(soak.Table(result))
		fmt.Printf("\nreport: %s\n", out)
	}
	if runErr != nil {
		return runErr
	}
	switch check {
	case "":
		return nil
	case "leak-fixed", "bounded":
		return soak.Check(result, check == "leak-fixed")
	default:
		return fmt.Errorf("unknown -check %q: want leak-fixed or bounded", check)
	}
}

func runProbeCheck(ctx context.Context, kubelets kubeletFlags, pods int, window time.Duration, out, check string, verbosity int) error {
	if len(kubelets) == 0 {
		return fmt.Errorf("no -kubelet NAME=PATH given")
	}
	if check != "" && check != "probes-fixed" {
		return fmt.Errorf("unknown -check %q with -probe-check: want probes-fixed", check)
	}
	results := make([]soak.ProbeCheckResult, len(kubelets))
	errs := make([]error, len(kubelets))
	var wg sync.WaitGroup
	for i, spec := range kubelets {
		spec.Pods = pods
		spec.LogDir = out
		spec.Verbosity = verbosity
		spec.Name += "-probes"
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = soak.ProbeCheck(ctx, soak.ProbeCheckOptions{Spec: spec, Window: window})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var failures []error
	for i, r := range results {
		fmt.Println(r.String())
		if check == "" {
			continue
		}
		if err := soak.ProbesFixed(kubelets[i].Name, r); err != nil {
			failures = append(failures, err)
		}
	}
	return errors.Join(failures...)
}

// rerender rewrites a report from its result.json, after a change to how
// reports are drawn.
func rerender(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		return err
	}
	var result soak.Result
	if err := json.Unmarshal(data, &result); err != nil {
		return fmt.Errorf("%s/result.json: %w", dir, err)
	}
	if err := soak.WriteReport(dir, &result); err != nil {
		return err
	}
	fmt.Print(soak.Table(&result))
	return nil
}
