package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/mod/semver"

	"github.com/regsync/regsync/events"
)

// change is one registry.changed event.
type change struct {
	id     string
	stored time.Time // when JetStream stored it; zero when seen on the wire
	data   events.RegistryChanged
}

// content is what one generation must always be announced with: its view
// digest and its diff.
func (c change) content() string {
	diff, _ := json.Marshal(c.data.Diff)
	return c.data.ViewDigest + " " + string(diff)
}

func decodeChange(header nats.Header, data []byte) (change, bool) {
	ev, err := events.Decode(header, data)
	if err != nil || ev.Type() != events.TypeRegistryChanged {
		return change{}, false
	}
	d, err := events.DecodeData[events.RegistryChanged](ev)
	if err != nil {
		return change{}, false
	}
	return change{id: ev.ID(), data: d}, true
}

// registryFinal is a registry's state at the end of a scenario: its status
// record, its stored object with the object's metadata, and the latest
// version of each server as every running replica serves it.
type registryFinal struct {
	status *events.RegistryStatus
	object []byte
	meta   map[string]string
	// latest is, per replica, the version each server name is served with
	// isLatest; served are the read errors.
	latest map[string]map[string]string
	served []string
	err    error
}

// registryState reads a registry's status record and its stored object.
func (o *observer) registryState(ctx context.Context, name string) registryFinal {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := o.js.KeyValue(ctx, events.BucketRegistryStatus)
	if err != nil {
		return registryFinal{err: fmt.Errorf("open %s: %w", events.BucketRegistryStatus, err)}
	}
	e, err := kv.Get(ctx, name)
	if err != nil {
		return registryFinal{err: fmt.Errorf("status of registry %s: %w", name, err)}
	}
	var st events.RegistryStatus
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return registryFinal{err: fmt.Errorf("status of registry %s: %w", name, err)}
	}
	obs, err := o.js.ObjectStore(ctx, events.ObjectStoreRegistries)
	if err != nil {
		return registryFinal{status: &st, err: fmt.Errorf("open %s: %w", events.ObjectStoreRegistries, err)}
	}
	// One get: the body and the metadata of one and the same put.
	res, err := obs.Get(ctx, name)
	if err != nil {
		return registryFinal{status: &st, err: fmt.Errorf("object of registry %s: %w", name, err)}
	}
	defer res.Close()
	info, err := res.Info()
	if err != nil {
		return registryFinal{status: &st, err: fmt.Errorf("object of registry %s: %w", name, err)}
	}
	body, err := io.ReadAll(res)
	if err != nil {
		return registryFinal{status: &st, err: fmt.Errorf("object of registry %s: %w", name, err)}
	}
	return registryFinal{status: &st, object: body, meta: info.Metadata}
}

// convergeRegistries waits until every registry's status record shows the
// sources' current data in its view, with no event pending, up to limit,
// and returns how long that took and the registries that did not get
// there, each with why.
func (d *deployment) convergeRegistries(ctx context.Context, limit time.Duration) (time.Duration, []string) {
	start := time.Now()
	deadline := start.Add(limit)
	for {
		var behind []string
		for _, reg := range d.regs {
			if why := d.registryBehind(ctx, reg); why != "" {
				behind = append(behind, reg.name+": "+why)
			}
		}
		if len(behind) == 0 || time.Now().After(deadline) || sleep(ctx, 100*time.Millisecond) != nil {
			return time.Since(start), behind
		}
	}
}

func (d *deployment) registryBehind(ctx context.Context, reg registryDef) string {
	f := d.obs.registryState(ctx, reg.name)
	switch {
	case f.err != nil:
		return f.err.Error()
	case len(f.status.PendingEvent) > 0:
		return fmt.Sprintf("the event of generation %d is pending", f.status.Generation)
	}
	for i, s := range reg.sources {
		if i >= len(f.status.Sources) || f.status.Sources[i].LastSyncHash != d.obs.syncedHash(ctx, s) {
			return "the view does not hold the last sync of " + s
		}
	}
	return ""
}

// registryFinals reads the end state of every registry, with the latest
// versions every running replica serves.
func (d *deployment) registryFinals(ctx context.Context) map[string]registryFinal {
	out := make(map[string]registryFinal, len(d.regs))
	for _, reg := range d.regs {
		f, _ := settled(ctx, func() (registryFinal, error) {
			f := d.obs.registryState(ctx, reg.name)
			return f, f.err
		})
		f.latest = map[string]map[string]string{}
		for _, rep := range d.reps {
			if rep.p == nil || rep.p.Exited() {
				continue
			}
			latest, err := servedLatest(ctx, rep.httpPort, reg.name)
			if err != nil {
				f.served = append(f.served, fmt.Sprintf("%s: %v", rep.name, err))
				continue
			}
			f.latest[rep.name] = latest
		}
		out[reg.name] = f
	}
	return out
}

