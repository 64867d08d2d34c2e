// Package nodeimage assembles container images from files on this machine and
// writes them as `docker save` tarballs (manifest.json and repositories), the
// form `ctr -n k8s.io images import` loads and upstream's release ships its
// control-plane images in. The node e2e has no registry to pull from, and a
// release ships its images as files, so every image is made this way.
package nodeimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/legacy/tarball"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	v1tarball "github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Entry is one file, link or folder of a layer.
type Entry struct {
	// Path is where it is in the image, absolute.
	Path string
	// Source is the file on this machine whose bytes it has; its mode is kept.
	Source string
	// Link, if set instead of Source, makes Path a symbolic link to Link.
	Link string
	// Dir, if set instead of Source and Link, makes Path an empty folder
	// that everyone may write to, as /tmp is.
	Dir bool
	// NetBindService, with Source, gives the file the capability
	// cap_net_bind_service=+ep, as `setcap` would: a program run as a user
	// other than root may then listen on ports below 1024 (CoreDNS's image
	// runs as nonroot and serves port 53 so).
	NetBindService bool
	// Tree, if set instead of the others, puts the folder Tree of this
	// machine at Path with everything in it: folders, files and links keep
	// their modes, and everything is owned by root. A root filesystem
	// assembled in a folder is the Tree of "/".
	Tree string
}

// Layer is the entries of one layer.
type Layer []Entry

// Spec describes an image.
type Spec struct {
	// Ref is its name, e.g. registry.k8s.io/pause:3.10.2.
	Ref  string
	Arch string
	// Entrypoint and Cmd are those of the image's config.
	Entrypoint []string
	Cmd        []string
	// User is the config's user ("65535:65535"); empty is root.
	User string
	// Labels are the config's labels, e.g. org.opencontainers.image.source.
	Labels map[string]string
	// Layers, the lowest first. Images whose lowest layers have the same
	// entries share those layers' digests, so a runtime stores them once.
	Layers []Layer
	// Created is the time every file and the config carry, so that the
	// same inputs give the same bytes.
	Created time.Time
}

// Write writes spec's image to file as a docker-save tarball. On error no
// file is left.
func Write(file string, spec Spec) (err error) {
	ref, err := name.ParseReference(spec.Ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("image name %q: %w", spec.Ref, err)
	}
	tag, ok := ref.(name.Tag)
	if !ok {
		return fmt.Errorf("image name %q: want a tag, not a digest", spec.Ref)
	}
	if len(spec.Layers) == 0 {
		return fmt.Errorf("image %s: no layers", spec.Ref)
	}
	img := empty.Image
	for i, entries := range spec.Layers {
		layerBytes, err := layerTar(entries, spec.Created)
		if err != nil {
			return fmt.Errorf("image %s, layer %d: %w", spec.Ref, i+1, err)
		}
		layer, err := v1tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(layerBytes)), nil
		})
		if err != nil {
			return err
		}
		// The history says what each layer is, as docker history shows it.
		if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
			Created:   v1.Time{Time: spec.Created},
			CreatedBy: layerDescription(entries),
		}}); err != nil {
			return err
		}
	}
	config, err := img.ConfigFile()
	if err != nil {
		return err
	}
	config = config.DeepCopy()
	config.OS = "linux"
	config.Architecture = spec.Arch
	config.Created = v1.Time{Time: spec.Created}
	config.Config.Entrypoint = spec.Entrypoint
	config.Config.Cmd = spec.Cmd
	config.Config.User = spec.User
	config.Config.Labels = spec.Labels
	config.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if img, err = mutate.ConfigFile(img, config); err != nil {
		return err
	}

	out, err := os.Create(file)
	if err != nil {
		return err
	}
	defer func() {
		if closeErr := out.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			os.Remove(file)
		}
	}()
	if err := tarball.Write(tag, img, out); err != nil {
		return fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	return nil
}

// layerDescription names a layer's entries for the image's history.
func layerDescription(entries Layer) string {
	var parts []string
	for _, e := range entries {
		switch {
		case e.Tree != "":
			parts = append(parts, "tree "+e.Path)
		default:
			parts = append(parts, e.Path)
		}
	}
	return "ctxfix-image: " + strings.Join(parts, " ")
}

// member is one tar entry of a layer.
type member struct {
	path   string // absolute, clean
	source string // regular file: where its bytes are
	link   string // symbolic link: its target
	dir    bool
	mode   fs.FileMode
	// netBindService: the file has cap_net_bind_service=+ep.
	netBindService bool
}

