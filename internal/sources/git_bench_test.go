package sources

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources/gittest"
)

const (
	benchCommits = 300
	benchServers = 6800 // about 2 MB of registry JSON
)

// benchRegistryRepo writes a bare repository whose main branch has
// benchCommits commits of a ~2 MB registry file, each changing a few
// servers, with git fast-import.
func benchRegistryRepo(b *testing.B, dir string) (size int) {
	b.Helper()
	gittest.Run(b, "", "init", "-q", "--bare", "-b", "main", dir)
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gittest.Env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(stdin, 1<<20)
	servers := make([]string, benchServers)
	server := func(i, rev int) string {
		return fmt.Sprintf(`{"name":"io.bench/server-%05d","description":"Server %d, revision %d: %x","version":"1.%d.0",`+
			`"repository":{"url":"https://github.com/bench/server-%05d","source":"github"},`+
			`"packages":[{"registryType":"oci","identifier":"ghcr.io/bench/server-%05d:1.%d.0","transport":{"type":"stdio"}}]}`,
			i, i, rev, uint64(i)*2654435761*uint64(rev+1), rev, i, i, rev)
	}
	for i := range servers {
		servers[i] = server(i, 0)
	}
	for c := range benchCommits {
		for k := range 5 {
			i := (c*7919 + k*104729) % benchServers
			servers[i] = server(i, c+1)
		}
		doc := `{"$schema":"https://raw.githubusercontent.com/stacklok/toolhive-core/main/registry/types/data/upstream-registry.schema.json",` +
			`"version":"1.0.0","meta":{"last_updated":"2026-01-01T00:00:00Z"},"data":{"servers":[` + strings.Join(servers, ",\n") + "]}}\n"
		size = len(doc)
		msg := fmt.Sprintf("update %d", c)
		fmt.Fprintf(w, "commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\ndata %d\n%s\n", 1767225600+c*60, len(msg), msg)
		fmt.Fprintf(w, "M 100644 inline registry.json\ndata %d\n%s\n", len(doc), doc)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatalf("git fast-import: %v\n%s", err, out.String())
	}
	return size
}

// BenchmarkUnchangedCheck compares what checking an unchanged git source
// costs with the kept clone (one reference listing, the file read from the
// clone) against a fresh depth-1 clone of the same repository, which is
// what a fetcher without a cache does on every check. bytes/op counts what
// the server sent.
func BenchmarkUnchangedCheck(b *testing.B) {
	root := b.TempDir()
	size := benchRegistryRepo(b, filepath.Join(root, "reg.git"))
	srv := newGitHTTP(b, root, "", "")
	src := config.Source{Name: "bench", Git: &config.Git{Repository: srv.repoURL("reg.git"), Branch: "main"}}
	b.Logf("repository: %d commits of a %d-byte registry file", benchCommits, size)

	measure := func(b *testing.B, op func() error) {
		b.Helper()
		bytes0, refs0, packs0 := srv.bytesOut.Load(), srv.infoRefs.Load(), srv.uploadPacks.Load()
		b.ResetTimer()
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		n := float64(b.N)
		b.ReportMetric(float64(srv.bytesOut.Load()-bytes0)/n, "bytes/op")
		b.ReportMetric(float64(srv.infoRefs.Load()-refs0)/n, "listings/op")
		b.ReportMetric(float64(srv.uploadPacks.Load()-packs0)/n, "fetches/op")
	}

	b.Run("kept-clone-fetch", func(b *testing.B) {
		f := &Fetcher{DataDir: b.TempDir()}
		if _, err := f.Fetch(bg(), src); err != nil {
			b.Fatal(err)
		}
		measure(b, func() error { _, err := f.Fetch(bg(), src); return err })
	})
	b.Run("revision-only", func(b *testing.B) {
		f := &Fetcher{}
		measure(b, func() error { _, err := f.Revision(bg(), src); return err })
	})
	b.Run("fresh-depth-1-clone", func(b *testing.B) {
		f := &Fetcher{}
		measure(b, func() error { _, err := f.Fetch(bg(), src); return err })
	})
}
