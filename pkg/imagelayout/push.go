package imagelayout

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/klog/v2"
)

// MirrorNames returns the names that the layout's image named imageName
// takes in repository ("registry.example.com/ctxfix"), as kubeadm asks for
// them.
// The first is kubeadm's name for it with imageRepository set to
// repository: the last element of its repository and its tag under
// repository, for kubeadm drops the "coredns/" of
// registry.k8s.io/coredns/coredns for any other repository. Where upstream's
// path is longer, the second keeps it whole under repository, which is what
// kubeadm asks for with dns.imageRepository set to repository + "/coredns",
// as image-builder's kubeadm.yml sets it.
func MirrorNames(imageName, repository string) ([]name.Tag, error) {
	tag, err := name.NewTag(imageName, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", imageName, err)
	}
	repository = strings.TrimSuffix(repository, "/")
	paths := []string{path.Base(tag.RepositoryStr())}
	if whole := tag.RepositoryStr(); whole != paths[0] {
		paths = append(paths, whole)
	}
	var targets []name.Tag
	for _, p := range paths {
		target, err := name.NewTag(repository+"/"+p+":"+tag.TagStr(), name.StrictValidation)
		if err != nil {
			return nil, fmt.Errorf("repository %q: %w", repository, err)
		}
		targets = append(targets, target)
	}
	return targets, nil
}

// Pushed is one index of the layout as the registry serves it after the
// push.
type Pushed struct {
	// Name is the image's name in the layout.
	Name string
	// Target is where it was pushed.
	Target name.Tag
	// Digest is the index's, which Target resolves to.
	Digest v1.Hash
	// Platforms maps each platform ("linux/arm64") to the digest of the
	// image the registry resolves the target to for it.
	Platforms map[string]v1.Hash
}

// Push pushes every image of the layout in dir to repository under its
// MirrorNames, then reads each back: the tag must resolve to the layout's
// index, and each platform of the index to the layout's image for it.
func Push(ctx context.Context, dir, repository string, options ...remote.Option) ([]Pushed, error) {
	logger := klog.FromContext(ctx)
	options = append(options, remote.WithContext(ctx))
	top, manifest, err := readLayout(dir)
	if err != nil {
		return nil, err
	}
	var pushed []Pushed
	for _, desc := range manifest.Manifests {
		imageName := desc.Annotations[RefNameAnnotation]
		targets, err := MirrorNames(imageName, repository)
		if err != nil {
			return nil, err
		}
		idx, err := top.ImageIndex(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", imageName, err)
		}
		for _, target := range targets {
			if err := remote.WriteIndex(target, idx, options...); err != nil {
				return nil, fmt.Errorf("push %s to %s: %w", imageName, target, err)
			}
			result, err := readBack(target, idx, options)
			if err != nil {
				return nil, fmt.Errorf("%s after the push: %w", target, err)
			}
			result.Name = imageName
			logger.Info("Pushed", "image", imageName, "target", target.String(), "digest", result.Digest.String())
			pushed = append(pushed, result)
		}
	}
	return pushed, nil
}

// readBack checks that target resolves to idx, and each of idx's platforms
// to idx's image for it.
func readBack(target name.Tag, idx v1.ImageIndex, options []remote.Option) (Pushed, error) {
	want, err := idx.Digest()
	if err != nil {
		return Pushed{}, err
	}
	desc, err := remote.Head(target, options...)
	if err != nil {
		return Pushed{}, err
	}
	if desc.Digest != want {
		return Pushed{}, fmt.Errorf("resolves to %s, want the layout's %s", desc.Digest, want)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		return Pushed{}, err
	}
	result := Pushed{Target: target, Digest: want, Platforms: map[string]v1.Hash{}}
	for _, child := range manifest.Manifests {
		if child.Platform == nil {
			return Pushed{}, fmt.Errorf("the layout's index names no platform for %s", child.Digest)
		}
		img, err := remote.Image(target, append(options, remote.WithPlatform(*child.Platform))...)
		if err != nil {
			return Pushed{}, fmt.Errorf("%s: %w", child.Platform.String(), err)
		}
		got, err := img.Digest()
		if err != nil {
			return Pushed{}, err
		}
		if got != child.Digest {
			return Pushed{}, fmt.Errorf("%s resolves to %s, want the layout's %s", child.Platform.String(), got, child.Digest)
		}
		result.Platforms[child.Platform.String()] = got
	}
	return result, nil
}

// HTTPSTransport is a transport that trusts the system's certificate
// authorities and those of caFile (none if empty), and refuses to send
// anything over plain HTTP: go-containerregistry falls back to HTTP for
// loopback and private addresses, and a mirror that only answers that way
// is one containerd would not pull from with a hosts.toml that names a CA.
func HTTPSTransport(caFile string) (http.RoundTripper, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		return nil, err
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if transport.TLSClientConfig == nil {
		transport.TLSClientConfig = &tls.Config{}
	}
	transport.TLSClientConfig.RootCAs = pool
	return httpsOnly{next: transport}, nil
}

type httpsOnly struct{ next http.RoundTripper }

func (t httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return nil, fmt.Errorf("refusing %s %s: only HTTPS", req.Method, req.URL.Redacted())
	}
	return t.next.RoundTrip(req)
}
