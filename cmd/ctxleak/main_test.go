package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak/ctxleaktest"
)

func TestAnalyzeExitCodes(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, []byte("not a profile"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args     []string
		code     int
		stdoutIs string
		stderrIs string
	}{
		"leaking":       {args: []string{"analyze", "../../pkg/ctxleak/testdata/stock-v1.36.2-heap-contexts.pb.gz"}, code: exitAffected, stdoutIs: "verdict: leaking"},
		"clean":         {args: []string{"analyze", "../../pkg/ctxleak/testdata/patched-v1.36.2-heap-contexts.pb.gz"}, code: exitClean, stdoutIs: "verdict: clean"},
		"json":          {args: []string{"analyze", "-o", "json", "../../pkg/ctxleak/testdata/patched-v1.36.2-heap-contexts.pb.gz"}, code: exitClean, stdoutIs: `"verdict": "clean"`},
		"not a profile": {args: []string{"analyze", garbage}, code: exitError, stderrIs: "not a pprof profile"},
		"missing file":  {args: []string{"analyze", "no-such-file"}, code: exitError, stderrIs: "no-such-file"},
		"no file":       {args: []string{"analyze"}, code: exitError, stderrIs: "one heap profile"},
		"no command":    {args: nil, code: exitError, stderrIs: "usage"},
		"bad command":   {args: []string{"frobnicate"}, code: exitError, stderrIs: "unknown command"},
		"help":          {args: []string{"--help"}, code: exitClean, stdoutIs: "Version facts are read from the sources"},
		"versions":      {args: []string{"versions"}, code: exitClean, stdoutIs: "v1.36.2  leak"},
		"versions json": {args: []string{"versions", "-o", "json"}, code: exitClean, stdoutIs: `"problem": "probe-regression"`},
		"versions yaml": {args: []string{"versions", "-o", "yaml"}, code: exitError, stderrIs: `unknown output "yaml"`},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), tc.args, strings.NewReader(""), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdoutIs) || !strings.Contains(stderr.String(), tc.stderrIs) {
				t.Errorf("stdout %q (want %q), stderr %q (want %q)", stdout.String(), tc.stdoutIs, stderr.String(), tc.stderrIs)
			}
		})
	}
}

func TestNodesWithoutCluster(t *testing.T) {
	var stdout, stderr strings.Builder
	missing := filepath.Join(t.TempDir(), "no-kubeconfig")
	code := run(context.Background(), []string{"nodes", "--kubeconfig", missing}, nil, &stdout, &stderr)
	if code != exitError || !strings.Contains(stderr.String(), "no cluster to talk to") {
		t.Errorf("exit code %d, stderr %q; want %d and a clear error", code, stderr.String(), exitError)
	}
}

// TestNodesAgainstFakeAPIServer runs ctxleak nodes --profile against a fake
// API server: a leaking node makes the exit code 1, every node is reported,
// and a node whose profile cannot be had is reported with its error.
func TestNodesAgainstFakeAPIServer(t *testing.T) {
	profiles := map[string]string{
		"leaking": "../../pkg/ctxleak/testdata/stock-v1.36.2-heap-contexts.pb.gz",
		"patched": "../../pkg/ctxleak/testdata/patched-v1.36.2-heap-contexts.pb.gz",
	}
	versions := map[string]string{"leaking": "v1.36.2", "patched": "v1.36.2-ctxfix.1", "forbidden": "v1.36.5-ctxfix.1"}
	srv := ctxleaktest.NewAPIServer(t, versions, map[string]http.Handler{
		"leaking": ctxleaktest.Kubelet{Version: "v1.36.2", Pods: 100, Heap: ctxleaktest.ServeFile(t, profiles["leaking"])},
		"patched": ctxleaktest.Kubelet{Version: "v1.36.2-ctxfix.1", Pods: 100, Heap: ctxleaktest.ServeFile(t, profiles["patched"])},
		"forbidden": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "forbidden", http.StatusForbidden)
		}),
	})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	config := "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " + srv.URL +
		"\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\nusers:\n- name: fake\n  user: {}\ncurrent-context: fake\n"
	if err := os.WriteFile(kubeconfig, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{args: []string{"nodes", "--kubeconfig", kubeconfig}, code: exitAffected, want: []string{"leaking", "v1.36.2", "leak", "patched", "fixed"}},
		{args: []string{"nodes", "--kubeconfig", kubeconfig, "--profile"}, code: exitAffected, want: []string{"leaking", "patched", "clean", "forbidden", "error"}},
		{args: []string{"nodes", "--kubeconfig", kubeconfig, "--profile", "-o", "json"}, code: exitAffected, want: []string{`"verdict": "leaking"`, `"verdict": "clean"`, `"error": "forbidden to read the kubelet through the node proxy`}},
	} {
		var stdout, stderr strings.Builder
		code := run(context.Background(), tc.args, nil, &stdout, &stderr)
		if code != tc.code {
			t.Errorf("%v: exit code %d, want %d\n%s%s", tc.args, code, tc.code, stdout.String(), stderr.String())
		}
		for _, want := range tc.want {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, want, stdout.String())
			}
		}
	}

	// Only a patched node and one whose profile is forbidden: no affected
	// node, but an access error.
	delete(versions, "leaking")
	var stdout, stderr strings.Builder
	if code := run(context.Background(), []string{"nodes", "--kubeconfig", kubeconfig, "--profile"}, nil, &stdout, &stderr); code != exitError {
		t.Errorf("clean node and forbidden node: exit code %d, want %d\n%s", code, exitError, stdout.String())
	}
	delete(versions, "forbidden")
	stdout.Reset()
	if code := run(context.Background(), []string{"nodes", "--kubeconfig", kubeconfig, "--profile"}, nil, &stdout, &stderr); code != exitClean {
		t.Errorf("only a clean node: exit code %d, want %d\n%s", code, exitClean, stdout.String())
	}
}