// netBindServiceXattr is the value of security.capability that `setcap
// cap_net_bind_service=+ep` writes: a vfs_cap_data of revision 2 with the
// effective flag, CAP_NET_BIND_SERVICE (10) permitted, nothing inheritable
// (linux/capability.h). Runtimes that unpack a layer set it from the tar
// header's SCHILY.xattr record.
var netBindServiceXattr = string([]byte{
	0x01, 0x00, 0x00, 0x02, // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, little endian
	0x00, 0x04, 0x00, 0x00, // permitted, capabilities 0-31: 1<<10
	0x00, 0x00, 0x00, 0x00, // inheritable, 0-31
	0x00, 0x00, 0x00, 0x00, // permitted, 32-63
	0x00, 0x00, 0x00, 0x00, // inheritable, 32-63
})

// members expands entries, trees included, into what the layer holds, in
// path order.
func members(entries Layer) ([]member, error) {
	var out []member
	for _, e := range entries {
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path {
			return nil, fmt.Errorf("entry %q: want a clean absolute path", e.Path)
		}
		kinds := 0
		for _, set := range []bool{e.Source != "", e.Link != "", e.Dir, e.Tree != ""} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			return nil, fmt.Errorf("entry %s: want one of a source file, a link, a folder or a tree", e.Path)
		}
		if e.NetBindService && e.Source == "" {
			return nil, fmt.Errorf("entry %s: only a source file can have a capability", e.Path)
		}
		switch {
		case e.Source != "":
			info, err := os.Stat(e.Source)
			if err != nil {
				return nil, fmt.Errorf("entry %s: %w", e.Path, err)
			}
			if !info.Mode().IsRegular() {
				return nil, fmt.Errorf("entry %s: %s is not a regular file", e.Path, e.Source)
			}
			out = append(out, member{path: e.Path, source: e.Source, mode: info.Mode().Perm(), netBindService: e.NetBindService})
		case e.Link != "":
			out = append(out, member{path: e.Path, link: e.Link, mode: 0o777})
		case e.Dir:
			out = append(out, member{path: e.Path, dir: true, mode: 0o777 | fs.ModeSticky})
		default:
			tree, err := treeMembers(e.Path, e.Tree)
			if err != nil {
				return nil, fmt.Errorf("entry %s: %w", e.Path, err)
			}
			out = append(out, tree...)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	for i := 1; i < len(out); i++ {
		if out[i-1].path == out[i].path {
			return nil, fmt.Errorf("entry %s is given twice", out[i].path)
		}
	}
	return out, nil
}

// treeMembers lists the folder root of this machine as members under at.
func treeMembers(at, root string) ([]member, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s is not a folder", root)
	}
	var out []member
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		target := path.Join(at, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		switch {
		case mode.IsDir():
			if target == "/" {
				return nil
			}
			out = append(out, member{path: target, dir: true, mode: mode.Perm() | mode&(fs.ModeSticky|fs.ModeSetgid|fs.ModeSetuid)})
		case mode.IsRegular():
			out = append(out, member{path: target, source: p, mode: mode.Perm() | mode&(fs.ModeSetgid|fs.ModeSetuid)})
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, member{path: target, link: link, mode: 0o777})
		default:
			return fmt.Errorf("%s is neither a folder, a regular file nor a link (%s)", p, mode.Type())
		}
		return nil
	})
	return out, err
}

// tarMode is the tar header's mode of m.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// layerTar writes entries, with every folder they need, as one tar stream in
// path order, everything owned by root and dated created.
func layerTar(entries Layer, created time.Time) ([]byte, error) {
	sorted, err := members(entries)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, m := range sorted {
		for _, dir := range parents(m.path) {
			if dirs[dir] {
				continue
			}
			dirs[dir] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: created, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
		}
		name := strings.TrimPrefix(m.path, "/")
		header := &tar.Header{Name: name, Mode: tarMode(m.mode), ModTime: created, Format: tar.FormatPAX}
		switch {
		case m.dir:
			dirs[name] = true
			header.Typeflag, header.Name = tar.TypeDir, name+"/"
		case m.link != "":
			header.Typeflag, header.Linkname = tar.TypeSymlink, m.link
		default:
			content, err := os.ReadFile(m.source)
			if err != nil {
				return nil, fmt.Errorf("entry %s: %w", m.path, err)
			}
			header.Typeflag, header.Size = tar.TypeReg, int64(len(content))
			if m.netBindService {
				header.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": netBindServiceXattr}
			}
			if err := tw.WriteHeader(header); err != nil {
				return nil, err
			}
			if _, err := tw.Write(content); err != nil {
				return nil, err
			}
			continue
		}
		if err := tw.WriteHeader(header); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parents lists the folders above p, outermost first, without the leading
// slash: "/bin/sh" gives ["bin"].
func parents(p string) []string {
	var out []string
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		out = append([]string{strings.TrimPrefix(dir, "/")}, out...)
	}
	return out
}
