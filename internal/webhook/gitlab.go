package webhook

import "net/http"

// gitlabProof reads X-Gitlab-Token: GitLab sends the secret token itself.
func gitlabProof(h http.Header, _ string, _ []byte) (proof, error) {
	token := h.Get("X-Gitlab-Token")
	if token == "" {
		return nil, errNoSignature
	}
	return tokenProof(token), nil
}

type gitlabPush struct {
	Ref          string `json:"ref"`
	After        string `json:"after"`
	CheckoutSHA  string `json:"checkout_sha"`
	UserName     string `json:"user_name"`
	UserUsername string `json:"user_username"`
	Project      *struct {
		PathWithNamespace string `json:"path_with_namespace"`
		WebURL            string `json:"web_url"`
		GitHTTPURL        string `json:"git_http_url"`
		GitSSHURL         string `json:"git_ssh_url"`
		HTTPURL           string `json:"http_url"`
		SSHURL            string `json:"ssh_url"`
		URL               string `json:"url"`
		Homepage          string `json:"homepage"`
		DefaultBranch     string `json:"default_branch"`
	} `json:"project"`
	Repository struct {
		URL        string `json:"url"`
		Homepage   string `json:"homepage"`
		GitHTTPURL string `json:"git_http_url"`
		GitSSHURL  string `json:"git_ssh_url"`
	} `json:"repository"`
}

// parseGitLab reads Push Hook and Tag Push Hook deliveries; other events
// are not read.
func parseGitLab(event, contentType string, body []byte) (payload, error) {
	if event != "Push Hook" && event != "Tag Push Hook" {
		return payload{}, nil
	}
	var p gitlabPush
	if err := decodeJSON(body, &p); err != nil {
		return payload{}, err
	}
	if p.Project == nil {
		return payload{}, malformed("push without a project")
	}
	pr := p.Project
	scheme, host := hostOf(first(pr.WebURL, pr.Homepage), "gitlab.com")
	out := payload{
		kind:       kindPush,
		repository: pr.PathWithNamespace,
		urls: []string{
			pr.WebURL, pr.GitHTTPURL, pr.GitSSHURL, pr.HTTPURL, pr.SSHURL, pr.URL, pr.Homepage,
			p.Repository.URL, p.Repository.Homepage, p.Repository.GitHTTPURL, p.Repository.GitSSHURL,
		},
		defaultBranch: pr.DefaultBranch,
		pusher:        first(p.UserUsername, p.UserName),
	}
	if pr.PathWithNamespace != "" {
		out.urls = append(out.urls, scheme+"://"+host+"/"+pr.PathWithNamespace)
	}
	// checkout_sha is the commit a pushed tag points at; after may be
	// the tag object.
	c, err := refChange(p.Ref, p.After, p.CheckoutSHA, false)
	if err != nil {
		return payload{}, err
	}
	out.changes = []change{c}
	return out, nil
}
