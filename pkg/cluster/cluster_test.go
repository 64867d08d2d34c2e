package cluster

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/util/cert"
	"sigs.k8s.io/yaml"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/runca"
)

func netipPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAddressPlan(t *testing.T) {
	n := newNode("/run-dir", 2)
	if n.Name != "ctxfix-worker-1" || n.Address.String() != "10.228.2.2" || n.PodSubnet.String() != "10.229.2.0/24" ||
		n.Namespace != "ctxfix-cluster-2" || n.CgroupRoot != "/ctxfix-cluster-2" {
		t.Errorf("node 2: %+v", n)
	}
	if cp := newNode("/run-dir", 1); cp.Name != "ctxfix-control-plane" {
		t.Errorf("node 1 is %s, want the control plane", cp.Name)
	}
	// Every address a node has or routes to is in the range the switch
	// forwards; nothing of the host's.
	for _, p := range []string{nodeRange.String(), podRange.String(), serviceRange.String()} {
		if !runRange.Contains(netipPrefix(t, p).Addr()) || netipPrefix(t, p).Bits() < runRange.Bits() {
			t.Errorf("%s is outside the switch's range %s", p, runRange)
		}
	}
}

func TestParseDropCount(t *testing.T) {
	rules := `Chain FORWARD (policy DROP 0 packets, 0 bytes)
    pkts      bytes target     prot opt in     out     source               destination
     120    10080 ACCEPT     0    --  *      *       10.228.0.0/14        10.228.0.0/14
       3      180 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0            /* ctxfix-cluster: bound outside the run */
`
	got, err := parseDropCount(rules)
	if err != nil || got != 3 {
		t.Errorf("parseDropCount = %d, %v; want 3", got, err)
	}
	// Without the rule, the count is unknown, not 0.
	if _, err := parseDropCount(strings.Split(rules, "       3")[0]); err == nil {
		t.Error("a chain without the drop rule gave a count")
	}
}

func TestWithoutPackages(t *testing.T) {
	status := "Package: mount\nStatus: install ok installed\n\nPackage: kubelet\nStatus: install ok installed\nVersion: 1.36.5-1.1\n\nPackage: kubectl-extra\nStatus: install ok installed\n"
	got := string(withoutPackages([]byte(status), releasePackages))
	if strings.Contains(got, "Package: kubelet\n") || !strings.Contains(got, "Package: mount\n") || !strings.Contains(got, "Package: kubectl-extra\n") {
		t.Errorf("withoutPackages kept or dropped the wrong stanzas:\n%s", got)
	}
}

func TestWithoutArchSuffix(t *testing.T) {
	for ref, want := range map[string]string{
		"registry.k8s.io/kube-apiserver-amd64:v1.36.5-ctxfix.3": "registry.k8s.io/kube-apiserver:v1.36.5-ctxfix.3",
		"registry.k8s.io/pause:3.10.2":                          "registry.k8s.io/pause:3.10.2",
		"registry.k8s.io/coredns/coredns:v1.14.2":               "registry.k8s.io/coredns/coredns:v1.14.2",
		"registry.k8s.io/kube-proxy-arm64:v1.36.5":              "registry.k8s.io/kube-proxy-arm64:v1.36.5",
	} {
		if got := withoutArchSuffix(ref, "amd64"); got != want {
			t.Errorf("withoutArchSuffix(%s) = %s, want %s", ref, got, want)
		}
	}
}

func TestTarballTags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "image.tar")
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	manifest := `[{"Config":"c.json","RepoTags":["registry.k8s.io/kube-proxy-amd64:v1.36.5-ctxfix.3"],"Layers":[]}]`
	if err := w.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest))}); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(manifest))
	w.Close()
	os.WriteFile(path, b.Bytes(), 0o644)
	tags, err := tarballTags(path)
	if err != nil || !slices.Equal(tags, []string{"registry.k8s.io/kube-proxy-amd64:v1.36.5-ctxfix.3"}) {
		t.Errorf("tarballTags = %v, %v", tags, err)
	}
	empty := filepath.Join(t.TempDir(), "empty.tar")
	os.WriteFile(empty, make([]byte, 1024), 0o644)
	if _, err := tarballTags(empty); err == nil || !strings.Contains(err.Error(), "no manifest.json") {
		t.Errorf("a tarball without manifest.json: %v", err)
	}
}

