package nodee2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/conformance"
)

// ConformanceOptions say how to run upstream's node conformance tests
// against the node: e2e_node.test built from the patched tree of the base,
// which talks to the API server with a bearer token, as node e2e does.
type ConformanceOptions struct {
	// Binary is e2e_node.test, and Ginkgo the ginkgo command of the same
	// tree, which runs it in Procs parallel processes: the list's liveness
	// specs each watch a pod for minutes.
	Binary, Ginkgo string
	Procs          int
	// Host is the API server's URL and Token a bearer token it accepts.
	Host, Token string
	// Focus selects specs by name, LabelFilter by ginkgo label.
	Focus       []string
	LabelFilter string
	// KnownFailures are the specs allowed to fail, each with its reason.
	KnownFailures []conformance.KnownFailure
	Timeout       time.Duration
}

// ConformanceFocus is the list of [NodeConformance] specs make e2e runs: the
// kubelet's lifecycle hooks, probes, pods, volumes and environment, the
// container runtime's behaviour, exec over websockets, and the termination of
// a pod whose sync is blocked.
var ConformanceFocus = []string{
	`Container Lifecycle Hook`,
	`Lifecycle Sleep Hook`,
	`Probing container`,
	`\[sig-node\] Pods `,
	`\[sig-storage\] ConfigMap`,
	`\[sig-storage\] Secrets`,
	`\[sig-storage\] Downward API volume`,
	`\[sig-node\] ConfigMap`,
	`\[sig-node\] Secrets`,
	`\[sig-node\] Downward API`,
	`\[sig-storage\] Projected`,
	`Container Runtime`,
	// A pod whose sync is blocked mounting a Secret that does not exist
	// must leave the API within 10 s of its deletion: the deletion cancels
	// the sync context the series changes.
	`Terminate Pods`,
}

// ConformanceLabelFilter keeps the specs that belong to node conformance and
// that run alone in reasonable time on any node.
const ConformanceLabelFilter = `NodeConformance && !Slow && !Serial && !Disruptive && !Flaky`

// nodeConformance runs the conformance list against the node with this
// kubelet. It passes when every spec that failed is a known failure.
func nodeConformance(ctx context.Context, env *Env) (string, string, error) {
	opts := env.Conformance
	if opts == nil || opts.Binary == "" {
		return "", "", fmt.Errorf("no e2e_node.test to run (hack/e2e.sh builds it for make e2e)")
	}
	if opts.Ginkgo == "" || opts.Procs < 1 {
		return "", "", fmt.Errorf("no ginkgo to run e2e_node.test with")
	}
	specs, err := conformance.Run{
		Ginkgo: opts.Ginkgo, Binary: opts.Binary, Procs: opts.Procs,
		Focus: opts.Focus, LabelFilter: opts.LabelFilter, Timeout: opts.Timeout,
		ReportDir: filepath.Join(env.OutDir, "conformance-"+env.Kubelet.Spec.Name),
		Args: []string{
			"--start-services=false", "--prepull-images=false",
			"--node-name=" + env.Cluster.Node,
			"--host=" + opts.Host, "--bearer-token=" + opts.Token,
			"--container-runtime-endpoint=unix://" + env.CRISocket, "--image-service-endpoint=unix://" + env.CRISocket,
		},
	}.Do(ctx)
	if err != nil {
		return "", "", err
	}
	v := conformance.Judge(specs, opts.KnownFailures, env.Kubelet.Spec.Name, env.Problem)
	// The suite reports every spec it has; those the list does not select
	// are skipped.
	measured := fmt.Sprintf("%d specs run: %d passed, %d known failures, %d other failures", len(specs)-v.Skipped, v.Passed, len(v.Explained), len(v.Unexplained))
	switch {
	case len(v.Unexplained) > 0:
		return Fail, measured + ": " + strings.Join(v.Unexplained, "; "), nil
	case len(v.Unshown) > 0:
		return Fail, measured + "; known to fail on this stock kubelet, but passed: " + strings.Join(v.Unshown, "; "), nil
	case v.Passed == 0:
		return Fail, measured + ": no spec passed", nil
	}
	return Pass, measured, nil
}
