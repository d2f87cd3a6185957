package webhook

import (
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/regsync/regsync/internal/config"
)

// repoURL is a repository location reduced to what identifies it: the host
// (lower case, with ":port" only when the port is not the scheme's default)
// and the path (without surrounding "/" and a trailing ".git", letter case
// kept). Scheme and user info are dropped, so the https, ssh, git and
// scp-like forms of one repository are equal.
type repoURL struct {
	host string
	path string
}

// String returns host/path.
func (u repoURL) String() string { return u.host + "/" + u.path }

// key is what two locations are compared by: String with the path in lower
// case (see the package documentation for why letter case is ignored).
func (u repoURL) key() string { return u.host + "/" + strings.ToLower(u.path) }

// parseRepoURL reduces a repository URL to a repoURL. It accepts
// https://, http://, ssh://, git:// (and git+ssh://) URLs and the scp-like
// [user@]host:path form; it reports false for anything else, such as a
// local path or a file:// URL, which no forge can announce.
func parseRepoURL(raw string) (repoURL, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" || strings.ContainsAny(raw, " \t\r\n") {
		return repoURL{}, false
	}
	var host, port, p string
	if i := strings.Index(raw, "://"); i >= 0 {
		u, err := url.Parse(raw)
		if err != nil {
			return repoURL{}, false
		}
		scheme := strings.ToLower(u.Scheme)
		def, ok := config.DefaultPort(scheme)
		if !ok {
			return repoURL{}, false
		}
		host, port, p = u.Hostname(), u.Port(), u.Path
		if port == strconv.Itoa(def) {
			port = ""
		}
	} else {
		// scp-like: [user@]host:path or [user@][v6-address]:path, where no
		// "/" comes before the ":".
		rest := raw
		if at := strings.Index(rest, "@"); at >= 0 && !strings.Contains(rest[:at], "/") {
			rest = rest[at+1:]
		}
		if strings.HasPrefix(rest, "[") {
			end := strings.Index(rest, "]:")
			if end < 0 {
				return repoURL{}, false
			}
			host, p = rest[1:end], rest[end+2:]
		} else {
			colon := strings.Index(rest, ":")
			if colon <= 0 || strings.Contains(rest[:colon], "/") {
				return repoURL{}, false
			}
			host, p = rest[:colon], rest[colon+1:]
		}
		if len(host) == 1 && raw == rest {
			// C:\path or C:/path: a Windows drive, not a host.
			return repoURL{}, false
		}
	}
	host = strings.ToLower(host)
	if host == "" || strings.ContainsAny(host, "/@") {
		return repoURL{}, false
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	p = cleanRepoPath(p)
	if p == "" {
		return repoURL{}, false
	}
	return repoURL{host: host, path: p}, true
}

// cleanRepoPath drops surrounding slashes, a trailing ".git" and repeated
// slashes. A path that climbs with ".." is refused.
func cleanRepoPath(p string) string {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." {
			return ""
		}
	}
	p = strings.Trim(p, "/")
	p = strings.TrimSuffix(p, ".git")
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "." {
		return ""
	}
	return p
}

// hostOf returns the scheme and host of a web URL such as a repository's
// html_url, for building a URL from a forge's "owner/name", or "https" and
// fallback when raw has none.
func hostOf(raw, fallback string) (scheme, host string) {
	if u, err := url.Parse(strings.TrimSpace(raw)); err == nil && u.Host != "" {
		if s := strings.ToLower(u.Scheme); s == "http" || s == "https" {
			return s, u.Host
		}
	}
	return "https", fallback
}
