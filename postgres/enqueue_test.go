package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/postgres"
)

// TestGLPEnqueueStoresInTheAppsTransaction: glp.enqueue in a transaction
// that rolls back stores nothing; committed, the event is queued as an
// accept would queue it, and the sidecar's listener is woken at once; the
// same key again returns the first event's id and stores nothing, as does
// a server call's key accepted before.
func TestGLPEnqueueStoresInTheAppsTransaction(t *testing.T) {
	url := pgtest.URL(t)
	s := open(t, postgres.Options{URL: url})
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	body := `{"glpClickId":"click-1","email":" Pat@Example.com ","conversion_id":"order-1","testMode":true}`

	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rolledBack string
	if err := tx.QueryRow(ctx, `SELECT glp.enqueue($1::jsonb, NULL)`, body).Scan(&rolledBack); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx)
	if _, _, err := s.Get(ctx, rolledBack); sidecar.ErrorCode(err) != sidecar.ENotFound {
		t.Fatalf("rolled back, the event is there: %v", err)
	}

	var woken sync.WaitGroup
	woken.Add(1)
	wake := make(chan struct{}, 1)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		defer woken.Done()
		s.Listen(lctx, func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		})
	}()
	time.Sleep(200 * time.Millisecond) // the listener's LISTEN
	select {                           // a wake-up the listener gives on connecting
	case <-wake:
	default:
	}
	var id string
	if err := conn.QueryRow(ctx, `SELECT glp.enqueue($1::jsonb, NULL)`, body).Scan(&id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	case <-time.After(5 * time.Second):
		t.Fatal("the commit woke no listener")
	}
	e, _, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := sidecar.Conversion{ClickID: "click-1", Email: "Pat@Example.com", ConversionID: "order-1"}
	if e.State != sidecar.StateQueued || !e.Test || e.Conversion != want || e.ClickSource != sidecar.ClickFromBody {
		t.Fatalf("stored %+v", e)
	}
	var again string
	if err := conn.QueryRow(ctx, `SELECT glp.enqueue($1::jsonb, 'order-1')`, body).Scan(&again); err != nil || again != id {
		t.Fatalf("the same key again: %q, %v; want %s", again, err, id)
	}
	a, err := s.Append(ctx, sidecar.NewEvent{Key: "order-2", Conversion: sidecar.Conversion{Email: "pat@example.com", ConversionID: "order-2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT glp.enqueue('{"email":"pat@example.com","conversion_id":"order-2"}', NULL)`).Scan(&again); err != nil || again != a.ID {
		t.Fatalf("a key a server call was accepted with: %q, %v; want %s", again, err, a.ID)
	}
	if st, _ := s.Stats(ctx); st.States[sidecar.StateQueued] != 2 {
		t.Fatalf("%d events queued, want 2", st.States[sidecar.StateQueued])
	}
	stop()
	woken.Wait()
}

// TestGLPEnqueueRefusesASealedOutbox: an outbox whose personal fields are
// sealed (GLP_DATA_KEY_FILE: a key fingerprint is recorded) cannot take a
// conversion written in SQL, which would store them in clear: glp.enqueue
// raises, naming why, and stores nothing.
func TestGLPEnqueueRefusesASealedOutbox(t *testing.T) {
	url := pgtest.URL(t)
	s := open(t, postgres.Options{URL: url})
	if err := s.SetKeyFingerprint(ctx, "sha256:0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var id string
	err = conn.QueryRow(ctx, `SELECT glp.enqueue('{"email":"pat@example.com","conversion_id":"order-1"}', NULL)`).Scan(&id)
	if err == nil || !strings.Contains(err.Error(), "GLP_DATA_KEY_FILE") || !strings.Contains(err.Error(), "0A000") {
		t.Fatalf("a sealed outbox: %q, %v; want an error naming GLP_DATA_KEY_FILE (SQLSTATE 0A000)", id, err)
	}
	if st, _ := s.Stats(ctx); st.States[sidecar.StateQueued] != 0 {
		t.Fatalf("%d events stored", st.States[sidecar.StateQueued])
	}
}
