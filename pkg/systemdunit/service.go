// Package systemdunit reads a service unit installed under a root folder, as
// systemd would load it there, and says how systemd would start it: the
// command line of ExecStart= and the environment of Environment= and
// EnvironmentFile=. A node without systemd starts the kubelet its packages
// installed as the node's systemd would, from the unit file and its drop-ins
// (the deb's kubelet.service, kubeadm's 10-kubeadm.conf, the node's own).
//
// Only what a kubelet's unit uses is supported; anything else that would
// change the command line is refused, by name, rather than ignored.
package systemdunit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/unit"
)

// unitDirs are where systemd looks for system units, highest priority
// first (systemd.unit(5), "Unit File Load Path").
var unitDirs = []string{"/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// Command is how systemd starts a service.
type Command struct {
	// Path is the executable as the unit names it, an absolute path on the
	// node.
	Path string
	// Args are the arguments after Path, expanded.
	Args []string
	// Env is the service's environment, NAME=VALUE, each name where it was
	// first set: Environment= assignments in the order of the files, then
	// the environment files', which override them, a later assignment of a
	// name replacing an earlier one.
	Env []string
	// Files are the unit file and drop-ins read, in the order applied.
	Files []string
	// Restart is Restart= ("no" when unset), RestartSec how long systemd
	// waits before it starts the service again (100ms when unset).
	Restart    string
	RestartSec time.Duration
}

// Load reads service name ("kubelet.service") under root, as systemd loads
// it, and gives its command: the unit file from the first folder of the load
// path that has it, then its drop-ins (NAME.d/*.conf) from every folder, in
// the order of their file names, a drop-in masking one of the same name in
// a folder of lower priority. EnvironmentFile= paths are read under root.
func Load(root, name string) (Command, error) {
	var files []string
	for _, dir := range unitDirs {
		path := filepath.Join(root, dir, name)
		if _, err := os.Stat(path); err == nil {
			files = append(files, path)
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return Command{}, err
		}
	}
	if len(files) == 0 {
		return Command{}, fmt.Errorf("no %s under %s (looked in %s)", name, root, strings.Join(unitDirs, ", "))
	}
	dropIns := map[string]string{}
	for i := len(unitDirs) - 1; i >= 0; i-- {
		matches, err := filepath.Glob(filepath.Join(root, unitDirs[i], name+".d", "*.conf"))
		if err != nil {
			return Command{}, err
		}
		for _, m := range matches {
			dropIns[filepath.Base(m)] = m
		}
	}
	names := make([]string, 0, len(dropIns))
	for n := range dropIns {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, dropIns[n])
	}

	var execStart []string
	restart, restartSec := "no", 100*time.Millisecond
	// Environment= words and EnvironmentFile= paths, each in the order of
	// the files; an empty assignment resets its list, as systemd does.
	var assignments, environmentFiles []string
	for _, file := range files {
		options, err := readOptions(file)
		if err != nil {
			return Command{}, err
		}
		for _, o := range options {
			if o.Section != "Service" {
				continue
			}
			if strings.Contains(o.Value, "%") && (o.Name == "ExecStart" || o.Name == "Environment" || o.Name == "EnvironmentFile") {
				return Command{}, fmt.Errorf("%s: %s=%s: %% specifiers are not supported here", file, o.Name, o.Value)
			}
			switch o.Name {
			case "ExecStart":
				// An empty assignment resets the list, as drop-ins do to
				// replace the command.
				if o.Value == "" {
					execStart = nil
				} else {
					execStart = append(execStart, o.Value)
				}
			case "Environment":
				if o.Value == "" {
					assignments = nil
					continue
				}
				words, err := splitWords(o.Value)
				if err != nil {
					return Command{}, fmt.Errorf("%s: Environment=%s: %w", file, o.Value, err)
				}
				assignments = append(assignments, words...)
			case "EnvironmentFile":
				if o.Value == "" {
					environmentFiles = nil
					continue
				}
				environmentFiles = append(environmentFiles, o.Value)
			case "Restart":
				restart = o.Value
			case "RestartSec":
				d, err := parseTimeSpan(o.Value)
				if err != nil {
					return Command{}, fmt.Errorf("%s: RestartSec=%s: %w", file, o.Value, err)
				}
				restartSec = d
			case "ExecStartPre", "ExecStartPost", "User", "Group", "RootDirectory", "RootImage", "WorkingDirectory", "ExecSearchPath", "PassEnvironment", "UnsetEnvironment":
				if o.Value != "" {
					return Command{}, fmt.Errorf("%s: %s= is not supported here", file, o.Name)
				}
			}
		}
	}
	if len(execStart) != 1 {
		return Command{}, fmt.Errorf("%s has %d ExecStart= commands after its drop-ins, want 1 (%s)", name, len(execStart), strings.Join(files, ", "))
	}

	env := map[string]string{}
	var order []string
	set := func(assignment, from string) error {
		key, value, ok := strings.Cut(assignment, "=")
		if !ok || !isName(key) {
			return fmt.Errorf("%s: %q is not NAME=VALUE", from, assignment)
		}
		if _, seen := env[key]; !seen {
			order = append(order, key)
		}
		env[key] = value
		return nil
	}
	for _, assignment := range assignments {
		if err := set(assignment, name+" Environment="); err != nil {
			return Command{}, err
		}
	}
	// systemd.exec(5): settings from environment files override those of
	// Environment=, and a later file's override an earlier one's.
	for _, f := range environmentFiles {
		path, optional := strings.CutPrefix(f, "-")
		lines, err := readEnvironmentFile(filepath.Join(root, path))
		if errors.Is(err, fs.ErrNotExist) && optional {
			continue
		}
		if err != nil {
			return Command{}, fmt.Errorf("%s EnvironmentFile=%s: %w", name, f, err)
		}
		for _, assignment := range lines {
			if err := set(assignment, path); err != nil {
				return Command{}, err
			}
		}
	}

	argv, err := expandCommand(execStart[0], env)
	if err != nil {
		return Command{}, fmt.Errorf("%s ExecStart=%s: %w", name, execStart[0], err)
	}
	if !filepath.IsAbs(argv[0]) {
		return Command{}, fmt.Errorf("%s ExecStart=%s: the executable is not an absolute path", name, execStart[0])
	}
	c := Command{Path: argv[0], Args: argv[1:], Files: files, Restart: restart, RestartSec: restartSec}
	for _, key := range order {
		c.Env = append(c.Env, key+"="+env[key])
	}
	return c, nil
}

