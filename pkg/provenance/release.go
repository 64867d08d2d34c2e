package provenance

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/upstream"
)

// BundleSuffix names the Sigstore bundle of a file's provenance, beside it.
const BundleSuffix = ".provenance.sigstore.json"

// Attested are the files of bin/linux/<arch>/ that a release attests the
// provenance of: what it builds from the patched tree.
var Attested = []string{
	"kubelet", "kubeadm", "kubectl",
	"kube-apiserver.tar", "kube-controller-manager.tar", "kube-scheduler.tar", "kube-proxy.tar",
}

var releaseVersion = regexp.MustCompile(`^(v[0-9]+\.[0-9]+\.[0-9]+)-` + upstream.DistributionName + `\.([0-9]+)$`)

// ReleaseInputs reads what the release folder dir (named by its version)
// was built from, as this repository at root gives it: the base's module
// and staging modules from build/upstream.sum, its series from
// build/bases.tsv, and the toolchain from the source archive's
// .ctxfix/version.env, which must be the Go the kubelets were built with.
// It also gives the parameters of the build of each architecture.
func ReleaseInputs(root, dir string) (Inputs, func(arch string) Parameters, error) {
	m := releaseVersion.FindStringSubmatch(filepath.Base(filepath.Clean(dir)))
	if m == nil {
		return Inputs{}, nil, fmt.Errorf("%s is not named as a release folder (v1.36.5-%s.3)", dir, upstream.DistributionName)
	}
	base, revision := m[1], m[2]
	series, err := seriesOf(filepath.Join(root, "build", "bases.tsv"), base)
	if err != nil {
		return Inputs{}, nil, err
	}
	env, err := versionEnv(filepath.Join(dir, "kubernetes-src.tar.gz"))
	if err != nil {
		return Inputs{}, nil, err
	}
	epoch, goVersion := env["SOURCE_DATE_EPOCH"], env["GO_VERSION"]
	if _, err := strconv.ParseInt(epoch, 10, 64); err != nil || goVersion == "" {
		return Inputs{}, nil, fmt.Errorf("kubernetes-src.tar.gz: .ctxfix/version.env gives SOURCE_DATE_EPOCH %q and GO_VERSION %q", epoch, goVersion)
	}
	staging, err := upstream.StagingVersion(base)
	if err != nil {
		return Inputs{}, nil, err
	}
	in, err := ReadInputs(filepath.Join(root, "build", "upstream.sum"), root, filepath.Join(root, series), base, staging, goVersion)
	if err != nil {
		return Inputs{}, nil, err
	}
	params := func(arch string) Parameters {
		return Parameters{Target: "release", KubeVersion: base, Arch: arch, SourceDateEpoch: epoch, Revision: revision}
	}
	return in, params, nil
}

// VerifyRelease checks the provenance of every attested file of the release
// folder dir against this repository's inputs (ReleaseInputs): each must have
// its bundle, each bundle's statement must be the file's provenance, and the
// kubelets must have been built with the Go the provenance names. It does
// not verify the bundles' signatures: cosign verify-blob-attestation does.
// It returns a line per file checked.
func VerifyRelease(root, dir string) ([]string, error) {
	in, params, err := ReleaseInputs(root, dir)
	if err != nil {
		return nil, err
	}
	arches, err := filepath.Glob(filepath.Join(dir, "bin", "linux", "*"))
	if err != nil || len(arches) == 0 {
		return nil, fmt.Errorf("%s has no bin/linux/<arch> folders", dir)
	}
	sort.Strings(arches)
	var checked []string
	for _, archDir := range arches {
		arch := filepath.Base(archDir)
		info, err := buildinfo.ReadFile(filepath.Join(archDir, "kubelet"))
		if err != nil {
			return nil, fmt.Errorf("bin/linux/%s/kubelet: %w", arch, err)
		}
		if info.GoVersion != in.GoVersion {
			return nil, fmt.Errorf("bin/linux/%s/kubelet was built with %s, the source archive says %s", arch, info.GoVersion, in.GoVersion)
		}
		for _, name := range Attested {
			file := filepath.Join(archDir, name)
			what := "bin/linux/" + arch + "/" + name
			bundle, err := os.ReadFile(file + BundleSuffix)
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%s has no provenance (%s%s)", what, what, BundleSuffix)
			} else if err != nil {
				return nil, err
			}
			statement, err := StatementFromBundle(bundle)
			if err != nil {
				return nil, fmt.Errorf("%s%s: %w", what, BundleSuffix, err)
			}
			if err := Check(statement, file, in, params(arch)); err != nil {
				return nil, fmt.Errorf("provenance of %s: %w", what, err)
			}
			checked = append(checked, fmt.Sprintf("%s: built from k8s.io/kubernetes %s with %d patches, %d staging modules, %s",
				what, in.Upstream.Version, len(in.Patches), len(in.Staging), in.GoVersion))
		}
	}
	return checked, nil
}

// seriesOf reads the series folder of base from build/bases.tsv.
func seriesOf(basesFile, base string) (string, error) {
	f, err := os.Open(basesFile)
	if err != nil {
		return "", err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) >= 2 && !strings.HasPrefix(fields[0], "#") && fields[0] == base {
			return fields[1], nil
		}
	}
	if err := scanner.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s names no series for %s", basesFile, base)
}

// versionEnv reads the NAME='value' lines of .ctxfix/version.env in the
// source archive.
func versionEnv(srcTarball string) (map[string]string, error) {
	f, err := os.Open(srcTarball)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", srcTarball, err)
	}
	tr := tar.NewReader(gz)
	for {
		header, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s has no .ctxfix/version.env", srcTarball)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", srcTarball, err)
		}
		if strings.TrimPrefix(header.Name, "./") != ".ctxfix/version.env" {
			continue
		}
		env := map[string]string{}
		scanner := bufio.NewScanner(tr)
		for scanner.Scan() {
			name, value, ok := strings.Cut(scanner.Text(), "=")
			if ok {
				env[name] = strings.Trim(value, "'")
			}
		}
		return env, scanner.Err()
	}
}