// servedLatest lists a registry's servers through a replica's read API and
// returns, per server name, the versions served with isLatest (joined by
// commas when there are several).
func servedLatest(ctx context.Context, port int, registry string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	latest := map[string]string{}
	cursor := ""
	for {
		u := fmt.Sprintf("http://127.0.0.1:%d/registry/%s/v0.1/servers?limit=1000", port, registry)
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("list servers: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("list servers: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("list servers: %s: %s", resp.Status, shorten(string(body)))
		}
		var page struct {
			Servers []struct {
				Server struct {
					Name    string `json:"name"`
					Version string `json:"version"`
				} `json:"server"`
				Meta map[string]struct {
					IsLatest bool `json:"isLatest"`
				} `json:"_meta"`
			} `json:"servers"`
			Metadata struct {
				NextCursor string `json:"nextCursor"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("list servers: %w", err)
		}
		for _, s := range page.Servers {
			if !s.Meta["io.modelcontextprotocol.registry/official"].IsLatest {
				continue
			}
			if v, ok := latest[s.Server.Name]; ok {
				latest[s.Server.Name] = v + "," + s.Server.Version
			} else {
				latest[s.Server.Name] = s.Server.Version
			}
		}
		if page.Metadata.NextCursor == "" {
			return latest, nil
		}
		cursor = page.Metadata.NextCursor
	}
}

// The model of the merge rule, written apart from internal/registry/merge
// so that it checks that code rather than repeats it.

// modelView is a merged registry as the model sees it.
type modelView struct {
	// entries is the content digest of every version: "<kind> <name>@<version>".
	entries map[string]string
	// latest is the latest version of every name: "<kind> <name>".
	latest map[string]string
	// winner is the source that gives every name.
	winner map[string]string
}

// entriesOf reads an upstream-format registry document: per "<kind>
// <name>" (skills and plugins named namespace/name), the content digest of
// each version.
func entriesOf(doc []byte) (map[string]map[string]string, error) {
	var reg struct {
		Data struct {
			Servers []json.RawMessage `json:"servers"`
			Skills  []json.RawMessage `json:"skills"`
			Plugins []json.RawMessage `json:"plugins"`
		} `json:"data"`
	}
	if err := json.Unmarshal(doc, &reg); err != nil {
		return nil, fmt.Errorf("decode registry: %w", err)
	}
	out := map[string]map[string]string{}
	for _, kind := range []struct {
		name    string
		entries []json.RawMessage
	}{{"server", reg.Data.Servers}, {"skill", reg.Data.Skills}, {"plugin", reg.Data.Plugins}} {
		for _, raw := range kind.entries {
			var id struct{ Namespace, Name, Version string }
			if err := json.Unmarshal(raw, &id); err != nil {
				return nil, fmt.Errorf("decode %s: %w", kind.name, err)
			}
			key := kind.name + " " + id.Name
			if kind.name != "server" {
				key = kind.name + " " + id.Namespace + "/" + id.Name
			}
			digest, err := contentDigest(raw)
			if err != nil {
				return nil, fmt.Errorf("decode %s: %w", key, err)
			}
			if out[key] == nil {
				out[key] = map[string]string{}
			}
			if _, dup := out[key][id.Version]; dup {
				return nil, fmt.Errorf("%s@%s listed twice", key, id.Version)
			}
			out[key][id.Version] = digest
		}
	}
	return out, nil
}

// contentDigest is the SHA-256 of an entry's JSON in a normal form (keys
// sorted, no spaces), so the same content digests alike however it was
// laid out.
func contentDigest(raw []byte) (string, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// modelMerge is the merge rule: for each name, the first source in order
// that has it gives all its versions; the latest of them by semantic
// version when they are semantic versions, else by string order.
func modelMerge(order []string, snapshots map[string][]byte) (modelView, error) {
	v := modelView{entries: map[string]string{}, latest: map[string]string{}, winner: map[string]string{}}
	for _, s := range order {
		if snapshots[s] == nil {
			return v, fmt.Errorf("source %s has no snapshot", s)
		}
		es, err := entriesOf(snapshots[s])
		if err != nil {
			return v, fmt.Errorf("snapshot of %s: %w", s, err)
		}
		for key, versions := range es {
			if _, won := v.winner[key]; won {
				continue
			}
			v.winner[key] = s
			var latest string
			for version, digest := range versions {
				v.entries[key+"@"+version] = digest
				if latest == "" || compareVersions(version, latest) > 0 {
					latest = version
				}
			}
			v.latest[key] = latest
		}
	}
	return v, nil
}

// fullSemver matches a semantic version with all three numbers, with an
// optional "v".
var fullSemver = regexp.MustCompile(`^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// compareVersions orders two versions by semantic version when both are
// one, else (and between equal ones) by string order.
func compareVersions(a, b string) int {
	if fullSemver.MatchString(a) && fullSemver.MatchString(b) {
		if c := semver.Compare("v"+strings.TrimPrefix(a, "v"), "v"+strings.TrimPrefix(b, "v")); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

// registryEvidence is what a scenario observed of one registry.
type registryEvidence struct {
	def   registryDef
	final registryFinal
}

// checkRegistries runs the registry checks: each stored object is the
// model merge of its sources' snapshots, the status record agrees with
// it, every generation was announced once with one content, and every
// source change that altered a registry is the cause of one generation.
func checkRegistries(r *report, ev evidence) {
	if len(ev.registries) == 0 {
		return
	}
	snapshots := map[string][]byte{}
	for s, f := range ev.finals {
		snapshots[s] = f.snapshot
	}
	checkRegistryObjects(r, ev, snapshots)
	checkRegistryStatus(r, ev)
	checkGenerations(r, ev)
	checkDiffs(r, ev)
	checkCauses(r, ev)
}

func checkRegistryObjects(r *report, ev evidence, snapshots map[string][]byte) {
	var bad, badLatest []string
	entries, reads := 0, 0
	for _, reg := range ev.registries {
		name, f := reg.def.name, reg.final
		want, err := modelMerge(reg.def.sources, snapshots)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: no model: %v", name, err))
			continue
		}
		entries += len(want.entries)
		if f.err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", name, f.err))
			continue
		}
		got, err := entriesOf(f.object)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: stored object: %v", name, err))
			continue
		}
		flat := map[string]string{}
		for key, versions := range got {
			for version, digest := range versions {
				flat[key+"@"+version] = digest
			}
		}
		var diffs []string
		for id, digest := range want.entries {
			key, _, _ := strings.Cut(id, "@")
			switch d, ok := flat[id]; {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("%s missing (of %s, which wins it)", id, want.winner[key]))
			case d != digest:
				diffs = append(diffs, fmt.Sprintf("%s has other content than %s's, which wins it", id, want.winner[key]))
			}
		}
		for id := range flat {
			if _, ok := want.entries[id]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s stored, but no winning source has it", id))
			}
		}
		slices.Sort(diffs)
		if len(diffs) > 0 {
			bad = append(bad, fmt.Sprintf("%s: %d entries differ, first %s", name, len(diffs), diffs[0]))
		}
		bad = append(bad, prefixed(name+": ", diffs[min(1, len(diffs)):min(3, len(diffs))])...)
		for _, e := range f.served {
			badLatest = append(badLatest, fmt.Sprintf("%s: %s", name, e))
		}
		for rep, latest := range f.latest {
			reads++
			var diffs []string
			for key, version := range want.latest {
				server, ok := strings.CutPrefix(key, "server ")
				if ok && latest[server] != version {
					diffs = append(diffs, fmt.Sprintf("%s: latest %q, the model's %q", server, latest[server], version))
				}
			}
			for server, version := range latest {
				if _, ok := want.latest["server "+server]; !ok {
					diffs = append(diffs, fmt.Sprintf("%s: latest %q, not in the model", server, version))
				}
			}
			slices.Sort(diffs)
			if len(diffs) > 0 {
				badLatest = append(badLatest, fmt.Sprintf("%s on %s: %d names, first %s", name, rep, len(diffs), diffs[0]))
			}
		}
	}
	r.check(len(bad) == 0, bad, "registry objects other than the model merge of their sources' snapshots: %d of %d registries (%d entries in the models)",
		countPrefixed(bad, ev.registries), len(ev.registries), entries)
	r.check(len(badLatest) == 0, badLatest, "isLatest served by the replicas other than the model's: %d of %d reads", len(badLatest), reads)
}

func prefixed(prefix string, lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = prefix + "  " + l
	}
	return out
}

