package sources

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// hostile is what an untrusted remote can put in an answer: clear screen,
// red, a window title, a C1 control sequence introducer.
const hostile = "\x1b[2J\x1b[31m\x1b]0;owned\x07\u009b1mremote says no"

// pktLine frames s as a git protocol line.
func pktLine(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

// A source error quotes what the remote said with its control characters
// escaped: it reaches the status record, sync.failed events and the
// terminals of everyone who reads them.
func TestSourceErrorsEscapeRemoteText(t *testing.T) {
	remotes := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"git 404 body", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, hostile, http.StatusNotFound)
		}},
		{"git 403 body", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, hostile, http.StatusForbidden)
		}},
		{"git ERR line", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
			fmt.Fprint(w, pktLine("# service=git-upload-pack\n")+"0000"+pktLine("ERR "+hostile+"\n"))
		}},
	}
	for _, remote := range remotes {
		t.Run(remote.name, func(t *testing.T) {
			srv := httptest.NewServer(remote.handler)
			defer srv.Close()
			f := &Fetcher{DataDir: t.TempDir(), GitTimeout: 5 * time.Second}
			src := gitSrc(srv.URL+"/x.git", nil)
			_, fetchErr := f.Fetch(bg(), src)
			_, revErr := f.Revision(bg(), src)
			for what, err := range map[string]error{"Fetch": fetchErr, "Revision": revErr} {
				if err == nil {
					t.Fatalf("%s succeeded", what)
				}
				msg := err.Error()
				if strings.ContainsAny(msg, "\x1b\x07\u009b") {
					t.Errorf("%s error holds control characters: %q", what, msg)
				}
				if !strings.Contains(msg, `\x1b[2J\x1b[31m\x1b]0;owned\a\u009b1mremote says no`) {
					t.Errorf("%s error does not show what the remote said, escaped: %q", what, msg)
				}
			}
		})
	}
}
