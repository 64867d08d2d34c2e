// Package imagelayout turns the release's per-architecture docker-save
// image tarballs into one OCI image layout, each image name a multi-arch
// index as registry.k8s.io serves it, checks such a layout against the
// tarballs it was made from, and pushes it to a registry.
package imagelayout

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// RefNameAnnotation names an index of the layout, as the OCI image
	// layout specifies: the full name, "registry.k8s.io/pause:3.10.2".
	RefNameAnnotation = "org.opencontainers.image.ref.name"
	// containerdNameAnnotation is the same name, where `ctr images import`
	// looks for it.
	containerdNameAnnotation = "io.containerd.image.name"
)

// Source is one image of one architecture, read from a docker-save
// tarball.
type Source struct {
	// File is the tarball.
	File string
	// Name is the image's name in the layout: the tarball's tag, with an
	// architecture suffix of its repository taken out
	// (registry.k8s.io/kube-apiserver-amd64:v1.36.5-ctxfix.3 becomes
	// registry.k8s.io/kube-apiserver:v1.36.5-ctxfix.3), as kubeadm names it.
	Name string
	// Platform is the os, architecture and variant of the image's config.
	Platform v1.Platform
	// Image is the image as the tarball holds it.
	Image v1.Image
}

// ReadSource reads a docker-save tarball that holds exactly one image with
// one tag.
func ReadSource(file string) (Source, error) {
	manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) })
	if err != nil {
		return Source{}, fmt.Errorf("%s: %w", file, err)
	}
	if len(manifest) != 1 || len(manifest[0].RepoTags) != 1 {
		var tags []string
		for _, m := range manifest {
			tags = append(tags, m.RepoTags...)
		}
		return Source{}, fmt.Errorf("%s: want one image with one tag, it holds %d images tagged %v", file, len(manifest), tags)
	}
	tag, err := name.NewTag(manifest[0].RepoTags[0], name.StrictValidation)
	if err != nil {
		return Source{}, fmt.Errorf("%s: tag %q: %w", file, manifest[0].RepoTags[0], err)
	}
	img, err := tarball.ImageFromPath(file, &tag)
	if err != nil {
		return Source{}, fmt.Errorf("%s: %w", file, err)
	}
	config, err := img.ConfigFile()
	if err != nil {
		return Source{}, fmt.Errorf("%s: config: %w", file, err)
	}
	if config.OS == "" || config.Architecture == "" {
		return Source{}, fmt.Errorf("%s: its config names no os and architecture", file)
	}
	repository := strings.TrimSuffix(tag.Context().Name(), "-"+config.Architecture)
	return Source{
		File:     file,
		Name:     repository + ":" + tag.TagStr(),
		Platform: v1.Platform{OS: config.OS, Architecture: config.Architecture, Variant: config.Variant},
		Image:    img,
	}, nil
}

// ociImage is src with OCI media types: the same config and the same
// compressed layers, so the same digests for both, under an OCI manifest.
// A docker-save tarball has no manifest of its own; go-containerregistry
// gives it a docker one.
func ociImage(src v1.Image) (v1.Image, error) {
	config, err := src.ConfigFile()
	if err != nil {
		return nil, err
	}
	layers, err := src.Layers()
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	addenda := make([]mutate.Addendum, len(layers))
	for i, layer := range layers {
		addenda[i] = mutate.Addendum{Layer: layer, MediaType: types.OCILayer}
	}
	if img, err = mutate.Append(img, addenda...); err != nil {
		return nil, err
	}
	// Append wrote history and diff IDs of its own; the source's config,
	// whole, is what the image is.
	return mutate.ConfigFile(img, config)
}

// indexes groups sources by name into OCI image indexes, their manifests
// ordered by platform, and returns them with their names, sorted. Two
// sources of the same name and platform are an error.
func indexes(sources []Source) ([]string, map[string]v1.ImageIndex, error) {
	byName := map[string][]Source{}
	for _, src := range sources {
		for _, other := range byName[src.Name] {
			if other.Platform.String() == src.Platform.String() {
				return nil, nil, fmt.Errorf("%s and %s are both %s for %s", other.File, src.File, src.Name, src.Platform.String())
			}
		}
		byName[src.Name] = append(byName[src.Name], src)
	}
	names := make([]string, 0, len(byName))
	result := map[string]v1.ImageIndex{}
	for imageName, group := range byName {
		slices.SortFunc(group, func(a, b Source) int { return strings.Compare(a.Platform.String(), b.Platform.String()) })
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		for _, src := range group {
			img, err := ociImage(src.Image)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", src.File, err)
			}
			platform := src.Platform
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &platform}})
		}
		names = append(names, imageName)
		result[imageName] = idx
	}
	slices.Sort(names)
	return names, result, nil
}

// Write writes the images of the tarballs files as an OCI image layout in
// dir, which must not exist: one index per image name, named by its
// RefNameAnnotation. The same tarballs give the same bytes. On error dir is
// not left behind.
func Write(dir string, files []string) (err error) {
	dir = filepath.Clean(dir)
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("%s exists", dir)
	}
	var sources []Source
	for _, file := range files {
		src, err := ReadSource(file)
		if err != nil {
			return err
		}
		sources = append(sources, src)
	}
	names, byName, err := indexes(sources)
	if err != nil {
		return err
	}
	staging := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".new")
	if err := os.RemoveAll(staging); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(staging)
		}
	}()
	path, err := layout.Write(staging, empty.Index)
	if err != nil {
		return err
	}
	for _, imageName := range names {
		annotations := map[string]string{RefNameAnnotation: imageName, containerdNameAnnotation: imageName}
		if err := path.AppendIndex(byName[imageName], layout.WithAnnotations(annotations)); err != nil {
			return fmt.Errorf("%s: %w", imageName, err)
		}
	}
	return os.Rename(staging, dir)
}
