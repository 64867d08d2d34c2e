package main

import (
	"strings"
	"testing"
)

func TestRunUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"publish"}, `unknown command "publish"`},
		{[]string{"node-tarball", "-binary", "k"}, "-licenses, -attribution, -src-tarball, -version, -source-date-epoch, -out required"},
		{[]string{"attribution", "-binary", "k"}, "-title, -tree, -version, -modcache, -goroot, -out required"},
		{[]string{"package", "-format", "deb"}, "-config, -arch, -base, -source-date-epoch, -out-dir required"},
		{[]string{"package-version", "-base", "v1.36.5", "-revision", "0"}, "revision 0"},
		{[]string{"src-tarball", "-tree", ".", "-extra", "no-equals-sign", "-source-date-epoch", "1", "-out", "x"}, "want NAME=VALUE"},
	} {
		err := run(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run(%q): error %v, want one containing %q", c.args, err, c.want)
		}
	}
}
