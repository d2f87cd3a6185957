package webhook

import (
	"net/http"
	"strings"
)

// giteaProof reads the hex HMAC-SHA256 of the body, without a prefix, from
// X-Gitea-Signature, X-Forgejo-Signature or X-Gogs-Signature (Gitea sends
// the first and the last, Forgejo all three, Gogs the last). For a
// form-encoded delivery these forges sign the JSON in its payload field;
// a signature of the body as sent is accepted too.
func giteaProof(h http.Header, contentType string, body []byte) (proof, error) {
	v := header("X-Gitea-Signature", "X-Forgejo-Signature", "X-Gogs-Signature")(h)
	if v == "" {
		return nil, errNoSignature
	}
	sig, err := plainHex(v)
	if err != nil {
		return nil, err
	}
	contents := [][]byte{body}
	if isForm(contentType) {
		if inner, err := formPayload(body); err == nil {
			contents = append(contents, inner)
		}
	}
	return hmacProof(sig, contents...), nil
}

type giteaUser struct {
	Login    string `json:"login"`
	Username string `json:"username"`
}

func (u *giteaUser) name() string {
	if u == nil {
		return ""
	}
	return first(u.Login, u.Username)
}

type giteaRepository struct {
	FullName      string `json:"full_name"`
	HTMLURL       string `json:"html_url"`
	CloneURL      string `json:"clone_url"`
	SSHURL        string `json:"ssh_url"`
	DefaultBranch string `json:"default_branch"`
}

type giteaPush struct {
	Ref        string `json:"ref"`
	After      string `json:"after"`
	HeadCommit *struct {
		ID string `json:"id"`
	} `json:"head_commit"`
	Repository *giteaRepository `json:"repository"`
	Pusher     *giteaUser       `json:"pusher"`
	Sender     *giteaUser       `json:"sender"`

	// RefType is set in delete events: branch or tag. Ref then holds the
	// short name of the deleted ref.
	RefType string `json:"ref_type"`
}

// parseGitea reads push deliveries and, as these forges announce a deleted
// branch or tag with a delete event instead of a push, delete deliveries;
// other events are not read.
func parseGitea(event, contentType string, body []byte) (payload, error) {
	if event != "push" && event != "delete" {
		return payload{}, nil
	}
	raw, err := jsonBody(contentType, body)
	if err != nil {
		return payload{}, err
	}
	var p giteaPush
	if err := decodeJSON(raw, &p); err != nil {
		return payload{}, err
	}
	r := p.Repository
	if r == nil {
		return payload{}, malformed("%s without a repository", event)
	}
	out := payload{
		kind:          kindPush,
		repository:    r.FullName,
		urls:          []string{r.HTMLURL, r.CloneURL, r.SSHURL},
		defaultBranch: r.DefaultBranch,
		pusher:        first(p.Pusher.name(), p.Sender.name()),
	}
	if r.FullName != "" && r.HTMLURL != "" {
		scheme, host := hostOf(r.HTMLURL, "")
		out.urls = append(out.urls, scheme+"://"+host+"/"+r.FullName)
	}
	var c change
	if event == "delete" {
		var prefix string
		switch p.RefType {
		case "branch":
			prefix = "refs/heads/"
		case "tag":
			prefix = "refs/tags/"
		default:
			return payload{}, malformed("delete of ref_type %q", clip(p.RefType))
		}
		if p.Ref == "" {
			return payload{}, malformed("delete without a ref")
		}
		ref := p.Ref
		if !strings.HasPrefix(ref, "refs/") {
			ref = prefix + ref
		}
		c, err = refChange(ref, "", "", true)
	} else {
		var head string
		if p.HeadCommit != nil {
			head = p.HeadCommit.ID
		}
		c, err = refChange(p.Ref, p.After, head, false)
	}
	if err != nil {
		return payload{}, err
	}
	out.changes = []change{c}
	return out, nil
}
