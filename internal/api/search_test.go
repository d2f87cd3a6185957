package api

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"
)

// searchRunes are what random names, titles, descriptions and queries
// are made of: ASCII of both cases, and letters whose lower case has
// another length in UTF-8 (İ, K, ẞ, Ⱥ), or that fold together (σ ς Σ).
var searchRunes = []rune("aAbBcC-./ 09İıKkßẞσςΣȺⱥé")

func randomText(rng *rand.Rand, maxLen int) string {
	var b strings.Builder
	for range rng.IntN(maxLen + 1) {
		b.WriteRune(searchRunes[rng.IntN(len(searchRunes))])
	}
	return b.String()
}

// randomServer is a record of name and version with a random title and
// description, deleted or latest at random.
func randomServer(rng *rand.Rand, name, version string) ServerRecord {
	raw, err := json.Marshal(map[string]string{
		"name": name, "version": version, "title": randomText(rng, 8), "description": randomText(rng, 24),
	})
	if err != nil {
		panic(err)
	}
	r := ServerRecord{Name: name, Version: version, JSON: raw, Digest: digestOf(raw),
		PublishedAt: t0, UpdatedAt: t0.Add(time.Duration(rng.IntN(5)) * time.Hour), IsLatest: rng.IntN(2) == 0}
	if rng.IntN(5) == 0 {
		r.Deleted = true
	}
	return r
}

// randomContent is n random names with one to three versions each, at
// most one of them latest.
func randomContent(rng *rand.Rand, n int) Content {
	var c Content
	for i := range n {
		name := fmt.Sprintf("%s-%03d", randomText(rng, 6), i)
		latest := false
		for v := range 1 + rng.IntN(3) {
			r := randomServer(rng, name, fmt.Sprintf("1.%d.0", v))
			r.IsLatest = r.IsLatest && !latest
			latest = latest || r.IsLatest
			c.Servers = append(c.Servers, r)
		}
	}
	return c
}

// randomQuery is a listing query with a search that is often a piece of
// an entry's search text, in another case, and often not.
func randomQuery(rng *rand.Rand, c Content) url.Values {
	q := url.Values{}
	var search string
	switch rng.IntN(4) {
	case 0:
		search = randomText(rng, 5)
	default:
		r := c.Servers[rng.IntN(len(c.Servers))]
		var id identity
		_ = json.Unmarshal(r.JSON, &id)
		text := []rune(id.Name + " " + id.Title + " " + id.Description)
		i := rng.IntN(len(text))
		j := i + rng.IntN(min(8, len(text)-i)+1)
		search = string(text[i:j])
		if rng.IntN(2) == 0 {
			search = strings.ToUpper(search)
		}
	}
	q.Set("search", search)
	q.Set("limit", fmt.Sprint(1+rng.IntN(12)))
	switch rng.IntN(3) {
	case 0:
		q.Set("version", "latest")
	case 1:
		q.Set("version", "1.1.0")
	}
	if rng.IntN(3) == 0 {
		q.Set("include_deleted", "true")
	}
	if rng.IntN(4) == 0 {
		q.Set("updated_since", t0.Add(time.Duration(rng.IntN(4))*time.Hour).Format(time.RFC3339))
	}
	if rng.IntN(2) == 0 {
		r := c.Servers[rng.IntN(len(c.Servers))]
		q.Set("cursor", encodeCursor(position{r.Name, r.Version}))
	}
	return q
}

// checkSearchAnswers checks that v answers every query as a scan of
// every entry does, following each listing's cursors to the end.
func checkSearchAnswers(t *testing.T, rng *rand.Rand, v *View, c Content, queries int) {
	t.Helper()
	scan := *v
	scan.search = nil
	for range queries {
		q := randomQuery(rng, c)
		for page := 0; ; page++ {
			p, rerr := parseServerQuery(q)
			if rerr != nil {
				t.Fatalf("?%s: %s", q.Encode(), rerr.msg)
			}
			got, want := serverPage(nil, v, p), serverPage(nil, &scan, p)
			if string(got) != string(want) {
				t.Fatalf("?%s (page %d):\nindexed %s\nscanned %s", q.Encode(), page, got, want)
			}
			var l list
			if err := json.Unmarshal(got, &l); err != nil {
				t.Fatal(err)
			}
			if l.Metadata.NextCursor == "" {
				break
			}
			q.Set("cursor", l.Metadata.NextCursor)
		}
	}
}

// The search index never changes an answer: over random entries and
// queries (Unicode case folding included), a view searched through its
// index answers exactly what a scan of every entry answers.
func TestSearchIndexAnswersAsTheScan(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		c := randomContent(rng, 40+rng.IntN(200))
		checkSearchAnswers(t, rng, mustBuild(t, c), c, 100)
	}
}

