package nodee2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Operator is how an operator reaches the cluster: kubectl, with ctxleak
// installed as its plugin, and a kubeconfig of two contexts whose current
// one is not this cluster, so that every command has to name its context.
type Operator struct {
	Kubectl string
	// PluginDir holds kubectl-ctxleak; it goes first on kubectl's PATH.
	PluginDir  string
	Kubeconfig string
	// Context is this cluster's context; OtherServer is where the current
	// context points (nothing listens there).
	Context     string
	OtherServer string
}

// Names of the operator's kubeconfig contexts.
const (
	operatorContext = "ctxfix-e2e"
	otherContext    = "elsewhere"
	// otherServer is a loopback port where nothing listens.
	otherServer = "https://127.0.0.1:1"
)

// NewOperator installs ctxleak as kubectl's plugin in dir (kubectl finds a
// plugin as kubectl-NAME on PATH) and writes dir/operator.kubeconfig: the
// admin kubeconfig's cluster and user as context ctxfix-e2e, beside a context
// elsewhere that is the current one.
func NewOperator(kubectl, ctxleakBinary, adminKubeconfig, dir string) (*Operator, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	plugin := filepath.Join(dir, "kubectl-ctxleak")
	if err := os.Symlink(ctxleakBinary, plugin); err != nil && !os.IsExist(err) {
		return nil, fmt.Errorf("installing the kubectl plugin: %w", err)
	}
	admin, err := clientcmd.LoadFromFile(adminKubeconfig)
	if err != nil {
		return nil, err
	}
	current, ok := admin.Contexts[admin.CurrentContext]
	if !ok {
		return nil, fmt.Errorf("%s: no current context", adminKubeconfig)
	}
	config := clientcmdapi.NewConfig()
	config.Clusters[operatorContext] = admin.Clusters[current.Cluster]
	config.AuthInfos[operatorContext] = admin.AuthInfos[current.AuthInfo]
	config.Contexts[operatorContext] = &clientcmdapi.Context{Cluster: operatorContext, AuthInfo: operatorContext}
	config.Clusters[otherContext] = &clientcmdapi.Cluster{Server: otherServer, InsecureSkipTLSVerify: true}
	config.AuthInfos[otherContext] = &clientcmdapi.AuthInfo{Token: "elsewhere"}
	config.Contexts[otherContext] = &clientcmdapi.Context{Cluster: otherContext, AuthInfo: otherContext}
	config.CurrentContext = otherContext
	kubeconfig := filepath.Join(dir, "operator.kubeconfig")
	if err := clientcmd.WriteToFile(*config, kubeconfig); err != nil {
		return nil, err
	}
	return &Operator{Kubectl: kubectl, PluginDir: dir, Kubeconfig: kubeconfig, Context: operatorContext, OtherServer: otherServer}, nil
}

// Command is `kubectl ARGS...` with the plugin on PATH and the operator's
// kubeconfig.
func (o *Operator) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, o.Kubectl, args...)
	cmd.Env = append(os.Environ(), "PATH="+o.PluginDir+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+o.Kubeconfig)
	return cmd
}
