package ctxleak

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"strings"
)

// SourceFacts is what a kubelet's source says about the two bugs, read from
// pkg/kubelet/pod_workers.go and pkg/kubelet/prober/prober_manager.go.
type SourceFacts struct {
	// Leak: startPodSync derives every sync's context from the pod
	// workers' long-lived parent with context.WithCancel and keeps only the
	// latest cancel function, so each sync leaves a context registered with
	// the parent (kubernetes#139823).
	Leak bool
	// ProbeRegression: the sync context is one per pod, cancelled by
	// UpdatePod once the pod starts terminating, and prober AddPod starts
	// the probe workers with it as it is, so exec probes fail with "context
	// canceled" from then on (kubernetes#140881, fixed by kubernetes#140882).
	ProbeRegression bool
	// SyncContext and ProbeContext quote the code the facts come from.
	SyncContext  string
	ProbeContext string
}

// FactsFromSource reads the facts from the source of pod_workers.go and
// prober_manager.go. It fails on code it does not recognise, so that a new
// shape of either function gets a human reading rather than a guess.
func FactsFromSource(podWorkers, proberManager []byte) (SourceFacts, error) {
	fset := token.NewFileSet()
	workers, err := parser.ParseFile(fset, "pod_workers.go", podWorkers, parser.SkipObjectResolution)
	if err != nil {
		return SourceFacts{}, err
	}
	prober, err := parser.ParseFile(fset, "prober_manager.go", proberManager, parser.SkipObjectResolution)
	if err != nil {
		return SourceFacts{}, err
	}

	startPodSync := findMethod(workers, "podWorkers", "startPodSync")
	if startPodSync == nil {
		return SourceFacts{}, fmt.Errorf("pod_workers.go: no (*podWorkers).startPodSync")
	}
	parent := firstParamName(startPodSync)
	var facts SourceFacts
	var found, reused bool
	ast.Inspect(startPodSync.Body, func(n ast.Node) bool {
		assign, ok := n.(*ast.AssignStmt)
		if !ok || len(assign.Rhs) != 1 || !assignsTo(assign, "status.cancelFn") {
			return true
		}
		call, ok := assign.Rhs[0].(*ast.CallExpr)
		if !ok || render(fset, call.Fun) != "context.WithCancel" || len(call.Args) != 1 {
			return true
		}
		found = true
		reused = assignsTo(assign, "status.ctx")
		facts.SyncContext = render(fset, assign)
		arg, isIdent := call.Args[0].(*ast.Ident)
		facts.Leak = !reused && isIdent && arg.Name == parent
		return false
	})
	if !found {
		return SourceFacts{}, fmt.Errorf("pod_workers.go: startPodSync assigns status.cancelFn from no context.WithCancel call")
	}
	if !reused && !facts.Leak {
		return SourceFacts{}, fmt.Errorf("pod_workers.go: startPodSync makes a context per sync in a way this tool does not know: %s", facts.SyncContext)
	}

	addPod := findMethod(prober, "manager", "AddPod")
	if addPod == nil {
		return SourceFacts{}, fmt.Errorf("prober_manager.go: no (*manager).AddPod")
	}
	ctxParam := firstParamName(addPod)
	detached := false
	facts.ProbeContext = "probe workers start with AddPod's " + ctxParam
	ast.Inspect(addPod.Body, func(n ast.Node) bool {
		assign, ok := n.(*ast.AssignStmt)
		if !ok || len(assign.Lhs) != 1 || len(assign.Rhs) != 1 || render(fset, assign.Lhs[0]) != ctxParam {
			return true
		}
		if call, ok := assign.Rhs[0].(*ast.CallExpr); ok && render(fset, call.Fun) == "context.WithoutCancel" {
			detached = true
			facts.ProbeContext = render(fset, assign)
			return false
		}
		return true
	})
	// A per-sync context (v1.36.0-v1.36.2) is not the one UpdatePod cancels
	// later: the probe workers keep the first sync's, which is never
	// cancelled (it leaks instead).
	facts.ProbeRegression = reused && !detached
	return facts, nil
}

func findMethod(file *ast.File, receiver, name string) *ast.FuncDecl {
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Name.Name != name || fn.Recv == nil || len(fn.Recv.List) != 1 || fn.Body == nil {
			continue
		}
		if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
			if ident, ok := star.X.(*ast.Ident); ok && ident.Name == receiver {
				return fn
			}
		}
	}
	return nil
}

func firstParamName(fn *ast.FuncDecl) string {
	if params := fn.Type.Params.List; len(params) > 0 && len(params[0].Names) > 0 {
		return params[0].Names[0].Name
	}
	return ""
}

func assignsTo(assign *ast.AssignStmt, target string) bool {
	for _, lhs := range assign.Lhs {
		if sel, ok := lhs.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && x.Name+"."+sel.Sel.Name == target {
				return true
			}
		}
	}
	return false
}

// render prints node as source, on one line.
func render(fset *token.FileSet, node ast.Node) string {
	var b strings.Builder
	if err := printer.Fprint(&b, fset, node); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
