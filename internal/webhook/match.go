package webhook

import (
	"fmt"
	"slices"
	"strings"

	"github.com/regsync/regsync/internal/config"
)

// source is a synced source as the receiver sees it.
type source struct {
	name string
	git  *config.Git // nil for api and file sources
	repo repoURL     // the git repository, normalised
	// repoOK is false when the repository is not a URL a forge can
	// announce (a local path): no push matches it.
	repoOK bool
}

// target is one trigger to publish: a source and the change behind it.
type target struct {
	source string
	change change
}

// match returns the triggers a push or generic delivery asks for, limited
// to what sc allows, or why there are none. denied is true when the
// repository has sources that sc does not allow and none that it does: the
// delivery was signed with the secret of other sources.
func (st *state) match(p payload, sc scope) (targets []target, why string, denied bool) {
	if p.source != "" {
		targets, why = st.matchNamed(p)
		return targets, why, false
	}
	keys := make(map[string]bool, len(p.urls))
	for _, raw := range p.urls {
		if u, ok := parseRepoURL(raw); ok {
			keys[u.key()] = true
		}
	}
	var (
		seen      []string // sources of the repository
		pinned    []string
		forbidden []string // sources of the repository the delivery may not trigger
	)
	for _, s := range st.sources {
		if s.git == nil || !s.repoOK || !sameRepository(s.repo, keys, p.paths) {
			continue
		}
		if !sc.allows(s.name) {
			forbidden = append(forbidden, s.name)
			continue
		}
		seen = append(seen, s.name)
		if s.git.Commit != "" {
			pinned = append(pinned, s.name)
			continue
		}
		if c, ok := followedChange(s.git, p); ok {
			targets = append(targets, target{source: s.name, change: c})
		}
	}
	if len(targets) > 0 {
		return targets, "", false
	}
	repo := first(p.repository, first(p.urls...))
	refs := strings.Join(p.refs(), ", ")
	switch {
	case len(seen) == 0 && len(forbidden) > 0:
		return nil, fmt.Sprintf("the delivery is not signed with a secret of the sources of repository %s", clip(repo)), true
	case len(seen) == 0:
		return nil, fmt.Sprintf("no git source follows repository %s", clip(repo)), false
	case len(pinned) == len(seen):
		return nil, fmt.Sprintf("the sources of repository %s (%s) are pinned to a commit and ignore pushes",
			clip(repo), strings.Join(pinned, ", ")), false
	case refs == "":
		return nil, fmt.Sprintf("the push to repository %s moved no branch or tag", clip(repo)), false
	}
	return nil, fmt.Sprintf("no source of repository %s follows %s", clip(repo), clip(refs)), false
}

// matchNamed resolves a generic delivery, which names its source. The
// caller has checked that the delivery may trigger it.
func (st *state) matchNamed(p payload) ([]target, string) {
	i := slices.IndexFunc(st.sources, func(s source) bool { return s.name == p.source })
	if i < 0 {
		return nil, fmt.Sprintf("no synced source is named %s", p.source)
	}
	return []target{{source: p.source, change: change{revision: p.revision}}}, ""
}

// sameRepository reports whether repo is one of the locations keys, or
// ends in one of the host-less paths.
func sameRepository(repo repoURL, keys map[string]bool, paths []string) bool {
	if keys[repo.key()] {
		return true
	}
	lower := strings.ToLower(repo.path)
	for _, p := range paths {
		if lower == p || strings.HasSuffix(lower, "/"+p) {
			return true
		}
	}
	return false
}

// followedChange returns the change of p that moved the ref g follows. A
// source with neither branch nor tag follows the default branch when p
// names it, else any branch; in that last case the revision is kept only
// when the push moved a single branch, as it is not known which branch is
// the default.
func followedChange(g *config.Git, p payload) (change, bool) {
	switch {
	case g.Branch != "":
		return findChange(p.changes, "refs/heads/"+g.Branch)
	case g.Tag != "":
		return findChange(p.changes, "refs/tags/"+g.Tag)
	case p.defaultBranch != "":
		return findChange(p.changes, "refs/heads/"+p.defaultBranch)
	}
	var branches []change
	for _, c := range p.changes {
		if strings.HasPrefix(c.ref, "refs/heads/") {
			branches = append(branches, c)
		}
	}
	live := slices.IndexFunc(branches, func(c change) bool { return !c.deleted })
	if live < 0 {
		// Deleting some branch says nothing about the default one.
		return change{}, false
	}
	c := branches[live]
	if len(branches) > 1 {
		c.revision = ""
	}
	return c, true
}

func findChange(changes []change, ref string) (change, bool) {
	for _, c := range changes {
		if c.ref == ref {
			return c, true
		}
	}
	return change{}, false
}
