package release

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// Formats are the package formats a release holds.
var Formats = []string{"deb", "rpm"}

// PackageOptions say what to package and how.
type PackageOptions struct {
	// Format is "deb" or "rpm".
	Format string
	// Config is the nfpm configuration: name, contents, dependencies,
	// scripts. Its ${NAME} references are expanded from Vars.
	Config string
	Vars   map[string]string
	// Arch is the Go architecture: amd64, arm64.
	Arch    string
	Version PackageVersion
	// Description, when set, replaces the configuration's (a test's
	// stand-in for upstream's package says so there).
	Description string
	// MTime is every file's modification time in the package.
	MTime time.Time
	// OutDir is where the package is written, under its conventional name.
	OutDir string
}

// BuildPackage writes the package opts describe and returns its path. The
// file appears only once it is complete.
func BuildPackage(opts PackageOptions) (string, error) {
	var unset []string
	config, err := nfpm.ParseFileWithEnvMapping(opts.Config, func(name string) string {
		value, ok := opts.Vars[name]
		// nfpm itself looks up its signing passphrases; we do not sign.
		if !ok && !strings.HasPrefix(name, "NFPM_") {
			unset = append(unset, name)
		}
		return value
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", opts.Config, err)
	}
	if len(unset) > 0 {
		sort.Strings(unset)
		return "", fmt.Errorf("%s refers to %s, which the release does not set", opts.Config, strings.Join(unset, ", "))
	}
	info, err := config.Get(opts.Format)
	if err != nil {
		return "", fmt.Errorf("%s: %w", opts.Config, err)
	}
	// Scripts are named relative to the configuration, wherever it is run.
	for _, script := range []*string{&info.Scripts.PostInstall, &info.Scripts.PostRemove, &info.Scripts.PreInstall, &info.Scripts.PreRemove} {
		if *script != "" && !filepath.IsAbs(*script) {
			*script = filepath.Join(filepath.Dir(opts.Config), *script)
		}
	}
	info.Arch = opts.Arch
	if opts.Description != "" {
		info.Description = opts.Description
	}
	info.Platform = "linux"
	// Our versions are already spelled for each format; nfpm must not
	// reinterpret them as semver.
	info.VersionSchema = "none"
	info.Version = opts.Version.Version
	// Parsing filled these in from nfpm's placeholder version.
	info.Prerelease, info.VersionMetadata = "", ""
	switch opts.Format {
	case "deb":
		info.Release = opts.Version.DebRevision
	case "rpm":
		info.Release = opts.Version.RPMRelease
	default:
		return "", fmt.Errorf("unknown package format %q: want one of %s", opts.Format, strings.Join(Formats, ", "))
	}
	info.MTime = opts.MTime
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, opts.Format); err != nil {
		return "", fmt.Errorf("%s for %s: %w", opts.Config, opts.Format, err)
	}
	packager, err := nfpm.Get(opts.Format)
	if err != nil {
		return "", err
	}
	out := filepath.Join(opts.OutDir, packager.ConventionalFileName(info))
	tmp, err := os.CreateTemp(opts.OutDir, "."+filepath.Base(out)+".*")
	if err != nil {
		return "", err
	}
	if err := packager.Package(info, tmp); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", fmt.Errorf("packaging %s: %w", filepath.Base(out), err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return out, nil
}
