// Command ctxfix-build holds the steps of the build that are easier to get
// right, and to test, in Go than in shell: rewriting the upstream go.mod for a
// build with published staging modules, and computing version stamps.
//
//	ctxfix-build modfile -staging-version v0.36.5 -in go.mod -out kubernetes.mod
//	ctxfix-build version -base v1.36.5 -revision 1
//	ctxfix-build ldflags -version v1.36.5-ctxfix.1 -commit SHA -tree-state clean -source-date-epoch N
//	ctxfix-build version-vars (same flags): the same stamps as upstream's KUBE_GIT_VERSION_FILE
//	ctxfix-build tree-hash -repo DIR -rev v1.36.5 -module k8s.io/kubernetes@v1.36.5
//	ctxfix-build test-results -in go-test.json: per package, what failed
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/gotest"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/upstream"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "ctxfix-build: %v\n", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: ctxfix-build modfile|version|staging-version|ldflags|version-vars|tree-hash|test-results [flags]")
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	switch cmd {
	case "modfile":
		stagingVersion := fs.String("staging-version", "", "version of the published staging modules, e.g. v0.36.5")
		in := fs.String("in", "", "upstream go.mod")
		out := fs.String("out", "", "where to write the rewritten go.mod")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *stagingVersion == "" || *in == "" || *out == "" {
			return fmt.Errorf("modfile: -staging-version, -in and -out are required")
		}
		src, err := os.ReadFile(*in)
		if err != nil {
			return err
		}
		rewritten, err := upstream.StagingModfile(src, *stagingVersion)
		if err != nil {
			return fmt.Errorf("%s: %w", *in, err)
		}
		return os.WriteFile(*out, rewritten, 0o644)

	case "version":
		base := fs.String("base", "", "upstream base, e.g. v1.36.5")
		revision := fs.Int("revision", 0, "this project's revision of the series for that base")
		if err := fs.Parse(args); err != nil {
			return err
		}
		v, err := upstream.DistributionVersion(*base, *revision)
		if err != nil {
			return err
		}
		fmt.Println(v)
		return nil

	case "staging-version":
		base := fs.String("base", "", "upstream base, e.g. v1.36.5")
		if err := fs.Parse(args); err != nil {
			return err
		}
		v, err := upstream.StagingVersion(*base)
		if err != nil {
			return err
		}
		fmt.Println(v)
		return nil

	case "ldflags", "version-vars":
		version := fs.String("version", "", "full version to stamp")
		commit := fs.String("commit", "", "commit of the patched tree")
		treeState := fs.String("tree-state", "", "clean or dirty")
		epoch := fs.String("source-date-epoch", "", "build date as seconds since the epoch")
		if err := fs.Parse(args); err != nil {
			return err
		}
		date, err := upstream.ParseEpoch(*epoch)
		if err != nil {
			return err
		}
		stamp := upstream.Stamp{GitVersion: *version, GitCommit: *commit, GitTreeState: *treeState, BuildDate: date}
		if cmd == "version-vars" {
			vars, err := stamp.VersionVars()
			if err != nil {
				return err
			}
			fmt.Print(vars)
			return nil
		}
		flags, err := stamp.LDFlags()
		if err != nil {
			return err
		}
		fmt.Println(strings.Join(flags, " "))
		return nil

	case "test-results":
		in := fs.String("in", "", "the output of go test -json")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *in == "" {
			return fmt.Errorf("test-results: -in is required")
		}
		f, err := os.Open(*in)
		if err != nil {
			return err
		}
		defer f.Close()
		report, err := gotest.Parse(f)
		if err != nil {
			return fmt.Errorf("%s: %w", *in, err)
		}
		// One line a finding, tab-separated, for the shell: "passed PKG N",
		// "failed PKG TEST", "unexplained PKG REASON".
		for _, p := range report.Packages {
			fmt.Printf("passed\t%s\t%d\n", p.Name, p.Passed)
			for _, t := range p.FailedTests {
				fmt.Printf("failed\t%s\t%s\n", p.Name, t)
			}
			if p.Unexplained != "" {
				fmt.Printf("unexplained\t%s\t%s\n", p.Name, p.Unexplained)
			}
		}
		return nil

	case "tree-hash":
		repo := fs.String("repo", "", "git repository holding a module tree")
		rev := fs.String("rev", "", "revision whose files are hashed")
		module := fs.String("module", "", "module path@version the files are named by, e.g. k8s.io/kubernetes@v1.36.5")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *repo == "" || *rev == "" || *module == "" {
			return fmt.Errorf("tree-hash: -repo, -rev and -module are required")
		}
		h, err := upstream.HashGitRevision(context.Background(), *repo, *rev, *module)
		if err != nil {
			return err
		}
		fmt.Println(h)
		return nil
	}
	return fmt.Errorf("unknown command %q: want modfile, version, staging-version, ldflags, version-vars or tree-hash", cmd)
}
