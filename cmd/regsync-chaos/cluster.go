package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/childproc"
)

// node is one nats-server of the cluster, with fixed ports so that a
// restarted node comes back where its peers and clients look for it.
type node struct {
	name                   string
	client, route, monitor int
	dir, conf, log         string
	p                      *proc
}

// cluster is a nats-server cluster on loopback with JetStream and one
// user for clients.
type cluster struct {
	e              *env
	nodes          []*node
	user, password string
}

// startCluster writes the configuration of n nodes under dir and starts
// them all.
func (e *env) startCluster(ctx context.Context, dir string, n int) (*cluster, error) {
	c := &cluster{e: e, user: "regsync", password: randomHex(16)}
	routePassword := randomHex(16)
	ports, err := childproc.FreePorts(3 * n)
	if err != nil {
		return nil, err
	}
	for i := range n {
		nd := &node{name: fmt.Sprintf("n%d", i+1), client: ports[3*i], route: ports[3*i+1], monitor: ports[3*i+2]}
		nd.dir = filepath.Join(dir, nd.name)
		nd.conf = filepath.Join(dir, nd.name+".conf")
		nd.log = filepath.Join(dir, nd.name+".log")
		c.nodes = append(c.nodes, nd)
	}
	for _, nd := range c.nodes {
		var routes []string
		for _, peer := range c.nodes {
			if peer != nd {
				routes = append(routes, fmt.Sprintf("nats-route://route:%s@127.0.0.1:%d", routePassword, peer.route))
			}
		}
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
max_payload: 8MB
jetstream {
  store_dir: %q
  max_memory_store: 64MB
  max_file_store: 2GB
}
authorization {
  user: %s
  password: %q
}
cluster {
  name: chaos
  listen: 127.0.0.1:%d
  authorization {
    user: route
    password: %q
  }
  routes: [%s]
}
`, nd.name, nd.client, nd.monitor, nd.dir, c.user, c.password, nd.route, routePassword, strings.Join(routes, ", "))
		if err := os.WriteFile(nd.conf, []byte(conf), 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", nd.conf, err)
		}
	}
	for _, nd := range c.nodes {
		if err := c.start(nd); err != nil {
			return nil, err
		}
	}
	if err := c.waitMetaLeader(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// urls is the comma-separated client URL list of every node.
func (c *cluster) urls() string {
	var us []string
	for _, nd := range c.nodes {
		us = append(us, fmt.Sprintf("nats://127.0.0.1:%d", nd.client))
	}
	return strings.Join(us, ",")
}

func (c *cluster) start(nd *node) error {
	f, err := childproc.LogFile(nd.log)
	if err != nil {
		return err
	}
	p, err := c.e.procs.Start("nats-server "+nd.name, f, f, nil, c.e.natsServer, "-c", nd.conf)
	if err != nil {
		f.Close()
		return err
	}
	go func() { <-p.Done(); f.Close() }()
	nd.p = p
	return nil
}

// kill kill -9s a node.
func (c *cluster) kill(nd *node) {
	if nd.p != nil && !nd.p.Exited() {
		nd.p.Kill()
	}
}

// restart starts a stopped node again and waits until it is up. It
// rejoins its cluster on its own; JetStream is healthy on it only once a
// quorum of nodes runs, so that is not waited for here.
func (c *cluster) restart(ctx context.Context, nd *node) error {
	if err := c.start(nd); err != nil {
		return err
	}
	return waitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/varz", nd.monitor), 30*time.Second)
}

// jsz is the part of a node's /jsz monitoring answer the suite reads.
type jsz struct {
	Meta struct {
		Leader string `json:"leader"`
		Size   int    `json:"cluster_size"`
	} `json:"meta_cluster"`
}

// metaLeader asks the live nodes' monitoring endpoints which node leads the
// JetStream meta group.
func (c *cluster) metaLeader(ctx context.Context) (*node, error) {
	for _, nd := range c.nodes {
		if nd.p == nil || nd.p.Exited() {
			continue
		}
		var z jsz
		if err := getJSON(ctx, fmt.Sprintf("http://127.0.0.1:%d/jsz", nd.monitor), &z); err != nil {
			continue
		}
		if leader := c.byName(z.Meta.Leader); leader != nil {
			return leader, nil
		}
	}
	return nil, fmt.Errorf("no node names a meta leader")
}

func (c *cluster) waitMetaLeader(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := c.metaLeader(ctx); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster elected no meta leader within 60s (logs in %s)", filepath.Dir(c.nodes[0].log))
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// streamLeader asks JetStream which node leads a stream (a KV bucket is the
// stream KV_<bucket>).
func (c *cluster) streamLeader(ctx context.Context, js jetstream.JetStream, stream string) (*node, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream info %s: %w", stream, err)
	}
	info := s.CachedInfo()
	if info.Cluster == nil || c.byName(info.Cluster.Leader) == nil {
		return nil, fmt.Errorf("stream %s has no leader", stream)
	}
	return c.byName(info.Cluster.Leader), nil
}

func (c *cluster) byName(name string) *node {
	for _, nd := range c.nodes {
		if nd.name == name {
			return nd
		}
	}
	return nil
}

func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// waitHTTP waits until url answers 200.
func waitHTTP(ctx context.Context, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ctx2, cancel := context.WithTimeout(ctx, time.Second)
		req, _ := http.NewRequestWithContext(ctx2, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s", url, limit)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return errInterrupted
	case <-t.C:
		return nil
	}
}
