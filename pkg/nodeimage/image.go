// Package nodeimage assembles container images from files on this machine and
// writes them as docker-save tarballs, the form `ctr -n k8s.io images import`
// loads and upstream's release ships. The node e2e has no registry to pull
// from, so every image it runs is made this way.
package nodeimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Entry is one file of an image's only layer.
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
}

// Spec describes an image.
type Spec struct {
	// Ref is its name, e.g. registry.k8s.io/pause:3.10.2.
	Ref  string
	Arch string
	// Entrypoint and Cmd are those of the image's config.
	Entrypoint []string
	Cmd        []string
	Entries    []Entry
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
	layerBytes, err := layerTar(spec.Entries, spec.Created)
	if err != nil {
		return fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
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
	config.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if img, err = mutate.ConfigFile(img, config); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(file)
		}
	}()
	if err := tarball.WriteToFile(file, tag, img); err != nil {
		return fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	return nil
}

// layerTar writes entries, with every folder they need, as one tar stream in
// path order.
func layerTar(entries []Entry, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	sorted := append([]Entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	for i, e := range sorted {
		if i > 0 && sorted[i-1].Path == e.Path {
			return nil, fmt.Errorf("entry %s is given twice", e.Path)
		}
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path {
			return nil, fmt.Errorf("entry %q: want a clean absolute path", e.Path)
		}
		kinds := 0
		for _, set := range []bool{e.Source != "", e.Link != "", e.Dir} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			return nil, fmt.Errorf("entry %s: want one of a source file, a link or a folder", e.Path)
		}
		for _, dir := range parents(e.Path) {
			if dirs[dir] {
				continue
			}
			dirs[dir] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: created, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
		}
		name := strings.TrimPrefix(e.Path, "/")
		if e.Dir {
			dirs[name] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o1777, ModTime: created, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
			continue
		}
		if e.Link != "" {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: e.Link, Mode: 0o777, ModTime: created, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
			continue
		}
		content, err := os.ReadFile(e.Source)
		if err != nil {
			return nil, fmt.Errorf("entry %s: %w", e.Path, err)
		}
		info, err := os.Stat(e.Source)
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(content)), Mode: int64(info.Mode().Perm()), ModTime: created, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(content); err != nil {
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
