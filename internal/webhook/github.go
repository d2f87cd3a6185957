package webhook

import "net/http"

// githubProof reads X-Hub-Signature-256: "sha256=" and the hex HMAC-SHA256
// of the body as sent (for a form-encoded delivery, the whole form body).
// A request signed only with SHA-1 (X-Hub-Signature) is refused.
func githubProof(h http.Header, _ string, body []byte) (proof, error) {
	v := h.Get("X-Hub-Signature-256")
	if v == "" {
		if h.Get("X-Hub-Signature") != "" {
			return nil, errSHA1Signature
		}
		return nil, errNoSignature
	}
	sig, err := prefixedHex(v, "sha256=")
	if err != nil {
		return nil, err
	}
	return hmacProof(sig, body), nil
}

type githubRepository struct {
	FullName      string `json:"full_name"`
	HTMLURL       string `json:"html_url"`
	CloneURL      string `json:"clone_url"`
	GitURL        string `json:"git_url"`
	SSHURL        string `json:"ssh_url"`
	SVNURL        string `json:"svn_url"`
	MirrorURL     string `json:"mirror_url"`
	DefaultBranch string `json:"default_branch"`
	MasterBranch  string `json:"master_branch"`
}

type githubPush struct {
	Ref        string `json:"ref"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"`
	HeadCommit *struct {
		ID string `json:"id"`
	} `json:"head_commit"`
	Repository *githubRepository `json:"repository"`
	Pusher     struct {
		Name string `json:"name"`
	} `json:"pusher"`
	Sender struct {
		Login string `json:"login"`
	} `json:"sender"`
}

// parseGitHub reads push and ping deliveries; other events are not read.
func parseGitHub(event, contentType string, body []byte) (payload, error) {
	if event != "push" && event != "ping" {
		return payload{}, nil
	}
	raw, err := jsonBody(contentType, body)
	if err != nil {
		return payload{}, err
	}
	var p githubPush
	if err := decodeJSON(raw, &p); err != nil {
		return payload{}, err
	}
	var out payload
	if r := p.Repository; r != nil {
		scheme, host := hostOf(r.HTMLURL, "github.com")
		out.repository = r.FullName
		out.urls = []string{r.HTMLURL, r.CloneURL, r.GitURL, r.SSHURL, r.SVNURL, r.MirrorURL}
		if r.FullName != "" {
			out.urls = append(out.urls, scheme+"://"+host+"/"+r.FullName)
		}
		out.defaultBranch = first(r.DefaultBranch, r.MasterBranch)
	}
	if event == "ping" {
		out.kind = kindPing
		return out, nil
	}
	if p.Repository == nil {
		return payload{}, malformed("push without a repository")
	}
	out.kind = kindPush
	out.pusher = first(p.Pusher.Name, p.Sender.Login)
	// For a pushed annotated tag, after is the tag object and head_commit
	// the commit it names: the revision a sync reports.
	var head string
	if p.HeadCommit != nil {
		head = p.HeadCommit.ID
	}
	c, err := refChange(p.Ref, p.After, head, p.Deleted)
	if err != nil {
		return payload{}, err
	}
	out.changes = []change{c}
	return out, nil
}
