package nodee2e

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The operator's kubeconfig has this cluster as a context that is not the
// current one, and ctxleak is on kubectl's PATH as kubectl-ctxleak.
func TestNewOperator(t *testing.T) {
	dir := t.TempDir()
	admin := clientcmdapi.NewConfig()
	admin.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://10.213.0.1:6443", CertificateAuthority: "/ca.crt"}
	admin.AuthInfos["u"] = &clientcmdapi.AuthInfo{ClientCertificate: "/admin.crt", ClientKey: "/admin.key"}
	admin.Contexts["admin"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	admin.CurrentContext = "admin"
	adminPath := filepath.Join(dir, "admin.kubeconfig")
	if err := clientcmd.WriteToFile(*admin, adminPath); err != nil {
		t.Fatal(err)
	}
	o, err := NewOperator("/bin/kubectl", "/bin/ctxleak", adminPath, filepath.Join(dir, "operator"))
	if err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(o.PluginDir, "kubectl-ctxleak")); err != nil || target != "/bin/ctxleak" {
		t.Errorf("kubectl-ctxleak links to %q (%v), want /bin/ctxleak", target, err)
	}
	config, err := clientcmd.LoadFromFile(o.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if len(config.Contexts) != 2 || config.CurrentContext == o.Context {
		t.Fatalf("contexts %v, current %q: want two, the current one not %q", config.Contexts, config.CurrentContext, o.Context)
	}
	cluster := config.Clusters[config.Contexts[o.Context].Cluster]
	if cluster.Server != "https://10.213.0.1:6443" || config.AuthInfos[config.Contexts[o.Context].AuthInfo].ClientKey != "/admin.key" {
		t.Errorf("context %s is %+v with %+v, want the admin's cluster and user", o.Context, cluster, config.AuthInfos[config.Contexts[o.Context].AuthInfo])
	}
	if other := config.Clusters[config.Contexts[config.CurrentContext].Cluster]; other.Server != o.OtherServer {
		t.Errorf("current context's server %q, want %q", other.Server, o.OtherServer)
	}
}
