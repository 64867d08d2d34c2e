package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/kubeletconfig"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// kubeadm's API (kubeadm.k8s.io/v1beta4) lives in k8s.io/kubernetes, which
// this module does not require: its documents are written as maps, with
// the fields kubeadm's reference documents, and `kubeadm config validate`
// checks them on the node before they are used. The kubelet's document is
// the typed one of pkg/kubeletconfig.
const kubeadmAPI = "kubeadm.k8s.io/v1beta4"

// apiServerPort is the API server's port on the control-plane node.
const apiServerPort = 6443

// nodeRegistration is what every node tells kubeadm about itself: its name,
// containerd's socket, images that must be there already (nothing can be
// pulled), and the one preflight check this machine fails (cgroup v1).
func nodeRegistration(n *Node) map[string]any {
	return map[string]any{
		"name":                  n.Name,
		"criSocket":             "unix://" + criSocket,
		"imagePullPolicy":       "Never",
		"ignorePreflightErrors": []string{"SystemVerification"},
		"kubeletExtraArgs":      []map[string]string{{"name": "node-ip", "value": n.Address.String()}},
	}
}

// patchesDir is where kubeadm finds the node's patches: its cgroupRoot.
func (n *Node) patchesDir() string { return filepath.Join(n.Dir, "kubeadm-patches") }

// writePatches writes the node's kubelet configuration patch: its own
// cgroupRoot, made beforehand (createCgroups).
func (n *Node) writePatches() error {
	if err := os.MkdirAll(n.patchesDir(), 0o755); err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]string{"cgroupRoot": n.CgroupRoot})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(n.patchesDir(), "kubeletconfiguration+merge.json"), patch, 0o644)
}

// initConfig is kubeadm init's configuration for the control-plane node:
// the cluster at version, stacked etcd, CoreDNS (the release's image),
// kube-proxy in iptables mode that leaves the host's conntrack table size
// alone, and token as the bootstrap token the workers join with. The
// kubelets' configuration, which kubeadm join takes from the cluster, gives
// pods that take the node's name servers podResolvConf.
func initConfig(cp *Node, version, token string) ([]byte, error) {
	endpoint := fmt.Sprintf("%s:%d", cp.Address, apiServerPort)
	kubelet := kubeletconfig.Kubeadm()
	kubelet.ResolverConfig = ptr.To(podResolvConf)
	documents := []any{
		map[string]any{
			"apiVersion":       kubeadmAPI,
			"kind":             "InitConfiguration",
			"bootstrapTokens":  []map[string]any{{"token": token, "ttl": "2h", "usages": []string{"signing", "authentication"}, "groups": []string{"system:bootstrappers:kubeadm:default-node-token"}}},
			"localAPIEndpoint": map[string]any{"advertiseAddress": cp.Address.String(), "bindPort": apiServerPort},
			"nodeRegistration": nodeRegistration(cp),
			"patches":          map[string]string{"directory": cp.patchesDir()},
		},
		map[string]any{
			"apiVersion":           kubeadmAPI,
			"kind":                 "ClusterConfiguration",
			"kubernetesVersion":    version,
			"controlPlaneEndpoint": endpoint,
			"networking":           map[string]string{"podSubnet": podRange.String(), "serviceSubnet": serviceRange.String()},
		},
		kubelet,
		map[string]any{
			"apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
			"kind":       "KubeProxyConfiguration",
			"mode":       "iptables",
			"conntrack":  map[string]int{"maxPerCore": 0},
		},
	}
	return yamlDocuments(documents)
}

// joinConfig is kubeadm join's configuration for a worker: token discovery
// of the control plane at endpoint, pinned to the cluster CA's public key.
func joinConfig(n *Node, endpoint, token, caCertHash string) ([]byte, error) {
	return yamlDocuments([]any{map[string]any{
		"apiVersion": kubeadmAPI,
		"kind":       "JoinConfiguration",
		"discovery": map[string]any{"bootstrapToken": map[string]any{
			"apiServerEndpoint": endpoint, "token": token, "caCertHashes": []string{caCertHash},
		}},
		"nodeRegistration": nodeRegistration(n),
		"patches":          map[string]string{"directory": n.patchesDir()},
	}})
}

// yamlDocuments writes documents as one YAML stream: maps as they are, a
// kubelet configuration as pkg/kubeletconfig writes it.
func yamlDocuments(documents []any) ([]byte, error) {
	var parts []string
	for _, d := range documents {
		var data []byte
		var err error
		switch d := d.(type) {
		case map[string]any:
			data, err = yaml.Marshal(d)
		case *kubeletv1beta1.KubeletConfiguration:
			data, err = kubeletconfig.Marshal(d)
		default:
			err = fmt.Errorf("cannot write a %T as a kubeadm document", d)
		}
		if err != nil {
			return nil, err
		}
		parts = append(parts, string(data))
	}
	return []byte(strings.Join(parts, "---\n")), nil
}

// bootstrapToken makes a kubeadm bootstrap token, [a-z0-9]{6}.[a-z0-9]{16}.
func bootstrapToken() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 22)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:6]) + "." + string(b[6:]), nil
}

// caCertHash is kubeadm's discovery hash of a CA certificate: sha256 of
// its DER-encoded SubjectPublicKeyInfo.
func caCertHash(pemBytes []byte) (string, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// kubeadm runs kubeadm on a node with its configuration file, its output in
// the node's kubeadm.log.
func (n *Node) kubeadm(ctx context.Context, config []byte, args ...string) error {
	path := filepath.Join(n.Dir, "kubeadm.yaml")
	if err := os.WriteFile(path, config, 0o600); err != nil {
		return err
	}
	if err := n.execLogged(ctx, "kubeadm", serviceEnvironment, "/usr/bin/kubeadm", "config", "validate", "--config", path); err != nil {
		return err
	}
	return n.execLogged(ctx, "kubeadm", serviceEnvironment, append(append([]string{"/usr/bin/kubeadm"}, args...), "--config", path)...)
}
