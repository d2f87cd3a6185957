package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// connTimeout bounds one request on a load connection, from its write to
// the end of its answer, and a dial.
const connTimeout = 30 * time.Second

// conn is one load client's keep-alive HTTP/1.1 connection to one
// address, as wrk keeps one per client: it writes a request built once
// and reads the answer with http.ReadResponse on a bufio.Reader it
// reuses. net/http's Transport costs a goroutine pair per connection, a
// channel handoff per request and a header map per request built; in the
// load tool's process, on the cores the replica under test runs on, that
// is load the replica's figures would pay for. A conn is used by one
// goroutine at a time.
type conn struct {
	addr string
	nc   net.Conn
	br   *bufio.Reader
}

func newConn(addr string) *conn { return &conn{addr: addr} }

// getRequest is what http.ReadResponse is told answers are answers to: a
// GET, so a body is read by its framing. It is only read.
var getRequest = &http.Request{Method: http.MethodGet}

// buildRequest is GET target on host (the Host header), with
// If-None-Match inm unless it is empty, and no Accept-Encoding: the
// figures are the API's, not the compressor's.
func buildRequest(host, target, inm string) []byte {
	b := make([]byte, 0, 64+len(host)+len(target)+len(inm))
	b = append(b, "GET "...)
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: regsync-load\r\n"...)
	if inm != "" {
		b = append(b, "If-None-Match: "...)
		b = append(b, inm...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// do sends req, a request buildRequest built, and reads its answer to
// the end: the body is returned when keep is set, else discarded. A
// connection the server closed while it was idle (the answer's first
// byte never came, or the write failed) is dialled again and the request
// sent once more, as net/http does for an idempotent request.
func (c *conn) do(req []byte, keep bool) (result, error) {
	reused := c.nc != nil
	res, err := c.roundTrip(req, keep)
	var idle *idleClosed
	if reused && errors.As(err, &idle) {
		res, err = c.roundTrip(req, keep)
	}
	if err != nil {
		c.close()
		return result{}, fmt.Errorf("GET on %s: %w", c.addr, err)
	}
	return res, nil
}

// idleClosed is a reused connection found closed before any byte of the
// answer arrived.
type idleClosed struct{ err error }

func (e *idleClosed) Error() string { return "connection closed before the answer: " + e.err.Error() }
func (e *idleClosed) Unwrap() error { return e.err }

// connect dials the connection unless it is open.
func (c *conn) connect() error {
	if c.nc != nil {
		return nil
	}
	nc, err := net.DialTimeout("tcp", c.addr, connTimeout)
	if err != nil {
		return err
	}
	c.nc = nc
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 16<<10)
	} else {
		c.br.Reset(nc)
	}
	return nil
}

func (c *conn) roundTrip(req []byte, keep bool) (result, error) {
	if err := c.connect(); err != nil {
		return result{}, err
	}
	if err := c.nc.SetDeadline(time.Now().Add(connTimeout)); err != nil {
		return result{}, err
	}
	if _, err := c.nc.Write(req); err != nil {
		c.close()
		return result{}, &idleClosed{err}
	}
	if _, err := c.br.Peek(1); err != nil {
		c.close()
		return result{}, &idleClosed{err}
	}
	resp, err := http.ReadResponse(c.br, getRequest)
	if err != nil {
		return result{}, fmt.Errorf("read the answer: %w", err)
	}
	res := result{code: resp.StatusCode, etag: resp.Header.Get("ETag")}
	if keep {
		res.body, err = io.ReadAll(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil {
		return result{}, fmt.Errorf("read the body: %w", err)
	}
	if resp.Close {
		c.close()
	}
	return res, nil
}

// close closes the connection; the next request dials a new one.
func (c *conn) close() {
	if c.nc != nil {
		_ = c.nc.Close()
		c.nc = nil
	}
}
