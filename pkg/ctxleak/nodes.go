package ctxleak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/heapprofile"
)

// NodeReport is what ctxleak found out about one node.
type NodeReport struct {
	Name           string    `json:"name"`
	KubeletVersion string    `json:"kubeletVersion"`
	Problem        Problem   `json:"problem"`
	ProblemDetail  string    `json:"problemDetail"`
	Analysis       *Analysis `json:"analysis,omitempty"`
	// Error says why the node's heap profile could not be analyzed.
	Error string `json:"error,omitempty"`
}

// Affected reports whether the node has a known problem or leaks.
func (r NodeReport) Affected() bool {
	return r.Problem.Affected() || (r.Analysis != nil && r.Analysis.Verdict == Leaking)
}

// NodesOptions controls Nodes.
type NodesOptions struct {
	// Selector is a label selector of the nodes to report; empty selects
	// every node.
	Selector string
	// Profile pulls and analyzes each node's heap profile.
	Profile bool
	// Parallelism bounds how many profiles are pulled at once.
	Parallelism int
	// Timeout bounds the pull of one node's profile.
	Timeout time.Duration
	// Progress, if set, receives a line per node as its profile is done.
	Progress io.Writer
}

// Nodes lists the nodes, classifies their kubelet versions and, with
// opts.Profile, pulls each node's heap profile through the API server's node
// proxy (as kubectl get --raw /api/v1/nodes/NODE/proxy/debug/pprof/heap
// does) and analyzes it. A node whose profile cannot be had is reported with
// its error; the others are still reported.
func Nodes(ctx context.Context, client kubernetes.Interface, opts NodesOptions) ([]NodeReport, error) {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: opts.Selector})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	reports := make([]NodeReport, len(nodes.Items))
	for i, node := range nodes.Items {
		problem, detail := ClassifyVersion(node.Status.NodeInfo.KubeletVersion)
		reports[i] = NodeReport{Name: node.Name, KubeletVersion: node.Status.NodeInfo.KubeletVersion, Problem: problem, ProblemDetail: detail}
	}
	sort.Slice(reports, func(i, j int) bool { return reports[i].Name < reports[j].Name })
	if !opts.Profile {
		return reports, nil
	}

	parallelism := max(opts.Parallelism, 1)
	slots := make(chan struct{}, parallelism)
	var progress sync.Mutex
	var wg sync.WaitGroup
	for i := range reports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			analysis, err := profileNode(ctx, client, reports[i].Name, opts.Timeout)
			if err != nil {
				reports[i].Error = err.Error()
			} else {
				reports[i].Analysis = &analysis
			}
			if opts.Progress != nil {
				progress.Lock()
				defer progress.Unlock()
				if err != nil {
					fmt.Fprintf(opts.Progress, "%s: %v\n", reports[i].Name, err)
				} else {
					fmt.Fprintf(opts.Progress, "%s: %s\n", reports[i].Name, analysis.Verdict)
				}
			}
		}()
	}
	wg.Wait()
	return reports, nil
}

func profileNode(ctx context.Context, client kubernetes.Interface, node string, timeout time.Duration) (Analysis, error) {
	logger := klog.FromContext(ctx)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	raw, err := client.CoreV1().RESTClient().Get().
		AbsPath("/api/v1/nodes", node, "proxy", "debug", "pprof", "heap").
		Do(ctx).Raw()
	switch {
	case err == nil:
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return Analysis{}, fmt.Errorf("heap profile not received within %v", timeout)
	case apierrors.IsForbidden(err):
		return Analysis{}, fmt.Errorf("forbidden to read the heap profile through the node proxy (needs get on nodes/proxy): %v", err)
	default:
		return Analysis{}, fmt.Errorf("pulling the heap profile: %w", err)
	}
	logger.V(2).Info("Pulled heap profile", "node", node, "bytes", len(raw))
	p, err := heapprofile.Parse(bytes.NewReader(raw))
	if err != nil {
		return Analysis{}, fmt.Errorf("the node's /debug/pprof/heap did not return a heap profile: %w", err)
	}
	return Analyze(p)
}