func TestKubeadmConfigs(t *testing.T) {
	cp, worker := newNode("/run-dir", 1), newNode("/run-dir", 3)
	token, err := bootstrapToken()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`).MatchString(token) {
		t.Fatalf("bootstrap token %q is not kubeadm's format", token)
	}
	data, err := initConfig(cp, "v1.36.5-ctxfix.3", token)
	if err != nil {
		t.Fatal(err)
	}
	documents := map[string]map[string]any{}
	for _, d := range strings.Split(string(data), "---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("%v in\n%s", err, d)
		}
		documents[m["kind"].(string)] = m
	}
	for kind, want := range map[string][]string{
		"InitConfiguration":      {"localAPIEndpoint.advertiseAddress=10.228.1.2", "nodeRegistration.name=ctxfix-control-plane", "nodeRegistration.imagePullPolicy=Never", "patches.directory=/run-dir/nodes/ctxfix-control-plane/kubeadm-patches"},
		"ClusterConfiguration":   {"kubernetesVersion=v1.36.5-ctxfix.3", "controlPlaneEndpoint=10.228.1.2:6443", "dns.disabled=", "networking.serviceSubnet=10.230.0.0/16"},
		"KubeletConfiguration":   {"cgroupDriver=cgroupfs", "failCgroupV1=false", "failSwapOn=false", "resolvConf=/etc/ctxfix-cluster/resolv.conf"},
		"KubeProxyConfiguration": {"mode=iptables", "conntrack.maxPerCore=0"},
	} {
		for _, w := range want {
			path, value, _ := strings.Cut(w, "=")
			if got := field(documents[kind], path); got != value {
				t.Errorf("%s %s = %q, want %q", kind, path, got, value)
			}
		}
	}
	if field(documents["KubeletConfiguration"], "cgroupRoot") != "" {
		t.Error("the shared kubelet configuration sets a cgroupRoot: every node's comes from its patch")
	}
	join, err := joinConfig(worker, "10.228.1.2:6443", token, "sha256:abc")
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := yaml.Unmarshal(join, &j); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"discovery.bootstrapToken.apiServerEndpoint": "10.228.1.2:6443", "discovery.bootstrapToken.token": token,
		"nodeRegistration.name": "ctxfix-worker-2", "kind": "JoinConfiguration",
	} {
		if got := field(j, path); got != want {
			t.Errorf("JoinConfiguration %s = %q, want %q", path, got, want)
		}
	}
}

// field reads a dotted path of a decoded YAML document as text.
func field(m map[string]any, path string) string {
	var v any = m
	for _, key := range strings.Split(path, ".") {
		next, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = next[key]
	}
	if v == nil {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	default:
		out, _ := yaml.Marshal(v)
		return strings.TrimSpace(string(out))
	}
}

func TestWritePatches(t *testing.T) {
	n := newNode(t.TempDir(), 2)
	if err := n.writePatches(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(n.patchesDir(), "kubeletconfiguration+merge.json"))
	if err != nil || string(data) != `{"cgroupRoot":"/ctxfix-cluster-2"}` {
		t.Errorf("patch %s, %v", data, err)
	}
}

func TestCACertHash(t *testing.T) {
	dir := t.TempDir()
	if err := runca.Write(dir, []string{"127.0.0.1"}, time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	certs, err := cert.CertsFromFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	got, err := caCertHash(data)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(certs[0].PublicKey)
	sum := sha256.Sum256(spki)
	if want := "sha256:" + hex.EncodeToString(sum[:]); got != want {
		t.Errorf("caCertHash = %s, want %s", got, want)
	}
	if _, err := caCertHash(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})); err == nil {
		t.Error("a key was taken for a certificate")
	}
}

func TestCNIConfigRoutesServicesThroughTheBridge(t *testing.T) {
	_, data, err := runtimeConfig(newNode("/d", 2), "registry.k8s.io/pause:3.10.2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"subnet": "10.229.2.0/24"`, `"gateway": "10.229.2.1"`, `"dst": "0.0.0.0/0"`, `"ipMasq": false`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("CNI configuration lacks %s:\n%s", want, data)
		}
	}
}
