package webhook

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// smallBody is the largest body that counts as small: every real push
// fits in it. A larger body, by its Content-Length or as it grows, may
// take the unverified budget down to its reserve only.
const smallBody = 64 << 10

// Why a body is refused or cut before it is verified.
var (
	errClientFull = errors.New("too many request bodies in flight from this client, retry later")
	errTotalFull  = errors.New("too many unverified request bodies in flight, retry later")
	errTooSlow    = errors.New("request body arrived too slowly")
)

// pending bounds the bytes of request bodies that are read, or being
// read, before their signature is checked: in all, and per client. Anyone
// can send such bodies, so without a bound a flood of slow ones (each just
// under the body limit, then stalled) holds as much memory as it likes.
// Past the client's share a request is answered 429, past the total 503,
// before any of its body is read; a forge on another address is still
// answered while one client floods.
//
// A quarter of the total is kept for small bodies: a large one is refused
// when it would leave less free, so that a flood of large bodies from many
// addresses leaves room for real pushes. Once the free bytes are down to
// that reserve, a client may hold at most an eighth of it.
type pending struct {
	total, perClient         int64
	smallReserve, smallShare int64

	mu      sync.Mutex
	held    int64
	clients map[string]int64
}

// newPending bounds the bytes held to total, for bodies of at most maxBody
// bytes; one client may hold twice maxBody.
func newPending(total, maxBody int64) *pending {
	reserve := max(0, min(total/4, total-maxBody))
	return &pending{
		total:        total,
		perClient:    min(2*maxBody, total),
		smallReserve: reserve,
		smallShare:   max(reserve/8, smallBody),
		clients:      make(map[string]int64),
	}
}

// reserve takes n more bytes for client, for a body that is large (over
// smallBody) or not; release gives them back. It returns errClientFull or
// errTotalFull when it takes nothing.
func (p *pending) reserve(client string, n int64, large bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	mine := p.clients[client] + n
	free := p.total - p.held - n
	switch {
	case mine > p.perClient:
		return errClientFull
	case free < 0 || large && free < p.smallReserve:
		return errTotalFull
	case free < p.smallReserve && mine > p.smallShare:
		return errClientFull
	}
	p.clients[client] = mine
	p.held += n
	return nil
}

func (p *pending) release(client string, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held -= n
	if left := p.clients[client] - n; left > 0 {
		p.clients[client] = left
	} else {
		delete(p.clients, client)
	}
}

// inUse returns the bytes held in all.
func (p *pending) inUse() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// minRate is the slowest a body may arrive while it is unverified: after
// grace, bytes per period on average.
type minRate struct {
	grace  time.Duration
	bytes  int64
	period time.Duration
}

// defaultMinRate: every real push fits in 64 KiB and arrives in well
// under a second.
var defaultMinRate = minRate{grace: 5 * time.Second, bytes: 64 << 10, period: 5 * time.Second}

// deadline is when a body that started at start and has brought read
// bytes falls behind the rate.
func (m minRate) deadline(start time.Time, read int64) time.Time {
	return start.Add(m.grace + time.Duration(float64(read)/float64(m.bytes)*float64(m.period)))
}

func (m minRate) String() string {
	return fmt.Sprintf("under %d bytes per %v after %v", m.bytes, m.period, m.grace)
}

// clock tells the time and runs f after d: the wall clock, or a test's.
type clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// unverifiedBody is a request body read before its signature is checked.
// It holds its bytes in pending until release: its Content-Length at
// once, or, for a body of unknown length, smallBody at first and twice as
// much each time it is full, up to the body limit (a refused growth ends
// the read with errClientFull or errTotalFull). It must arrive at rate: a
// watchdog on clock checks it whenever it should have brought more, and
// when it has not, marks it slow and calls cut, which interrupts a read
// blocked on the connection; the read then ends with errTooSlow.
type unverifiedBody struct {
	r       io.Reader
	pending *pending
	client  string
	limit   int64 // the most held: the Content-Length, or the body limit
	held    int64
	rate    minRate
	clock   clock
	start   time.Time
	cut     func()

	mu   sync.Mutex
	read int64
	slow bool
	done bool
	stop func() bool
}

// openBody reserves what a body of length bytes (-1: unknown) needs first
// and starts its watchdog; finish stops it and release gives the bytes
// back.
func (r *Receiver) openBody(body io.Reader, length int64, client string, cut func()) (*unverifiedBody, error) {
	b := &unverifiedBody{r: body, pending: r.pending, client: client, limit: length, rate: r.minRate, clock: r.clock, cut: cut}
	first := length
	if length < 0 {
		b.limit, first = r.opts.MaxBody, min(smallBody, r.opts.MaxBody)
	}
	if err := r.pending.reserve(client, first, first > smallBody); err != nil {
		return nil, err
	}
	b.held = first
	b.start = b.clock.Now()
	b.mu.Lock()
	b.stop = b.clock.AfterFunc(b.rate.grace, b.watch)
	b.mu.Unlock()
	return b, nil
}

func (b *unverifiedBody) Read(p []byte) (int, error) {
	if b.isSlow() {
		return 0, errTooSlow
	}
	if b.held < b.limit {
		if b.read == b.held {
			if err := b.grow(); err != nil {
				return 0, err
			}
		}
		p = p[:min(int64(len(p)), b.held-b.read)]
	}
	n, err := b.r.Read(p)
	b.mu.Lock()
	b.read += int64(n)
	slow := b.slow
	b.mu.Unlock()
	if slow {
		// Cut while reading: what came after does not count.
		return 0, errTooSlow
	}
	return n, err
}

func (b *unverifiedBody) grow() error {
	n := min(2*b.held, b.limit)
	if err := b.pending.reserve(b.client, n-b.held, n > smallBody); err != nil {
		return err
	}
	b.held = n
	return nil
}

func (b *unverifiedBody) isSlow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.slow
}

// watch cuts the body when it has fallen behind the rate, else looks again
// when it would.
func (b *unverifiedBody) watch() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	now := b.clock.Now()
	if deadline := b.rate.deadline(b.start, b.read); now.Before(deadline) {
		b.stop = b.clock.AfterFunc(deadline.Sub(now), b.watch)
		return
	}
	b.slow = true
	b.cut()
}

// finish stops the watchdog once the body is read, or its read failed.
func (b *unverifiedBody) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	b.stop()
}

// release gives the body's bytes back, once.
func (b *unverifiedBody) release() {
	b.pending.release(b.client, b.held)
	b.held = 0
}
