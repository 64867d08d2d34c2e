package ctxleak

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/kubeletmetrics"
)

// node-problem-detector's custom plugin interface: the exit code is the
// status, stdout the message, cut at max_output_length (80 by default).
const (
	NPDOK      = 0
	NPDProblem = 1
	NPDUnknown = 2
	// NPDMessageLimit is NPD's default max_output_length.
	NPDMessageLimit = 80
)

// NodeCheckOptions says how to reach the kubelet of this node.
type NodeCheckOptions struct {
	// KubeletURL is the kubelet's authenticated server, e.g.
	// https://127.0.0.1:10250. The version comes from its /metrics
	// (kubernetes_build_info), the heap profile from /debug/pprof/heap,
	// and what it runs from /metrics (kubelet_working_pods) and /pods.
	KubeletURL string
	// Token is a bearer token allowed to get nodes/metrics (and nodes/proxy
	// for the profile).
	Token string
	// CAFile verifies the kubelet's serving certificate; Insecure skips
	// that, as a kubelet's self-signed certificate on 127.0.0.1 needs.
	CAFile   string
	Insecure bool
	// KubeletBinary, if set instead of KubeletURL, gives the version by
	// running `kubelet --version` (the host's binary, mounted read-only).
	KubeletBinary string
	// Profile also analyzes the heap profile: needs KubeletURL.
	Profile bool
	Timeout time.Duration
}

// NodeCheckResult is what the plugin reports: Status is NPDOK, NPDProblem or
// NPDUnknown, Message at most NPDMessageLimit characters.
type NodeCheckResult struct {
	Status  int
	Message string
}

func nodeResult(status int, format string, args ...any) NodeCheckResult {
	msg := strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " ")
	if r := []rune(msg); len(r) > NPDMessageLimit {
		msg = string(r[:NPDMessageLimit-1]) + "…"
	}
	return NodeCheckResult{Status: status, Message: msg}
}

// NodeCheck judges this node's kubelet for node-problem-detector: affected
// by its version's known problem, leaking by its heap profile, or unknown
// when the kubelet cannot be read.
func NodeCheck(ctx context.Context, opts NodeCheckOptions) NodeCheckResult {
	logger := klog.FromContext(ctx)
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	var client *http.Client
	if opts.KubeletURL != "" {
		var err error
		if client, err = kubeletClient(opts); err != nil {
			return nodeResult(NPDUnknown, "ctxleak: %v", err)
		}
	}
	version, err := kubeletVersion(ctx, client, opts)
	if err != nil {
		logger.V(2).Info("Kubelet version not read", "err", err)
		return nodeResult(NPDUnknown, "cannot read the kubelet version: %v", err)
	}
	problem, _ := ClassifyVersion(version)
	vendorBuild := release(version) != version && !strings.Contains(version, DistributionMarker)
	var analysis *Analysis
	if opts.Profile {
		if client == nil {
			return nodeResult(NPDUnknown, "ctxleak: --profile needs --kubelet-url")
		}
		a, err := profileKubelet(ctx, kubeletDirect(client, opts))
		if err != nil {
			return nodeResult(NPDUnknown, "kubelet %s: cannot analyze its heap: %v", version, err)
		}
		analysis = &a
		if a.Verdict == Leaking {
			return nodeResult(NPDProblem, "kubelet %s: %d live sync contexts, %d expected: leaking", version, a.SyncContexts, a.Expected)
		}
	}
	// A vendor's build of an affected base that its profile shows clean
	// may carry the fix: the profile has the last word.
	profiledClean := analysis != nil && analysis.Verdict == Clean
	switch {
	case problem == ProblemLeak && !(vendorBuild && profiledClean):
		return nodeResult(NPDProblem, "kubelet %s leaks a context per pod sync (kubernetes#139823)", version)
	case problem == ProblemProbeRegression:
		return nodeResult(NPDProblem, "kubelet %s: exec probes fail as pods terminate (kubernetes#140881)", version)
	case problem == ProblemUnknown && !profiledClean:
		return nodeResult(NPDUnknown, "kubelet %s: no facts about this version; try --profile", version)
	}
	if profiledClean {
		return nodeResult(NPDOK, "kubelet %s: %d live sync contexts, no leak", version, analysis.SyncContexts)
	}
	return nodeResult(NPDOK, "kubelet %s: no known sync-context problem", version)
}

func kubeletClient(opts NodeCheckOptions) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case opts.Insecure:
		tlsConfig.InsecureSkipVerify = true //nolint:gosec // asked for: a kubelet's self-signed certificate on this node
	case opts.CAFile != "":
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", opts.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}, nil
}

// kubeletDirect gets a path of this node's kubelet at opts.KubeletURL.
func kubeletDirect(client *http.Client, opts NodeCheckOptions) kubeletGetter {
	return func(ctx context.Context, path string, query url.Values) ([]byte, error) {
		target := strings.TrimSuffix(opts.KubeletURL, "/") + path
		if len(query) > 0 {
			target += "?" + query.Encode()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, err
		}
		if opts.Token != "" {
			req.Header.Set("Authorization", "Bearer "+opts.Token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: %s", path, resp.Status)
		}
		return body, nil
	}
}

func kubeletVersion(ctx context.Context, client *http.Client, opts NodeCheckOptions) (string, error) {
	switch {
	case client != nil:
		raw, err := kubeletDirect(client, opts)(ctx, "/metrics", nil)
		if err != nil {
			return "", err
		}
		m, err := kubeletmetrics.Parse(raw)
		if err != nil {
			return "", err
		}
		return m.Label(kubeletmetrics.BuildInfo, "git_version")
	case opts.KubeletBinary != "":
		out, err := exec.CommandContext(ctx, opts.KubeletBinary, "--version").Output()
		if err != nil {
			return "", fmt.Errorf("%s --version: %w", opts.KubeletBinary, err)
		}
		return strings.TrimPrefix(strings.TrimSpace(string(out)), "Kubernetes "), nil
	}
	return "", fmt.Errorf("give --kubelet-url or --kubelet-binary")
}
