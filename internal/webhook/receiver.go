package webhook

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/ratelog"
	"github.com/regsync/regsync/internal/retry"
)

// DefaultPublishTimeout is Options.PublishTimeout when not set.
const DefaultPublishTimeout = 10 * time.Second

// PathPrefix is where the receivers are mounted: POST
// /webhooks/<provider>.
const PathPrefix = "/webhooks/"

// retryAfter is the Retry-After of a 503: a forge that retries comes back
// after it.
const retryAfter = 5 * time.Second

// maxDeliveryIDLen bounds the delivery id inside an event id.
const maxDeliveryIDLen = 64

// TriggerSender stores trigger events and names this deployment's
// producers: bus.Publisher, or a fake in tests. Publish returns once the
// event is stored, or with the reason it was not; Source names a producer
// of this deployment (events.ProducerSource).
type TriggerSender interface {
	bus.Sender
	Source(producer string) string
}

// Options tune a Receiver. serve fills them from the webhooks section; a
// zero value means that section's default (see config.Default).
type Options struct {
	// MaxBody is the largest request body accepted, in bytes
	// (webhooks.maxBodySize).
	MaxBody int64
	// MaxUnverified bounds the bytes of bodies held before their
	// signature is checked, in all (webhooks.maxUnverifiedBytes, never
	// less than MaxBody). One client may hold twice MaxBody of it; a
	// quarter is kept for bodies of at most 64 KiB (see pending).
	MaxUnverified int64
	// RatePerSecond is how many requests one client (remote IP address;
	// IPv6 /64 network) may make per second on average
	// (webhooks.rateLimit.perSecond; no limit when negative).
	RatePerSecond float64
	// Burst is how many requests one client may make at once
	// (webhooks.rateLimit.burst).
	Burst int
	// PublishTimeout bounds storing the triggers of one delivery
	// (DefaultPublishTimeout when not positive).
	PublishTimeout time.Duration
}

func (o Options) withDefaults() Options {
	d := config.Default().Webhooks
	if o.MaxBody <= 0 {
		o.MaxBody = d.MaxBodySize.Int64()
	}
	if o.MaxUnverified <= 0 {
		o.MaxUnverified = d.MaxUnverifiedBytes.Int64()
	}
	o.MaxUnverified = max(o.MaxUnverified, o.MaxBody)
	if o.RatePerSecond == 0 {
		o.RatePerSecond = d.RateLimit.PerSecond
	}
	if o.Burst <= 0 {
		o.Burst = d.RateLimit.Burst
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = DefaultPublishTimeout
	}
	return o
}

// Receiver is the http.Handler of every webhook receiver (see the package
// documentation). Mount it at PathPrefix.
type Receiver struct {
	pub    TriggerSender
	opts   Options
	logger *slog.Logger
	// deliveries writes the line of each delivery, bounded so that a
	// flood (or a load test) does not flood the log.
	deliveries *slog.Logger
	limit      *limiter // nil: no rate limit
	pending    *pending
	state      atomic.Pointer[state]
	// clock times unverified bodies against minRate (tests replace both).
	clock   clock
	minRate minRate
}

// Bound of the delivery lines: deliveryLogBurst lines of each level per
// deliveryLogPeriod, then a count of those left out.
const (
	deliveryLogBurst  = 60
	deliveryLogPeriod = time.Minute
)

// New returns a Receiver that publishes through pub, for the webhook
// secrets in hooks and the sources srcs. It reads the secrets now; see
// SetSources.
func New(pub TriggerSender, hooks config.Webhooks, srcs []config.Source, opts Options, logger *slog.Logger) *Receiver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	r := &Receiver{pub: pub, opts: opts, logger: logger, deliveries: ratelog.New(logger, deliveryLogBurst, deliveryLogPeriod),
		pending: newPending(opts.MaxUnverified, opts.MaxBody), clock: wallClock{}, minRate: defaultMinRate}
	if opts.RatePerSecond > 0 {
		r.limit = newLimiter(opts.RatePerSecond, opts.Burst)
	}
	r.SetSources(srcs, hooks)
	return r
}

