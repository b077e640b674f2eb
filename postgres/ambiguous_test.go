package postgres_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	neturl "net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/postgres"
)

// cutter is a TCP proxy in front of PostgreSQL that, when armed, lets the
// server commit an INSERT and cuts the connection once the server's whole
// answer (CommandComplete "INSERT …" and ReadyForQuery) has arrived,
// before passing it on: the commit happened, the client never learns it.
// With refuse set, it then also drops every other connection and every
// new one, so that nothing can find out.
type cutter struct {
	ln       net.Listener
	target   string
	armed    atomic.Bool
	refuse   atomic.Bool // after the cut, no connection gets through
	refusing atomic.Bool
	cuts     atomic.Int32
	mu       sync.Mutex
	conns    []net.Conn
}

func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); c.dropAll() })
	go c.serve()
	return c
}

func (c *cutter) dropAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
}

func (c *cutter) serve() {
	for {
		client, err := c.ln.Accept()
		if err != nil {
			return
		}
		if c.refusing.Load() {
			client.Close()
			continue
		}
		server, err := net.Dial("tcp", c.target)
		if err != nil {
			client.Close()
			continue
		}
		c.mu.Lock()
		c.conns = append(c.conns, client, server)
		c.mu.Unlock()
		go func() { io.Copy(server, client); server.Close() }()
		go c.answers(client, server)
	}
}

// answers passes the server's messages on, holding those from an armed
// INSERT's CommandComplete to its ReadyForQuery, and cutting there.
func (c *cutter) answers(client, server net.Conn) {
	defer client.Close()
	defer server.Close()
	var held []byte
	insert := false
	for {
		head := make([]byte, 5)
		if _, err := io.ReadFull(server, head); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(head[1:])-4)
		if _, err := io.ReadFull(server, body); err != nil {
			return
		}
		msg := append(head, body...)
		if head[0] == 'C' && bytes.HasPrefix(body, []byte("INSERT")) && c.armed.Load() {
			insert = true
		}
		if !insert {
			if _, err := client.Write(msg); err != nil {
				return
			}
			continue
		}
		held = append(held, msg...)
		if head[0] == 'Z' && c.armed.CompareAndSwap(true, false) { // committed; the answer is lost
			c.cuts.Add(1)
			if c.refuse.Load() {
				c.refusing.Store(true)
				c.dropAll()
			}
			return
		}
	}
}

// through is url with its host replaced by the cutter's.
func (c *cutter) through(t *testing.T, url string) string {
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = c.ln.Addr().String()
	return u.String()
}

func storedEvents(t *testing.T, url string) []string {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT id FROM glp.events ORDER BY id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestAnAcceptWhoseCommitLostItsAnswerIsFoundStored: the insert commits
// and the connection dies before its answer is read; the store finds out
// on another connection that the event is stored and answers with its id
// (202), not 503 "nothing was stored"; a retry with the same key is its
// duplicate, and the event is stored once.
func TestAnAcceptWhoseCommitLostItsAnswerIsFoundStored(t *testing.T) {
	url := pgtest.URL(t)
	u, _ := neturl.Parse(url)
	c := newCutter(t, u.Host)
	s := open(t, postgres.Options{URL: c.through(t, url)})
	c.armed.Store(true)
	a, err := s.Append(ctx, sidecar.NewEvent{Key: "order-1", Conversion: sidecar.Conversion{ConversionID: "order-1", Email: "pat@example.com"}})
	if c.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d connections after a commit, want 1", c.cuts.Load())
	}
	if err != nil {
		t.Fatalf("an append that committed was answered %v (503 would say nothing was stored)", err)
	}
	if ids := storedEvents(t, url); len(ids) != 1 || ids[0] != a.ID || a.Duplicate {
		t.Fatalf("answered %+v; stored %v: want the one event, under the id answered", a, ids)
	}
	again, err := s.Append(ctx, sidecar.NewEvent{Key: "order-1", Conversion: sidecar.Conversion{ConversionID: "order-1", Email: "pat@example.com"}})
	if err != nil || !again.Duplicate || again.ID != a.ID {
		t.Fatalf("the retry: %+v, %v; want a duplicate of %s", again, err, a.ID)
	}
}

// TestAnAcceptThatCannotFindOutInTimeSaysStoredUnknown: the commit's
// answer is lost and no connection can be had afterwards; within the
// settling bound the append fails with EUnavailable and ErrStoredUnknown
// (the listener's 503 "stored":"unknown"), and once the database is back
// a retry with the same key is answered as the duplicate it is.
func TestAnAcceptThatCannotFindOutInTimeSaysStoredUnknown(t *testing.T) {
	url := pgtest.URL(t)
	u, _ := neturl.Parse(url)
	c := newCutter(t, u.Host)
	s := open(t, postgres.Options{URL: c.through(t, url)})
	c.refuse.Store(true)
	c.armed.Store(true)
	start := time.Now()
	_, err := s.Append(ctx, sidecar.NewEvent{Key: "order-2", Conversion: sidecar.Conversion{ConversionID: "order-2", Email: "pat@example.com"}})
	took := time.Since(start)
	if sidecar.ErrorCode(err) != sidecar.EUnavailable || !errors.Is(err, sidecar.ErrStoredUnknown) {
		t.Fatalf("append: %v; want EUnavailable with ErrStoredUnknown", err)
	}
	if took > 5*time.Second {
		t.Errorf("finding out took %v, beyond its bound", took)
	}
	if ids := storedEvents(t, url); len(ids) != 1 {
		t.Fatalf("stored %v: the proxy cut before the commit, the test proves nothing", ids)
	}
	c.refusing.Store(false)
	again, err := s.Append(ctx, sidecar.NewEvent{Key: "order-2", Conversion: sidecar.Conversion{ConversionID: "order-2", Email: "pat@example.com"}})
	if err != nil || !again.Duplicate {
		t.Fatalf("the retry: %+v, %v; want a duplicate", again, err)
	}
}
