package imagelayout

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// Check checks that dir is an OCI image layout holding exactly the images
// of the tarballs files, as Write makes it: every name is one index over
// exactly the platforms the tarballs give it, each of its images has its
// tarball's config and layers, and blobs/ holds exactly the blobs these
// reach, each with the digest it is named by.
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
		if other, ok := want[src.Name][src.Platform.String()]; ok {
			return fmt.Errorf("%s and %s are both %s for %s", other.File, src.File, src.Name, src.Platform.String())
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
		got, err := idx.Digest()
		if err != nil {
			return fmt.Errorf("%s, %s: %w", dir, imageName, err)
		}
		if got != desc.Digest {
			return fmt.Errorf("%s, %s: blob %s is not the index index.json names: its digest is %s", dir, imageName, desc.Digest, got)
		}
		if err := validate.Index(idx); err != nil {
			return fmt.Errorf("%s, %s does not validate: %w", dir, imageName, err)
		}
		if err := checkIndex(idx, platforms); err != nil {
			return fmt.Errorf("%s, %s: %w", dir, imageName, err)
		}
	}
	for _, imageName := range slices.Sorted(maps.Keys(want)) {
		if !seen[imageName] {
			for _, platform := range slices.Sorted(maps.Keys(want[imageName])) {
				return fmt.Errorf("%s has no %s, which %s holds", dir, imageName, want[imageName][platform].File)
			}
		}
	}
	return checkBlobs(dir, top)
}

// checkBlobs checks that blobs/sha256 of the layout in dir holds exactly
// the blobs that top reaches (indexes, manifests, configs, layers), each
// with the sha256 it is named by: nothing else is pushed or verified, so
// nothing else may be there.
func checkBlobs(dir string, top v1.ImageIndex) error {
	reached := map[v1.Hash]bool{}
	if err := reach(top, reached); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	files, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		return err
	}
	present := map[v1.Hash]bool{}
	for _, file := range files {
		name := v1.Hash{Algorithm: "sha256", Hex: file.Name()}
		if !reached[name] {
			return fmt.Errorf("%s holds blob %s, which no index or image of it names", dir, name)
		}
		sum, err := sha256File(filepath.Join(dir, "blobs", "sha256", file.Name()))
		if err != nil {
			return err
		}
		if sum != file.Name() {
			return fmt.Errorf("%s: blob %s has sha256 %s", dir, name, sum)
		}
		present[name] = true
	}
	for _, name := range slices.SortedFunc(maps.Keys(reached), func(a, b v1.Hash) int { return strings.Compare(a.Hex, b.Hex) }) {
		if !present[name] {
			return fmt.Errorf("%s has no blob %s, which it names", dir, name)
		}
	}
	return nil
}

// reach adds to reached the digests of every manifest, config and layer
// below idx, index.json's own top index excepted (it is no blob).
func reach(idx v1.ImageIndex, reached map[v1.Hash]bool) error {
	manifest, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, desc := range manifest.Manifests {
		reached[desc.Digest] = true
		switch {
		case desc.MediaType.IsIndex():
			child, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				return err
			}
			if err := reach(child, reached); err != nil {
				return err
			}
		case desc.MediaType.IsImage():
			img, err := idx.Image(desc.Digest)
			if err != nil {
				return err
			}
			m, err := img.Manifest()
			if err != nil {
				return err
			}
			reached[m.Config.Digest] = true
			for _, layer := range m.Layers {
				reached[layer.Digest] = true
			}
		default:
			return fmt.Errorf("%s is a %s, neither an index nor an image", desc.Digest, desc.MediaType)
		}
	}
	return nil
}

// sha256File is the sha256 of the file at path.
func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum, _, err := v1.SHA256(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return sum.Hex, nil
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
		if !ok {
			return fmt.Errorf("an image for %s, which no tarball of the release is", platform)
		}
		if seen[platform] {
			return fmt.Errorf("two images for %s", platform)
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
	for _, platform := range slices.Sorted(maps.Keys(want)) {
		if !seen[platform] {
			return fmt.Errorf("no image for %s (%s)", platform, want[platform].File)
		}
	}
	return nil
}

// sameContent checks that got has want's config and compressed layers.
func sameContent(got, want v1.Image) error {
	gotConfig, err := got.ConfigName()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	wantConfig, err := want.ConfigName()
	if err != nil {
		return fmt.Errorf("the tarball's config: %w", err)
	}
	if gotConfig != wantConfig {
		return fmt.Errorf("config %s, want %s", gotConfig, wantConfig)
	}
	gotLayers, err := got.Layers()
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	wantLayers, err := want.Layers()
	if err != nil {
		return fmt.Errorf("the tarball's layers: %w", err)
	}
	if len(gotLayers) != len(wantLayers) {
		return fmt.Errorf("%d layers, want %d", len(gotLayers), len(wantLayers))
	}
	for i := range gotLayers {
		gotDigest, err := gotLayers[i].Digest()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i+1, err)
		}
		wantDigest, err := wantLayers[i].Digest()
		if err != nil {
			return fmt.Errorf("the tarball's layer %d: %w", i+1, err)
		}
		if gotDigest != wantDigest {
			return fmt.Errorf("layer %d is %s, want %s", i+1, gotDigest, wantDigest)
		}
	}
	return nil
}
