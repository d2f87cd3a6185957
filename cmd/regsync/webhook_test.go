package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/sources/gittest"
	"github.com/regsync/regsync/internal/testsupport"
)

const webhookSecret = "it-is-a-secret"

// githubPush is GitHub's real push payload, rewritten to announce commit
// on the main branch of the repository at repoURL.
func githubPush(t testing.TB, repoURL, commit string) []byte {
	t.Helper()
	path := filepath.Join("..", "..", "..", "shared", "testdata", "webhooks", "github", "push-with-new-branch.payload.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("shared GitHub payloads not available (%v): run from a checkout with ../shared beside it", err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	p["ref"], p["after"] = "refs/heads/main", commit
	p["head_commit"].(map[string]any)["id"] = commit
	repo := p["repository"].(map[string]any)
	for _, k := range []string{"clone_url", "html_url", "url", "git_url", "ssh_url", "svn_url"} {
		repo[k] = repoURL
	}
	repo["default_branch"], repo["master_branch"] = "main", "main"
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func hmacHex(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

func postGitHub(t testing.TB, addr, delivery string, body []byte, secret string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex(secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// serveWebhooks runs serve with a git source on a loopback repository and
// the GitHub receiver enabled. Polling is slow, so only webhooks are fast.
func serveWebhooks(t testing.TB) (*service, *gittest.Repo) {
	t.Helper()
	server := gittest.NewServer(t)
	repo := server.NewRepo(t, "catalog")
	repo.Push(map[string]string{"registry.json": testRegistry})
	secretFile := filepath.Join(t.TempDir(), "github-secret")
	if err := os.WriteFile(secretFile, []byte(webhookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	svc := serveSources(t, "catalog", fmt.Sprintf(`
  - name: catalog
    git: {repository: %s, branch: main, pollInterval: 1h}
    syncPolicy: {interval: 1h}
webhooks:
  github: {secretFile: %s}
`, repo.URL, secretFile))
	awaitFirstLook(t, svc, "catalog")
	return svc, repo
}

// awaitFirstLook waits until the git poller's first look at source is
// dealt with, so that no answer to it comes among a test's results: the
// trigger it published answered, or none published because the startup
// sync had recorded that commit before the poller looked.
func awaitFirstLook(t testing.TB, svc *service, source string) {
	t.Helper()
	src := regexp.QuoteMeta(source)
	published := regexp.MustCompile(`msg="published trigger" source=` + src + ` .*\btrigger=git-poll\b`)
	synced := regexp.MustCompile(`msg="revision already synced, no trigger published" source=` + src + ` .*\btrigger=git-poll\b`)
	var sent bool
	testsupport.Eventually(t, "the git poller's first look at "+source, func() bool {
		log := svc.log.String()
		sent = published.MatchString(log)
		return sent || synced.MatchString(log)
	})
	if sent {
		awaitAnswer(t, svc, source, "gp-"+source+"-")
	}
}

// awaitAnswer waits until REGSYNC_RESULTS holds a result for source that
// covers a trigger whose id starts with prefix.
func awaitAnswer(t testing.TB, svc *service, source, prefix string) {
	t.Helper()
	nc, err := bus.Connect(bus.ConnectOptions{URL: svc.natsURL})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, events.StreamResults, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.SourceResults(source)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(testsupport.Patience))
		if err != nil {
			t.Fatalf("no result covering a %s trigger: %v", prefix, err)
		}
		ev, err := events.Decode(msg.Headers(), msg.Data())
		if err != nil {
			continue
		}
		if c, ok := coveredOf(ev); ok && slices.ContainsFunc(c.TriggerIDs, func(id string) bool { return strings.HasPrefix(id, prefix) }) {
			return
		}
	}
}

func TestGitHubWebhookEndToEnd(t *testing.T) {
	svc, repo := serveWebhooks(t)
	res := followResults(t, svc)

	commit := repo.Push(map[string]string{"registry.json": registryWith("Alpha, announced by GitHub")})
	body := githubPush(t, repo.URL, commit)

	t.Run("a wrong signature is refused and publishes nothing", func(t *testing.T) {
		status, _ := postGitHub(t, svc.httpAddr, "d-wrong", body, "not-the-secret")
		if status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", status)
		}
		res.noCompleted(500 * time.Millisecond)
	})

	t.Run("a signed push syncs the pushed commit", func(t *testing.T) {
		status, answer := postGitHub(t, svc.httpAddr, "d-1", body, webhookSecret)
		if status != http.StatusAccepted || !strings.Contains(answer, "catalog") {
			t.Fatalf("status %d: %s", status, answer)
		}
		c := res.completed()
		if c.Revision != commit || !slices.Equal(c.Diff.Updated, []string{"io.example/alpha"}) {
			t.Errorf("completed %+v, want revision %s", c, commit)
		}
	})

	t.Run("a redelivery is absorbed", func(t *testing.T) {
		status, _ := postGitHub(t, svc.httpAddr, "d-1", body, webhookSecret)
		if status != http.StatusAccepted {
			t.Errorf("status %d", status)
		}
		res.noCompleted(500 * time.Millisecond)
	})
}

// BenchmarkWebhookToResult measures a push announced by a signed GitHub
// webhook until its completed result: receiver, JetStream, ref listing,
// fetch of the new commit, sync.
func BenchmarkWebhookToResult(b *testing.B) {
	svc, repo := serveWebhooks(b)
	res := followResults(b, svc)
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		commit := repo.Push(map[string]string{"registry.json": registryWith(fmt.Sprintf("Alpha, push %d", i))})
		body := githubPush(b, repo.URL, commit)
		b.StartTimer()
		start := time.Now()
		if status, answer := postGitHub(b, svc.httpAddr, fmt.Sprintf("bench-%d", i), body, webhookSecret); status != http.StatusAccepted {
			b.Fatalf("status %d: %s", status, answer)
		}
		if c := res.completed(); c.Revision != commit {
			b.Fatalf("completed %s, want %s", c.Revision, commit)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkWebhookBurst202 posts bursts of 1,000 signed GitHub deliveries
// from 64 concurrent clients to a running service and measures how long
// each waits for its 202: verification, matching and the JetStream
// acknowledgement of its trigger.
func BenchmarkWebhookBurst202(b *testing.B) {
	server := gittest.NewServer(b)
	repo := server.NewRepo(b, "catalog")
	commit := repo.Push(map[string]string{"registry.json": testRegistry})
	secretFile := filepath.Join(b.TempDir(), "github-secret")
	if err := os.WriteFile(secretFile, []byte(webhookSecret), 0o600); err != nil {
		b.Fatal(err)
	}
	svc := serveSources(b, "catalog", fmt.Sprintf(`
  - name: catalog
    git: {repository: %s, branch: main, pollInterval: 1h}
    syncPolicy: {interval: 1h}
webhooks:
  github: {secretFile: %s}
  rateLimit: {perSecond: -1}
`, repo.URL, secretFile))
	body := githubPush(b, repo.URL, commit)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const deliveries, clients = 1000, 64
	var took []time.Duration
	var mu sync.Mutex
	burst := 0
	for b.Loop() {
		burst++
		next := make(chan int)
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for i := range next {
					req, _ := http.NewRequest(http.MethodPost, "http://"+svc.httpAddr+"/webhooks/github", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-GitHub-Event", "push")
					req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("burst-%d-%d", burst, i))
					req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex(webhookSecret, body))
					start := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						b.Errorf("status %d", resp.StatusCode)
					}
					mu.Lock()
					took = append(took, time.Since(start))
					mu.Unlock()
				}
			})
		}
		for i := range deliveries {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-202-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-202-ms")
}

// A push of an older commit replayed under a fresh delivery id leaves a
// healthy source healthy: the commit was served before, so the worker does
// not wait for it and answers with what the remote serves.
func TestReplayedOlderPushKeepsSourceHealthy(t *testing.T) {
	svc, repo := serveWebhooks(t)
	res := followResults(t, svc)
	older := repo.Push(map[string]string{"registry.json": registryWith("Alpha, first push")})
	olderBody := githubPush(t, repo.URL, older)
	if status, answer := postGitHub(t, svc.httpAddr, "d-older", olderBody, webhookSecret); status != http.StatusAccepted {
		t.Fatalf("status %d: %s", status, answer)
	}
	if c := res.completed(); c.Revision != older {
		t.Fatalf("completed %s, want %s", c.Revision, older)
	}
	newer := repo.Push(map[string]string{"registry.json": registryWith("Alpha, second push")})
	if status, answer := postGitHub(t, svc.httpAddr, "d-newer", githubPush(t, repo.URL, newer), webhookSecret); status != http.StatusAccepted {
		t.Fatalf("status %d: %s", status, answer)
	}
	if c := res.completed(); c.Revision != newer {
		t.Fatalf("completed %s, want %s", c.Revision, newer)
	}

	if status, answer := postGitHub(t, svc.httpAddr, "d-replayed", olderBody, webhookSecret); status != http.StatusAccepted {
		t.Fatalf("replay: status %d: %s", status, answer)
	}
	// A worker that waited for the replayed commit would end, once its
	// pauses ran out, in a failure instead.
	switch d := res.next(testsupport.Patience).(type) {
	case events.SyncSkipped, events.SyncCompleted:
	default:
		t.Fatalf("replayed push answered %T %+v, want skipped or completed", d, d)
	}
	out, _, err := cli(t, "status", "catalog", "-o", "json", "--config", svc.cfgPath)
	if err != nil || !strings.Contains(out, `"phase": "Complete"`) || !strings.Contains(out, newer) {
		t.Errorf("status after the replay: %v\n%s", err, out)
	}
}
