package webhook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/config"
)

func TestCheckSecrets(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	empty := filepath.Join(dir, "empty")
	unreadable := filepath.Join(dir, "unreadable")
	for path, content := range map[string]string{good: "s3cret\n", empty: "\n", unreadable: "x"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REGSYNC_TEST_SECRET", "s3cret")
	missing := filepath.Join(dir, "missing")
	gitSrc := func(name, secretFile string) config.Source {
		return config.Source{Name: name, Git: &config.Git{Repository: "https://example.com/r.git", WebhookSecretFile: secretFile}}
	}

	tests := []struct {
		name  string
		hooks config.Webhooks
		srcs  []config.Source
		want  []string
	}{
		{"nothing configured", config.Webhooks{}, nil, nil},
		{"readable file and set variable", config.Webhooks{
			GitHub: config.WebhookSecret{SecretFile: good},
			GitLab: config.WebhookToken{TokenEnv: "REGSYNC_TEST_SECRET"},
		}, []config.Source{gitSrc("a", good)}, nil},
		{"missing file", config.Webhooks{GitHub: config.WebhookSecret{SecretFile: missing}}, nil,
			[]string{"webhook receiver github: read webhooks.github.secretFile " + missing}},
		{"unset variable", config.Webhooks{Gitea: config.WebhookSecret{SecretEnv: "REGSYNC_TEST_UNSET"}}, nil,
			[]string{"webhook receiver gitea: read webhooks.gitea.secretEnv: environment variable REGSYNC_TEST_UNSET is not set"}},
		{"empty file", config.Webhooks{Generic: config.WebhookSecret{SecretFile: empty}}, nil,
			[]string{"webhook receiver generic: read webhooks.generic.secretFile " + empty + ": the secret is empty"}},
		{"source secret missing", config.Webhooks{}, []config.Source{gitSrc("a", good), gitSrc("b", missing)},
			[]string{"source b: read sources[1].git.webhookSecretFile " + missing}},
		{"every problem at once", config.Webhooks{
			GitHub:    config.WebhookSecret{SecretFile: missing},
			Bitbucket: config.WebhookSecret{SecretEnv: "REGSYNC_TEST_UNSET"},
		}, []config.Source{gitSrc("b", missing)}, []string{"receiver github", "receiver bitbucket", "source b"}},
	}
	if os.Geteuid() != 0 {
		tests = append(tests, struct {
			name  string
			hooks config.Webhooks
			srcs  []config.Source
			want  []string
		}{"unreadable file", config.Webhooks{GitHub: config.WebhookSecret{SecretFile: unreadable}}, nil, []string{"permission denied"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSecrets(tt.hooks, tt.srcs)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("CheckSecrets() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckSecrets() = nil, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}
