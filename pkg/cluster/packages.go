package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"k8s.io/klog/v2"
)

// AptSource is an apt repository as a node image's recipe names it (the
// release's, or upstream's stand-in), served to the nodes from the switch.
type AptSource struct {
	// Name names the source's list and key on the node.
	Name string
	// Repo is the flat repository's URL (…/deb/), KeyURL its key's.
	Repo, KeyURL string
}

// releasePackages are the packages the release's repository holds, which
// a base system does not have.
var releasePackages = []string{"kubelet", "kubeadm", "kubectl", "cri-tools", "kubernetes-cni"}

// prepareApt readies the node, before its namespace is mounted, for apt as
// a node image's recipe leaves it: its dpkg database the host's installed
// packages (so that mount and util-linux are installed), without the
// release's; /etc/apt each repository's key, fetched with client from the
// repository, its source line with signed-by, and the pin (pinFile), and
// nothing of the host's sources.
func (n *Node) prepareApt(ctx context.Context, client *http.Client, sources []AptSource, pinFile string) error {
	etc, varLib := n.upper("/etc"), n.upper("/var/lib")
	// /etc/apt is the node's alone (opaque): apt's folders made anew.
	for _, dir := range []string{"apt/sources.list.d", "apt/preferences.d", "apt/keyrings", "apt/apt.conf.d", "apt/auth.conf.d", "apt/trusted.gpg.d"} {
		if err := os.MkdirAll(filepath.Join(etc, dir), 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(varLib, "dpkg"), 0o755); err != nil {
		return err
	}
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		return fmt.Errorf("the base system's dpkg database: %w", err)
	}
	if err := os.WriteFile(filepath.Join(varLib, "dpkg/status"), withoutPackages(status, releasePackages), 0o644); err != nil {
		return err
	}
	// The node's own sources: an empty sources.list over the host's.
	if err := os.WriteFile(filepath.Join(etc, "apt/sources.list"), nil, 0o644); err != nil {
		return err
	}
	for _, src := range sources {
		key, err := fetch(ctx, client, src.KeyURL)
		if err != nil {
			return err
		}
		keyring := "/etc/apt/keyrings/" + src.Name + ".asc"
		if err := os.WriteFile(filepath.Join(etc, strings.TrimPrefix(keyring, "/etc/")), key, 0o644); err != nil {
			return err
		}
		line := fmt.Sprintf("deb [signed-by=%s] %s /\n", keyring, src.Repo)
		if err := os.WriteFile(filepath.Join(etc, "apt/sources.list.d", src.Name+".list"), []byte(line), 0o644); err != nil {
			return err
		}
	}
	pin, err := os.ReadFile(pinFile)
	if err != nil {
		return fmt.Errorf("the apt pin: %w", err)
	}
	return os.WriteFile(filepath.Join(etc, "apt/preferences.d/kubelet-ctxfix"), pin, 0o644)
}

// installPackages installs packages on the node from its sources, as a
// node image's recipe does in package mode: apt-get update, apt-get
// install, and apt-mark hold as kubeadm's install guide leaves them, so
// that no upgrade moves them.
func (n *Node) installPackages(ctx context.Context, packages []string) error {
	if err := n.aptUpdate(ctx); err != nil {
		return err
	}
	if err := n.AptInstall(ctx, packages); err != nil {
		return err
	}
	_, err := n.apt(ctx, "apt-mark", heldPackages...)
	return err
}

// heldPackages is the apt-mark command that holds the packages kubeadm's
// install guide holds.
var heldPackages = []string{"hold", "kubelet", "kubeadm", "kubectl"}

// aptUpdate runs apt-get update on the node. apt-get succeeds when a
// source fails to verify: it warns and keeps no list for it. A warning
// fails here.
func (n *Node) aptUpdate(ctx context.Context) error {
	out, err := n.apt(ctx, "apt-get", "update")
	if err != nil {
		return err
	}
	if warned := regexp.MustCompile(`(?m)^[WE]: .*$`).FindAllString(out, -1); len(warned) > 0 {
		return fmt.Errorf("apt-get update on %s warned (as it does for a repository that does not verify):\n%s", n.Name, strings.Join(warned, "\n"))
	}
	return nil
}

// AptInstall installs packages (NAME=VERSION) on the node, with what they
// depend on from the repository, as a node image's recipe or an operator
// on the node does; extra are more apt-get options (--allow-downgrades).
func (n *Node) AptInstall(ctx context.Context, packages []string, extra ...string) error {
	args := append([]string{"install", "-y", "--no-install-recommends"}, extra...)
	if _, err := n.apt(ctx, "apt-get", append(args, packages...)...); err != nil {
		return err
	}
	klog.FromContext(ctx).Info("Packages installed", "node", n.Name, "packages", packages)
	return nil
}

// apt runs apt's program (apt-get, apt-mark) on the node, its output also
// in the node's apt.log.
func (n *Node) apt(ctx context.Context, program string, args ...string) (string, error) {
	argv := append([]string{"--net=" + netnsPath(n.Namespace), "--mount=" + n.MountNS(), "--", program}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", argv...)
	cmd.Env = append(slices.Clone(serviceEnvironment), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err := os.MkdirAll(n.logs, 0o755); err != nil {
		return "", err
	}
	if werr := appendFile(filepath.Join(n.logs, "apt.log"), append([]byte("$ "+program+" "+strings.Join(args, " ")+"\n"), out...)); werr != nil {
		return "", werr
	}
	if err != nil {
		return "", fmt.Errorf("%s %s on %s: %w:\n%s", program, strings.Join(args, " "), n.Name, err, out)
	}
	return string(out), nil
}

func appendFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return joinErrors([]error{err, f.Close()})
}

// withoutPackages drops the stanzas of packages from a dpkg status file.
func withoutPackages(status []byte, packages []string) []byte {
	var kept []string
	for _, stanza := range strings.Split(string(status), "\n\n") {
		name := ""
		for _, line := range strings.Split(stanza, "\n") {
			if rest, ok := strings.CutPrefix(line, "Package: "); ok {
				name = strings.TrimSpace(rest)
				break
			}
		}
		drop := false
		for _, p := range packages {
			drop = drop || name == p
		}
		if !drop && strings.TrimSpace(stanza) != "" {
			kept = append(kept, strings.Trim(stanza, "\n"))
		}
	}
	return []byte(strings.Join(kept, "\n\n") + "\n")
}

// fetch gets a URL's body, failing on any status but 200.
func fetch(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