// countPrefixed counts the registries that a line of bad names.
func countPrefixed(bad []string, regs []registryEvidence) int {
	n := 0
	for _, reg := range regs {
		if slices.ContainsFunc(bad, func(l string) bool { return strings.HasPrefix(l, reg.def.name+": ") }) {
			n++
		}
	}
	return n
}

func checkRegistryStatus(r *report, ev evidence) {
	var bad []string
	for _, reg := range ev.registries {
		f := reg.final
		if f.err != nil || f.status == nil {
			bad = append(bad, fmt.Sprintf("%s: %v", reg.def.name, f.err))
			continue
		}
		st := f.status
		for _, field := range []struct{ name, status string }{
			{events.MetaGeneration, strconv.FormatUint(st.Generation, 10)},
			{events.MetaViewDigest, st.ViewDigest},
			{events.MetaServerCount, strconv.Itoa(st.ServerCount)},
			{events.MetaSkillCount, strconv.Itoa(st.SkillCount)},
			{events.MetaPluginCount, strconv.Itoa(st.PluginCount)},
		} {
			if f.meta[field.name] != field.status {
				bad = append(bad, fmt.Sprintf("%s: status %s %s, stored object's %q", reg.def.name, field.name, field.status, f.meta[field.name]))
			}
		}
	}
	r.check(len(bad) == 0, bad, "registry status records other than their stored object's metadata (generation, viewDigest, counts): %d fields", len(bad))
}

