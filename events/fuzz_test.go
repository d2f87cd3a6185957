package events

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// headerText writes h one "Name: value" line per value, the form
// FuzzDecode reads its headers in.
func headerText(h nats.Header) string {
	var b strings.Builder
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for name := range h {
			if !yield(name) {
				return
			}
		}
	}) {
		for _, v := range h[name] {
			b.WriteString(name + ": " + v + "\n")
		}
	}
	return b.String()
}

func parseHeaderText(s string) nats.Header {
	if s == "" {
		return nil
	}
	h := nats.Header{}
	for line := range strings.SplitSeq(s, "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok {
			h.Add(name, strings.TrimSpace(value))
		}
	}
	return h
}

// FuzzDecode feeds Decode header-less bodies and binary-mode headers. It
// must never panic, and an event it accepts must be valid and survive an
// Encode and Decode round trip in either content mode.
func FuzzDecode(f *testing.F) {
	f.Add("", []byte(natsPubExample))
	f.Add("Content-Type: application/cloudevents+json", []byte(natsPubExample))
	f.Add("", []byte(`{"data_base64":5,"specversion":"1.0"}`))
	f.Add("", []byte(`{"specversion":"1.0","id":"a","source":"b","type":"c","ext":1,"data_base64":"e30="}`))
	f.Add("ce-specversion: 1.0\nce-id: %C0%A0\nce-source: s\nce-type: t", []byte(`{}`))
	f.Add("ce-specversion: 1.0\nce-id: \"a \\\" b\"\nce-source: s\nce-type: t\nce-time: 2026-03-14T09:27:02Z", []byte(`{`))
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, file := range files {
		if body, err := os.ReadFile(file); err == nil {
			f.Add("", body)
		}
	}
	for _, mode := range []ContentMode{Structured, Binary} {
		for _, d := range fullData() {
			e, err := New("seed-1", "/regsync/fuzz", d)
			if err != nil {
				f.Fatal(err)
			}
			msg, err := mode.Encode(subjectFor(d), e)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(headerText(msg.Header), msg.Data)
		}
	}

	f.Fuzz(func(t *testing.T, header string, body []byte) {
		e, err := Decode(parseHeaderText(header), body)
		if err != nil {
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid event: %v", err)
		}
		for _, mode := range []ContentMode{Structured, Binary} {
			msg, err := mode.Encode("regsync.fuzz", e)
			if err != nil {
				t.Fatalf("%s Encode of a decoded event: %v", mode, err)
			}
			again, err := Decode(msg.Header, msg.Data)
			if err != nil {
				t.Fatalf("Decode of a re-encoded %s event: %v", mode, err)
			}
			if again.ID() != e.ID() || again.Type() != e.Type() || again.Source() != e.Source() ||
				again.Subject() != e.Subject() || !bytes.Equal(again.Data(), e.Data()) {
				t.Fatalf("%s round trip changed the event:\n%s\nto\n%s", mode, e, again)
			}
		}
	})
}
