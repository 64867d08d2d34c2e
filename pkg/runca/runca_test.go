package runca

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve starts a TLS server with the serving certificate of dir.
func serve(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	server.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	server.StartTLS()
	t.Cleanup(server.Close)
	return server
}

// client trusts only the CA of dir.
func client(t *testing.T, dir string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.crt holds no certificate")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func TestTheCAVerifiesItsServerAndNoOther(t *testing.T) {
	ours, other := t.TempDir(), t.TempDir()
	for _, dir := range []string{ours, other} {
		if err := Write(dir, []string{"127.0.0.1", "registry.invalid"}, time.Now(), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if info, err := os.Stat(filepath.Join(ours, KeyFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("tls.key: %v, %v; want mode 0600", info, err)
	}
	server := serve(t, ours)
	resp, err := client(t, ours).Get(server.URL)
	if err != nil {
		t.Fatalf("a client that trusts the run's CA: %v", err)
	}
	resp.Body.Close()
	if _, err := client(t, other).Get(server.URL); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("a client that trusts another run's CA: %v, want an unknown authority", err)
	}
	// The certificate names 127.0.0.1 and nothing else by IP.
	localhost := strings.Replace(server.URL, "127.0.0.1", "localhost", 1)
	if _, err := client(t, ours).Get(localhost); err == nil || !strings.Contains(err.Error(), "certificate is valid for registry.invalid, not localhost") {
		t.Errorf("a name the certificate is not for: %v, want it refused", err)
	}
}

func TestNoHostsIsAnError(t *testing.T) {
	if err := Write(t.TempDir(), nil, time.Now(), time.Hour); err == nil {
		t.Error("Write with no hosts succeeded")
	}
}
