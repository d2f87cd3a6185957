package sources

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/regsync/regsync/internal/registry"
)

// BenchmarkUnchangedChecks measures what an unchanged source costs per
// check: wire bytes (request and response, headers included) for a
// file.url answered 304 and for the api's narrow query.
func BenchmarkUnchangedChecks(b *testing.B) {
	data := sharedRegistry(b)
	b.Run("file.url 304", func(b *testing.B) {
		tag := `"` + registry.Hash(data)[:16] + `"`
		srv, wire := countedServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", tag)
			if r.Header.Get("If-None-Match") == tag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Write(data)
		}))
		f := &Fetcher{}
		src := urlSrc(srv.URL + "/registry.json")
		if _, _, err := f.Changed(context.Background(), src); err != nil {
			b.Fatal(err)
		}
		wire.reset()
		b.ResetTimer()
		for b.Loop() {
			if changed, _, err := f.Changed(context.Background(), src); err != nil || changed {
				b.Fatal(changed, err)
			}
		}
		b.ReportMetric(float64(wire.in.Load()+wire.out.Load())/float64(b.N), "wire-B/check")
		b.ReportMetric(float64(len(data)), "full-B")
	})
	b.Run("api updated_since", func(b *testing.B) {
		srv, wire := countedServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"servers":[],"metadata":{"count":0}}`)
		}))
		f := &Fetcher{}
		src := apiSrc(srv.URL)
		if _, _, err := f.Changed(context.Background(), src); err != nil {
			b.Fatal(err)
		}
		wire.reset()
		b.ResetTimer()
		for b.Loop() {
			if changed, _, err := f.Changed(context.Background(), src); err != nil || changed {
				b.Fatal(changed, err)
			}
		}
		b.ReportMetric(float64(wire.in.Load()+wire.out.Load())/float64(b.N), "wire-B/check")
	})
}
