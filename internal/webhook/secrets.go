package webhook

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bounded"
	"github.com/regsync/regsync/internal/config"
)

// maxSecretSize bounds a secret file. A webhook secret is a short string;
// anything larger is a misconfiguration.
const maxSecretSize = 64 << 10

// secret is a webhook secret or token. It never prints or logs its value.
type secret []byte

// String redacts the secret for fmt.
func (secret) String() string { return "[REDACTED]" }

// GoString redacts the secret for %#v.
func (secret) GoString() string { return "webhook.secret([REDACTED])" }

// LogValue redacts the secret for log/slog.
func (secret) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// secretRef says where a secret is read from: a file or an environment
// variable, and the configuration key naming it, for error messages.
type secretRef struct {
	file, env string
	key       string // such as "webhooks.github.secretFile"
}

func (s secretRef) configured() bool { return s.file != "" || s.env != "" }

// read returns the secret with trailing newlines removed. An empty secret
// is an error: an HMAC keyed with nothing proves nothing.
func (s secretRef) read() (secret, error) {
	var raw []byte
	switch {
	case s.file != "":
		b, err := bounded.ReadFile(s.file, maxSecretSize)
		if _, ok := errors.AsType[*bounded.TooLargeError](err); ok {
			return nil, fmt.Errorf("read %s %s: %w, not a webhook secret", s.key, s.file, err)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s %s: %w", s.key, s.file, err)
		}
		raw = b
	case s.env != "":
		v, ok := os.LookupEnv(s.env)
		if !ok {
			return nil, fmt.Errorf("read %s: environment variable %s is not set", s.key, s.env)
		}
		raw = []byte(v)
	default:
		return nil, nil
	}
	raw = []byte(strings.TrimRight(string(raw), "\r\n"))
	if len(raw) == 0 {
		where := s.file
		if where == "" {
			where = "environment variable " + s.env
		}
		return nil, fmt.Errorf("read %s %s: the secret is empty", s.key, where)
	}
	return secret(raw), nil
}

// providerSecrets returns where each provider's secret is configured.
func providerSecrets(h config.Webhooks) map[string]secretRef {
	ref := func(name string, w config.WebhookSecret) secretRef {
		key := "webhooks." + name + ".secretFile"
		if w.SecretFile == "" && w.SecretEnv != "" {
			key = "webhooks." + name + ".secretEnv"
		}
		return secretRef{file: w.SecretFile, env: w.SecretEnv, key: key}
	}
	gitlab := secretRef{file: h.GitLab.TokenFile, env: h.GitLab.TokenEnv, key: "webhooks.gitlab.tokenFile"}
	if h.GitLab.TokenFile == "" && h.GitLab.TokenEnv != "" {
		gitlab.key = "webhooks.gitlab.tokenEnv"
	}
	return map[string]secretRef{
		events.ProviderGitHub:    ref(events.ProviderGitHub, h.GitHub),
		events.ProviderGitLab:    gitlab,
		events.ProviderGitea:     ref(events.ProviderGitea, h.Gitea),
		events.ProviderBitbucket: ref(events.ProviderBitbucket, h.Bitbucket),
		events.ProviderGeneric:   ref(events.ProviderGeneric, h.Generic),
	}
}

// sourceSecret is a secret of one or more sources (git.webhookSecretFile):
// a request proven by it may trigger those sources only.
type sourceSecret struct {
	key secret
	// provider is the receiver the secret is for (see
	// config.Git.WebhookProviderName); no other accepts it.
	provider string
	sources  []string
}

// CheckSecrets reads every webhook secret the configuration names, as the
// receivers will, and returns one error per secret that is missing,
// unreadable or empty: a receiver whose secret cannot be read stays off.
func CheckSecrets(hooks config.Webhooks, srcs []config.Source) error {
	var errs []error
	refs := providerSecrets(hooks)
	for _, name := range providerNames {
		if ref := refs[name]; ref.configured() {
			if _, err := ref.read(); err != nil {
				errs = append(errs, fmt.Errorf("webhook receiver %s: %w", name, err))
			}
		}
	}
	for i, s := range srcs {
		if s.Git == nil || s.Git.WebhookSecretFile == "" {
			continue
		}
		key := fmt.Sprintf("sources[%d].git.webhookSecretFile", i)
		if _, err := (secretRef{file: s.Git.WebhookSecretFile, key: key}).read(); err != nil {
			errs = append(errs, fmt.Errorf("source %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}
