package webhook

import (
	"log/slog"
	"slices"

	"github.com/regsync/regsync/internal/config"
)

// state is what the receiver knows from one configuration: secrets and
// sources. It is replaced whole on reload and never changed after.
type state struct {
	providers     map[string]providerState
	sources       []source // synced sources, in configuration order
	sourceSecrets []sourceSecret
}

// providerState is one receiver's own secret.
type providerState struct {
	key secret // nil: none configured, or unreadable
	// broken: a secret is configured but cannot be read. The receiver
	// stays disabled then, whatever source secrets exist.
	broken bool
}

// enabled reports whether a provider accepts requests: it has a secret of
// its own, or (unless its own is configured but unreadable) a source
// secret is for it.
func (st *state) enabled(provider string) bool {
	ps := st.providers[provider]
	if ps.broken {
		return false
	}
	return ps.key != nil || slices.ContainsFunc(st.sourceSecrets, func(s sourceSecret) bool { return s.provider == provider })
}

// newState reads every configured secret. A secret that cannot be read is
// logged; its provider stays disabled, or its source has no secret of its
// own.
func newState(srcs []config.Source, hooks config.Webhooks, logger *slog.Logger) *state {
	st := &state{providers: make(map[string]providerState, len(providerNames))}
	refs := providerSecrets(hooks)
	for _, name := range providerNames {
		ref := refs[name]
		if !ref.configured() {
			continue
		}
		key, err := ref.read()
		if err != nil {
			logger.Error("cannot read webhook secret, the receiver stays disabled", "provider", name, "err", err)
			st.providers[name] = providerState{broken: true}
			continue
		}
		st.providers[name] = providerState{key: key}
	}

	type secretFor struct{ file, provider string }
	byFile := make(map[secretFor]int) // index into st.sourceSecrets
	failed := make(map[string]bool)
	for _, s := range srcs {
		if !s.Synced() {
			continue
		}
		src := source{name: s.Name}
		if s.Git != nil {
			g := *s.Git
			src.git = &g
			src.repo, src.repoOK = parseRepoURL(g.Repository)
		}
		st.sources = append(st.sources, src)

		if s.Git == nil || s.Git.WebhookSecretFile == "" {
			continue
		}
		file := s.Git.WebhookSecretFile
		provider := s.Git.WebhookProviderName()
		if provider == "" {
			// Validation asks for git.webhookProvider then.
			logger.Error("source webhook secret is for no known receiver (set git.webhookProvider), the source accepts the provider secrets only",
				"source", s.Name)
			continue
		}
		if i, ok := byFile[secretFor{file, provider}]; ok {
			st.sourceSecrets[i].sources = append(st.sourceSecrets[i].sources, s.Name)
			continue
		}
		if failed[file] {
			logger.Error("cannot read source webhook secret, the source accepts the provider secrets only",
				"source", s.Name, "path", file)
			continue
		}
		key, err := secretRef{file: file, key: "git.webhookSecretFile"}.read()
		if err != nil {
			failed[file] = true
			logger.Error("cannot read source webhook secret, the source accepts the provider secrets only",
				"source", s.Name, "err", err)
			continue
		}
		byFile[secretFor{file, provider}] = len(st.sourceSecrets)
		st.sourceSecrets = append(st.sourceSecrets, sourceSecret{key: key, provider: provider, sources: []string{s.Name}})
	}
	return st
}
