package webhook

import (
	"net/http"
	"strings"
)

// bitbucketProof reads X-Hub-Signature: "sha256=" and the hex HMAC-SHA256
// of the body, as Bitbucket Cloud and Data Center send it.
func bitbucketProof(h http.Header, _ string, body []byte) (proof, error) {
	v := h.Get("X-Hub-Signature")
	if v == "" {
		return nil, errNoSignature
	}
	sig, err := prefixedHex(v, "sha256=")
	if err != nil {
		return nil, err
	}
	return hmacProof(sig, body), nil
}

// parseBitbucket reads Bitbucket Cloud repo:push, Bitbucket Data Center
// repo:refs_changed and the Data Center's diagnostics:ping; other events
// are not read.
func parseBitbucket(event, _ string, body []byte) (payload, error) {
	switch event {
	case "repo:push":
		return parseBitbucketCloud(body)
	case "repo:refs_changed":
		return parseBitbucketDataCenter(body)
	case "diagnostics:ping":
		var ping map[string]any
		if err := decodeJSON(body, &ping); err != nil {
			return payload{}, err
		}
		return payload{kind: kindPing}, nil
	}
	return payload{}, nil
}

type bitbucketLink struct {
	Href string `json:"href"`
}

type bitbucketCloudRef struct {
	Type   string `json:"type"` // branch or tag
	Name   string `json:"name"`
	Target struct {
		Hash string `json:"hash"`
	} `json:"target"`
}

type bitbucketCloudPush struct {
	Actor struct {
		Nickname    string `json:"nickname"`
		DisplayName string `json:"display_name"`
	} `json:"actor"`
	Repository *struct {
		FullName string `json:"full_name"`
		Links    struct {
			HTML  bitbucketLink   `json:"html"`
			Clone []bitbucketLink `json:"clone"`
		} `json:"links"`
		MainBranch *struct {
			Name string `json:"name"`
		} `json:"mainbranch"`
	} `json:"repository"`
	Push struct {
		Changes []struct {
			New    *bitbucketCloudRef `json:"new"`
			Old    *bitbucketCloudRef `json:"old"`
			Closed bool               `json:"closed"`
		} `json:"changes"`
	} `json:"push"`
}

func parseBitbucketCloud(body []byte) (payload, error) {
	var p bitbucketCloudPush
	if err := decodeJSON(body, &p); err != nil {
		return payload{}, err
	}
	r := p.Repository
	if r == nil {
		return payload{}, malformed("push without a repository")
	}
	out := payload{
		kind:       kindPush,
		repository: r.FullName,
		urls:       []string{r.Links.HTML.Href},
		pusher:     first(p.Actor.Nickname, p.Actor.DisplayName),
	}
	for _, l := range r.Links.Clone {
		out.urls = append(out.urls, l.Href)
	}
	if r.FullName != "" {
		scheme, host := hostOf(r.Links.HTML.Href, "bitbucket.org")
		out.urls = append(out.urls, scheme+"://"+host+"/"+r.FullName)
	}
	if r.MainBranch != nil {
		out.defaultBranch = r.MainBranch.Name
	}
	for _, ch := range p.Push.Changes {
		ref, deleted := ch.New, ch.New == nil || ch.Closed
		if ref == nil {
			ref = ch.Old
		}
		if ref == nil {
			return payload{}, malformed("change without new or old ref")
		}
		var prefix string
		switch ref.Type {
		case "branch":
			prefix = "refs/heads/"
		case "tag":
			prefix = "refs/tags/"
		default:
			continue // Mercurial bookmarks and named branches
		}
		if ref.Name == "" {
			return payload{}, malformed("change without a ref name")
		}
		c, err := refChange(prefix+ref.Name, ref.Target.Hash, "", deleted)
		if err != nil {
			return payload{}, err
		}
		out.changes = append(out.changes, c)
	}
	return out, nil
}

type bitbucketDataCenterPush struct {
	Actor struct {
		Name        string `json:"name"`
		DisplayName string `json:"displayName"`
	} `json:"actor"`
	Repository *struct {
		Slug    string `json:"slug"`
		Project struct {
			Key string `json:"key"`
		} `json:"project"`
		Links struct {
			Clone []bitbucketLink `json:"clone"`
		} `json:"links"`
	} `json:"repository"`
	Changes []struct {
		Ref struct {
			ID        string `json:"id"`
			DisplayID string `json:"displayId"`
			Type      string `json:"type"` // BRANCH or TAG
		} `json:"ref"`
		RefID  string `json:"refId"`
		ToHash string `json:"toHash"`
		Type   string `json:"type"` // ADD, UPDATE or DELETE
	} `json:"changes"`
}

func parseBitbucketDataCenter(body []byte) (payload, error) {
	var p bitbucketDataCenterPush
	if err := decodeJSON(body, &p); err != nil {
		return payload{}, err
	}
	r := p.Repository
	if r == nil {
		return payload{}, malformed("push without a repository")
	}
	out := payload{
		kind:   kindPush,
		pusher: first(p.Actor.Name, p.Actor.DisplayName),
	}
	if r.Project.Key != "" && r.Slug != "" {
		out.repository = r.Project.Key + "/" + r.Slug
	}
	for _, l := range r.Links.Clone {
		out.urls = append(out.urls, l.Href)
	}
	if len(r.Links.Clone) == 0 && out.repository != "" {
		// Without clone links the server's host is unknown: match on
		// project key and slug, the last two segments of both clone URLs
		// (https://host/scm/KEY/slug.git, ssh://git@host:7999/KEY/slug.git).
		out.paths = []string{strings.ToLower(out.repository)}
	}
	for _, ch := range p.Changes {
		ref := first(ch.Ref.ID, ch.RefID)
		if ref == "" && ch.Ref.DisplayID != "" {
			switch ch.Ref.Type {
			case "BRANCH":
				ref = "refs/heads/" + ch.Ref.DisplayID
			case "TAG":
				ref = "refs/tags/" + ch.Ref.DisplayID
			}
		}
		c, err := refChange(ref, ch.ToHash, "", ch.Type == "DELETE")
		if err != nil {
			return payload{}, err
		}
		out.changes = append(out.changes, c)
	}
	return out, nil
}