// SetSources replaces the sources and webhook secrets, for a configuration
// reload: every secret is read again. A secret that cannot be read is
// logged; its receiver stays disabled (a provider secret) or its source
// accepts the provider secrets only (a source secret). Deliveries being
// handled finish with the configuration they started with.
func (r *Receiver) SetSources(srcs []config.Source, hooks config.Webhooks) {
	r.state.Store(newState(srcs, hooks, r.logger))
}

// Enabled returns the providers that accept deliveries, those with a
// secret, in a fixed order (github, gitlab, gitea, bitbucket, generic).
func (r *Receiver) Enabled() []string {
	st := r.state.Load()
	var out []string
	for _, name := range providerNames {
		if st.enabled(name) {
			out = append(out, name)
		}
	}
	return out
}

// delivery is what happened to one request: its answer and its log line.
type delivery struct {
	provider   string
	id         string // the delivery id sent, if any
	event      string
	repository string
	refs       []string
	matched    []string // sources the delivery asked to trigger
	published  []string // sources whose trigger was stored
	status     int
	ignored    string
	errMsg     string // for the answer
	err        error  // for the log
}

func (d *delivery) fail(status int, msg string, err error) *delivery {
	d.status, d.errMsg, d.err = status, msg, err
	return d
}

func (d *delivery) ignore(why string) *delivery {
	d.status, d.ignored = http.StatusOK, why
	return d
}

// ServeHTTP handles POST /webhooks/<provider>.
//
// A burst of deliveries leaves tens of kilobytes of garbage per request
// (headers, bodies, events, the JetStream round trips); serve counts the
// requests with a burst.Tracker, which returns that memory once the burst
// has passed.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	d := r.handle(w, req)
	writeAnswer(w, d)
	r.log(req, d, time.Since(start))
}

// inbound is a delivery on its way through the steps of handle: what one
// step found that a later one needs.
type inbound struct {
	w      http.ResponseWriter
	req    *http.Request
	d      *delivery
	client string // the sender, as the rate limit and pending count it
	p      *provider
	st     *state          // the configuration the delivery is handled with
	ub     *unverifiedBody // the body's bytes, counted until verified
	body   []byte
	scope  scope // whose secrets proved the body
	pl     payload
	// targets are the sources to trigger.
	targets []target
}

// close gives back what the delivery held, once it is answered.
func (in *inbound) close() {
	recycleBody(in.body)
	if in.ub != nil {
		in.ub.release()
	}
}

// handleSteps handle a delivery, in order. Each step returns the delivery
// when it is answered there, nil to go on; a delivery that passes them all
// is accepted.
var handleSteps = [...]func(*Receiver, *inbound) *delivery{
	(*Receiver).checkRate,
	(*Receiver).selectProvider,
	(*Receiver).receiveBody,
	(*Receiver).authenticate,
	(*Receiver).parsePayload,
	(*Receiver).matchSources,
	(*Receiver).storeTriggers,
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) *delivery {
	in := &inbound{w: w, req: req, d: &delivery{}, client: clientKey(req.RemoteAddr)}
	defer in.close()
	for _, step := range handleSteps {
		if d := step(r, in); d != nil {
			return d
		}
	}
	in.d.status = http.StatusAccepted
	return in.d
}

// checkRate refuses a sender over its rate.
func (r *Receiver) checkRate(in *inbound) *delivery {
	if r.limit == nil {
		return nil
	}
	if ok, wait := r.limit.allow(in.client); !ok {
		in.w.Header().Set("Retry-After", seconds(wait))
		return in.d.fail(http.StatusTooManyRequests, "too many requests, slow down", nil)
	}
	return nil
}