// parseTimeSpan reads a systemd time span (systemd.time(5)) of one unit: a
// number alone is seconds.
func parseTimeSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if seconds, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(seconds * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a time span this reader knows (a number of seconds, or 10s, 100ms, 1min as 1m): %w", err)
	}
	return d, nil
}

func readOptions(file string) ([]*unit.UnitOption, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	options, err := unit.DeserializeOptions(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return options, nil
}

// readEnvironmentFile gives the NAME=VALUE assignments of an environment
// file as systemd reads one: one per line, "#" and ";" lines are comments,
// a value may be quoted.
func readEnvironmentFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var assignments []string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		// systemd ignores such a line with a warning; here it is an error,
		// since it is a flag that the service would not get.
		if key = strings.TrimSpace(key); !ok || !isName(key) {
			return nil, fmt.Errorf("%s:%d: %q is not NAME=VALUE", path, i+1, line)
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') {
			if value[len(value)-1] != value[0] {
				return nil, fmt.Errorf("%s:%d: unterminated quote in %q", path, i+1, line)
			}
			value = value[1 : len(value)-1]
		}
		assignments = append(assignments, key+"="+value)
	}
	return assignments, nil
}

// splitWords splits s at whitespace into words, a word in double or single
// quotes keeping its whitespace and losing its quotes.
func splitWords(s string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			} else {
				word.WriteByte(ch)
			}
		case ch == '"' || ch == '\'':
			quote, inWord = ch, true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case ch == '\\':
			return nil, errors.New("backslash escapes are not supported here")
		default:
			word.WriteByte(ch)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

// expandCommand gives the argv of an ExecStart= line (systemd.service(5),
// "Command lines"): a word that is exactly $NAME becomes the variable's value
// split at whitespace (quotes respected and removed), zero or more words;
// ${NAME} becomes its value as it is, within one word. An unset variable is
// empty.
func expandCommand(line string, env map[string]string) ([]string, error) {
	if strings.ContainsAny(line[:1], "-@:+!|") {
		return nil, fmt.Errorf("the prefix %q is not supported here", line[:1])
	}
	words, err := splitWords(line)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, errors.New("no command")
	}
	var argv []string
	for _, w := range words {
		if name, ok := strings.CutPrefix(w, "$"); ok && isName(name) {
			// Split at whitespace, quotes respected and removed.
			words, err := splitWords(env[name])
			if err != nil {
				return nil, fmt.Errorf("$%s: %w", name, err)
			}
			argv = append(argv, words...)
			continue
		}
		expanded, err := expandBraced(w, env)
		if err != nil {
			return nil, err
		}
		argv = append(argv, expanded)
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("no command")
	}
	return argv, nil
}

// expandBraced replaces each ${NAME} in word with NAME's value; any other
// "$" is refused rather than guessed at.
func expandBraced(word string, env map[string]string) (string, error) {
	var out strings.Builder
	for {
		i := strings.IndexByte(word, '$')
		if i < 0 {
			out.WriteString(word)
			return out.String(), nil
		}
		out.WriteString(word[:i])
		rest := word[i+1:]
		if !strings.HasPrefix(rest, "{") {
			return "", fmt.Errorf("%q: a $ that is neither a word $NAME nor ${NAME}", word)
		}
		end := strings.IndexByte(rest, '}')
		if end < 0 || !isName(rest[1:end]) {
			return "", fmt.Errorf("%q: a ${ without a NAME}", word)
		}
		out.WriteString(env[rest[1:end]])
		word = rest[end+1:]
	}
}

func isName(s string) bool {
	return s != "" && !slices.ContainsFunc([]byte(s), func(c byte) bool {
		return !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9')
	})
}
