package ctxleak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
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
// opts.Profile, reads each node's kubelet through the API server's node
// proxy (as kubectl get --raw /api/v1/nodes/NODE/proxy/debug/pprof/heap
// does): its heap profile, judged by the pods it runs (profileKubelet). A node whose profile cannot be had is reported with
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
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	a, err := profileKubelet(ctx, nodeProxy(client, node))
	switch {
	case err == nil:
		return a, nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return Analysis{}, fmt.Errorf("the kubelet's profile and workload not received within %v: %w", timeout, err)
	case apierrors.IsForbidden(err):
		return Analysis{}, fmt.Errorf("forbidden to read the kubelet through the node proxy (needs get on nodes/proxy): %w", err)
	}
	return Analysis{}, err
}

// nodeProxy gets a path of node's kubelet through the API server's node
// proxy, as kubectl get --raw /api/v1/nodes/NODE/proxy/PATH does.
func nodeProxy(client kubernetes.Interface, node string) kubeletGetter {
	return func(ctx context.Context, path string, query url.Values) ([]byte, error) {
		req := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", node, "proxy", path)
		for name, values := range query {
			for _, value := range values {
				req = req.Param(name, value)
			}
		}
		raw, err := req.Do(ctx).Raw()
		if err != nil {
			return nil, fmt.Errorf("getting %s of node %s's kubelet: %w", path, node, err)
		}
		klog.FromContext(ctx).V(2).Info("Read the kubelet through the node proxy", "node", node, "path", path, "bytes", len(raw))
		return raw, nil
	}
}
