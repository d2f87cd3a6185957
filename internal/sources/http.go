package sources

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/internal/bounded"
	"github.com/regsync/regsync/internal/redact"
)

// maxRedirects is how many redirects one HTTP request follows.
const maxRedirects = 5

// httpOptions is how one source's HTTP requests are made.
type httpOptions struct {
	timeout   time.Duration // per request, body included
	tokenFile string        // bearer token file, read on every request
	insecure  bool          // skip TLS verification
}

// httpReply is a response read whole, or a 304 with no body.
type httpReply struct {
	status       int
	body         []byte
	etag         string
	lastModified string
	date         time.Time // the server's Date header; zero when absent
}

// HTTPError is a response other than the one expected. Its message keeps
// the ToolHive Registry Server's wording.
type HTTPError struct {
	URL        string
	StatusCode int
	// RetryAfter is the wait a 429 or 503 response asked for, zero when it
	// named none.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("HTTP %d for URL %s: %s", e.StatusCode, e.URL, http.StatusText(e.StatusCode))
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// RetryAfter returns the wait an upstream asked for with Retry-After on
// a 429 or 503 answer anywhere in err's chain.
func RetryAfter(err error) (time.Duration, bool) {
	var he *HTTPError
	if errors.As(err, &he) && he.RetryAfter > 0 {
		return he.RetryAfter, true
	}
	return 0, false
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. A wait is at most maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	const maxRetryAfter = time.Hour
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// transport returns the shared transport for verified or, with insecure,
// unverified TLS. Keeping one of each lets connections be reused across
// requests and sources.
func (f *Fetcher) transport(insecure bool) *http.Transport {
	f.mu.Lock()
	defer f.mu.Unlock()
	if insecure {
		if f.insecureTransport == nil {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for per source, logged on every fetch
			f.insecureTransport = t
		}
		return f.insecureTransport
	}
	if f.httpTransport == nil {
		f.httpTransport = http.DefaultTransport.(*http.Transport).Clone()
	}
	return f.httpTransport
}

// checkRedirect follows at most maxRedirects redirects, only to http and
// https URLs, and never from https down to http: that would send the
// request, and a bearer token with it, in clear text.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirect to %s: only http and https are allowed", redact.URL(req.URL.String()))
	}
	if prev := via[len(via)-1]; prev.URL.Scheme == "https" && req.URL.Scheme == "http" {
		return fmt.Errorf("redirect from %s to %s: downgrade from https to http refused", redact.URL(prev.URL.String()), redact.URL(req.URL.String()))
	}
	if len(via) > maxRedirects {
		chain := make([]string, 0, len(via)+1)
		for _, r := range via {
			chain = append(chain, redact.URL(r.URL.String()))
		}
		chain = append(chain, redact.URL(req.URL.String()))
		return fmt.Errorf("stopped after %d redirects: %s", maxRedirects, strings.Join(chain, " -> "))
	}
	return nil
}

// bearerToken reads a token file, trimmed. Errors name the file, never
// its content.
func bearerToken(path string) (string, error) {
	b, err := readRegular(path, maxSecretFile)
	if err != nil {
		return "", fmt.Errorf("failed to read bearer token file %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("bearer token file %s is empty", path)
	}
	return tok, nil
}

// userAgent is sent with every request.
func (f *Fetcher) userAgent() string {
	v := f.Version
	if v == "" {
		v = "dev"
	}
	return "regsync/" + v
}

// get sends one GET and reads the body of a 200 answer, at most limit
// bytes. header adds request headers (validators). Any status other than
// 200 and, when accept304, 304 is an *HTTPError.
func (f *Fetcher) get(ctx context.Context, rawURL string, o httpOptions, header http.Header, limit int64, accept304 bool) (reply *httpReply, err error) {
	defer func() {
		if err == nil && reply.status == http.StatusNotModified {
			f.count(CheckHTTP, OutcomeNotModified)
			return
		}
		f.check(CheckHTTP, err)
	}()
	shown := redact.URL(rawURL)
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to create request: %w", err)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("failed to create request: unsupported scheme %q", req.URL.Scheme)
	}
	req.Header.Set("User-Agent", f.userAgent())
	req.Header.Set("Accept", "application/json")
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if o.tokenFile != "" {
		tok, err := bearerToken(o.tokenFile)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	client := &http.Client{Transport: f.transport(o.insecure), CheckRedirect: checkRedirect}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is named once, below, and redacted
		}
		return nil, fmt.Errorf("failed to execute request to %s: %w", shown, err)
	}
	defer resp.Body.Close()
	reply = &httpReply{status: resp.StatusCode, etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified")}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		reply.date = d
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotModified && accept304:
		return reply, nil
	default:
		he := &HTTPError{URL: shown, StatusCode: resp.StatusCode}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			he.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return nil, he
	}
	if resp.ContentLength > limit {
		return nil, tooLargeResponse(resp.ContentLength, limit)
	}
	body, err := bounded.ReadAll(resp.Body, limit)
	if _, ok := errors.AsType[*bounded.TooLargeError](err); ok {
		return nil, tooLargeResponse(limit+1, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read response from %s: %w", shown, err)
	}
	reply.body = body
	return reply, nil
}

// sizeError is a response over the size limit.
type sizeError struct{ size, limit int64 }

func (e *sizeError) Error() string {
	return fmt.Sprintf("response size %d bytes exceeds maximum allowed size of %d bytes (%.2f MB) (raise sync.maxDataSize to accept it)",
		e.size, e.limit, float64(e.limit)/(1<<20))
}

func tooLargeResponse(size, limit int64) error { return &sizeError{size: size, limit: limit} }

// warnInsecure says, on every fetch and check of such a source, that its
// TLS certificates are not verified.
func (f *Fetcher) warnInsecure(source, what string) {
	if f.Logger != nil {
		f.Logger.Warn("TLS certificate verification is OFF for this source (insecureSkipVerify: true); anyone on the path can read and change its data",
			"source", source, "url", redact.URL(what))
	}
}
