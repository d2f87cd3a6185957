package deploy

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// makeRecipe returns the recipe lines of the Makefile's target, joined
// across backslash continuations.
func makeRecipe(t *testing.T, mk, target string) []string {
	t.Helper()
	mk = strings.ReplaceAll(mk, "\\\n", " ")
	var lines []string
	in := false
	for _, line := range strings.Split(mk, "\n") {
		switch {
		case strings.HasPrefix(line, target+":"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			lines = append(lines, strings.TrimSpace(line))
		case in:
			return lines
		}
	}
	if !in {
		t.Fatalf("the Makefile has no %s target", target)
	}
	return lines
}

// walkRepo calls fn for every file of the repository (the parent of
// deploy/), by its slash-separated path from the root, skipping hidden
// directories and testdata.
func walkRepo(t *testing.T, fn func(rel string)) {
	t.Helper()
	err := filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != ".." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, err := filepath.Rel("..", p)
			if err != nil {
				return err
			}
			fn(filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readMakefile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMakeCoversEveryModule: `go test ./...` does not descend into a nested
// module, so make test and make lint run each module the Makefile names,
// which must be every go.mod of the repository.
func TestMakeCoversEveryModule(t *testing.T) {
	mk := readMakefile(t)
	var modules []string
	walkRepo(t, func(rel string) {
		if path.Base(rel) == "go.mod" {
			modules = append(modules, path.Dir(rel))
		}
	})
	m := regexp.MustCompile(`(?m)^MODULES\s*:?=(.*)$`).FindStringSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile sets no MODULES")
	}
	listed := strings.Fields(m[1])
	slices.Sort(modules)
	slices.Sort(listed)
	if !slices.Equal(listed, modules) {
		t.Errorf("the Makefile's MODULES are %v, the repository's go.mod files are in %v", listed, modules)
	}
	for _, target := range []string{"test", "lint"} {
		if !strings.Contains(strings.Join(makeRecipe(t, mk, target), "\n"), "for m in $(MODULES)") {
			t.Errorf("make %s does not run every module of MODULES", target)
		}
	}
}

// fuzzLine is one line of make fuzz: the fuzz target it runs (anchored) and
// the package directory, relative to the module given with -C, if any.
var fuzzLine = regexp.MustCompile(`^\$\(GO\)(?: -C (\S+))? test .*-fuzz '\^(Fuzz\w+)\$\$' .*?(\./\S*)$`)

// TestMakeFuzzCoversEveryFuzzTarget: make fuzz runs every fuzz target of
// every module, and nothing that no longer exists.
func TestMakeFuzzCoversEveryFuzzTarget(t *testing.T) {
	fuzzFunc := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)
	var found []string
	walkRepo(t, func(rel string) {
		if !strings.HasSuffix(rel, "_test.go") {
			return
		}
		src, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fuzzFunc.FindAllStringSubmatch(string(src), -1) {
			found = append(found, path.Dir(rel)+" "+m[1])
		}
	})
	if len(found) == 0 {
		t.Fatal("found no fuzz target in the repository")
	}

	var listed []string
	for _, line := range makeRecipe(t, readMakefile(t), "fuzz") {
		m := fuzzLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("make fuzz line %q does not run one anchored fuzz target in one package", line)
			continue
		}
		module := m[1]
		if module == "" {
			module = "."
		}
		listed = append(listed, path.Join(module, m[3])+" "+m[2])
	}
	for _, f := range found {
		if !slices.Contains(listed, f) {
			t.Errorf("make fuzz does not run %s", f)
		}
	}
	for _, l := range listed {
		if !slices.Contains(found, l) {
			t.Errorf("make fuzz runs %s, which does not exist", l)
		}
	}
}
