package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
)

// regsyncStreams are the streams behind every resource of the contract:
// KV buckets and object stores are streams too.
var regsyncStreams = []string{
	events.StreamTriggers, events.StreamResults,
	"KV_" + events.BucketStatus, "KV_" + events.BucketLocks, "OBJ_" + events.ObjectStoreData,
	"KV_" + events.BucketRegistryStatus, "OBJ_" + events.ObjectStoreRegistries, "KV_" + events.BucketEntries,
}

// A replica count that the server cannot give (here: a single server
// asked for 3) is reported for every stream with what differs and how to
// change it; the service still starts on what there is.
func TestEnsureReportsReplicasItCannotApply(t *testing.T) {
	js := startJS(t, filepath.Join(t.TempDir(), "js"))
	ensure(t, js, Resources{Replicas: 1})
	_, logs := ensure(t, js, Resources{Replicas: 3})
	for _, name := range regsyncStreams {
		want := fmt.Sprintf("nats stream edit %s --replicas 3", name)
		if !strings.Contains(logs, want) {
			t.Errorf("logs do not tell how to change %s (%q):\n%s", name, want, logs)
		}
		if got := streamConfig(t, js, name).Replicas; got != 1 {
			t.Errorf("%s has %d replicas, want the 1 the server can give", name, got)
		}
	}
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "replicas=1 configured=3") {
		t.Errorf("the difference is not warned about:\n%s", logs)
	}

	t.Run("replicas as configured are left alone, without a word", func(t *testing.T) {
		_, logs := ensure(t, js, Resources{Replicas: 1})
		if strings.Contains(logs, "replicas") {
			t.Errorf("logs about replicas that match the configuration:\n%s", logs)
		}
	})
}

// updates records the stream updates asked of it, failing with err.
type updates struct {
	got []jetstream.StreamConfig
	err error
}

func (u *updates) UpdateStream(_ context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	u.got = append(u.got, cfg)
	return nil, u.err
}

// A stream whose replicas differ from the configuration is updated to it,
// every other setting unchanged; a failure the cluster may get over is
// returned, so that the start is retried.
func TestKeepReplicas(t *testing.T) {
	info := &jetstream.StreamInfo{Config: jetstream.StreamConfig{
		Name: "KV_" + events.BucketStatus, Subjects: []string{"$KV.regsync_status.>"}, Replicas: 1, MaxMsgsPerSubject: 5,
	}}
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))

	u := &updates{}
	if err := keepReplicas(context.Background(), u, info, 3, log); err != nil {
		t.Fatal(err)
	}
	want := info.Config
	want.Replicas = 3
	if len(u.got) != 1 || u.got[0].Replicas != 3 || u.got[0].Name != want.Name || u.got[0].MaxMsgsPerSubject != 5 || len(u.got[0].Subjects) != 1 {
		t.Errorf("updates %+v, want one to %+v", u.got, want)
	}
	if !strings.Contains(logs.String(), "replicas changed to nats.replicas") || !strings.Contains(logs.String(), "from=1 to=3") {
		t.Errorf("the change is not logged:\n%s", logs.String())
	}

	u = &updates{}
	if err := keepReplicas(context.Background(), u, info, 1, log); err != nil || len(u.got) != 0 {
		t.Errorf("keepReplicas() at the configured count = %v, updates %+v; want none", err, u.got)
	}

	u = &updates{err: jetstream.ErrNoStreamResponse}
	if err := keepReplicas(context.Background(), u, info, 3, log); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Errorf("keepReplicas() on a cluster that cannot answer = %v, want the error back", err)
	}
}
