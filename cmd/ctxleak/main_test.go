package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
