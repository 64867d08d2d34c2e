package runca

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/cert"
)

var nodeIdentities = []Identity{
	{Name: "apiserver", CommonName: "kube-apiserver", Hosts: []string{"127.0.0.1", "kubernetes.default.svc"}},
	{Name: "admin", CommonName: "ctxfix-e2e-admin", Organizations: []string{"system:masters"}},
	{Name: "kubelet", CommonName: "system:node:ctxfix-node", Organizations: []string{"system:nodes"}},
}

// The API server's certificate serves, each client's authenticates as its
// user and groups through its kubeconfig, and a client that trusts another
// run's CA refuses the server.
func TestNodePKIAuthenticatesThroughKubeconfigs(t *testing.T) {
	dir, other := filepath.Join(t.TempDir(), "pki"), filepath.Join(t.TempDir(), "pki")
	for _, d := range []string{dir, other} {
		if err := (NodePKI{Dir: d, Identities: nodeIdentities, Now: time.Now(), ValidFor: time.Hour}).Write(); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"ca.key", "apiserver.key", "admin.key", "kubelet.key", "sa.key"} {
		if info, err := os.Stat(filepath.Join(dir, f)); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", f, info, err)
		}
	}
	serving, err := tls.LoadX509KeyPair(filepath.Join(dir, "apiserver.crt"), filepath.Join(dir, "apiserver.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	clients := x509.NewCertPool()
	clients.AppendCertsFromPEM(caPEM)
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := r.TLS.PeerCertificates[0].Subject
		fmt.Fprintf(w, "%s %s", peer.CommonName, strings.Join(peer.Organization, ","))
	}))
	server.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients}
	server.StartTLS()
	defer server.Close()

	get := func(pkiDir, user string) (string, error) {
		path := filepath.Join(t.TempDir(), user+".kubeconfig")
		if err := WriteKubeconfig(path, server.URL, pkiDir, user); err != nil {
			t.Fatal(err)
		}
		config, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatal(err)
		}
		client, err := rest.HTTPClientFor(config)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Get(server.URL)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}
	for user, want := range map[string]string{"admin": "ctxfix-e2e-admin system:masters", "kubelet": "system:node:ctxfix-node system:nodes"} {
		got, err := get(dir, user)
		if err != nil || got != want {
			t.Errorf("%s's kubeconfig: %q, %v; want %q", user, got, err, want)
		}
	}
	if _, err := get(other, "admin"); err == nil {
		t.Error("a kubeconfig of another run's PKI was accepted")
	}
}

// The CA lives as long as the run's certificates, and signs no other CA.
func TestNodePKICAIsTheRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Now()
	if err := (NodePKI{Dir: dir, Identities: nodeIdentities, Now: now, ValidFor: 2 * time.Hour}).Write(); err != nil {
		t.Fatal(err)
	}
	certs, err := cert.CertsFromFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	ca := certs[0]
	if !ca.IsCA || !ca.MaxPathLenZero || ca.NotAfter.Sub(now) > 2*time.Hour+time.Second || ca.NotAfter.Before(now.Add(2*time.Hour-time.Second)) {
		t.Errorf("CA: IsCA=%v MaxPathLenZero=%v NotAfter=%s; want a CA of no sub-CAs valid until %s", ca.IsCA, ca.MaxPathLenZero, ca.NotAfter, now.Add(2*time.Hour))
	}
}

func TestNodePKIErrors(t *testing.T) {
	exists := t.TempDir()
	if err := (NodePKI{Dir: exists, Identities: nodeIdentities, Now: time.Now(), ValidFor: time.Hour}).Write(); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("an existing folder: %v, want it refused", err)
	}
	dir := filepath.Join(t.TempDir(), "pki")
	twice := append(append([]Identity{}, nodeIdentities...), Identity{Name: "admin", CommonName: "again"})
	if err := (NodePKI{Dir: dir, Identities: twice, Now: time.Now(), ValidFor: time.Hour}).Write(); err == nil || !strings.Contains(err.Error(), "identity admin given twice") {
		t.Errorf("an identity twice: %v, want it named", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a refused PKI left its folder: %v", err)
	}
	if err := WriteKubeconfig(filepath.Join(t.TempDir(), "x.kubeconfig"), "https://127.0.0.1:6443", t.TempDir(), "admin"); err == nil || !strings.Contains(err.Error(), "ca.crt") {
		t.Errorf("a kubeconfig without its files: %v, want the missing file named", err)
	}
}