// selectProvider finds the receiver of the path, which must be enabled and
// POSTed to.
func (r *Receiver) selectProvider(in *inbound) *delivery {
	d := in.d
	name, _ := strings.CutPrefix(in.req.URL.Path, PathPrefix)
	p := providers[name]
	if p == nil || !strings.HasPrefix(in.req.URL.Path, PathPrefix) {
		return d.fail(http.StatusNotFound, "unknown webhook provider; use one of "+strings.Join(providerNames, ", "), nil)
	}
	d.provider = p.name
	if in.req.Method != http.MethodPost {
		in.w.Header().Set("Allow", http.MethodPost)
		return d.fail(http.StatusMethodNotAllowed, "webhooks are delivered with POST", nil)
	}
	st := r.state.Load()
	if !st.enabled(p.name) {
		return d.fail(http.StatusNotFound, "webhook provider "+p.name+" is not configured", nil)
	}
	in.p, in.st = p, st
	d.event, d.id = p.event(in.req.Header), p.delivery(in.req.Header)
	return nil
}

// receiveBody reads the body whole. It is held unverified while it is
// read and checked: it counts against the bound of such bytes until then,
// and must arrive at the minimum rate.
func (r *Receiver) receiveBody(in *inbound) *delivery {
	req := in.req
	if req.ContentLength > r.opts.MaxBody {
		return in.d.fail(http.StatusRequestEntityTooLarge, tooLarge(r.opts.MaxBody), nil)
	}
	rc := http.NewResponseController(in.w)
	ub, err := r.openBody(http.MaxBytesReader(in.w, req.Body, r.opts.MaxBody), req.ContentLength, in.client, func() {
		// A deadline in the past ends a read blocked on the connection
		// at once. Behind a writer that hides the connection, the body
		// ends at its next read, or at the server's ReadTimeout.
		_ = rc.SetReadDeadline(time.Unix(1, 0))
	})
	if err != nil {
		return r.unread(in.w, in.d, err)
	}
	in.ub = ub
	in.body, err = readBody(ub, req.ContentLength)
	ub.finish()
	if err != nil {
		return r.unread(in.w, in.d, err)
	}
	return nil
}

// authenticate checks the body's signature or token against the secrets
// of the provider and of its sources; a verified body no longer counts as
// unverified.
func (r *Receiver) authenticate(in *inbound) *delivery {
	pr, err := in.p.proof(in.req.Header, in.req.Header.Get("Content-Type"), in.body)
	if err != nil {
		return in.d.fail(http.StatusUnauthorized, err.Error(), nil)
	}
	in.scope = in.st.verify(in.p.name, pr)
	if !in.scope.verified() {
		return in.d.fail(http.StatusUnauthorized, errBadSignature.Error(), nil)
	}
	in.ub.release()
	return nil
}

// parsePayload reads what the event says; pings and events that are not
// acted on are answered here.
func (r *Receiver) parsePayload(in *inbound) *delivery {
	d := in.d
	pl, err := in.p.parse(d.event, in.req.Header.Get("Content-Type"), in.body)
	if err != nil {
		return d.fail(http.StatusBadRequest, err.Error(), nil)
	}
	in.pl = pl
	d.repository, d.refs = clip(pl.repository), pl.refs()
	switch pl.kind {
	case kindPing:
		return d.ignore("ping: the webhook is reachable")
	case kindOther:
		return d.ignore(fmt.Sprintf("event %q is not acted on", clip(d.event)))
	}
	return nil
}

// matchSources finds the sources the event triggers, among those whose
// secrets proved it.
func (r *Receiver) matchSources(in *inbound) *delivery {
	d := in.d
	if in.pl.source != "" && !in.scope.allows(in.pl.source) {
		// Proven by another source's secret.
		return d.fail(http.StatusUnauthorized, errBadSignature.Error(), nil)
	}
	targets, why, denied := in.st.match(in.pl, in.scope)
	if denied {
		// Proven by the secret of other sources than the repository's.
		return d.fail(http.StatusUnauthorized, errBadSignature.Error()+": "+why, nil)
	}
	if len(targets) == 0 {
		return d.ignore(why)
	}
	in.targets = targets
	for _, t := range targets {
		d.matched = append(d.matched, t.source)
	}
	return nil
}

// storeTriggers stores a trigger per matched source; one that cannot be
// stored asks the sender to retry the delivery.
func (r *Receiver) storeTriggers(in *inbound) *delivery {
	d := in.d
	published, err := r.publish(in.req.Context(), in.p.name, d, in.pl, in.targets)
	d.published = published
	switch {
	case errors.Is(err, bus.ErrBuild):
		return d.fail(http.StatusInternalServerError, "cannot build the trigger", err)
	case err != nil:
		in.w.Header().Set("Retry-After", seconds(retryAfter))
		return d.fail(http.StatusServiceUnavailable, "cannot store the trigger now, retry later", err)
	}
	return nil
}

