package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSourceValidation(t *testing.T) {
	passwordFile := filepath.Join(t.TempDir(), "git-password")
	if err := os.WriteFile(passwordFile, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missingPasswordFile := filepath.Join(t.TempDir(), "absent")

	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "no sources",
			yaml: "sources: []",
			want: []string{"at least one source must be configured"},
		},
		{
			name: "missing name",
			yaml: `
sources:
  - file: {path: r.json}
    syncPolicy: {interval: 30m}`,
			want: []string{"line 3: source[0]: name is required"},
		},
		{
			name: "uppercase name is not a DNS label",
			yaml: `
sources:
  - name: MySource
    file: {path: r.json}
    syncPolicy: {interval: 30m}`,
			want: []string{"line 3: source[0]: name 'MySource' must be a valid DNS subdomain (lowercase alphanumeric and hyphens, max 63 chars)"},
		},
		{
			name: "underscore name is not a DNS label",
			yaml: `
sources:
  - name: my_source
    file: {path: r.json}
    syncPolicy: {interval: 30m}`,
			want: []string{"line 3: source[0]: name 'my_source' must be a valid DNS subdomain (lowercase alphanumeric and hyphens, max 63 chars)"},
		},
		{
			name: "64-character name is too long",
			yaml: `
sources:
  - name: ` + strings.Repeat("a", 64) + `
    file: {path: r.json}
    syncPolicy: {interval: 30m}`,
			want: []string{"line 3: source[0]: name '" + strings.Repeat("a", 64) + "' must be a valid DNS subdomain (lowercase alphanumeric and hyphens, max 63 chars)"},
		},
		{
			name: "63-character name is fine",
			yaml: `
sources:
  - name: ` + strings.Repeat("a", 63) + `
    file: {path: r.json}
    syncPolicy: {interval: 30m}`,
		},
		{
			name: "duplicate name",
			yaml: `
sources:
  - name: dup
    file: {path: a.json}
    syncPolicy: {interval: 30m}
  - name: dup
    file: {path: b.json}
    syncPolicy: {interval: 30m}`,
			want: []string{"line 6: source[1]: duplicate source name 'dup'"},
		},
		{
			name: "no source type",
			yaml: `
sources:
  - name: empty
    syncPolicy: {interval: 30m}`,
			want: []string{"line 3: source[0] (empty): one of git, api, file, managed, or kubernetes configuration must be specified"},
		},
		{
			name: "two source types",
			yaml: `
sources:
  - name: both
    file: {path: r.json}
    managed: {}
    syncPolicy: {interval: 30m}`,
			want: []string{"line 3: source[0] (both): only one of git, api, file, managed, or kubernetes configuration may be specified"},
		},
		{
			name: "missing syncPolicy",
			yaml: `
sources:
  - name: s
    file: {path: r.json}`,
			want: []string{"line 3: source[0] (s): syncPolicy.interval is required"},
		},
		{
			name: "empty interval",
			yaml: `
sources:
  - name: s
    file: {path: r.json}
    syncPolicy: {interval: ""}`,
			want: []string{"line 5: source[0] (s): syncPolicy.interval is required"},
		},
		{
			name: "unparsable interval",
			yaml: `
sources:
  - name: s
    file: {path: r.json}
    syncPolicy: {interval: soon}`,
			want: []string{`line 5: source[0] (s): syncPolicy.interval must be a duration such as "30s" or "5m", got a string "soon"`},
		},
		{
			name: "zero interval",
			yaml: `
sources:
  - name: s
    file: {path: r.json}
    syncPolicy: {interval: 0s}`,
			want: []string{"line 5: source[0] (s): syncPolicy.interval must be greater than zero"},
		},
		{
			name: "negative interval",
			yaml: `
sources:
  - name: s
    file: {path: r.json}
    syncPolicy: {interval: -5m}`,
			want: []string{"line 5: source[0] (s): syncPolicy.interval must be greater than zero"},
		},
		{
			name: "git without repository",
			yaml: `
sources:
  - name: g
    git: {branch: main}
    syncPolicy: {interval: 30m}`,
			want: []string{"line 4: source[0] (g): git.repository is required"},
		},
		{
			name: "git branch and tag together",
			yaml: `
sources:
  - name: g
    git: {repository: https://example.com/r.git, branch: main, tag: v1.0.0}
    syncPolicy: {interval: 30m}`,
			want: []string{"line 4: source[0] (g): git.branch, git.tag, and git.commit are mutually exclusive"},
		},
		{
			name: "git tag and commit together",
			yaml: `
sources:
  - name: g
    git: {repository: https://example.com/r.git, tag: v1.0.0, commit: 0123456789abcdef0123456789abcdef01234567}
    syncPolicy: {interval: 30m}`,
			want: []string{"line 4: source[0] (g): git.branch, git.tag, and git.commit are mutually exclusive"},
		},
		{
			name: "git short commit",
			yaml: `
sources:
  - name: g
    git: {repository: https://example.com/r.git, commit: abc123}
    syncPolicy: {interval: 30m}`,
			want: []string{`line 4: source[0] (g): git.commit must be a full commit SHA (40 hexadecimal characters), got "abc123"`},
		},
		{
			name: "git auth username without passwordFile",
			yaml: `
sources:
  - name: g
    git: {repository: https://example.com/r.git, auth: {username: bot}}
    syncPolicy: {interval: 30m}`,
			want: []string{"line 4: source[0] (g): git.auth.username and git.auth.passwordFile must both be specified"},
		},
		{
			name: "git auth passwordFile without username",
			yaml: `
sources:
  - name: g
    git: {repository: https://example.com/r.git, auth: {passwordFile: ` + passwordFile + `}}
    syncPolicy: {interval: 30m}`,
			want: []string{"line 4: source[0] (g): git.auth.username and git.auth.passwordFile must both be specified"},
		},
		{
			name: "git auth relative passwordFile",
			yaml: `
sources:
  - name: g
    git: {repository: https://example.com/r.git, auth: {username: bot, passwordFile: secrets/pw}}
    syncPolicy: {interval: 30m}`,
			want: []string{"line 4: source[0] (g): git.auth.passwordFile must be an absolute path"},
		},
		{
			name: "git auth missing passwordFile",
			yaml: `
sources:
  - name: g
    git: {repository: https://example.com/r.git, auth: {username: bot, passwordFile: ` + missingPasswordFile + `}}
    syncPolicy: {interval: 30m}`,
			// Parse leaves the disk alone; CheckFiles reports the file.
			want: []string{"source[0] (g): git.auth.passwordFile is not accessible: stat " + missingPasswordFile + ": no such file or directory"},
		},
		{
			name: "git auth existing passwordFile and empty auth are fine",
			yaml: `
sources:
  - name: g
    git: {repository: https://example.com/r.git, auth: {username: bot, passwordFile: ` + passwordFile + `}}
    syncPolicy: {interval: 30m}
  - name: h
    git: {repository: https://example.com/r.git, auth: {}}
    syncPolicy: {interval: 30m}`,
		},
		{
			name: "git bad poll interval",
			yaml: `
sources:
  - name: g
    git: {repository: https://example.com/r.git, pollInterval: often}
    syncPolicy: {interval: 30m}`,
			want: []string{`line 4: source[0] (g): git.pollInterval must be a duration such as "30s" or "5m", got a string "often"`},
		},
		{
			name: "git loads with every ref form and URL form",
			yaml: `
sources:
  - name: branch
    git: {repository: https://example.com/r.git, branch: main, path: pkg/registry.json}
    syncPolicy: {interval: 30m}
  - name: tag
    git: {repository: "git@example.com:owner/r.git", tag: v1.0.0, path: ./data//registry.json}
    syncPolicy: {interval: 30m}
  - name: commit
    git: {repository: git://example.com/r.git, commit: 0123456789abcdef0123456789abcdef01234567}
    syncPolicy: {interval: 30m}
  - name: local
    git: {repository: /srv/git/r.git}
    syncPolicy: {interval: 30m}
  - name: ssh
    git: {repository: "ssh://git@example.com:2222/r.git", auth: {sshKeyFile: ` + passwordFile + `, knownHostsFile: ` + passwordFile + `}}
    syncPolicy: {interval: 30m}`,
		},
		{
			name: "webhook provider of a source secret",
			yaml: `
sources:
  - name: known-host
    git: {repository: "git@GitHub.com:acme/r.git", webhookSecretFile: /s}
    syncPolicy: {interval: 30m}
  - name: named
    git: {repository: https://git.example.com/r.git, webhookSecretFile: /s, webhookProvider: gitea}
    syncPolicy: {interval: 30m}
  - name: unknown-host
    git: {repository: https://git.example.com/r.git, webhookSecretFile: /s}
    syncPolicy: {interval: 30m}
  - name: bad-name
    git: {repository: https://git.example.com/r.git, webhookSecretFile: /s, webhookProvider: forgejo}
    syncPolicy: {interval: 30m}
  - name: no-secret
    git: {repository: https://github.com/acme/r.git, webhookProvider: github}
    syncPolicy: {interval: 30m}`,
			want: []string{
				`line 10: source[2] (unknown-host): git.webhookSecretFile needs git.webhookProvider (one of github, gitlab, gitea, bitbucket, generic): the repository's host is not a forge regsync knows`,
				`line 13: source[3] (bad-name): git.webhookProvider must be one of github, gitlab, gitea, bitbucket, generic, got "forgejo"`,
				`line 16: source[4] (no-secret): git.webhookProvider names the receiver of git.webhookSecretFile, which is not set`,
			},
		},
		{
			name: "git path escaping the repository",
			yaml: `
sources:
  - name: g
    git: {repository: https://example.com/r.git, path: ../secrets.json}
    syncPolicy: {interval: 30m}
  - name: h
    git: {repository: https://example.com/r.git, path: data/../../x.json}
    syncPolicy: {interval: 30m}
  - name: i
    git: {repository: https://example.com/r.git, path: /etc/passwd}
    syncPolicy: {interval: 30m}
  - name: j
    git: {repository: https://example.com/r.git, path: ./}
    syncPolicy: {interval: 30m}`,
			want: []string{
				`line 4: source[0] (g): git.path: path "../secrets.json" escapes the repository (.. segment)`,
				`line 7: source[1] (h): git.path: path "data/../../x.json" escapes the repository (.. segment)`,
				`line 10: source[2] (i): git.path: path "/etc/passwd" must be relative to the repository root`,
				`line 13: source[3] (j): git.path: path "./" names the repository root, not a file`,
			},
		},
		{
			name: "git repository with another scheme",
			yaml: `
sources:
  - name: g
    git: {repository: "ftp://example.com/r.git"}
    syncPolicy: {interval: 30m}`,
			want: []string{`line 4: source[0] (g): git.repository must use one of the https, http, ssh, git, file schemes, got "ftp"`},
		},
		{
			name: "git ssh files need an ssh URL",
			yaml: `
sources:
  - name: g
    git: {repository: https://example.com/r.git, auth: {sshKeyFile: ` + passwordFile + `, knownHostsFile: ` + passwordFile + `}}
    syncPolicy: {interval: 30m}`,
			want: []string{
				"line 4: source[0] (g): git.auth.sshKeyFile needs an ssh repository URL (ssh://host/path or user@host:path), got https",
				"line 4: source[0] (g): git.auth.knownHostsFile needs an ssh repository URL (ssh://host/path or user@host:path), got https",
			},
		},
		{
			name: "git ssh files relative and with a password file",
			yaml: `
sources:
  - name: g
    git: {repository: "git@example.com:o/r.git", auth: {sshKeyFile: keys/id, knownHostsFile: ` + missingPasswordFile + `}}
    syncPolicy: {interval: 30m}
  - name: h
    git: {repository: "git@example.com:o/r.git", auth: {username: bot, passwordFile: ` + passwordFile + `, sshKeyFile: ` + passwordFile + `}}
    syncPolicy: {interval: 30m}`,
			want: []string{
				"line 4: source[0] (g): git.auth.sshKeyFile must be an absolute path",
				"line 7: source[1] (h): git.auth.sshKeyFile and git.auth.passwordFile are mutually exclusive",
			},
		},
		{
			name: "api without endpoint",
			yaml: `
sources:
  - name: a
    api: {timeout: 10s}
    syncPolicy: {interval: 1h}`,
			want: []string{"line 4: source[0] (a): api.endpoint is required"},
		},
		{
			name: "api endpoint without scheme",
			yaml: `
sources:
  - name: a
    api: {endpoint: registry.example.com}
    syncPolicy: {interval: 1h}`,
			want: []string{"line 4: source[0] (a): api.endpoint must be an absolute URL with host"},
		},
		{
			name: "api unparsable timeout",
			yaml: `
sources:
  - name: a
    api: {endpoint: https://registry.example.com, timeout: ten}
    syncPolicy: {interval: 1h}`,
			want: []string{`line 4: source[0] (a): api.timeout must be a duration such as "30s" or "5m", got a string "ten"`},
		},
		{
			name: "api zero timeout",
			yaml: `
sources:
  - name: a
    api: {endpoint: https://registry.example.com, timeout: 0s}
    syncPolicy: {interval: 1h}`,
			want: []string{"line 4: source[0] (a): api.timeout must be greater than zero"},
		},
		{
			name: "api timeout over five minutes",
			yaml: `
sources:
  - name: a
    api: {endpoint: https://registry.example.com, timeout: 6m}
    syncPolicy: {interval: 1h}`,
			want: []string{"line 4: source[0] (a): api.timeout must not exceed 5m0s"},
		},
		{
			name: "file without path or url",
			yaml: `
sources:
  - name: f
    file: {}
    syncPolicy: {interval: 5m}`,
			want: []string{"line 4: source[0] (f): file.path or file.url is required"},
		},
		{
			name: "file with path and url",
			yaml: `
sources:
  - name: f
    file: {path: r.json, url: https://example.com/r.json}
    syncPolicy: {interval: 5m}`,
			want: []string{"line 4: source[0] (f): file.path and file.url are mutually exclusive"},
		},
		{
			name: "file unparsable url",
			yaml: `
sources:
  - name: f
    file: {url: "http://[::1"}
    syncPolicy: {interval: 5m}`,
			want: []string{`line 4: source[0] (f): file.url ` + wantNotAURL},
		},
		{
			name: "file relative url",
			yaml: `
sources:
  - name: f
    file: {url: example.com/registry.json}
    syncPolicy: {interval: 5m}`,
			want: []string{"line 4: source[0] (f): file.url must be an absolute URL with host"},
		},
		{
			name: "file url with another scheme",
			yaml: `
sources:
  - name: f
    file: {url: ftp://example.com/registry.json}
    syncPolicy: {interval: 5m}`,
			want: []string{"line 4: source[0] (f): file.url must use http or https scheme"},
		},
		{
			name: "file unparsable timeout",
			yaml: `
sources:
  - name: f
    file: {url: https://example.com/registry.json, timeout: slow}
    syncPolicy: {interval: 5m}`,
			want: []string{`line 4: source[0] (f): file.timeout must be a duration such as "30s" or "5m", got a string "slow"`},
		},
		{
			name: "file valid url",
			yaml: `
sources:
  - name: f
    file: {url: http://example.com/registry.json, timeout: 10s, pollInterval: 1m}
    syncPolicy: {interval: 5m}`,
			want: nil,
		},
		{
			name: "file path ignores timeout like the reference",
			yaml: `
sources:
  - name: f
    file: {path: r.json, timeout: whenever}
    syncPolicy: {interval: 5m}`,
		},
		{
			name: "file path with poll interval",
			yaml: `
sources:
  - name: f
    file: {path: r.json, pollInterval: 1m}
    syncPolicy: {interval: 5m}`,
			want: []string{"line 4: source[0] (f): file.pollInterval is only applicable when file.url is specified"},
		},
		{
			name: "claim of another type",
			yaml: `
sources:
  - name: c
    file: {path: r.json}
    syncPolicy: {interval: 5m}
    claims: {tier: 3, org: acme}`,
			want: []string{`line 3: source[0] (c): claim "tier": value must be a string or array of strings, got a number`},
		},
		{
			name: "claim array with another type",
			yaml: `
sources:
  - name: c
    file: {path: r.json}
    syncPolicy: {interval: 5m}
    claims: {teams: [core, 7, true]}`,
			want: []string{
				`line 3: source[0] (c): claim "teams": array element [1] must be a string, got a number`,
				`line 3: source[0] (c): claim "teams": array element [2] must be a string, got true or false`,
			},
		},
		{
			name: "http sources with token files and insecureSkipVerify",
			yaml: `
sources:
  - name: a
    api: {endpoint: https://registry.example.com, bearerTokenFile: ` + passwordFile + `, insecureSkipVerify: true}
    syncPolicy: {interval: 5m}
  - name: f
    file: {url: https://example.com/r.json, bearerTokenFile: ` + passwordFile + `, insecureSkipVerify: true}
    syncPolicy: {interval: 5m}`,
		},
		{
			name: "http source security mistakes",
			yaml: `
sources:
  - name: a
    api: {endpoint: http://registry.example.com, bearerTokenFile: secrets/token, insecureSkipVerify: true}
    syncPolicy: {interval: 5m}
  - name: f
    file: {url: http://example.com/r.json, bearerTokenFile: /nonexistent/token, insecureSkipVerify: true}
    syncPolicy: {interval: 5m}
  - name: p
    file: {path: r.json, bearerTokenFile: ` + passwordFile + `, insecureSkipVerify: true}
    syncPolicy: {interval: 5m}`,
			want: []string{
				"line 4: source[0] (a): api.bearerTokenFile must be an absolute path",
				"line 4: source[0] (a): api.insecureSkipVerify needs an https api.endpoint",
				"line 7: source[1] (f): file.insecureSkipVerify needs an https file.url",
				"line 10: source[2] (p): file.bearerTokenFile is only applicable when file.url is specified",
				"line 10: source[2] (p): file.insecureSkipVerify is only applicable when file.url is specified",
			},
		},
		{
			name: "two managed sources",
			yaml: `
sources:
  - name: m1
    managed: {}
  - name: m2
    managed: {}`,
			want: []string{"at most one managed source is allowed, found 2"},
		},
		{
			name: "managed and kubernetes need no syncPolicy and ignore one",
			yaml: `
sources:
  - name: m
    managed: {}
  - name: k
    kubernetes: {}
    syncPolicy: {interval: nonsense}
    filter: {names: {include: ["*"]}}
  - name: f
    file: {path: r.json}
    syncPolicy: {interval: 5m}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := Parse([]byte(tt.yaml))
			if (err == nil) != (cfg != nil) {
				t.Errorf("Parse returned config %v with error %v", cfg != nil, err)
			}
			if cfg != nil {
				err = cfg.CheckFiles()
			}
			equalLists(t, "problems", problems(t, err), tt.want)
		})
	}
}

func TestOwnSectionValidation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"empty dataDir", `dataDir: ""`, []string{"line 6: dataDir must not be empty"}},
		{"nats url with http scheme", `nats: {url: "http://a:4222"}`, []string{`line 6: nats.url: "http://a:4222" must use the nats, tls, ws or wss scheme`}},
		{"nats url without scheme", `nats: {url: "a:4222"}`, []string{`line 6: nats.url: "a:4222" must use the nats, tls, ws or wss scheme`}},
		{"nats url unparsable", `nats: {url: "nats://[::1"}`, []string{`line 6: nats.url: entry 1 ` + wantNotAURL}},
		{"nats url with credentials is shown without them", `nats: {url: "http://bob:hunter2@a:4222?token=t0k"}`, []string{`line 6: nats.url: "http://a:4222?token=REDACTED" must use the nats, tls, ws or wss scheme`}},
		{"unparsable nats url with credentials", `nats: {url: "nats://bob:hunter2@[::1"}`, []string{`line 6: nats.url: entry 1 ` + wantNotAURL}},
		// A password holding an unencoded "/", "?", "#", space or quote
		// (a raw base64 secret) is never echoed, not even in part.
		{"nats password with a slash", `nats: {url: "nats://a:4222,nats://regsync:ab/cd+ef==@b:4222"}`, []string{`line 6: nats.url: entry 2 ` + wantNotAURL}},
		{"nats password with digits and a slash", `nats: {url: "nats://regsync:4222/cd+ef==@b:4222"}`, []string{`line 6: nats.url: entry 1 has an "@" after its host (not shown, as it may hold a password; ` + wantEncodeHint + `)`}},
		{"nats password with a question mark", `nats: {url: "nats://regsync:ab?cd@b:4222"}`, []string{`line 6: nats.url: entry 1 ` + wantNotAURL}},
		{"nats password with a hash", `nats: {url: "nats://regsync:ab#cd@b:4222"}`, []string{`line 6: nats.url: entry 1 ` + wantNotAURL}},
		{"nats password with a space", `nats: {url: "nats://regsync:ab cd@b:4222"}`, []string{`line 6: nats.url: entry 1 ` + wantNotAURL}},
		{"nats password with a quote", `nats: {url: 'nats://regsync:ab"cd@b:4222'}`, []string{`line 6: nats.url: entry 1 ` + wantNotAURL}},
		{"nats url without host", `nats: {url: "nats://:4222"}`, []string{`line 6: nats.url: "nats://:4222" has no host`}},
		{"nats url list with an empty entry", `nats: {url: "nats://a:4222,,nats://b:4222"}`, []string{"line 6: nats.url: empty entry in the comma-separated list"}},
		{"nats url list of every scheme", `nats: {url: "nats://a:4222, tls://b:4222,ws://c:8080,wss://d"}`, nil},
		{"nats user without password", `nats: {url: nats://a, user: regsync}`, []string{"line 6: nats.user and nats.password (or nats.passwordFile) must both be set"}},
		{"nats password without user", `nats: {url: nats://a, password: pw}`, []string{"line 6: nats.user and nats.password (or nats.passwordFile) must both be set"}},
		{"nats password file without user", `nats: {url: nats://a, passwordFile: /pw}`, []string{"line 6: nats.user and nats.password (or nats.passwordFile) must both be set"}},
		{"nats password and password file", `nats: {url: nats://a, user: u, password: p, passwordFile: /pw}`, []string{"line 6: nats.password and nats.passwordFile are mutually exclusive"}},
		{"embedded server with a token", `nats: {token: t}`, []string{"line 6: nats.token needs nats.url: the embedded server authenticates with nats.user and nats.password only"}},
		{"embedded server with a creds file", `nats: {credsFile: /c.creds}`, []string{"line 6: nats.credsFile needs nats.url: the embedded server authenticates with nats.user and nats.password only"}},
		{"nats creds file and token", `nats: {url: nats://a, credsFile: /c.creds, token: t}`, []string{"line 6: nats.credsFile and nats.token are mutually exclusive: use one way to authenticate to NATS"}},
		{"nats creds file and user", `nats: {url: nats://a, credsFile: /c.creds, user: u, password: p}`, []string{"line 6: nats.credsFile and nats.user/nats.password are mutually exclusive: use one way to authenticate to NATS"}},
		{"nats token and nkey", `nats: {url: nats://a, token: t, nkeyFile: /n.nk}`, []string{"line 6: nats.token and nats.nkeyFile are mutually exclusive: use one way to authenticate to NATS"}},
		{"nats user and token", `nats: {url: nats://a, user: u, password: p, token: t}`, []string{"line 6: nats.user/nats.password and nats.token are mutually exclusive: use one way to authenticate to NATS"}},
		{"nats creds file and nkey", `nats: {url: nats://a, credsFile: /c.creds, nkeyFile: /n.nk}`, []string{"line 6: nats.credsFile and nats.nkeyFile are mutually exclusive: use one way to authenticate to NATS"}},
		{"nats creds file with tls", `nats: {url: tls://a, credsFile: /c.creds, tls: {caFile: /ca.pem, certFile: /c.pem, keyFile: /k.pem}}`, nil},
		{"nats tls cert without key", `nats: {tls: {certFile: /c.pem}}`, []string{"line 6: nats.tls.certFile and nats.tls.keyFile must both be set"}},
		{"nats zero replicas", `nats: {replicas: 0}`, []string{"line 6: nats.replicas must be between 1 and 5, got 0"}},
		{"nats six replicas", `nats: {replicas: 6}`, []string{"line 6: nats.replicas must be between 1 and 5, got 6"}},
		{"nats five replicas", `nats: {replicas: 5}`, nil},
		{"embedded listen without port", `nats: {embedded: {listen: localhost}}`, []string{"line 6: nats.embedded.listen must be host:port: address localhost: missing port in address"}},
		{"embedded listen with a bad port", `nats: {embedded: {listen: "localhost:99999"}}`, []string{`line 6: nats.embedded.listen has an invalid port "99999"`}},
		{"embedded tls key without cert", `nats: {embedded: {tls: {keyFile: /k.pem}}}`, []string{"line 6: nats.embedded.tls.certFile and nats.embedded.tls.keyFile must both be set"}},
		{"embedded tls ca without cert", `nats: {embedded: {tls: {caFile: /ca.pem}}}`, []string{"line 6: nats.embedded.tls.certFile and nats.embedded.tls.keyFile must both be set"}},
		{"embedded tls without a listener", `nats: {embedded: {listen: "", tls: {certFile: /c.pem, keyFile: /k.pem}}}`, []string{"line 6: nats.embedded.tls needs nats.embedded.listen: without a TCP listener there is nothing to secure"}},
		{"embedded tls with client certificates", `nats: {embedded: {listen: "0.0.0.0:4222", tls: {certFile: /c.pem, keyFile: /k.pem, caFile: /ca.pem}}}`, nil},
		{"empty http addr", `http: {addr: ""}`, []string{"line 6: http.addr is required"}},
		{"http addr without port", `http: {addr: localhost}`, []string{"line 6: http.addr must be host:port: address localhost: missing port in address"}},
		{"zero debounce", `watch: {debounce: 0s}`, []string{"line 6: watch.debounce must be greater than zero"}},
		{"negative git poll interval", `watch: {gitPollInterval: -1s}`, []string{"line 6: watch.gitPollInterval must be greater than zero"}},
		{"zero http poll interval", `watch: {httpPollInterval: 0s}`, []string{"line 6: watch.httpPollInterval must be greater than zero"}},
		{"unparsable duration", `watch: {debounce: fast}`, []string{`line 6: watch.debounce must be a duration such as "30s" or "5m", got a string "fast"`}},
		{"duration without unit", `watch: {debounce: 50}`, []string{`line 6: watch.debounce must be a duration such as "30s" or "5m", got a number "50"`}},
		{"zero workers", `sync: {workers: 0}`, []string{"line 6: sync.workers must be at least 1, got 0"}},
		{"workers not a number", `sync: {workers: many}`, []string{`line 6: sync.workers: want a whole number, got a string "many"`}},
		{"zero sync timeout", `sync: {timeout: 0s}`, []string{"line 6: sync.timeout must be greater than zero"}},
		{"zero lease ttl", `sync: {leaseTTL: 0s}`, []string{"line 6: sync.leaseTTL must be greater than zero"}},
		{"zero max data size", `sync: {maxDataSize: 0}`, []string{"line 6: sync.maxDataSize must be greater than zero"}},
		{"unknown size unit", `sync: {maxDataSize: 32XB}`, []string{`line 6: sync.maxDataSize must be a size such as 1048576 or "32MiB", got a string "32XB": unknown unit "XB" (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)`}},
		{"size of a mapping", `webhooks: {maxBodySize: {mib: 3}}`, []string{`line 6: webhooks.maxBodySize must be a size such as 1048576 or "32MiB", got a mapping`}},
		{"negative size", `nats: {results: {maxBytes: -1}}`, []string{`line 6: nats.results.maxBytes must be a size such as 1048576 or "32MiB", got a number "-1"`}},
		{"github secret file and env", `webhooks: {github: {secretFile: /s, secretEnv: GH}}`, []string{"line 6: webhooks.github.secretFile and webhooks.github.secretEnv are mutually exclusive"}},
		{"gitlab token file and env", `webhooks: {gitlab: {tokenFile: /s, tokenEnv: GL}}`, []string{"line 6: webhooks.gitlab.tokenFile and webhooks.gitlab.tokenEnv are mutually exclusive"}},
		{"gitea secret file and env", `webhooks: {gitea: {secretFile: /s, secretEnv: GT}}`, []string{"line 6: webhooks.gitea.secretFile and webhooks.gitea.secretEnv are mutually exclusive"}},
		{"bitbucket secret file and env", `webhooks: {bitbucket: {secretFile: /s, secretEnv: BB}}`, []string{"line 6: webhooks.bitbucket.secretFile and webhooks.bitbucket.secretEnv are mutually exclusive"}},
		{"generic secret file and env", `webhooks: {generic: {secretFile: /s, secretEnv: WH}}`, []string{"line 6: webhooks.generic.secretFile and webhooks.generic.secretEnv are mutually exclusive"}},
		{"bad secret env name", `webhooks: {github: {secretEnv: "MY-SECRET"}}`, []string{`line 6: webhooks.github.secretEnv "MY-SECRET" is not a valid environment variable name`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(fileSource + tt.yaml))
			equalLists(t, "problems", problems(t, err), tt.want)
		})
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	src := `
sources:
  - name: Bad_Name
    file: {path: a.json}
    syncPolicy: {interval: 5m}
  - name: ok
    file: {path: b.json}
  - name: ok
    api: {endpoint: https://registry.example.com, timeout: 1h}
    syncPolicy: {interval: 1h}
  - name: none
  - name: m1
    managed: {}
  - name: m2
    managed: {}
nats:
  url: nats://a
  replicas: 9
  credsFile: /c.creds
  token: t
sync: {workers: 0}
webhooks:
  github: {secretFile: /s, secretEnv: GH}
`
	want := []string{
		"line 3: source[0]: name 'Bad_Name' must be a valid DNS subdomain (lowercase alphanumeric and hyphens, max 63 chars)",
		"line 6: source[1] (ok): syncPolicy.interval is required",
		"line 8: source[2]: duplicate source name 'ok'",
		"line 9: source[2] (ok): api.timeout must not exceed 5m0s",
		"line 11: source[3] (none): one of git, api, file, managed, or kubernetes configuration must be specified",
		"at most one managed source is allowed, found 2",
		"line 19: nats.credsFile and nats.token are mutually exclusive: use one way to authenticate to NATS",
		"line 18: nats.replicas must be between 1 and 5, got 9",
		"line 21: sync.workers must be at least 1, got 0",
		"line 23: webhooks.github.secretFile and webhooks.github.secretEnv are mutually exclusive",
	}
	cfg, warnings, err := Parse([]byte(src))
	if cfg != nil {
		t.Error("Parse returned a config for an invalid file")
	}
	equalLists(t, "problems", problems(t, err), want)
	if err != nil {
		wantMsg := "10 problems:\n  " + strings.Join(want, "\n  ")
		if err.Error() != wantMsg {
			t.Errorf("message:\n%s\nwant:\n%s", err, wantMsg)
		}
	}
	equalLists(t, "warnings", warnings, []string{
		`source "m1" (managed) is not synced by regsync`,
		`source "m2" (managed) is not synced by regsync`,
	})
}

func TestUnknownKeysAndValidationTogether(t *testing.T) {
	_, _, err := Parse([]byte(`
sources:
  - name: s
    file: {path: r.json}
    syncPolicy: {intervall: 5m}
`))
	equalLists(t, "problems", problems(t, err), []string{
		`line 5: unknown key "intervall" in sources[0].syncPolicy`,
		"line 5: source[0] (s): syncPolicy.interval is required",
	})
}

func TestValidateNil(t *testing.T) {
	var c *Config
	if _, err := c.Validate(); err == nil || err.Error() != "config cannot be nil" {
		t.Errorf("err = %v, want config cannot be nil", err)
	}
}

func TestMalformedFilterPatternWarns(t *testing.T) {
	cfg := `
sources:
  - name: local
    file: {path: x.json}
    syncPolicy: {interval: 30m}
    filter:
      names: {include: ["io.example/*", "["]}
`
	_, warnings, err := Parse([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `source "local": filter.names.include[1]`) {
		t.Errorf("warnings %q", warnings)
	}
}

func TestWebhookLimits(t *testing.T) {
	base := "sources:\n  - name: a\n    file: {path: x.json}\n    syncPolicy: {interval: 1h}\n"
	cfg, _, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Webhooks.MaxBodySize != 3*MiB || cfg.Webhooks.MaxUnverifiedBytes != 32*MiB || cfg.Webhooks.RateLimit != (RateLimit{PerSecond: 20, Burst: 100}) {
		t.Errorf("defaults %+v", cfg.Webhooks)
	}
	for _, tc := range []struct {
		yaml, want string
	}{
		{"webhooks: {maxBodySize: 0}\n", "webhooks.maxBodySize must be greater than zero"},
		{"webhooks: {rateLimit: {perSecond: 5, burst: 0}}\n", "webhooks.rateLimit.burst must be at least 1"},
		{"webhooks: {maxUnverifiedBytes: 1MiB}\n", "webhooks.maxUnverifiedBytes (1048576 bytes) must be at least webhooks.maxBodySize (3145728 bytes)"},
	} {
		if _, _, err := Parse([]byte(base + tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.yaml, err, tc.want)
		}
	}
	if _, _, err := Parse([]byte(base + "webhooks: {rateLimit: {perSecond: -1, burst: 0}}\n")); err != nil {
		t.Errorf("a disabled limit needs no burst: %v", err)
	}
}

func TestSourceNameIsNotAFormat(t *testing.T) {
	_, _, err := Parse([]byte(`
sources:
  - name: bad%s
    file: {}
    syncPolicy: {interval: 5m}
  - name: "100%"
    api: {endpoint: ftp://x}
    syncPolicy: {interval: 5m}
`))
	equalLists(t, "problems", problems(t, err), []string{
		"line 3: source[0]: name 'bad%s' must be a valid DNS subdomain (lowercase alphanumeric and hyphens, max 63 chars)",
		"line 4: source[0] (bad%s): file.path or file.url is required",
		"line 6: source[1]: name '100%' must be a valid DNS subdomain (lowercase alphanumeric and hyphens, max 63 chars)",
		"line 7: source[1] (100%): api.endpoint must use http or https scheme",
	})
}

// What an unparsable URL's error says instead of the URL.
const (
	wantEncodeHint = `percent-encode "/", "?", "#", "@", spaces and quotes in a user name or password`
	wantNotAURL    = `is not a valid URL (not shown, as it may hold a password; ` + wantEncodeHint + `)`
)
