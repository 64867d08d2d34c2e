package kubeletconfig

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestStandaloneWritesItsEmptySettings(t *testing.T) {
	c, err := Standalone(StandaloneOptions{RuntimeEndpoint: "unix:///cri.sock", StaticPodPath: "/m", PodLogsDir: "/l", Port: 10250, HealthzPort: 10248})
	if err != nil {
		t.Fatal(err)
	}
	data, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := yaml.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	// Left out, these would be defaulted to ["pods"], which cgroupsPerQOS
	// off refuses, and to the default eviction thresholds.
	if v, ok := fields["enforceNodeAllocatable"].([]any); !ok || len(v) != 0 {
		t.Errorf("enforceNodeAllocatable = %#v, want written out empty:\n%s", fields["enforceNodeAllocatable"], data)
	}
	if v, ok := fields["evictionHard"].(map[string]any); !ok || len(v) != 0 {
		t.Errorf("evictionHard = %#v, want written out empty:\n%s", fields["evictionHard"], data)
	}
	for _, want := range []string{"apiVersion: kubelet.config.k8s.io/v1beta1", "kind: KubeletConfiguration", "failCgroupV1: false", "cgroupsPerQOS: false", `resolvConf: ""`, "staticPodPath: /m", "port: 10250", "healthzPort: 10248", "mode: AlwaysAllow"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("configuration lacks %q:\n%s", want, data)
		}
	}
}

func TestNodeIsAuthenticatedAndEvictsForMemoryOnly(t *testing.T) {
	c, err := Node(NodeOptions{RuntimeEndpoint: "unix:///run/containerd.sock", PodLogsDir: "/l", Address: "10.0.0.2", ClientCAFile: "/ca.crt"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"failCgroupV1: false", "cgroupDriver: cgroupfs", "failSwapOn: false", "address: 10.0.0.2", "clientCAFile: /ca.crt", "mode: Webhook", "memory.available: 100Mi", "nodefs.available: 1%", "imageGCHighThresholdPercent: 100"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("configuration lacks %q:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), "enforceNodeAllocatable") {
		t.Errorf("the node's kubelet enforces what it defaults to, but the configuration names it:\n%s", data)
	}
}

func TestMissingOptionsAreNamed(t *testing.T) {
	if _, err := Node(NodeOptions{RuntimeEndpoint: "unix:///x", PodLogsDir: "/l", Address: "10.0.0.2"}); err == nil || !strings.Contains(err.Error(), "ClientCAFile") {
		t.Errorf("Node without a client CA: %v", err)
	}
	if _, err := Standalone(StandaloneOptions{RuntimeEndpoint: "unix:///x"}); err == nil {
		t.Error("Standalone without its folders and ports: no error")
	}
}