// unread answers a body that was refused or could not be read whole.
func (r *Receiver) unread(w http.ResponseWriter, d *delivery, err error) *delivery {
	switch {
	case errors.Is(err, errClientFull):
		w.Header().Set("Retry-After", seconds(retryAfter))
		return d.fail(http.StatusTooManyRequests, err.Error(), nil)
	case errors.Is(err, errTotalFull):
		w.Header().Set("Retry-After", seconds(retryAfter))
		return d.fail(http.StatusServiceUnavailable, err.Error(), nil)
	case errors.Is(err, errTooSlow):
		// What is left of the body is not read: the connection ends.
		w.Header().Set("Connection", "close")
		return d.fail(http.StatusRequestTimeout, fmt.Sprintf("%v (%v)", err, r.minRate), nil)
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return d.fail(http.StatusRequestEntityTooLarge, tooLarge(r.opts.MaxBody), nil)
	}
	return d.fail(http.StatusBadRequest, "cannot read the request body", err)
}

// readBody reads a body of length bytes (-1: unknown). A body of known
// length is read into a buffer of exactly that size, so that the bytes held
// are the bytes counted; one of at most maxPooledBody bytes into a buffer
// used before (see recycleBody).
func readBody(body io.Reader, length int64) ([]byte, error) {
	if length < 0 {
		return io.ReadAll(body)
	}
	var buf []byte
	if length <= maxPooledBody {
		if p, ok := bodyBuffers.Get().(*[]byte); ok && int64(cap(*p)) >= length {
			buf = (*p)[:length]
		}
	}
	if buf == nil {
		buf = make([]byte, length)
	}
	if _, err := io.ReadFull(body, buf); err != nil {
		recycleBody(buf)
		return nil, err
	}
	return buf, nil
}

// bodyBuffers keeps the buffers of answered deliveries' bodies for the
// next ones: a burst reads thousands of bodies of a few KiB, each garbage
// the moment its delivery is answered, and nothing of a delivery keeps
// its body (parsing copies what it takes).
var bodyBuffers sync.Pool

// maxPooledBody is the largest body whose buffer is kept for reuse.
const maxPooledBody = 64 << 10

// recycleBody gives a body's buffer back for reuse once the delivery is
// answered.
func recycleBody(body []byte) {
	if body != nil && cap(body) <= maxPooledBody {
		bodyBuffers.Put(&body)
	}
}

// publish stores one trigger per target, concurrently, and returns the
// sources whose trigger was stored.
func (r *Receiver) publish(ctx context.Context, provider string, d *delivery, pl payload, targets []target) ([]string, error) {
	deliveryID := d.id
	if deliveryID == "" {
		// No id to collapse redeliveries by: make this delivery's
		// triggers unique instead.
		deliveryID = randomID()
	}
	// One try: the sender retries the delivery when it is answered 503.
	prod := bus.Producer{Name: r.pub.Source(events.ProducerWebhook(provider)), Sender: r.pub, Retry: retry.Backoff{Attempts: 1}}
	publish := func(t target) error {
		_, err := prod.Publish(ctx, eventID(provider, deliveryID, t.source), &events.SourceChanged{
			Source:   t.source,
			Trigger:  events.TriggerWebhook,
			Revision: t.change.revision,
			Provider: &events.Provider{
				Name:       provider,
				DeliveryID: clip(d.id),
				Event:      clip(d.event),
				Ref:        t.change.ref,
				Pusher:     clip(pl.pusher),
				Repository: clip(pl.repository),
			},
		})
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.PublishTimeout)
	defer cancel()
	errs := make([]error, len(targets))
	if len(targets) == 1 {
		errs[0] = publish(targets[0])
	} else {
		var wg sync.WaitGroup
		for i, t := range targets {
			wg.Go(func() { errs[i] = publish(t) })
		}
		wg.Wait()
	}
	var stored []string
	for i, t := range targets {
		if errs[i] == nil {
			stored = append(stored, t.source)
		} else {
			errs[i] = fmt.Errorf("trigger for %s: %w", t.source, errs[i])
		}
	}
	return stored, errors.Join(errs...)
}