// A view rebuilt after changes, sharing the previous view's index with
// a list of what differs (and indexing anew once that list is long),
// answers every search as the scan does.
func TestRebuiltSearchIndexAnswersAsTheScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	c := randomContent(rng, 300)
	v := mustBuild(t, c)
	added := 0
	for round := range 60 {
		// Edit, remove and add a few records, some rounds many.
		changes := 1 + rng.IntN(8)
		if round%10 == 9 {
			changes = maxSearchOverlay
		}
		for range changes {
			switch i := rng.IntN(len(c.Servers)); rng.IntN(3) {
			case 0:
				c.Servers[i] = randomServer(rng, c.Servers[i].Name, c.Servers[i].Version)
				c.Servers[i].IsLatest = false
			case 1:
				c.Servers = append(c.Servers[:i], c.Servers[i+1:]...)
			default:
				added++
				c.Servers = append(c.Servers, randomServer(rng, fmt.Sprintf("added-%d", added), "1.0.0"))
			}
		}
		next, err := Rebuild(v, c)
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 && next.search.base != v.search.base {
			t.Fatal("a view rebuilt after a few changes indexed every entry again")
		}
		v = next
		checkSearchAnswers(t, rng, v, c, 30)
	}
}

// A search looks at the entries whose text has the query's rarest
// trigram, not at every entry.
func TestSearchLooksOnlyAtCandidates(t *testing.T) {
	v := mustBuild(t, manyServers(10000))
	p, rerr := parseServerQuery(url.Values{"search": {"SERVER-0999"}, "version": {"latest"}})
	if rerr != nil {
		t.Fatal(rerr.msg)
	}
	looked := 0
	for e := range v.search.candidates(p.search, p.after) {
		if p.listed(e) {
			looked++
		}
	}
	// "999", the rarest trigram, is in 19 names (server-0999x and
	// server-0x999); their latest versions are the candidates.
	if looked != 19 {
		t.Fatalf("looked at %d entries, want the 19 latest entries holding 999", looked)
	}
}

// BenchmarkSearchIndexMemory reports what the search index holds for
// 10,000 servers with two versions each (index-bytes), with short texts
// (manyServers) and with descriptions as long as registrytest.Large's.
func BenchmarkSearchIndexMemory(b *testing.B) {
	long := manyServers(10000)
	for i := range long.Servers {
		r := &long.Servers[i]
		raw, err := json.Marshal(map[string]string{"name": r.Name, "version": r.Version, "title": "Server " + r.Name[len(r.Name)-5:],
			"description": fmt.Sprintf("Server %d of a large test registry: reads, searches and updates records", i/2)})
		if err != nil {
			b.Fatal(err)
		}
		r.JSON, r.Digest = raw, digestOf(raw)
	}
	for _, bc := range []struct {
		name string
		c    Content
	}{{"short", manyServers(10000)}, {"long", long}} {
		b.Run(bc.name, func(b *testing.B) {
			v := mustBuild(b, bc.c)
			var held uint64
			for b.Loop() {
				v.search = nil
				before := liveHeap()
				v.search = newSearchIndex(v.all)
				held = liveHeap() - before
			}
			b.ReportMetric(float64(held), "index-bytes")
		})
	}
}

// BenchmarkSearchIndexBuild10k indexes every entry of a view of 10,000
// servers, two versions each: what Build adds, and what Rebuild adds
// once every maxSearchOverlay changed records.
func BenchmarkSearchIndexBuild10k(b *testing.B) {
	v := mustBuild(b, manyServers(10000))
	b.ReportAllocs()
	for b.Loop() {
		newSearchIndex(v.all)
	}
}

// FuzzSearchMatchesScan searches random entries for any text: the index
// answers what the scan of every entry answers.
func FuzzSearchMatchesScan(f *testing.F) {
	for _, q := range []string{"", "a", "ab", "abc", "İK", "ßσ", "-00", "\x00", "ǅ", "\xff\xfe", "kK"} {
		f.Add(q)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	c := randomContent(rng, 200)
	v := mustBuild(f, c)
	scan := *v
	scan.search = nil
	f.Fuzz(func(t *testing.T, search string) {
		p, rerr := parseServerQuery(url.Values{"search": {search}, "limit": {"1000"}, "include_deleted": {"true"}})
		if rerr != nil {
			t.Fatal(rerr.msg)
		}
		if got, want := serverPage(nil, v, p), serverPage(nil, &scan, p); string(got) != string(want) {
			t.Fatalf("search %q:\nindexed %s\nscanned %s", search, got, want)
		}
	})
}
