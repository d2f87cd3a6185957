package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docCommand is one regsync command line quoted in the documentation.
type docCommand struct {
	where string // page:line
	args  []string
	// synopsis marks a usage line ([optional], a|b, SOURCE...), whose flag
	// names are checked but whose values are placeholders.
	synopsis bool
}

// regsyncCall finds a regsync command in a line: the binary (also as
// ./cmd/regsync, /usr/local/bin/regsync, or after `kubectl exec ... --`)
// followed by one of its commands.
var regsyncCall = regexp.MustCompile(`(?:^|[\s/])regsync\s+(serve|sync|status|watch|validate|version)(\s.*)?$`)

// inlineCode matches a Markdown code span.
var inlineCode = regexp.MustCompile("`([^`]+)`")

// documentedCommands returns every regsync command line in the code blocks
// and code spans of the pages.
func documentedCommands(t *testing.T, pages []string) []docCommand {
	t.Helper()
	var cmds []docCommand
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		fenced := false
		for i := 0; i < len(lines); i++ {
			line := lines[i]
			where := fmt.Sprintf("%s:%d", filepath.Base(page), i+1)
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				fenced = !fenced
				continue
			}
			if fenced {
				// A shell line: join continuations, drop the comment and
				// what a pipe or a list operator adds.
				for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
					i++
					line = strings.TrimSuffix(line, `\`) + " " + lines[i]
				}
				if c, _, ok := strings.Cut(line, " #"); ok {
					line = c
				}
				for _, op := range []string{"|", ";", "&&", ">"} {
					line, _, _ = strings.Cut(line, op)
				}
				if cmd, ok := parseDocCommand(line, where); ok {
					cmds = append(cmds, cmd)
				}
				continue
			}
			for _, m := range inlineCode.FindAllStringSubmatch(line, -1) {
				if cmd, ok := parseDocCommand(strings.ReplaceAll(m[1], `\|`, "|"), where); ok {
					cmds = append(cmds, cmd)
				}
			}
		}
	}
	return cmds
}

func parseDocCommand(text, where string) (docCommand, bool) {
	m := regsyncCall.FindStringSubmatch(strings.TrimSpace(text))
	if m == nil {
		return docCommand{}, false
	}
	rest := m[2]
	synopsis := strings.ContainsAny(rest, "[|") || strings.Contains(rest, "...")
	if synopsis {
		rest = strings.NewReplacer("[", " ", "]", " ", "|", " ").Replace(rest)
	}
	return docCommand{where: where, args: append([]string{m[1]}, strings.Fields(rest)...), synopsis: synopsis}, true
}

// parses reports whether regsync parses args followed by --help, which
// stops a command once everything before it is parsed, so nothing runs.
func parses(args ...string) error {
	var out bytes.Buffer
	return run(context.Background(), append(args, "--help"), &out, &out)
}

// flagKind probes a command's flag by parsing it with values that each
// kind of flag takes (bool, string, integer, duration): whether the flag
// exists, and whether it takes a value (is not a bool).
func flagKind(name, flag string) (exists, takesValue bool) {
	okBool := parses(name, "--"+flag+"=true") == nil
	okDuration := parses(name, "--"+flag+"=1s") == nil
	okInt := parses(name, "--"+flag+"=0") == nil
	return okBool || okDuration || okInt, !okBool || okDuration
}

// Every regsync command line the README and docs/ quote runs with the
// current commands and flags: a concrete line parses (flags, their values
// and arguments in any order), and a synopsis names only flags that exist.
func TestDocumentedCommandsParse(t *testing.T) {
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages in docs/ (%v)", err)
	}
	pages = append(pages, "../../README.md", "../../deploy/README.md")
	cmds := documentedCommands(t, pages)
	if len(cmds) < 20 {
		t.Fatalf("found only %d regsync command lines in the docs: the extraction is broken", len(cmds))
	}
	t.Logf("%d regsync command lines in the docs", len(cmds))
	for _, c := range cmds {
		name, line := c.args[0], "regsync "+strings.Join(c.args, " ")
		// Flag names first: this names an unknown flag in either form.
		unknown, valueMissing := false, false
		for i, a := range c.args[1:] {
			if !strings.HasPrefix(a, "-") || a == "-" {
				continue
			}
			f, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			exists, takesValue := flagKind(name, f)
			if !exists {
				t.Errorf("%s: `%s`: %s is not a flag of regsync %s", c.where, line, a, name)
				unknown = true
				continue
			}
			if takesValue && !hasValue && i+2 >= len(c.args) {
				valueMissing = true // prose naming a flag, as `regsync watch --since`
			}
		}
		if unknown || c.synopsis || valueMissing {
			continue
		}
		// The whole line parses, flags, values and arguments in any order.
		if err := parses(c.args...); err != nil {
			t.Errorf("%s: `%s` does not parse: %v", c.where, line, err)
		}
	}
}
