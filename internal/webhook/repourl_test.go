package webhook

import "testing"

func TestParseRepoURL(t *testing.T) {
	tests := []struct {
		in   string
		want string // String(); "" when not a repository URL
	}{
		{"https://github.com/stacklok/toolhive-catalog.git", "github.com/stacklok/toolhive-catalog"},
		{"https://github.com/stacklok/toolhive-catalog", "github.com/stacklok/toolhive-catalog"},
		{"https://github.com/stacklok/toolhive-catalog/", "github.com/stacklok/toolhive-catalog"},
		{"https://github.com/stacklok/toolhive-catalog.git/", "github.com/stacklok/toolhive-catalog"},
		{"http://github.com/stacklok/toolhive-catalog", "github.com/stacklok/toolhive-catalog"},
		{"HTTPS://GitHub.COM/Stacklok/Toolhive-Catalog.git", "github.com/Stacklok/Toolhive-Catalog"},
		{"https://x-access-token:ghp_abc@github.com/stacklok/toolhive-catalog.git", "github.com/stacklok/toolhive-catalog"},
		{"https://github.com:443/stacklok/toolhive-catalog", "github.com/stacklok/toolhive-catalog"},
		{"http://gitea.local:80/a/b", "gitea.local/a/b"},
		{"https://gitlab.example.com:8443/group/sub/proj.git", "gitlab.example.com:8443/group/sub/proj"},
		{"ssh://git@github.com/stacklok/toolhive-catalog.git", "github.com/stacklok/toolhive-catalog"},
		{"ssh://git@github.com:22/stacklok/toolhive-catalog.git", "github.com/stacklok/toolhive-catalog"},
		{"ssh://git@bitbucket.example.com:7999/plat/mcp-servers.git", "bitbucket.example.com:7999/plat/mcp-servers"},
		{"git+ssh://git@github.com/a/b", "github.com/a/b"},
		{"git://github.com/stacklok/toolhive-catalog.git", "github.com/stacklok/toolhive-catalog"},
		{"git://github.com:9418/a/b.git", "github.com/a/b"},
		{"git@github.com:stacklok/toolhive-catalog.git", "github.com/stacklok/toolhive-catalog"},
		{"git@github.com:/stacklok/toolhive-catalog.git", "github.com/stacklok/toolhive-catalog"},
		{"github.com:stacklok/toolhive-catalog", "github.com/stacklok/toolhive-catalog"},
		{"GIT@GitHub.com:Stacklok/Catalog", "github.com/Stacklok/Catalog"},
		{"user@[2001:db8::1]:team/repo.git", "[2001:db8::1]/team/repo"},
		{"https://[2001:db8::1]:8443/team/repo", "[2001:db8::1]:8443/team/repo"},
		{"https://github.com//a//b.git", "github.com/a/b"},
		{"  https://github.com/a/b  ", "github.com/a/b"},
		{"https://github.com/a/b?tab=readme#top", "github.com/a/b"},
		// Not repository URLs a forge can announce.
		{"/srv/git/catalog.git", ""},
		{"./catalog", ""},
		{"file:///srv/git/catalog.git", ""},
		{"C:\\repos\\catalog", ""},
		{"https://github.com", ""},
		{"https://github.com/", ""},
		{"https://github.com/.git", ""},
		{"https:///a/b", ""},
		{"ftp://example.com/a/b", ""},
		{"", ""},
		{"https://github.com/a b", ""},
		{"https://github.com/../../etc", ""},
	}
	for _, tt := range tests {
		got, ok := parseRepoURL(tt.in)
		if !ok {
			if tt.want != "" {
				t.Errorf("parseRepoURL(%q) failed, want %q", tt.in, tt.want)
			}
			continue
		}
		if tt.want == "" {
			t.Errorf("parseRepoURL(%q) = %q, want failure", tt.in, got)
			continue
		}
		if got.String() != tt.want {
			t.Errorf("parseRepoURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Every form of one repository compares equal; other repositories do not.
func TestSameRepository(t *testing.T) {
	forms := []string{
		"https://github.com/Stacklok/Toolhive-Catalog.git",
		"http://github.com/stacklok/toolhive-catalog",
		"https://token@github.com:443/stacklok/toolhive-catalog/",
		"ssh://git@github.com/stacklok/toolhive-catalog.git",
		"ssh://git@github.com:22/stacklok/toolhive-catalog",
		"git://github.com/stacklok/toolhive-catalog.git",
		"git@github.com:stacklok/toolhive-catalog.git",
		"git@GITHUB.COM:STACKLOK/TOOLHIVE-CATALOG",
	}
	others := []string{
		"https://github.com/stacklok/toolhive-catalog2",
		"https://gitlab.com/stacklok/toolhive-catalog",
		"https://github.com:8443/stacklok/toolhive-catalog",
		"https://github.com/stacklok/toolhive-catalog/sub",
		"https://github.com/stacklok",
	}
	base, _ := parseRepoURL(forms[0])
	for _, f := range forms {
		u, ok := parseRepoURL(f)
		if !ok || u.key() != base.key() {
			t.Errorf("%q: key %q, want %q", f, u.key(), base.key())
		}
	}
	for _, f := range others {
		if u, _ := parseRepoURL(f); u.key() == base.key() {
			t.Errorf("%q compares equal to %q", f, forms[0])
		}
	}
	// Host-less project/slug names (Bitbucket Data Center without links).
	dc, _ := parseRepoURL("https://bitbucket.example.com/scm/PLAT/mcp-servers.git")
	if !sameRepository(dc, nil, []string{"plat/mcp-servers"}) {
		t.Error("project/slug does not match the http clone URL")
	}
	if sameRepository(dc, nil, []string{"at/mcp-servers"}) {
		t.Error("a partial segment matches")
	}
}