// checkGenerations checks the registry.changed events stored: per
// registry, one event for every generation from 1 to the one stored, each
// the successor of the one before with another view, the last one the
// stored view; and no generation announced with two contents, stored or
// on the wire.
func checkGenerations(r *report, ev evidence) {
	var bad []string
	conflicts := slices.Clone(ev.genConflicts)
	announced, storedGens := 0, 0
	for _, reg := range ev.registries {
		name := reg.def.name
		byGen := map[uint64][]change{}
		for _, c := range ev.changes {
			if c.data.Registry == name {
				byGen[c.data.Generation] = append(byGen[c.data.Generation], c)
			}
		}
		announced += len(byGen)
		stored, err := strconv.ParseUint(reg.final.meta[events.MetaGeneration], 10, 64)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: stored object has no generation: %v", name, reg.final.err))
			continue
		}
		storedGens += int(stored)
		if uint64(len(byGen)) != stored {
			bad = append(bad, fmt.Sprintf("%s: %d generations announced, generation %d stored", name, len(byGen), stored))
		}
		var prevDigest string
		for g := uint64(1); g <= stored; g++ {
			cs := byGen[g]
			switch {
			case len(cs) == 0:
				bad = append(bad, fmt.Sprintf("%s: generation %d never announced", name, g))
				prevDigest = ""
				continue
			case len(cs) > 1:
				bad = append(bad, fmt.Sprintf("%s: generation %d stored %d times (%s)", name, g, len(cs), idsOf(cs)))
			}
			c := cs[0]
			for _, o := range cs[1:] {
				if o.content() != c.content() {
					conflicts = append(conflicts, fmt.Sprintf("%s generation %d: stored as %s and %s with different contents", name, g, c.id, o.id))
				}
			}
			if c.data.PreviousGeneration != g-1 {
				bad = append(bad, fmt.Sprintf("%s: generation %d (%s) follows generation %d", name, g, c.id, c.data.PreviousGeneration))
			}
			if c.data.ViewDigest == prevDigest {
				bad = append(bad, fmt.Sprintf("%s: generation %d (%s) has the view of generation %d", name, g, c.id, g-1))
			}
			prevDigest = c.data.ViewDigest
		}
		for g, cs := range byGen {
			if g > stored {
				bad = append(bad, fmt.Sprintf("%s: generation %d announced (%s), but generation %d stored", name, g, idsOf(cs), stored))
			}
		}
		if last := byGen[stored]; len(last) > 0 && last[0].data.ViewDigest != reg.final.meta[events.MetaViewDigest] {
			bad = append(bad, fmt.Sprintf("%s: generation %d announced with view %s, stored with %s", name, stored,
				short(last[0].data.ViewDigest), short(reg.final.meta[events.MetaViewDigest])))
		}
	}
	slices.Sort(bad)
	r.check(len(bad) == 0, bad, "registry generations: %d announced, %d stored; gaps, duplicates, repeats and mismatches: %d", announced, storedGens, len(bad))
	r.check(len(conflicts) == 0, conflicts, "registry generations announced with different contents (view digest, diff): %d", len(conflicts))
}

func idsOf(cs []change) string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.id
	}
	return strings.Join(ids, " ")
}

