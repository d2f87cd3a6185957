package events_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// consumerDoc is the page that tells a Go consumer how to get this package.
const consumerDoc = "../docs/events.md"

// fencedBlocks returns the fenced code blocks of a Markdown page that
// follow the heading, each with the language its fence names.
func fencedBlocks(t *testing.T, page, heading string) (langs, blocks []string) {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no heading %q", page, heading)
	}
	if next := strings.Index(section, "\n## "); next >= 0 {
		section = section[:next]
	}
	var cur []string
	in := false
	for line := range strings.SplitSeq(section, "\n") {
		switch {
		case !in && strings.HasPrefix(line, "```"):
			in, cur = true, nil
			langs = append(langs, strings.TrimPrefix(line, "```"))
		case in && line == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, line)
		}
	}
	return langs, blocks
}

var goDirective = regexp.MustCompile(`(?m)^go (\S+)$`)

// TestConsumerModuleWithReplace builds, offline, a consumer module made of
// the go.mod and the Go sample that docs/events.md gives, with its replace
// directive pointed at this checkout: the way the page tells a consumer to
// get a module path that no proxy serves.
func TestConsumerModuleWithReplace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with the go command; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	langs, blocks := fencedBlocks(t, consumerDoc, "## Consuming events in Go")
	var gomod, sample string
	for i, b := range blocks {
		switch {
		case langs[i] == "" && strings.HasPrefix(b, "module ") && gomod == "":
			gomod = b
		case langs[i] == "go" && sample == "":
			sample = b
		}
	}
	if gomod == "" || sample == "" {
		t.Fatalf("%s: no go.mod block and Go sample under \"Consuming events in Go\"", consumerDoc)
	}

	checkout, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ours, err := os.ReadFile(filepath.Join(checkout, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want, got := goDirective.FindStringSubmatch(string(ours)), goDirective.FindStringSubmatch(gomod)
	if want == nil || got == nil || got[1] != want[1] {
		t.Errorf("the documented go.mod says %q, regsync's go.mod %q: keep them the same", got, want)
	}
	const docTarget = "=> ../regsync\n"
	if !strings.Contains(gomod, "replace github.com/regsync/regsync "+docTarget) {
		t.Fatalf("the documented go.mod has no `replace github.com/regsync/regsync %s`:\n%s", strings.TrimSpace(docTarget), gomod)
	}
	gomod = strings.Replace(gomod, docTarget, "=> "+checkout+"\n", 1)

	dir := t.TempDir()
	main := "package main\n\nimport (\n\t\"log\"\n\n\t\"github.com/nats-io/nats.go\"\n\n\t\"github.com/regsync/regsync/events\"\n)\n\n" +
		"func follow(nc *nats.Conn) (*nats.Subscription, error) {\n" + sample + "\treturn sub, err\n}\n\n" +
		"func main() {\n\tif _, err := follow(nil); err == nil {\n\t\tlog.Fatal(\"subscribed without a connection\")\n\t}\n}\n"
	// This checkout's go.sum holds the verified sums of every dependency,
	// so nothing needs the network or the checksum database.
	sums, err := os.ReadFile(filepath.Join(checkout, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"go.mod": gomod, "main.go": main, "go.sum": string(sums)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(goBin, "build", "-o", filepath.Join(dir, "consumer"), ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the documented consumer module: %v\n%s\ngo.mod:\n%s\nmain.go:\n%s", err, out, gomod, main)
	}
	out, err := exec.Command(filepath.Join(dir, "consumer")).CombinedOutput()
	if err != nil {
		t.Fatalf("run the consumer: %v\n%s", err, out)
	}
}
