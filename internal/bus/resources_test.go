package bus

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
)

// startJS starts an embedded server on dir and returns a JetStream handle.
func startJS(t *testing.T, dir string) jetstream.JetStream {
	t.Helper()
	emb, err := StartEmbedded(EmbeddedOptions{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	nc, err := Connect(ConnectOptions{Embedded: emb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

var week = Retention{MaxAge: 7 * 24 * time.Hour, MaxBytes: 1 << 30, MaxMsgsPerSubject: 10_000}

func ensure(t *testing.T, js jetstream.JetStream, r Resources) (*Handles, string) {
	t.Helper()
	var logs bytes.Buffer
	r.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if r.Results == (Retention{}) {
		r.Results = week
	}
	if r.LeaseTTL == 0 {
		r.LeaseTTL = 5 * time.Second
	}
	h, err := Ensure(context.Background(), js, r)
	if err != nil {
		t.Fatalf("Ensure() = %v", err)
	}
	return h, logs.String()
}

func streamConfig(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config
}

func editStream(t *testing.T, js jetstream.JetStream, name string, edit func(*jetstream.StreamConfig)) {
	t.Helper()
	cfg := streamConfig(t, js, name)
	edit(&cfg)
	if _, err := js.UpdateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
}

// Every bucket and object store of the contract is there after Ensure,
// with a handle for the pipeline.
func TestEnsureCreatesEveryBucket(t *testing.T) {
	js := startJS(t, filepath.Join(t.TempDir(), "js"))
	h, _ := ensure(t, js, Resources{})
	for name, handle := range map[string]any{
		events.BucketStatus:          h.Status,
		events.BucketLocks:           h.Locks,
		events.ObjectStoreData:       h.Data,
		events.BucketRegistryStatus:  h.RegistryStatus,
		events.ObjectStoreRegistries: h.Registries,
	} {
		if handle == nil {
			t.Errorf("no handle of %s", name)
		}
	}
	ctx := context.Background()
	if _, err := js.KeyValue(ctx, events.BucketRegistryStatus); err != nil {
		t.Errorf("kv %s: %v", events.BucketRegistryStatus, err)
	}
	if _, err := js.ObjectStore(ctx, events.ObjectStoreRegistries); err != nil {
		t.Errorf("object store %s: %v", events.ObjectStoreRegistries, err)
	}
}

func TestEnsureNeedsALeaseTTL(t *testing.T) {
	js := startJS(t, t.TempDir())
	_, err := Ensure(context.Background(), js, Resources{Replicas: 1, Results: week})
	if err == nil || !strings.Contains(err.Error(), "the lease TTL must be greater than zero") {
		t.Errorf("Ensure() = %v, want the missing lease TTL named", err)
	}
}

func TestDeploymentID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "js")
	js := startJS(t, dir)
	h, _ := ensure(t, js, Resources{})
	if len(h.Deployment) != 26 || strings.ToLower(h.Deployment) != h.Deployment {
		t.Fatalf("deployment id %q, want 26 lower-case characters", h.Deployment)
	}
	if got := streamConfig(t, js, events.StreamResults).Metadata[DeploymentKey]; got != h.Deployment {
		t.Errorf("%s metadata %s = %q, want %q", events.StreamResults, DeploymentKey, got, h.Deployment)
	}
	if h.Publisher.Deployment != h.Deployment {
		t.Errorf("publisher deployment %q, want %q", h.Publisher.Deployment, h.Deployment)
	}

	t.Run("clients read it", func(t *testing.T) {
		s, err := js.Stream(context.Background(), events.StreamResults)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DeploymentOf(s.CachedInfo())
		if err != nil || got != h.Deployment {
			t.Errorf("DeploymentOf() = %q, %v; want %q", got, err, h.Deployment)
		}
		s.CachedInfo().Config.Metadata = nil
		if _, err := DeploymentOf(s.CachedInfo()); err == nil || !strings.Contains(err.Error(), "no deployment id") {
			t.Errorf("a stream without the id: %v", err)
		}
	})
	t.Run("kept by every later start", func(t *testing.T) {
		for range 2 {
			again, _ := ensure(t, js, Resources{Results: Retention{MaxAge: time.Hour}})
			if again.Deployment != h.Deployment {
				t.Fatalf("deployment id %q after a restart, want %q", again.Deployment, h.Deployment)
			}
		}
	})
	t.Run("another deployment has another id", func(t *testing.T) {
		other, _ := ensure(t, startJS(t, filepath.Join(t.TempDir(), "js")), Resources{})
		if other.Deployment == h.Deployment {
			t.Errorf("two deployments share the id %q", h.Deployment)
		}
	})
	t.Run("a stream from before ids gets one", func(t *testing.T) {
		js := startJS(t, filepath.Join(t.TempDir(), "js"))
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
			Name: events.StreamResults, Subjects: []string{events.AllResults}, MaxAge: 7 * 24 * time.Hour,
		}); err != nil {
			t.Fatal(err)
		}
		h, _ := ensure(t, js, Resources{})
		if len(h.Deployment) != 26 || streamConfig(t, js, events.StreamResults).Metadata[DeploymentKey] != h.Deployment {
			t.Errorf("deployment %q not stored", h.Deployment)
		}
		// Replicas upgrading at once derive the same id: it depends on
		// the stream alone.
		info, err := js.Stream(context.Background(), events.StreamResults)
		if err != nil {
			t.Fatal(err)
		}
		if again := legacyDeploymentID(info.CachedInfo()); again != h.Deployment {
			t.Errorf("legacy id %q, then %q", h.Deployment, again)
		}
	})
}

// Registry changes are stored with the results: a new stream takes their
// subject, and a stream created before registries gets it in place,
// keeping what it holds.
func TestResultsStoreRegistryChanges(t *testing.T) {
	ctx := context.Background()
	publishChange := func(t *testing.T, h *Handles) uint64 {
		t.Helper()
		ev, err := events.New("g-default-1", h.Publisher.Source(events.ProducerMerger), events.RegistryChanged{
			Registry: "default", Reason: events.RegistryReasonSourceChanged, Generation: 1, CauseCount: 0, ViewDigest: "SHA-256=x",
		})
		if err != nil {
			t.Fatal(err)
		}
		stored, err := h.Publisher.Publish(ctx, events.RegistrySubject("default"), ev)
		if err != nil {
			t.Fatalf("publish a registry change: %v", err)
		}
		results, err := h.JS.Stream(ctx, events.StreamResults)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := results.GetMsg(ctx, stored.Sequence)
		if err != nil || msg.Subject != events.RegistrySubject("default") {
			t.Fatalf("registry change not stored in %s at %d: %v %v", events.StreamResults, stored.Sequence, msg, err)
		}
		return stored.Sequence
	}

	t.Run("a new stream", func(t *testing.T) {
		js := startJS(t, filepath.Join(t.TempDir(), "js"))
		h, _ := ensure(t, js, Resources{})
		if got := streamConfig(t, js, events.StreamResults).Subjects; !slices.Equal(got, []string{events.AllResults, events.AllRegistryChanges}) {
			t.Errorf("subjects %v, want %s and %s", got, events.AllResults, events.AllRegistryChanges)
		}
		publishChange(t, h)
	})
	t.Run("a stream from before registries", func(t *testing.T) {
		js := startJS(t, filepath.Join(t.TempDir(), "js"))
		h, _ := ensure(t, js, Resources{})
		editStream(t, js, events.StreamResults, func(c *jetstream.StreamConfig) { c.Subjects = []string{events.AllResults} })
		ev, err := events.New("r-a-1", h.Publisher.Source(events.ProducerCoordinator), events.SyncSkipped{
			Source: "a", Reason: events.ReasonUpToDateNoPolicy, Covered: events.Covered{StartedAt: time.Now()},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Publisher.Publish(ctx, events.ResultSubject("a", events.OutcomeSkipped), ev); err != nil {
			t.Fatal(err)
		}

		h, logs := ensure(t, js, Resources{})
		if got := streamConfig(t, js, events.StreamResults).Subjects; !slices.Equal(got, []string{events.AllResults, events.AllRegistryChanges}) {
			t.Errorf("subjects %v after a start, want %s added", got, events.AllRegistryChanges)
		}
		if !strings.Contains(logs, "stream updated from the configuration") || !strings.Contains(logs, events.AllRegistryChanges) {
			t.Errorf("the added subject is not logged:\n%s", logs)
		}
		if seq := publishChange(t, h); seq != 2 {
			t.Errorf("registry change stored at sequence %d, want 2 after the result kept", seq)
		}
	})
}

func TestResultsAreBounded(t *testing.T) {
	js := startJS(t, filepath.Join(t.TempDir(), "js"))
	ensure(t, js, Resources{Results: week})
	c := streamConfig(t, js, events.StreamResults)
	// Failures for unknown sources each get their own subject: only the
	// byte and age limits bound how many there are.
	if c.MaxAge != week.MaxAge || c.MaxBytes != week.MaxBytes || c.MaxMsgsPerSubject != week.MaxMsgsPerSubject || c.Discard != jetstream.DiscardOld {
		t.Errorf("results stream limits: age %s, bytes %d, per subject %d, discard %s; want %+v, discarding old", c.MaxAge, c.MaxBytes, c.MaxMsgsPerSubject, c.Discard, week)
	}
}

func TestEnsureKeepsWhatOperatorsTuned(t *testing.T) {
	js := startJS(t, filepath.Join(t.TempDir(), "js"))
	ensure(t, js, Resources{})
	month := 30 * 24 * time.Hour
	editStream(t, js, events.StreamResults, func(c *jetstream.StreamConfig) { c.MaxAge = month })
	editStream(t, js, events.StreamTriggers, func(c *jetstream.StreamConfig) { c.MaxMsgs = 5000 })

	_, logs := ensure(t, js, Resources{})
	if got := streamConfig(t, js, events.StreamResults).MaxAge; got != month {
		t.Errorf("results max age %s after a restart, want the operator's %s", got, month)
	}
	if !strings.Contains(logs, "keeping the retention set on the stream") {
		t.Errorf("logs do not say the operator's retention is kept:\n%s", logs)
	}
	if got := streamConfig(t, js, events.StreamTriggers).MaxMsgs; got != 5000 {
		t.Errorf("triggers max msgs %d after a restart, want the operator's 5000", got)
	}

	t.Run("a changed configuration is applied", func(t *testing.T) {
		r := Retention{MaxAge: 90 * 24 * time.Hour, MaxBytes: 2 << 30, MaxMsgsPerSubject: 500}
		_, logs := ensure(t, js, Resources{Results: r})
		c := streamConfig(t, js, events.StreamResults)
		if c.MaxAge != r.MaxAge || c.MaxBytes != r.MaxBytes || c.MaxMsgsPerSubject != r.MaxMsgsPerSubject {
			t.Errorf("results retention %s %d %d, want %+v", c.MaxAge, c.MaxBytes, c.MaxMsgsPerSubject, r)
		}
		if !strings.Contains(logs, "stream updated from the configuration") {
			t.Errorf("the change is not logged:\n%s", logs)
		}
	})
	t.Run("a setting that breaks regsync is reported, not changed", func(t *testing.T) {
		editStream(t, js, events.StreamTriggers, func(c *jetstream.StreamConfig) { c.Duplicates = time.Second })
		_, logs := ensure(t, js, Resources{})
		if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "duplicate window is 1s") {
			t.Errorf("no warning about the duplicate window:\n%s", logs)
		}
		if got := streamConfig(t, js, events.StreamTriggers).Duplicates; got != time.Second {
			t.Errorf("duplicate window %s, want it left at 1s", got)
		}
	})
	t.Run("the lease TTL follows the configuration", func(t *testing.T) {
		h, logs := ensure(t, js, Resources{LeaseTTL: 7 * time.Second})
		st, err := h.Locks.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.TTL() != 7*time.Second || !strings.Contains(logs, "lease TTL changed") {
			t.Errorf("lease TTL %s, want 7s, logged:\n%s", st.TTL(), logs)
		}
	})
}

func TestPublisherContentMode(t *testing.T) {
	js := startJS(t, filepath.Join(t.TempDir(), "js"))
	tests := []struct {
		mode       events.ContentMode
		header     string
		wantHeader string
	}{
		{"", "Content-Type", events.ContentTypeStructured},
		{events.Structured, "Content-Type", events.ContentTypeStructured},
		{events.Binary, "ce-type", events.TypeSyncRequested},
	}
	for i, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			h, _ := ensure(t, js, Resources{ContentMode: tt.mode})
			ev, err := events.New("req-"+string(rune('a'+i))+"-toolhive", h.Publisher.Source(events.ProducerCLI),
				events.SyncRequested{Source: "toolhive", Trigger: events.TriggerManual})
			if err != nil {
				t.Fatal(err)
			}
			ack, err := h.Publisher.Publish(context.Background(), events.TriggerSubject("toolhive"), ev)
			if err != nil {
				t.Fatal(err)
			}
			s, err := js.Stream(context.Background(), events.StreamTriggers)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := s.GetMsg(context.Background(), ack.Sequence)
			if err != nil {
				t.Fatal(err)
			}
			if got := msg.Header.Get(tt.header); got != tt.wantHeader {
				t.Errorf("%s = %q, want %q", tt.header, got, tt.wantHeader)
			}
			got, err := events.Decode(msg.Header, msg.Data)
			if err != nil || got.Source() != events.ProducerSource(h.Deployment, events.ProducerCLI) {
				t.Errorf("Decode() = %v, %v", got, err)
			}
		})
	}
}
