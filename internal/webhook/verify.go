package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// Reasons a request is not verified (answered 401). None says which
// secret was tried.
var (
	errNoSignature        = errors.New("missing signature")
	errMalformedSignature = errors.New("malformed signature")
	errBadSignature       = errors.New("signature does not match")
	errSHA1Signature      = errors.New("only a SHA-1 signature (X-Hub-Signature) was sent; regsync accepts SHA-256 signatures (X-Hub-Signature-256) only")
)

// proof is what a request presents to show that its sender knows a
// secret: it reports whether key is that secret. It takes the same time
// whatever the key.
type proof func(key secret) bool

// hmacProof proves knowledge of a key by the HMAC-SHA256 sig of one of
// contents (the body as sent; for some forges also the JSON inside a
// form-encoded body).
func hmacProof(sig []byte, contents ...[]byte) proof {
	return func(key secret) bool {
		ok := false
		for _, c := range contents {
			mac := hmac.New(sha256.New, key)
			mac.Write(c)
			if hmac.Equal(mac.Sum(nil), sig) {
				ok = true
			}
		}
		return ok
	}
}

// tokenProof proves knowledge of a key by sending it (GitLab). Both sides
// are hashed first, so the comparison takes the same time whatever their
// lengths.
func tokenProof(token string) proof {
	sent := sha256.Sum256([]byte(token))
	return func(key secret) bool {
		want := sha256.Sum256(key)
		return hmac.Equal(sent[:], want[:])
	}
}

// prefixedHex decodes a "<prefix><64 hex digits>" signature header, such
// as "sha256=…".
func prefixedHex(v, prefix string) ([]byte, error) {
	rest, ok := strings.CutPrefix(v, prefix)
	if !ok {
		return nil, errMalformedSignature
	}
	return plainHex(rest)
}

// plainHex decodes a signature of 64 hex digits.
func plainHex(v string) ([]byte, error) {
	if len(v) != 2*sha256.Size {
		return nil, errMalformedSignature
	}
	sig, err := hex.DecodeString(v)
	if err != nil {
		return nil, errMalformedSignature
	}
	return sig, nil
}

// scope is what a verified request may trigger: every source (it proved
// the provider's secret) or only the sources whose own secret it proved.
type scope struct {
	all     bool
	sources map[string]bool
}

func (s scope) verified() bool { return s.all || len(s.sources) > 0 }

func (s scope) allows(source string) bool { return s.all || s.sources[source] }

// verify checks pr against the provider's secret and every source secret
// for the provider. All are tried, whatever matched first.
func (st *state) verify(provider string, pr proof) scope {
	var sc scope
	if key := st.providers[provider].key; key != nil && pr(key) {
		sc.all = true
	}
	for _, s := range st.sourceSecrets {
		if s.provider == provider && pr(s.key) {
			if sc.sources == nil {
				sc.sources = make(map[string]bool)
			}
			for _, name := range s.sources {
				sc.sources[name] = true
			}
		}
	}
	return sc
}