// eventID is wh-<provider>-<delivery>-<source>, with the delivery id
// reduced to characters that are safe in a NATS message id.
func eventID(provider, deliveryID, source string) string {
	return "wh-" + provider + "-" + safeID(deliveryID) + "-" + source
}

// safeID keeps [A-Za-z0-9_-] and replaces every other byte with '-'. An id
// longer than maxDeliveryIDLen keeps its start and ends in a digest of the
// whole, so that two long ids stay apart.
func safeID(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) <= maxDeliveryIDLen {
		return string(b)
	}
	sum := sha256.Sum256([]byte(id))
	const digest = 15
	return string(b[:maxDeliveryIDLen-digest-1]) + "-" + hex.EncodeToString(sum[:])[:digest]
}

func randomID() string {
	return rand.Text()
}

// answer is the JSON body of every response.
type answer struct {
	Provider   string   `json:"provider,omitempty"`
	Event      string   `json:"event,omitempty"`
	Delivery   string   `json:"delivery,omitempty"`
	Repository string   `json:"repository,omitempty"`
	Refs       []string `json:"refs,omitempty"`
	Published  []string `json:"published,omitempty"`
	Ignored    string   `json:"ignored,omitempty"`
	Error      string   `json:"error,omitempty"`
}

func writeAnswer(w http.ResponseWriter, d *delivery) {
	a := answer{Error: d.errMsg}
	// Say what was read only from requests that were verified.
	if d.status < 300 || d.status == http.StatusServiceUnavailable || d.status == http.StatusInternalServerError {
		a.Provider, a.Event, a.Delivery = d.provider, clip(d.event), clip(d.id)
		a.Repository, a.Refs, a.Published, a.Ignored = d.repository, clipAll(d.refs), d.published, d.ignored
	}
	body, err := json.Marshal(a)
	if err != nil {
		body = []byte(`{"error":"cannot encode the answer"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(d.status)
	_, _ = w.Write(append(body, '\n'))
}

// log writes the one line of a delivery: at error level when a trigger
// could not be stored, at debug level when the client was over its rate
// (so a flood does not flood the log), else at info level. The lines are
// bounded per level (see deliveryLogBurst); regsync_webhook_requests_total
// counts every delivery. Secrets are never part of it.
func (r *Receiver) log(req *http.Request, d *delivery, took time.Duration) {
	level := slog.LevelInfo
	switch {
	case d.status >= 500:
		level = slog.LevelError
	case d.status == http.StatusTooManyRequests:
		level = slog.LevelDebug
	}
	if !r.deliveries.Enabled(req.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("provider", d.provider),
		slog.String("delivery", clip(d.id)),
		slog.String("event", clip(d.event)),
		slog.String("repository", d.repository),
		slog.String("ref", clip(strings.Join(d.refs, ","))),
		slog.Any("sources", d.matched),
		slog.Int("status", d.status),
		slog.String("remote_addr", req.RemoteAddr),
		slog.Duration("took", took),
	}
	if d.provider == "" {
		attrs = append(attrs, slog.String("path", clip(req.URL.Path)))
	}
	if len(d.published) != len(d.matched) {
		attrs = append(attrs, slog.Any("published", d.published))
	}
	if d.ignored != "" {
		attrs = append(attrs, slog.String("ignored", d.ignored))
	}
	if d.errMsg != "" {
		attrs = append(attrs, slog.String("reason", d.errMsg))
	}
	if d.err != nil {
		attrs = append(attrs, slog.Any("err", d.err))
	}
	r.deliveries.LogAttrs(req.Context(), level, "webhook delivery", attrs...)
}

func tooLarge(limit int64) string {
	return fmt.Sprintf("request body larger than %d bytes", limit)
}

func seconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

func clipAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = clip(s)
	}
	return out
}
