package systemdunit

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeFiles writes files, path → content, under root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for path, content := range files {
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const packagedUnit = "[Unit]\nDescription=node agent\n\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\nStartLimitInterval=0\nRestartSec=10\n"

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    map[string]string
		wantArgv []string
		wantEnv  []string
	}{{
		name:     "the packaged unit alone",
		files:    map[string]string{"usr/lib/systemd/system/kubelet.service": packagedUnit},
		wantArgv: []string{"/usr/bin/kubelet"},
	}, {
		name: "a drop-in replaces the command and reads environment files",
		files: map[string]string{
			"usr/lib/systemd/system/kubelet.service": packagedUnit,
			"usr/lib/systemd/system/kubelet.service.d/10-node.conf": "[Service]\n" +
				"Environment=\"CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml --v=2\" PLAIN=x\n" +
				"# absent: optional\nEnvironmentFile=-/var/lib/kubelet/flags.env\n" +
				"EnvironmentFile=/etc/default/kubelet\n" +
				"ExecStart=\nExecStart=/usr/bin/kubelet $CONFIG_ARGS $UNSET $EXTRA_ARGS --label=${PLAIN}-y \"${QUOTED}\"\n",
			"etc/default/kubelet": "# the operator's\nEXTRA_ARGS=\"--root-dir=/data/kubelet  --max-pods=50\"\nQUOTED='a b'\n",
		},
		wantArgv: []string{"/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml", "--v=2", "--root-dir=/data/kubelet", "--max-pods=50", "--label=x-y", "a b"},
		wantEnv:  []string{"CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml --v=2", "PLAIN=x", "EXTRA_ARGS=--root-dir=/data/kubelet  --max-pods=50", "QUOTED=a b"},
	}, {
		name: "/etc masks the packaged unit and a drop-in of the same name",
		files: map[string]string{
			"usr/lib/systemd/system/kubelet.service":                 packagedUnit,
			"etc/systemd/system/kubelet.service":                     "[Service]\nExecStart=/opt/bin/kubelet --from-etc\n",
			"usr/lib/systemd/system/kubelet.service.d/20-a.conf":     "[Service]\nEnvironment=A=usr\n",
			"etc/systemd/system/kubelet.service.d/20-a.conf":         "[Service]\nEnvironment=A=etc\n",
			"usr/lib/systemd/system/kubelet.service.d/10-first.conf": "[Service]\nEnvironment=A=first B=1\n",
		},
		wantArgv: []string{"/opt/bin/kubelet", "--from-etc"},
		// 10-first.conf is applied before 20-a.conf, whatever its folder.
		wantEnv: []string{"A=etc", "B=1"},
	}, {
		name: "environment files override Environment=, whatever the order; empty assignments reset",
		files: map[string]string{
			"usr/lib/systemd/system/kubelet.service": packagedUnit,
			"usr/lib/systemd/system/kubelet.service.d/10-a.conf": "[Service]\n" +
				"Environment=DROPPED=1\nEnvironmentFile=/etc/dropped\n" +
				"Environment=\nEnvironmentFile=\n" +
				"EnvironmentFile=/etc/default/kubelet\n",
			"usr/lib/systemd/system/kubelet.service.d/20-b.conf": "[Service]\n" +
				"Environment=EXTRA_ARGS=--from-environment\n" +
				"ExecStart=\nExecStart=/usr/bin/kubelet $EXTRA_ARGS\n",
			"etc/default/kubelet": "EXTRA_ARGS=\"--from-file '--node-labels=a=b c'\"\n",
		},
		wantArgv: []string{"/usr/bin/kubelet", "--from-file", "--node-labels=a=b c"},
		wantEnv:  []string{"EXTRA_ARGS=--from-file '--node-labels=a=b c'"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tc.files)
			c, err := Load(root, "kubelet.service")
			if err != nil {
				t.Fatal(err)
			}
			if argv := append([]string{c.Path}, c.Args...); !slices.Equal(argv, tc.wantArgv) {
				t.Errorf("argv %q, want %q", argv, tc.wantArgv)
			}
			if !slices.Equal(c.Env, tc.wantEnv) {
				t.Errorf("env %q, want %q", c.Env, tc.wantEnv)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		wantErr string
	}{{
		name:    "no unit",
		files:   map[string]string{"etc/default/kubelet": "A=1\n"},
		wantErr: "no kubelet.service under",
	}, {
		name: "a drop-in adds a command without resetting",
		files: map[string]string{
			"usr/lib/systemd/system/kubelet.service":             packagedUnit,
			"etc/systemd/system/kubelet.service.d/10-extra.conf": "[Service]\nExecStart=/usr/bin/kubelet --v=4\n",
		},
		wantErr: "has 2 ExecStart= commands",
	}, {
		name: "a required environment file is missing",
		files: map[string]string{
			"usr/lib/systemd/system/kubelet.service":           packagedUnit,
			"etc/systemd/system/kubelet.service.d/10-env.conf": "[Service]\nEnvironmentFile=/etc/default/kubelet\n",
		},
		wantErr: "EnvironmentFile=/etc/default/kubelet: open ",
	}, {
		name: "an environment file line that is not an assignment",
		files: map[string]string{
			"usr/lib/systemd/system/kubelet.service":           packagedUnit,
			"etc/systemd/system/kubelet.service.d/10-env.conf": "[Service]\nEnvironmentFile=/etc/default/kubelet\n",
			"etc/default/kubelet":                              "--v=2\n",
		},
		wantErr: `/etc/default/kubelet:1: "--v=2" is not NAME=VALUE`,
	}, {
		name:    "a command prefix",
		files:   map[string]string{"usr/lib/systemd/system/kubelet.service": "[Service]\nExecStart=-/usr/bin/kubelet\n"},
		wantErr: `the prefix "-" is not supported here`,
	}, {
		name:    "a relative executable",
		files:   map[string]string{"usr/lib/systemd/system/kubelet.service": "[Service]\nExecStart=kubelet\n"},
		wantErr: "the executable is not an absolute path",
	}, {
		name:    "an option that changes how the command runs",
		files:   map[string]string{"usr/lib/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet\nUser=kubelet\n"},
		wantErr: "User= is not supported here",
	}, {
		name:    "an unterminated quote",
		files:   map[string]string{"usr/lib/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet \"--v=2\n"},
		wantErr: `unterminated " quote`,
	}, {
		name:    "a specifier",
		files:   map[string]string{"usr/lib/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet --hostname-override=%H\n"},
		wantErr: "% specifiers are not supported here",
	}, {
		name:    "a $ that is not a variable",
		files:   map[string]string{"usr/lib/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet --x=$A\n"},
		wantErr: "neither a word $NAME nor ${NAME}",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tc.files)
			_, err := Load(root, "kubelet.service")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadRestart(t *testing.T) {
	for _, tc := range []struct {
		name, dropIn string
		wantRestart  string
		wantSec      time.Duration
	}{
		{"the packaged unit's", "", "always", 10 * time.Second},
		{"a drop-in's, in a unit", "[Service]\nRestart=on-failure\nRestartSec=250ms\n", "on-failure", 250 * time.Millisecond},
		{"a fraction of a second", "[Service]\nRestartSec=1.5\n", "always", 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			files := map[string]string{"usr/lib/systemd/system/kubelet.service": packagedUnit}
			if tc.dropIn != "" {
				files["etc/systemd/system/kubelet.service.d/50-restart.conf"] = tc.dropIn
			}
			writeFiles(t, root, files)
			c, err := Load(root, "kubelet.service")
			if err != nil {
				t.Fatal(err)
			}
			if c.Restart != tc.wantRestart || c.RestartSec != tc.wantSec {
				t.Errorf("Restart=%s RestartSec=%v, want %s and %v", c.Restart, c.RestartSec, tc.wantRestart, tc.wantSec)
			}
		})
	}
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"usr/lib/systemd/system/kubelet.service": packagedUnit,
		"etc/systemd/system/kubelet.service.d/50-restart.conf": "[Service]\nRestartSec=5 min\n"})
	if _, err := Load(root, "kubelet.service"); err == nil || !strings.Contains(err.Error(), "RestartSec=5 min") {
		t.Errorf("RestartSec=5 min: got %v, want an error naming it", err)
	}
}
