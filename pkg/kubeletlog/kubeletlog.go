// Package kubeletlog reads a kubelet's log from where a test started
// watching it: the soak's probe check and the real node's scenarios count
// what the kubelet logged since an offset.
package kubeletlog

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Offset is where the log at path ends now: what the kubelet logs from here
// on is after it.
func Offset(path string) (int64, error) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// LinesAfter returns the lines of the log at path after offset. A log now
// shorter than offset is an error: it is not the log the offset was taken
// of, and reading it would find nothing and say so as if nothing was logged.
func LinesAfter(path string, offset int64) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if info.Size() < offset {
		return nil, fmt.Errorf("%s is shorter than it was (%d < %d bytes): not the log the count started in", path, info.Size(), offset)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return strings.Split(string(data), "\n"), nil
}
