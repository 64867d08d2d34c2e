// Package kubeletconfig holds the kubelet configurations this project runs
// kubelets with on this kind of machine, typed
// (k8s.io/kubelet/config/v1beta1), each written to a file the kubelet reads
// with --config: the real node's, whose kubelet registers with an API
// server, and the soak's, standalone. Both are for cgroup v1 with the
// cgroupfs driver, swap on, and images that can never be pulled again.
package kubeletconfig

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// machine is what every kubelet here needs: cgroup v1 (which 1.36 refuses
// unless told), the cgroupfs driver, swap on, a fast sync loop, no DNS and
// no resolv.conf of the host's, and images never collected, as none can be
// pulled again.
func machine() *kubeletv1beta1.KubeletConfiguration {
	return &kubeletv1beta1.KubeletConfiguration{
		TypeMeta:                    metav1.TypeMeta{APIVersion: kubeletv1beta1.SchemeGroupVersion.String(), Kind: "KubeletConfiguration"},
		FailCgroupV1:                ptr.To(false),
		CgroupDriver:                "cgroupfs",
		FailSwapOn:                  ptr.To(false),
		SyncFrequency:               metav1.Duration{Duration: time.Second},
		ResolverConfig:              ptr.To(""),
		ImageGCHighThresholdPercent: ptr.To[int32](100),
	}
}

// NodeOptions place a node's kubelet on this machine.
type NodeOptions struct {
	// RuntimeEndpoint is containerd's CRI endpoint (unix://...).
	RuntimeEndpoint string
	// PodLogsDir receives the containers' logs.
	PodLogsDir string
	// Address is the node's address, where the kubelet serves the API
	// server.
	Address string
	// ClientCAFile verifies the API server's client certificate.
	ClientCAFile string
}

// Node is the configuration of a node's kubelet: it registers with the API
// server, which reaches it on Address with a client certificate, and asks
// the API server to authorize every request (webhook), as kubeadm's nodes
// do.
func Node(o NodeOptions) (*kubeletv1beta1.KubeletConfiguration, error) {
	for name, v := range map[string]string{"RuntimeEndpoint": o.RuntimeEndpoint, "PodLogsDir": o.PodLogsDir, "Address": o.Address, "ClientCAFile": o.ClientCAFile} {
		if v == "" {
			return nil, fmt.Errorf("kubelet configuration of the node: %s is required", name)
		}
	}
	c := machine()
	c.ContainerRuntimeEndpoint = o.RuntimeEndpoint
	c.PodLogsDir = o.PodLogsDir
	c.Address = o.Address
	c.HealthzBindAddress = "127.0.0.1"
	evictForMemoryOnly(c)
	c.Authentication = kubeletv1beta1.KubeletAuthentication{
		Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr.To(false)},
		Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr.To(true)},
		X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: o.ClientCAFile},
	}
	c.Authorization = kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook}
	return c, nil
}

// Kubeadm is the kubelet configuration a kubeadm cluster of this machine
// gives kubeadm init (the kubelet-config ConfigMap every node's kubelet
// gets): what the machine needs, the kubelet's own sync period, and the
// real node's eviction thresholds. kubeadm adds authentication,
// authorization, the static pod path and the rest; each node's cgroupRoot
// comes from a kubeadm patch of its own.
func Kubeadm() *kubeletv1beta1.KubeletConfiguration {
	c := machine()
	c.SyncFrequency = metav1.Duration{}
	evictForMemoryOnly(c)
	return c
}

// evictForMemoryOnly makes a node's kubelet evict for memory, never for a
// disk that is merely full of other things; the low image threshold sits
// below machine's high one (100), as validation requires.
func evictForMemoryOnly(c *kubeletv1beta1.KubeletConfiguration) {
	c.ImageGCLowThresholdPercent = ptr.To[int32](99)
	c.EvictionHard = map[string]string{"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"}
}

// StandaloneOptions place a kubelet with no API server, beside others.
type StandaloneOptions struct {
	RuntimeEndpoint string
	// StaticPodPath holds its pods' manifests; PodLogsDir their logs.
	StaticPodPath, PodLogsDir string
	// Port and HealthzPort are its ports on loopback, one pair per kubelet.
	Port, HealthzPort int32
}

// Standalone is the configuration of a kubelet with no API server, serving
// only on loopback, that runs static pods beside other kubelets on one
// machine: it makes no cgroups of its own (cgroupsPerQOS off, so nothing to
// enforce), no iptables chains, and evicts nothing, as its pods run on a
// fake runtime.
func Standalone(o StandaloneOptions) (*kubeletv1beta1.KubeletConfiguration, error) {
	if o.RuntimeEndpoint == "" || o.StaticPodPath == "" || o.PodLogsDir == "" || o.Port == 0 || o.HealthzPort == 0 {
		return nil, fmt.Errorf("standalone kubelet configuration %+v: every field is required", o)
	}
	c := machine()
	c.CgroupsPerQOS = ptr.To(false)
	c.LocalStorageCapacityIsolation = ptr.To(false)
	c.MakeIPTablesUtilChains = ptr.To(false)
	c.FileCheckFrequency = metav1.Duration{Duration: time.Second}
	c.StaticPodPath = o.StaticPodPath
	c.PodLogsDir = o.PodLogsDir
	c.ContainerRuntimeEndpoint = o.RuntimeEndpoint
	c.ImageServiceEndpoint = o.RuntimeEndpoint
	c.Address = "127.0.0.1"
	c.Port = o.Port
	c.HealthzBindAddress = "127.0.0.1"
	c.HealthzPort = ptr.To(o.HealthzPort)
	c.Authentication.Anonymous.Enabled = ptr.To(true)
	c.Authentication.Webhook.Enabled = ptr.To(false)
	c.Authorization.Mode = kubeletv1beta1.KubeletAuthorizationModeAlwaysAllow
	// Empty, not unset, below: written out by Marshal.
	c.EnforceNodeAllocatable = []string{}
	c.EvictionHard = map[string]string{}
	return c, nil
}

// Marshal writes c as YAML. The type's struct-valued fields have no
// omitempty, so their zero values are written out (cacheTTL: 0s and the
// like): the kubelet decodes them to the same zero values as when they are
// left out, and defaults them alike. Two settings that must be explicitly empty to
// mean "none" (an empty enforceNodeAllocatable, which cgroupsPerQOS off
// requires, and an empty evictionHard) are dropped by the type's omitempty
// and would be defaulted: they are written out when c has them empty.
func Marshal(c *kubeletv1beta1.KubeletConfiguration) ([]byte, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	if c.EnforceNodeAllocatable != nil && len(c.EnforceNodeAllocatable) == 0 {
		fields["enforceNodeAllocatable"] = []string{}
	}
	if c.EvictionHard != nil && len(c.EvictionHard) == 0 {
		fields["evictionHard"] = map[string]string{}
	}
	return yaml.Marshal(fields)
}

// Write writes c to path, and its folder if need be.
func Write(path string, c *kubeletv1beta1.KubeletConfiguration) error {
	data, err := Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
