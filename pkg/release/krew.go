package release

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/mod/semver"
	"sigs.k8s.io/yaml"
)

// PluginName is ctxleak's name as a kubectl plugin: kubectl finds
// kubectl-ctxleak on PATH, krew installs it under this name.
const PluginName = "ctxleak"

// PluginBinary is the plugin's executable in its archive, for os.
func PluginBinary(os string) string {
	if os == "windows" {
		return "kubectl-" + PluginName + ".exe"
	}
	return "kubectl-" + PluginName
}

// PluginArchiveName is the archive of the plugin for one platform, in the
// release folder.
func PluginArchiveName(os, arch string) string {
	return fmt.Sprintf("kubectl-%s_%s_%s.tar.gz", PluginName, os, arch)
}

// PluginArchive is the content of a plugin archive: the binary and the
// license krew requires beside it.
func PluginArchive(binary, license, os string) []Entry {
	return []Entry{
		{Name: PluginBinary(os), Source: binary, Mode: 0o755},
		{Name: "LICENSE", Source: license, Mode: 0o644},
	}
}

// PluginPlatform is one archive of the plugin.
type PluginPlatform struct {
	OS, Arch string
	// Archive is the archive's file, whose sha256 the manifest records.
	Archive string
}

// krew's Plugin manifest (krew.googlecontainertools.github.com/v1alpha2),
// the fields this project fills.
type krewPlugin struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   krewMetadata `json:"metadata"`
	Spec       krewSpec     `json:"spec"`
}

type krewMetadata struct {
	Name string `json:"name"`
}

type krewSpec struct {
	Version          string         `json:"version"`
	Homepage         string         `json:"homepage"`
	ShortDescription string         `json:"shortDescription"`
	Description      string         `json:"description"`
	Platforms        []krewPlatform `json:"platforms"`
}

type krewPlatform struct {
	Selector krewSelector `json:"selector"`
	URI      string       `json:"uri"`
	Sha256   string       `json:"sha256"`
	Files    []krewFile   `json:"files"`
	Bin      string       `json:"bin"`
}

type krewSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

type krewFile struct {
	From string `json:"from"`
	To   string `json:"to"`
}

const pluginDescription = `Says whether kubelets leak sync contexts (kubernetes#139823) or fail exec
probes during termination (kubernetes#140881). "kubectl ctxleak nodes"
classifies every node's kubelet version from facts read from the upstream
sources, and with --profile judges each kubelet's heap profile, taken through
the API server's node proxy. "kubectl ctxleak analyze" judges a heap profile
file.
`

// KrewManifest returns krew's plugin manifest for version, whose archives are
// published under baseURL (the release folder's URL, without a trailing
// slash).
func KrewManifest(version, homepage, baseURL string, platforms []PluginPlatform) ([]byte, error) {
	if !semver.IsValid(version) {
		return nil, fmt.Errorf("plugin version %q is not a semantic version, as krew requires", version)
	}
	if !strings.HasPrefix(baseURL, "https://") && !strings.HasPrefix(baseURL, "http://") {
		return nil, fmt.Errorf("release URL %q is not an http(s) URL", baseURL)
	}
	if len(platforms) == 0 {
		return nil, fmt.Errorf("no plugin archives")
	}
	plugin := krewPlugin{
		APIVersion: "krew.googlecontainertools.github.com/v1alpha2",
		Kind:       "Plugin",
		Metadata:   krewMetadata{Name: PluginName},
		Spec: krewSpec{
			Version:          version,
			Homepage:         homepage,
			ShortDescription: "Find kubelets that leak sync contexts or break probes",
			Description:      pluginDescription,
		},
	}
	for _, p := range platforms {
		sum, err := FileSHA256(p.Archive)
		if err != nil {
			return nil, err
		}
		plugin.Spec.Platforms = append(plugin.Spec.Platforms, krewPlatform{
			Selector: krewSelector{MatchLabels: map[string]string{"os": p.OS, "arch": p.Arch}},
			URI:      strings.TrimSuffix(baseURL, "/") + "/" + PluginArchiveName(p.OS, p.Arch),
			Sha256:   sum,
			Files: []krewFile{
				{From: PluginBinary(p.OS), To: "."},
				{From: "LICENSE", To: "."},
			},
			Bin: PluginBinary(p.OS),
		})
	}
	return yaml.Marshal(plugin)
}

// FileSHA256 is the sha256 of file, in hex.
func FileSHA256(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
