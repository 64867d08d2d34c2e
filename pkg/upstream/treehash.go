package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/dirhash"
)

// HashGitRevision returns the go.sum hash ("h1:...") of the files committed at
// rev in the git repository at repo, computed as the go command hashes an
// extracted module folder (dirhash.Hash1, every file named module@version/path).
//
// A tree made from a module is checked through what git recorded, not through
// the folder it was copied from: whatever changed the content on its way in
// (a module cache folder written to after extraction, a leftover file, a
// clean filter or end-of-line conversion from some git configuration) shows as
// a hash that differs from the one the checksum database vouches for.
func HashGitRevision(ctx context.Context, repo, rev, moduleAtVersion string) (string, error) {
	blobs, err := listBlobs(ctx, repo, rev)
	if err != nil {
		return "", err
	}
	if len(blobs) == 0 {
		return "", fmt.Errorf("%s has no files at %s", repo, rev)
	}

	cmd := exec.CommandContext(ctx, "git", "-C", repo, "cat-file", "--batch")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("git cat-file: %w", err)
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	batch := &blobReader{in: stdin, out: bufio.NewReaderSize(stdout, 1<<20)}

	prefix := moduleAtVersion + "/"
	files := make([]string, 0, len(blobs))
	for path := range blobs {
		files = append(files, prefix+path)
	}
	h, err := dirhash.Hash1(files, func(name string) (io.ReadCloser, error) {
		content, err := batch.read(blobs[strings.TrimPrefix(name, prefix)])
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w (%s)", name, err, strings.TrimSpace(stderr.String()))
		}
		return io.NopCloser(bytes.NewReader(content)), nil
	})
	if err != nil {
		return "", err
	}
	return h, nil
}

// listBlobs maps every file path at rev to its blob id. Module trees hold
// regular files only; anything else (a symlink, a submodule) cannot have come
// from a module zip and is an error.
func listBlobs(ctx context.Context, repo, rev string) (map[string]string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "ls-tree", "-r", "-z", "--full-tree", rev).Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return nil, fmt.Errorf("git ls-tree %s in %s: %s", rev, repo, strings.TrimSpace(string(exitErr.Stderr)))
		}
		return nil, fmt.Errorf("git ls-tree %s in %s: %w", rev, repo, err)
	}
	blobs := map[string]string{}
	for _, entry := range bytes.Split(out, []byte{0}) {
		if len(entry) == 0 {
			continue
		}
		// "<mode> <type> <object>\t<path>"
		meta, path, ok := strings.Cut(string(entry), "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 3 {
			return nil, fmt.Errorf("git ls-tree %s: unexpected entry %q", rev, entry)
		}
		if fields[1] != "blob" || (fields[0] != "100644" && fields[0] != "100755") {
			return nil, fmt.Errorf("%s at %s is a %s (mode %s), which no module zip holds", path, rev, fields[1], fields[0])
		}
		blobs[path] = fields[2]
	}
	return blobs, nil
}

// blobReader reads blobs one at a time through one "git cat-file --batch".
type blobReader struct {
	in  io.Writer
	out *bufio.Reader
}

func (b *blobReader) read(object string) ([]byte, error) {
	if _, err := fmt.Fprintln(b.in, object); err != nil {
		return nil, err
	}
	header, err := b.out.ReadString('\n')
	if err != nil {
		return nil, err
	}
	// "<object> blob <size>\n", or "<object> missing\n".
	fields := strings.Fields(header)
	if len(fields) != 3 || fields[1] != "blob" {
		return nil, fmt.Errorf("git cat-file %s: %s", object, strings.TrimSpace(header))
	}
	size, err := strconv.Atoi(fields[2])
	if err != nil {
		return nil, fmt.Errorf("git cat-file %s: size %q: %w", object, fields[2], err)
	}
	content := make([]byte, size+1) // and the newline that ends the entry
	if _, err := io.ReadFull(b.out, content); err != nil {
		return nil, err
	}
	return content[:size], nil
}
