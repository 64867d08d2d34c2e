package imagelayout

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// Check checks that dir is an OCI image layout holding exactly the images
// of the tarballs files, as Write makes it: every blob has the digest it is
// named by, every name is one index over exactly the platforms the tarballs
// give it, and each of its images has its tarball's config and layers.
func Check(dir string, files []string) error {
	want := map[string]map[string]Source{}
	for _, file := range files {
		src, err := ReadSource(file)
		if err != nil {
			return err
		}
		if want[src.Name] == nil {
			want[src.Name] = map[string]Source{}
		}
		want[src.Name][src.Platform.String()] = src
	}
	top, manifest, err := readLayout(dir)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, desc := range manifest.Manifests {
		imageName := desc.Annotations[RefNameAnnotation]
		platforms, ok := want[imageName]
		switch {
		case imageName == "":
			return fmt.Errorf("%s/index.json: %s has no %s", dir, desc.Digest, RefNameAnnotation)
		case seen[imageName]:
			return fmt.Errorf("%s/index.json names %s twice", dir, imageName)
		case !ok:
			return fmt.Errorf("%s holds %s, which no image tarball of the release is", dir, imageName)
		}
		seen[imageName] = true
		idx, err := top.ImageIndex(desc.Digest)
		if err != nil {
			return fmt.Errorf("%s, %s: %w", dir, imageName, err)
		}
		// Nothing below reads a blob by its name but for this: a blob
		// that is not what its name says is found here or by validate.
		if got, err := idx.Digest(); err != nil || got != desc.Digest {
			return fmt.Errorf("%s, %s: %s is not the index index.json names (%v)", dir, imageName, got, err)
		}
		if err := validate.Index(idx); err != nil {
			return fmt.Errorf("%s, %s does not validate: %w", dir, imageName, err)
		}
		if err := checkIndex(idx, platforms); err != nil {
			return fmt.Errorf("%s, %s: %w", dir, imageName, err)
		}
	}
	for imageName, platforms := range want {
		if !seen[imageName] {
			for _, src := range platforms {
				return fmt.Errorf("%s has no %s, which %s holds", dir, imageName, src.File)
			}
		}
	}
	return nil
}

// readLayout reads the top index of the OCI image layout in dir.
func readLayout(dir string) (v1.ImageIndex, *v1.IndexManifest, error) {
	path, err := layout.FromPath(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%s is no OCI image layout: %w", dir, err)
	}
	top, err := path.ImageIndex()
	if err != nil {
		return nil, nil, fmt.Errorf("%s/index.json: %w", dir, err)
	}
	manifest, err := top.IndexManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("%s/index.json: %w", dir, err)
	}
	return top, manifest, nil
}

// checkIndex checks that idx has one image per platform of want, with the
// config and layers of that platform's tarball.
func checkIndex(idx v1.ImageIndex, want map[string]Source) error {
	manifest, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, desc := range manifest.Manifests {
		if desc.Platform == nil {
			return fmt.Errorf("%s names no platform", desc.Digest)
		}
		platform := desc.Platform.String()
		src, ok := want[platform]
		if !ok || seen[platform] {
			return fmt.Errorf("an image for %s, which the release's tarballs have not, or not once", platform)
		}
		seen[platform] = true
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return fmt.Errorf("%s: %w", platform, err)
		}
		if err := sameContent(img, src.Image); err != nil {
			return fmt.Errorf("%s is not %s: %w", platform, src.File, err)
		}
	}
	for platform, src := range want {
		if !seen[platform] {
			return fmt.Errorf("no image for %s (%s)", platform, src.File)
		}
	}
	return nil
}

// sameContent checks that got has want's config and compressed layers.
func sameContent(got, want v1.Image) error {
	gotConfig, err := got.ConfigName()
	if err != nil {
		return err
	}
	wantConfig, err := want.ConfigName()
	if err != nil {
		return err
	}
	if gotConfig != wantConfig {
		return fmt.Errorf("config %s, want %s", gotConfig, wantConfig)
	}
	gotLayers, err := got.Layers()
	if err != nil {
		return err
	}
	wantLayers, err := want.Layers()
	if err != nil {
		return err
	}
	if len(gotLayers) != len(wantLayers) {
		return fmt.Errorf("%d layers, want %d", len(gotLayers), len(wantLayers))
	}
	for i := range gotLayers {
		gotDigest, err := gotLayers[i].Digest()
		if err != nil {
			return err
		}
		wantDigest, err := wantLayers[i].Digest()
		if err != nil {
			return err
		}
		if gotDigest != wantDigest {
			return fmt.Errorf("layer %d is %s, want %s", i+1, gotDigest, wantDigest)
		}
	}
	return nil
}
