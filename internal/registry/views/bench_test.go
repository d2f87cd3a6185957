package views

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/api"
	"github.com/regsync/regsync/internal/bus/bustest"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/syncer/entries"
	"github.com/regsync/regsync/internal/testsupport"
)

// bigServer is a server entry of a realistic size (about 600 bytes).
func bigServer(i int, description string) string {
	return fmt.Sprintf(`{"$schema":"https://static.modelcontextprotocol.io/schemas/2025-10-17/server.schema.json",`+
		`"name":"io.example/server-%05d","title":"Server %d","description":%q,"version":"1.%d.0",`+
		`"repository":{"url":"https://github.com/example/server-%05d","source":"github"},`+
		`"packages":[{"registryType":"npm","identifier":"@example/server-%05d","version":"1.%d.0","transport":{"type":"stdio"},`+
		`"environmentVariables":[{"name":"EXAMPLE_TOKEN","description":"token","isRequired":true,"isSecret":true}]}]}`,
		i, i, description, i%7, i, i, i%7)
}

// One entry edited in a 10,000-server source: the sync's records and
// commit written (entries.Store.Write) and the follower's views of the
// source's registry applied and swapped.
func BenchmarkOneEntryEditOf10000ServersApplied(b *testing.B) {
	const n = 10_000
	srv := bustest.Start(b, 0)
	store := entries.New(srv.JS, srv.Handles.Entries, time.Hour)
	list := make([]string, n)
	for i := range list {
		list[i] = bigServer(i, "server")
	}
	ctx := context.Background()
	// As a sync does: the registry built (untimed: that is the sync's
	// work before), then its entries recorded.
	var builder registry.Builder
	build := func() registry.Lists {
		built, err := builder.Build(snapshot(list...), nil)
		if err != nil {
			b.Fatal(err)
		}
		return built.Entries
	}
	write := func(lists registry.Lists) (entries.Written, error) {
		batch, err := store.Prepare(ctx, "big", lists)
		if err != nil {
			return entries.Written{}, err
		}
		return store.Write(ctx, batch, entries.Sync{})
	}
	if _, err := write(build()); err != nil {
		b.Fatal(err)
	}
	regs := []config.Registry{{Name: "big", Sources: []string{"big"}}}
	h := api.NewHandler([]string{"big"}, testsupport.Logger(b))
	fl := New(srv.Handles.Entries, regs, h, testsupport.Logger(b))
	applied := make(chan struct{}, 1)
	fl.applied = func(string) { applied <- struct{}{} }
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fl.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	<-fl.Loaded()

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		list[i%n] = bigServer(i%n, fmt.Sprintf("edit %d", i))
		lists := build()
		b.StartTimer()
		w, err := write(lists)
		if err != nil || w.Changed != 1 {
			b.Fatalf("write: %+v %v", w, err)
		}
		<-applied
	}
}

// A replica's start-up over a 10,000-server source: every stored record
// read from the bucket and the views built (Loaded), as a restarted
// replica does before it serves.
func BenchmarkLoad10000Servers(b *testing.B) {
	const n = 10_000
	srv := bustest.Start(b, 0)
	store := entries.New(srv.JS, srv.Handles.Entries, time.Hour)
	list := make([]string, n)
	for i := range list {
		list[i] = bigServer(i, "server")
	}
	ctx := context.Background()
	var builder registry.Builder
	built, err := builder.Build(snapshot(list...), nil)
	if err != nil {
		b.Fatal(err)
	}
	batch, err := store.Prepare(ctx, "big", built.Entries)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.Write(ctx, batch, entries.Sync{}); err != nil {
		b.Fatal(err)
	}
	regs := []config.Registry{{Name: "big", Sources: []string{"big"}}}
	b.ReportAllocs()
	for b.Loop() {
		h := api.NewHandler([]string{"big"}, testsupport.Logger(b))
		fl := New(srv.Handles.Entries, regs, h, testsupport.Logger(b))
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- fl.Run(runCtx) }()
		<-fl.Loaded()
		cancel()
		<-done
	}
}