// TestNodesAsKubectlPlugin runs ctxleak nodes with kubectl's flags against a
// kubeconfig with two contexts, each a cluster of its own: --context picks the
// cluster, -l the nodes, -o the output as kubectl prints it.
func TestNodesAsKubectlPlugin(t *testing.T) {
	one := ctxleaktest.NewAPIServer(t, map[string]string{"a": "v1.36.2", "b": "v1.36.5"}, nil)
	two := ctxleaktest.NewAPIServer(t, map[string]string{"a": "v1.37.2", "b": "v1.36.5-ctxfix.2", "c": "v1.35.4"}, nil)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	config := `apiVersion: v1
kind: Config
clusters:
- {name: one, cluster: {server: "` + one.URL + `"}}
- {name: two, cluster: {server: "` + two.URL + `"}}
contexts:
- {name: one, context: {cluster: one, user: me}}
- {name: two, context: {cluster: two, user: me}}
users:
- {name: me, user: {}}
current-context: one
`
	if err := os.WriteFile(kubeconfig, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args       []string
		code       int
		want, not  []string
		wantStderr string
	}{
		{args: []string{"--kubeconfig", kubeconfig}, code: exitAffected, want: []string{"v1.36.2", "leak", "v1.36.5"}, not: []string{"v1.37.2"}},
		{args: []string{"--kubeconfig", kubeconfig, "--context", "two"}, code: exitAffected, want: []string{"v1.37.2", "v1.36.5-ctxfix.2", "v1.35.4"}, not: []string{"v1.36.2"}},
		{args: []string{"--kubeconfig", kubeconfig, "--context", "two", "-l", "kubernetes.io/hostname=b"}, code: exitClean, want: []string{"b  ", "v1.36.5-ctxfix.2", "fixed"}, not: []string{"v1.37.2", "v1.35.4"}},
		{args: []string{"--kubeconfig", kubeconfig, "--context=two", "--selector=kubernetes.io/hostname=c", "-o", "wide"}, code: exitAffected, want: []string{"WHY", "probe-regression", "kubernetes#140881"}},
		{args: []string{"--kubeconfig", kubeconfig, "--context", "two", "-l", "kubernetes.io/hostname=a", "-o", "yaml"}, code: exitClean, want: []string{"- kubeletVersion: v1.37.2", "  name: a", "  problem: fixed"}},
		{args: []string{"--kubeconfig", kubeconfig, "-l", "kubernetes.io/hostname=z"}, code: exitClean, wantStderr: `no node matches "kubernetes.io/hostname=z"`},
		{args: []string{"--kubeconfig", kubeconfig, "--context", "three"}, code: exitError, wantStderr: `context "three" does not exist`},
		{args: []string{"--kubeconfig", kubeconfig, "-o", "xml"}, code: exitError, wantStderr: `unknown output "xml"`},
		{args: []string{"--kubeconfig", kubeconfig, "b"}, code: exitError, wantStderr: "select nodes with -l"},
	} {
		var stdout, stderr strings.Builder
		args := append([]string{"nodes"}, tc.args...)
		code := run(context.Background(), args, nil, &stdout, &stderr)
		if code != tc.code {
			t.Errorf("%v: exit code %d, want %d\n%s%s", args, code, tc.code, stdout.String(), stderr.String())
		}
		for _, want := range tc.want {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, stdout.String())
			}
		}
		for _, not := range tc.not {
			if strings.Contains(stdout.String(), not) {
				t.Errorf("%v: output has %q, from a node it should not report:\n%s", args, not, stdout.String())
			}
		}
		if !strings.Contains(stderr.String(), tc.wantStderr) {
			t.Errorf("%v: stderr %q lacks %q", args, stderr.String(), tc.wantStderr)
		}
	}
}
