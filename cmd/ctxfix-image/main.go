// Command ctxfix-image writes a container image, assembled from files on this
// machine, as a docker-save tarball for `ctr -n k8s.io images import`.
//
//	ctxfix-image -ref registry.k8s.io/pause:3.10.2 -arch amd64 -entrypoint /pause \
//	    -file /pause=_output/e2e/pause -link /bin/sh=/bin/busybox -dir /tmp -out pause.tar
//
// With -base, the folder it names is the image's first layer, as its root
// filesystem, and -file, -link and -dir make the layer above it:
//
//	ctxfix-image -ref registry.k8s.io/kube-proxy-amd64:v1.36.5-ctxfix.2 -arch amd64 \
//	    -base _output/images/amd64/iptables -entrypoint /usr/local/bin/kube-proxy \
//	    -file /usr/local/bin/kube-proxy=bin/kube-proxy -out kube-proxy.tar
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodeimage"
)

// pairs collects repeated PATH=VALUE flags.
type pairs [][2]string

func (p *pairs) String() string { return fmt.Sprint(*p) }

func (p *pairs) Set(v string) error {
	dst, src, ok := strings.Cut(v, "=")
	if !ok || dst == "" || src == "" {
		return fmt.Errorf("%q: want NAME=VALUE, both non-empty", v)
	}
	*p = append(*p, [2]string{dst, src})
	return nil
}

// dirList collects repeated -dir and -net-bind-service flags.
type dirList []string

func (d *dirList) String() string     { return strings.Join(*d, ",") }
func (d *dirList) Set(v string) error { *d = append(*d, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "ctxfix-image: %v\n", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("ctxfix-image", flag.ContinueOnError)
	ref := fs.String("ref", "", "image name with tag, e.g. registry.k8s.io/pause:3.10.2")
	arch := fs.String("arch", "", "architecture, e.g. amd64")
	entrypoint := fs.String("entrypoint", "", "entrypoint, words separated by spaces")
	command := fs.String("cmd", "", "the entrypoint's default arguments, words separated by spaces")
	out := fs.String("out", "", "tarball to write")
	user := fs.String("user", "", "user the entrypoint runs as, e.g. 65535:65535; root when empty")
	base := fs.String("base", "", "folder whose contents are the image's first layer, as its root filesystem")
	var files, links, labels pairs
	var dirs, netBindService dirList
	fs.Var(&dirs, "dir", "PATH-IN-IMAGE of an empty folder everyone may write to (/tmp), repeatable")
	fs.Var(&netBindService, "net-bind-service", "PATH-IN-IMAGE of a -file that gets cap_net_bind_service=+ep, as setcap gives it, repeatable")
	fs.Var(&files, "file", "PATH-IN-IMAGE=SOURCE-FILE, repeatable")
	fs.Var(&labels, "label", "KEY=VALUE of the config's labels, repeatable")
	fs.Var(&links, "link", "PATH-IN-IMAGE=LINK-TARGET, repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ref == "" || *arch == "" || *out == "" {
		return fmt.Errorf("-ref, -arch and -out are required")
	}
	// Every file and the config carry SOURCE_DATE_EPOCH, or the epoch.
	created := time.Unix(0, 0).UTC()
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		seconds, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", epoch, err)
		}
		created = time.Unix(seconds, 0).UTC()
	}
	spec := nodeimage.Spec{Ref: *ref, Arch: *arch, Entrypoint: strings.Fields(*entrypoint), Cmd: strings.Fields(*command), User: *user, Created: created}
	for _, l := range labels {
		if spec.Labels == nil {
			spec.Labels = map[string]string{}
		}
		spec.Labels[l[0]] = l[1]
	}
	if *base != "" {
		spec.Layers = append(spec.Layers, nodeimage.Layer{{Path: "/", Tree: *base}})
	}
	var top nodeimage.Layer
	for _, f := range files {
		top = append(top, nodeimage.Entry{Path: f[0], Source: f[1], NetBindService: slices.Contains(netBindService, f[0])})
	}
	for _, p := range netBindService {
		if !slices.ContainsFunc(files, func(f [2]string) bool { return f[0] == p }) {
			return fmt.Errorf("-net-bind-service %s: no -file puts a file there", p)
		}
	}
	for _, l := range links {
		top = append(top, nodeimage.Entry{Path: l[0], Link: l[1]})
	}
	for _, d := range dirs {
		top = append(top, nodeimage.Entry{Path: d, Dir: true})
	}
	if len(top) > 0 {
		spec.Layers = append(spec.Layers, top)
	}
	return nodeimage.Write(*out, spec)
}
