package webhook

import "sync"

// pending bounds the bytes of request bodies that are read, or being
// read, before their signature is checked: in all, and per client. Anyone
// can send such bodies, so without a bound a flood of slow ones (each just
// under the body limit, then stalled) holds as much memory as it likes.
// Past the client's share a request is answered 429, past the total 503,
// before any of its body is read; a forge on another address is still
// answered while one client floods.
type pending struct {
	total, perClient int64

	mu      sync.Mutex
	held    int64
	clients map[string]int64
}

func newPending(total, perClient int64) *pending {
	return &pending{total: total, perClient: min(perClient, total), clients: make(map[string]int64)}
}

// Why a reservation failed.
const (
	reserved = iota
	clientFull
	totalFull
)

// reserve takes n bytes for client; release gives them back.
func (p *pending) reserve(client string, n int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.clients[client]+n > p.perClient:
		return clientFull
	case p.held+n > p.total:
		return totalFull
	}
	p.clients[client] += n
	p.held += n
	return reserved
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
