package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
)

// npdConfig is the part of node-problem-detector's custom plugin monitor
// configuration that ctxleak's plugin depends on.
type npdConfig struct {
	Plugin       string `json:"plugin"`
	PluginConfig struct {
		MaxOutputLength int `json:"max_output_length"`
	} `json:"pluginConfig"`
	Conditions []struct {
		Type string `json:"type"`
	} `json:"conditions"`
	Rules []struct {
		Type      string   `json:"type"`
		Condition string   `json:"condition"`
		Path      string   `json:"path"`
		Args      []string `json:"args"`
	} `json:"rules"`
}

func readNPDConfig(t *testing.T, data []byte) npdConfig {
	t.Helper()
	var c npdConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("custom plugin monitor config: %v", err)
	}
	return c
}

// The shipped node-problem-detector configuration runs node-check with flags
// it has, sets KubeletContextLeak, and keeps NPD's 80-character messages.
func TestNPDConfigRunsNodeCheck(t *testing.T) {
	data, err := os.ReadFile("../../build/ctxleak/kubelet-context-leak.json")
	if err != nil {
		t.Fatal(err)
	}
	c := readNPDConfig(t, data)
	if c.Plugin != "custom" || c.PluginConfig.MaxOutputLength != ctxleak.NPDMessageLimit {
		t.Errorf("plugin %q, max_output_length %d; want custom and %d", c.Plugin, c.PluginConfig.MaxOutputLength, ctxleak.NPDMessageLimit)
	}
	if len(c.Conditions) != 1 || c.Conditions[0].Type != "KubeletContextLeak" {
		t.Errorf("conditions %+v, want the one KubeletContextLeak", c.Conditions)
	}
	if len(c.Rules) != 1 {
		t.Fatalf("rules %+v, want one", c.Rules)
	}
	rule := c.Rules[0]
	if rule.Type != "permanent" || rule.Condition != "KubeletContextLeak" || path.Base(rule.Path) != "ctxleak" {
		t.Errorf("rule %+v: want a permanent KubeletContextLeak rule running ctxleak", rule)
	}
	if len(rule.Args) == 0 || rule.Args[0] != "node-check" {
		t.Fatalf("rule args %q, want node-check first", rule.Args)
	}
	fs, opts, tokenFile := nodeCheckFlags(io.Discard)
	if err := fs.Parse(rule.Args[1:]); err != nil {
		t.Fatalf("node-check does not take the rule's flags: %v", err)
	}
	if opts.KubeletURL == "" || *tokenFile == "" || !opts.Profile {
		t.Errorf("the rule should read the kubelet by URL with a token and its profile: %+v", opts)
	}
}

// The DaemonSet manifest carries the same configuration, mounts it where NPD
// is told to read it, mounts ctxleak where the rule runs it, and gives the
// plugin's service account what it needs from the kubelet.
func TestNPDDaemonSetMatchesConfig(t *testing.T) {
	want, err := os.ReadFile("../../build/ctxleak/kubelet-context-leak.json")
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile("../../build/ctxleak/node-problem-detector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var (
		configMap *v1.ConfigMap
		daemonSet *appsv1.DaemonSet
		role      *rbacv1.ClusterRole
		account   *v1.ServiceAccount
	)
	for _, doc := range strings.Split(string(manifest), "\n---\n") {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("manifest document does not decode: %v\n%s", err, doc)
		}
		switch o := obj.(type) {
		case *v1.ConfigMap:
			configMap = o
		case *appsv1.DaemonSet:
			daemonSet = o
		case *rbacv1.ClusterRole:
			role = o
		case *v1.ServiceAccount:
			account = o
		}
	}
	if configMap == nil || daemonSet == nil || role == nil || account == nil {
		t.Fatal("manifest lacks a ConfigMap, DaemonSet, ClusterRole or ServiceAccount")
	}
	var key string
	for k, v := range configMap.Data {
		key = k
		if readNPDConfigJSON(t, []byte(v)) != readNPDConfigJSON(t, want) {
			t.Errorf("ConfigMap %s differs from build/ctxleak/kubelet-context-leak.json", k)
		}
	}
	pod := daemonSet.Spec.Template.Spec
	if pod.ServiceAccountName != account.Name {
		t.Errorf("DaemonSet runs as %q, the manifest's ServiceAccount is %q", pod.ServiceAccountName, account.Name)
	}
	container := pod.Containers[0]
	if !slices.Contains(container.Command, "--config.custom-plugin-monitor=/config/"+key) {
		t.Errorf("NPD is not told to read /config/%s: %q", key, container.Command)
	}
	rule := readNPDConfig(t, want).Rules[0]
	mounted := map[string]bool{}
	for _, m := range container.VolumeMounts {
		mounted[m.MountPath] = true
	}
	if !mounted["/config"] || !mounted[path.Dir(rule.Path)] {
		t.Errorf("mounts %v: want /config and %s", mounted, path.Dir(rule.Path))
	}
	granted := map[string]bool{}
	for _, r := range role.Rules {
		for _, res := range r.Resources {
			granted[res] = true
		}
	}
	for _, res := range []string{"nodes/metrics", "nodes/proxy", "nodes/status", "events"} {
		if !granted[res] {
			t.Errorf("ClusterRole does not grant %s", res)
		}
	}
}

// readNPDConfigJSON gives a canonical form of a JSON document.
func readNPDConfigJSON(t *testing.T, data []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}
