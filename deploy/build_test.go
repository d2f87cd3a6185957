package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// unitKeys reads a systemd unit file into its keys, each with every value
// it was given.
func unitKeys(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: line %q is not key=value", path, line)
		}
		keys[k] = append(keys[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestSystemdUnit(t *testing.T) {
	const unit = "systemd/regsync.service"
	keys := unitKeys(t, unit)
	if r := keys["ExecReload"]; len(r) != 1 || !strings.Contains(r[0], "-HUP $MAINPID") {
		t.Errorf("ExecReload %v: regsync reloads its configuration on SIGHUP", r)
	}
	if s := keys["ExecStart"]; len(s) != 1 || !strings.Contains(s[0], " serve --config ") {
		t.Errorf("ExecStart %v", s)
	}
	for _, k := range []string{"DynamicUser", "NoNewPrivileges", "ProtectSystem", "StateDirectory"} {
		if len(keys[k]) == 0 {
			t.Errorf("no %s", k)
		}
	}

	// systemd's own rating of the hardening, where systemd-analyze is
	// installed (systemd 252 or later for --offline).
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: the exposure rating is not checked")
	}
	out, err := exec.Command(analyze, "security", "--offline=true", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for regsync\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	exposure, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	if exposure > 3.0 {
		t.Errorf("exposure %.1f, want at most 3.0:\n%s", exposure, out)
	}
	t.Logf("systemd-analyze security exposure: %.1f", exposure)
}

func TestContainerfile(t *testing.T) {
	b, err := os.ReadFile("Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	file := string(b)

	// The binary is stamped through the same variables as `make build`.
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	stamp := regexp.MustCompile(`-X (main\.[a-z]+)=`)
	var want, got []string
	for _, m := range stamp.FindAllStringSubmatch(string(mk), -1) {
		want = append(want, m[1])
	}
	for _, m := range stamp.FindAllStringSubmatch(file, -1) {
		got = append(got, m[1])
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("Containerfile stamps %v, the Makefile %v", got, want)
	}
	for _, arg := range []string{"VERSION", "COMMIT"} {
		if !strings.Contains(file, "ARG "+arg) {
			t.Errorf("no %s build argument", arg)
		}
		if !strings.Contains(string(mk), "--build-arg "+arg+"=$("+arg+")") {
			t.Errorf("make image does not pass the Makefile's %s", arg)
		}
	}

	// The final stage runs as a numeric non-root user, which Kubernetes'
	// runAsNonRoot can verify.
	var user string
	for _, line := range strings.Split(file, "\n") {
		if u, ok := strings.CutPrefix(line, "USER "); ok {
			user = strings.TrimSpace(u)
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("final USER %q is not a numeric non-root user", user)
	}

	// Every top-level directory with code the binary is built from is
	// copied into the build, and none of it is in .dockerignore.
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	ignored := map[string]bool{}
	for _, line := range strings.Split(string(ignore), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			ignored[line] = true
		}
	}
	for _, must := range []string{".git", "data", "bin"} {
		if !ignored[must] {
			t.Errorf(".dockerignore does not exclude %s", must)
		}
	}
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "deploy" || !hasCode(t, filepath.Join("..", e.Name())) {
			continue
		}
		if !strings.Contains(file, "COPY "+e.Name()+" ") {
			t.Errorf("the Containerfile does not copy %s/", e.Name())
		}
		if ignored[e.Name()] {
			t.Errorf(".dockerignore excludes %s/, which the build needs", e.Name())
		}
	}
}

// hasCode reports whether dir holds Go files other than tests, at any depth.
func hasCode(t *testing.T, dir string) bool {
	t.Helper()
	var found bool
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != dir {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
