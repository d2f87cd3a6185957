package main

import (
	"bufio"
	"bytes"
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
// and reads the answer in place from a bufio.Reader it reuses, with no
// header map and no allocation per request (readAnswer). The clients run
// on the cores the replica under test runs on: net/http's Transport (a
// goroutine pair per connection, a channel handoff and a header map per
// request), or even http.ReadResponse (nine allocations an answer, and
// the collections they cost), is load the replica's figures would pay
// for. A conn is used by one goroutine at a time.
type conn struct {
	addr     string
	nc       net.Conn
	br       *bufio.Reader
	deadline time.Time
}

func newConn(addr string) *conn { return &conn{addr: addr} }

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
	if err != nil && reused && isIdleClosed(err) {
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

// isIdleClosed tells whether err is an idleClosed; only an error asks,
// so an answered request allocates no target for errors.As.
func isIdleClosed(err error) bool {
	var idle *idleClosed
	return errors.As(err, &idle)
}

// connect dials the connection unless it is open.
func (c *conn) connect() error {
	if c.nc != nil {
		return nil
	}
	nc, err := net.DialTimeout("tcp", c.addr, connTimeout)
	if err != nil {
		return err
	}
	c.nc, c.deadline = nc, time.Time{}
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
	// The deadline is moved once half of it has passed, not at every
	// request: a request is bounded by connTimeout/2 to connTimeout, and
	// the poller's timer is not reset 20,000 times a second.
	if now := time.Now(); c.deadline.Sub(now) < connTimeout/2 {
		c.deadline = now.Add(connTimeout)
		if err := c.nc.SetDeadline(c.deadline); err != nil {
			return result{}, err
		}
	}
	if _, err := c.nc.Write(req); err != nil {
		c.close()
		return result{}, &idleClosed{err}
	}
	if _, err := c.br.Peek(1); err != nil {
		c.close()
		return result{}, &idleClosed{err}
	}
	res, err := c.readAnswer(keep)
	if err != nil {
		c.close()
		return result{}, err
	}
	return res, nil
}

// readAnswer reads one answer to a GET: its status line, its headers and
// its body, framed by Content-Length, chunked encoding or the end of the
// connection. It reads in place from the buffered reader, with no header
// map and no allocation unless keep asks for the body (and the ETag). An
// answer that is not HTTP/1.x is an error that quotes what came.
func (c *conn) readAnswer(keep bool) (result, error) {
	line, err := c.line()
	if err != nil {
		return result{}, fmt.Errorf("read the status line: %w", err)
	}
	var res result
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return result{}, fmt.Errorf("read the status line: %q is not an HTTP/1.x status line", line)
	}
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return result{}, fmt.Errorf("read the status line: %q is not an HTTP/1.x status line", line)
		}
		res.code = res.code*10 + int(d-'0')
	}
	closes := line[7] == '0' // HTTP/1.0 closes unless told otherwise
	length, chunked := int64(-1), false
	for {
		line, err := c.line()
		if err != nil {
			return result{}, fmt.Errorf("read the headers: %w", err)
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return result{}, fmt.Errorf("read the headers: %q is not a header", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, ok = parseLength(value, 10); !ok {
				return result{}, fmt.Errorf("read the headers: Content-Length %q is not a length", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closes = bytes.EqualFold(value, []byte("close")) || (closes && !bytes.EqualFold(value, []byte("keep-alive")))
		case keep && bytes.EqualFold(name, []byte("ETag")):
			res.etag = string(value)
		}
	}
	var body *bytes.Buffer
	if keep {
		body = new(bytes.Buffer)
	}
	switch {
	case res.code/100 == 1 || res.code == http.StatusNoContent || res.code == http.StatusNotModified:
		// No body, whatever the headers say (RFC 9112, 6.3).
	case chunked:
		err = c.chunks(body)
	case length >= 0:
		err = c.body(body, length)
	default:
		// Neither framing: the body ends with the connection.
		closes = true
		if keep {
			_, err = body.ReadFrom(c.br)
		} else {
			_, err = c.br.WriteTo(io.Discard)
		}
	}
	if err != nil {
		return result{}, fmt.Errorf("read the body: %w", err)
	}
	if keep {
		res.body = body.Bytes()
	}
	if closes {
		c.close()
	}
	return res, nil
}

// line reads one line without its CRLF, in place: it is valid until the
// next read.
func (c *conn) line() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("a line longer than %d bytes", c.br.Size())
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(line[:len(line)-1], []byte("\r")), nil
}

// body reads n bytes of body into w, or discards them when w is nil.
func (c *conn) body(w *bytes.Buffer, n int64) error {
	if w == nil {
		_, err := c.br.Discard(int(n))
		return noEOF(err)
	}
	_, err := io.CopyN(w, c.br, n)
	return noEOF(err)
}

// chunks reads a chunked body into w, or discards it when w is nil, and
// the trailer after it.
func (c *conn) chunks(w *bytes.Buffer) error {
	for {
		line, err := c.line()
		if err != nil {
			return noEOF(err)
		}
		size, _, _ := bytes.Cut(line, []byte(";")) // chunk extensions ignored
		n, ok := parseLength(bytes.TrimSpace(size), 16)
		if !ok {
			return fmt.Errorf("chunk size %q is not a hexadecimal length", size)
		}
		if n == 0 {
			break
		}
		if err := c.body(w, n); err != nil {
			return err
		}
		if line, err := c.line(); err != nil || len(line) != 0 {
			return fmt.Errorf("a chunk does not end with CRLF: %q, %v", line, noEOF(err))
		}
	}
	for { // the trailer, up to its empty line
		line, err := c.line()
		if err != nil {
			return noEOF(err)
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// parseLength reads a non-negative length in base 10 or 16.
func parseLength(b []byte, base int64) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, d := range b {
		var v int64
		switch {
		case d >= '0' && d <= '9':
			v = int64(d - '0')
		case base == 16 && d >= 'a' && d <= 'f':
			v = int64(d-'a') + 10
		case base == 16 && d >= 'A' && d <= 'F':
			v = int64(d-'A') + 10
		default:
			return 0, false
		}
		n = n*base + v
	}
	return n, true
}

// noEOF is err, with an end of the connection inside an answer said as
// such.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// close closes the connection; the next request dials a new one.
func (c *conn) close() {
	if c.nc != nil {
		_ = c.nc.Close()
		c.nc = nil
	}
}