// checkCauses relates the registry.changed events to the source results
// they list as causes: every cause is a completed result of one of the
// registry's sources, no result causes two generations of a registry, and
// every completed result that altered a registry causes one of its
// generations (unless a list was cut at events.MaxCauses). In this suite
// every source has servers of its own that no other source has, so a
// completed result altered each registry of its source exactly when its
// data differs from that source's previous completed result.
func checkCauses(r *report, ev evidence) {
	completed := map[string]*events.SyncCompleted{}
	for _, res := range ev.results {
		if res.completed != nil {
			completed[res.id] = res.completed
		}
	}
	listed := 0
	for _, c := range ev.changes {
		listed += len(c.data.Causes)
	}
	var bad []string
	altering := 0
	for _, reg := range ev.registries {
		name := reg.def.name
		causedBy := map[string][]uint64{}
		cut := false
		for _, c := range ev.changes {
			if c.data.Registry != name {
				continue
			}
			cut = cut || c.data.CauseCount > len(c.data.Causes)
			for _, cause := range c.data.Causes {
				causedBy[cause.ResultID] = append(causedBy[cause.ResultID], c.data.Generation)
				res := completed[cause.ResultID]
				switch {
				case !slices.Contains(reg.def.sources, cause.Source):
					bad = append(bad, fmt.Sprintf("%s: generation %d lists cause %s of source %s, not one of its sources", name, c.data.Generation, cause.ResultID, cause.Source))
				case res == nil:
					bad = append(bad, fmt.Sprintf("%s: generation %d lists cause %s, not a completed result stored", name, c.data.Generation, cause.ResultID))
				case res.Source != cause.Source:
					bad = append(bad, fmt.Sprintf("%s: generation %d lists cause %s as of %s, a result of %s", name, c.data.Generation, cause.ResultID, cause.Source, res.Source))
				}
			}
		}
		for id, gens := range causedBy {
			if len(dedupe(gens)) > 1 {
				bad = append(bad, fmt.Sprintf("%s: result %s is the cause of generations %v", name, id, dedupe(gens)))
			}
		}
		last := map[string]string{}
		for _, res := range ev.results {
			c := res.completed
			if c == nil || !slices.Contains(reg.def.sources, c.Source) || last[c.Source] == c.Hash {
				continue
			}
			last[c.Source] = c.Hash
			altering++
			if listed > 0 && !cut && len(causedBy[res.id]) == 0 {
				bad = append(bad, fmt.Sprintf("%s: result %s of %s altered the registry and is the cause of no generation", name, res.id, c.Source))
			}
		}
	}
	if listed == 0 {
		r.infof("registry causes: none listed in %d registry.changed events; results related by generations only (%d source changes altered a registry)", len(ev.changes), altering)
		return
	}
	slices.Sort(bad)
	r.check(len(bad) == 0, bad, "registry causes: %d source changes altered a registry, %d causes listed; missing, repeated or foreign causes: %d", altering, listed, len(bad))
}

func dedupe(gens []uint64) []uint64 {
	out := slices.Clone(gens)
	slices.Sort(out)
	return slices.Compact(out)
}

// checkDiffs relates the generations to the source changes by their
// diffs. Every source of the suite has servers of its own,
// io.github.chaos/<source>-<i>, that only its own changes change, so a
// generation whose diff names one of them announces a change of that
// source. Changes may coalesce into one generation, but no change may be
// announced twice: per registry and source, no more generations name the
// source's own servers than the source had completed results with new
// data.
func checkDiffs(r *report, ev evidence) {
	var bad []string
	for _, reg := range ev.registries {
		changes := map[string]int{}
		last := map[string]string{}
		for _, res := range ev.results {
			if c := res.completed; c != nil && slices.Contains(reg.def.sources, c.Source) && last[c.Source] != c.Hash {
				last[c.Source] = c.Hash
				changes[c.Source]++
			}
		}
		// A generation stored twice is the generations check's finding.
		named := map[string]int{}
		seen := map[uint64]bool{}
		for _, c := range ev.changes {
			if c.data.Registry != reg.def.name || seen[c.data.Generation] {
				continue
			}
			seen[c.data.Generation] = true
			d := c.data.Diff.Diff
			names := slices.Concat(d.Added, d.Updated, d.Removed)
			for _, s := range reg.def.sources {
				if slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "io.github.chaos/"+s+"-") }) {
					named[s]++
				}
			}
		}
		for _, s := range reg.def.sources {
			if named[s] > changes[s] {
				bad = append(bad, fmt.Sprintf("%s: %d generations change the servers of %s, which changed %d times", reg.def.name, named[s], s, changes[s]))
			}
		}
	}
	r.check(len(bad) == 0, bad, "source changes announced in more than one generation (by the diffs): %d registry sources", len(bad))
}
