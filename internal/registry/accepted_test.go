package registry

import (
	"crypto/sha256"
	"reflect"
	"runtime"
	"testing"

	"github.com/regsync/regsync/internal/registry/registrytest"
)

// acceptAll accepts every server entry of raw, as the records stored by
// a sync of raw on another replica do.
func acceptAll(t *testing.T, raw []byte) Accepted {
	t.Helper()
	b, err := Build(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	digests := map[[sha256.Size]byte]bool{}
	for _, e := range b.Entries.Servers {
		digests[EntryDigest(e)] = true
	}
	return func(d [sha256.Size]byte) bool { return digests[d] }
}

// A Builder that never built the source (another replica synced it) takes
// the entries that were accepted before without checking them again, and
// builds what a fresh build does.
func TestBuilderTakesAcceptedEntriesWithoutCheckingThem(t *testing.T) {
	raw := registrytest.Large(200, 1)
	accepted := acceptAll(t, registrytest.Large(200, 0)) // one in a hundred changed since
	for fname, f := range buildFilters {
		var bl Builder
		got, err := bl.BuildAccepting(raw, f, accepted)
		if err != nil {
			t.Fatalf("%s: %v", fname, err)
		}
		want, err := Build(raw, f)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: a build taking accepted entries differs from a fresh one", fname)
		}
	}

	allocated := func(build func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		build()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	cold := allocated(func() {
		if _, err := new(Builder).Build(raw, nil); err != nil {
			t.Fatal(err)
		}
	})
	warm := allocated(func() {
		if _, err := new(Builder).BuildAccepting(raw, nil, accepted); err != nil {
			t.Fatal(err)
		}
	})
	// Checking an entry (its tree, the schemas) is most of a cold
	// build's allocation; decoding it is what is left.
	if warm > cold/2 {
		t.Errorf("a build taking accepted entries allocated %d bytes, a cold one %d: want under half", warm, cold)
	}
}

// An entry that was not accepted is checked: a broken one fails the build
// as it fails a fresh one.
func TestBuilderChecksEntriesNotAccepted(t *testing.T) {
	raw := []byte(withServers(minimalServer, `{"name":"io.test/two","version":"1.0.0"}`))
	accepted := func([sha256.Size]byte) bool { return false }
	_, gotErr := new(Builder).BuildAccepting(raw, nil, accepted)
	_, wantErr := Build(raw, nil)
	if gotErr == nil || wantErr == nil || gotErr.Error() != wantErr.Error() {
		t.Errorf("error %v, want %v", gotErr, wantErr)
	}
}
