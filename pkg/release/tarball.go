package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Entry is one member of a tarball. Exactly one of Source, Content (with
// IsContent), Linkname describes what it holds.
type Entry struct {
	// Name is the member's path inside the archive, "/"-separated.
	Name string
	// Source is a file on disk whose bytes the member holds.
	Source string
	// Content is the member's bytes when it has no file on disk.
	Content []byte
	// Linkname makes the member a symbolic link.
	Linkname string
	// Mode is the member's permission bits.
	Mode int64
}

// WriteTarGz writes entries to a gzipped tar at out, so that the same
// entries give the same bytes: members sorted by name, every parent
// directory present, owned by root, all with mtime, and a gzip header without
// name or time. The file appears at out only once it is complete.
func WriteTarGz(out string, entries []Entry, mtime time.Time) (err error) {
	entries = withParentDirs(entries)
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	zw, err := gzip.NewWriterLevel(tmp, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		if err := writeEntry(tw, e, mtime); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// dirMode is the permission of the directory members WriteTarGz adds.
const dirMode = 0o755

func withParentDirs(entries []Entry) []Entry {
	seen := map[string]bool{}
	var all []Entry
	for _, e := range entries {
		for dir := path.Dir(e.Name); dir != "." && dir != "/" && !seen[dir]; dir = path.Dir(dir) {
			seen[dir] = true
			all = append(all, Entry{Name: dir + "/", Mode: dirMode})
		}
	}
	all = append(all, entries...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all
}

func writeEntry(tw *tar.Writer, e Entry, mtime time.Time) error {
	hdr := &tar.Header{
		Name:    e.Name,
		Mode:    e.Mode,
		ModTime: mtime,
		Uname:   "root",
		Gname:   "root",
		Format:  tar.FormatPAX,
	}
	var body io.Reader
	switch {
	case strings.HasSuffix(e.Name, "/"):
		hdr.Typeflag = tar.TypeDir
	case e.Linkname != "":
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = e.Linkname
	case e.Source != "":
		f, err := os.Open(e.Source)
		if err != nil {
			return err
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", e.Source)
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = info.Size()
		body = f
	default:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = int64(len(e.Content))
		body = bytes.NewReader(e.Content)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if body != nil {
		if _, err := io.Copy(tw, body); err != nil {
			return err
		}
	}
	return nil
}

// NodeTarball lists the members of kubernetes-node-linux-<arch>.tar.gz as
// upstream lays it out, with the node's binaries in node/bin:
//
//	kubernetes/node/bin/kubelet (and kubeadm, kubectl)
//	kubernetes/LICENSES/...
//	kubernetes/ATTRIBUTION.txt
//	kubernetes/kubernetes-src.tar.gz
//	kubernetes/version
func NodeTarball(binaries []string, licensesDir, attribution, srcTarball, version string) ([]Entry, error) {
	if len(binaries) == 0 {
		return nil, fmt.Errorf("a node tarball needs at least the kubelet")
	}
	entries := []Entry{
		{Name: "kubernetes/ATTRIBUTION.txt", Source: attribution, Mode: 0o644},
		{Name: "kubernetes/kubernetes-src.tar.gz", Source: srcTarball, Mode: 0o644},
		{Name: "kubernetes/version", Content: []byte(version + "\n"), Mode: 0o644},
	}
	for _, bin := range binaries {
		entries = append(entries, Entry{Name: "kubernetes/node/bin/" + filepath.Base(bin), Source: bin, Mode: 0o755})
	}
	err := filepath.WalkDir(licensesDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		rel, err := filepath.Rel(licensesDir, p)
		if err != nil {
			return err
		}
		entries = append(entries, Entry{Name: "kubernetes/LICENSES/" + filepath.ToSlash(rel), Source: p, Mode: 0o644})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("licenses: %w", err)
	}
	return entries, nil
}

// SourceTarball lists the members of kubernetes-src.tar.gz: every file git
// tracks at the HEAD of tree, at the archive's top level as upstream's source
// tarball has them, plus extra members. The tree must be clean, so that what
// is archived is the commit the binaries were built from.
func SourceTarball(tree string, extra []Entry) ([]Entry, error) {
	status, err := exec.Command("git", "-C", tree, "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		return nil, fmt.Errorf("git status in %s: %w", tree, err)
	}
	if len(status) > 0 {
		return nil, fmt.Errorf("%s has uncommitted changes; the source archive must be the commit that was built", tree)
	}
	listing, err := exec.Command("git", "-C", tree, "ls-files", "-s", "-z").Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s: %w", tree, err)
	}
	var entries []Entry
	for _, line := range strings.Split(strings.TrimSuffix(string(listing), "\x00"), "\x00") {
		// "<mode> <object> <stage>\t<path>"
		meta, name, ok := strings.Cut(line, "\t")
		if !ok {
			return nil, fmt.Errorf("git ls-files: unexpected line %q", line)
		}
		file := filepath.Join(tree, filepath.FromSlash(name))
		switch mode := strings.Fields(meta)[0]; mode {
		case "100644":
			entries = append(entries, Entry{Name: name, Source: file, Mode: 0o644})
		case "100755":
			entries = append(entries, Entry{Name: name, Source: file, Mode: 0o755})
		case "120000":
			target, err := os.Readlink(file)
			if err != nil {
				return nil, err
			}
			entries = append(entries, Entry{Name: name, Linkname: target, Mode: 0o777})
		default:
			return nil, fmt.Errorf("%s: git mode %s is not a file or symlink", name, mode)
		}
	}
	return append(entries, extra...), nil
}
