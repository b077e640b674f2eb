package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestGLPEnqueueKeepsTheServerCallsFieldRules holds glp.enqueue (postgres
// migration 0006) to this package's decoder, the rules' source, on one
// table of bodies: the same bodies refused, naming the same fields, and
// the same conversion stored from the others.
func TestGLPEnqueueKeepsTheServerCallsFieldRules(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL: not under -short")
	}
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := postgres.Open(ctx, postgres.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	long := strings.Repeat("a", 257)
	bodies := []string{
		`{"glpClickId":"abc"}`, `{"transaction_id":"abc","glp_click_id":5}`, `{"glpClickId":null,"transaction_id":"t-1"}`,
		`{"glpClickId":""}`, `{"glpClickId":"a b"}`, `{"glpClickId":"a<b"}`, `{"glpClickId":"a'b"}`, `{"glpClickId":"a\\b"}`,
		`{"glpClickId":"` + strings.Repeat("c", 256) + `"}`, `{"glpClickId":"` + long + `"}`, `{"glpClickId":"é"}`,
		`{"glpClickId":"a\tb"}`, `{"glpClickId":"a\u007fb"}`, `{"glpClickId":5}`, `{"glpClickId":true}`, `{"glpClickId":[]}`, `{"glpClickId":{}}`,
		`{"session_token":"s"}`, `{"sessionToken":"` + long + `"}`, `{"session_token":"", "email":"a@b.co"}`, `{"session_token":"é ü"}`,
		`{"email":"pat@example.com"}`, `{"email":" pat@example.com "}`, `{"email":"pat@example"}`, `{"email":".pat@example.com"}`,
		`{"email":"p..t@example.com"}`, `{"email":"pat.@example.com"}`, `{"email":"o'neil@example.co.uk"}`, `{"email":"pat@-x.com"}`,
		`{"email":"pat@example.c"}`, `{"email":"` + strings.Repeat("p", 250) + `@x.com"}`, `{"email":"pat@exämple.com"}`,
		`{"ip":"203.0.113.9"}`, `{"ip":"2001:db8::1"}`, `{"ip":"2001:DB8:0:0::1"}`, `{"ip":"::ffff:203.0.113.9"}`, `{"ip":"203.0.113.9/32"}`, `{"ip":"10.0.0.1"}`, `{"ip":"127.0.0.1","email":"a@b.co"}`, `{"ip":"::1","email":"a@b.co"}`,
		`{"ip":"fe80::1","email":"a@b.co"}`, `{"ip":"172.20.0.1","email":"a@b.co"}`, `{"ip":"::ffff:192.168.1.1","email":"a@b.co"}`, `{"ip":"239.1.2.3"}`, `{"ip":"0.0.0.0"}`,
		`{"ip":"203.0.113"}`, `{"ip":"fe80::1%eth0"}`, `{"ip":"203.0.113.09"}`, `{"ip":"localhost"}`, `{"ip":""}`, `{"ip":" 203.0.113.9"}`,
		`{"conversion_id":"order-1","email":"a@b.co"}`, `{"conversionId":"` + long + `","email":"a@b.co"}`, `{"conversion_id":"order 1","ip":"192.0.2.1"}`,
		`{"testMode":true,"glpClickId":"x"}`, `{"testMode":"yes","glpClickId":"x"}`, `{"testMode":null,"glpClickId":"x"}`,
		`{"conversion_id":"order-1"}`, `{}`, `[]`, `"x"`, `{"glpClickId":"", "email":"nope", "ip":"nope", "testMode":1}`,
	}
	for _, body := range bodies {
		goBad, goConv := goVerdict(body)
		sqlBad, sqlConv := sqlVerdict(t, conn, body)
		if !slices.Equal(slices.Sorted(maps.Keys(goBad)), slices.Sorted(maps.Keys(sqlBad))) {
			t.Errorf("%s: the sidecar refuses %v, glp.enqueue %v", body, goBad, sqlBad)
			continue
		}
		if goBad == nil && goConv != sqlConv {
			t.Errorf("%s: the sidecar stores %+v, glp.enqueue %+v", body, goConv, sqlConv)
		}
	}
}

// goVerdict is the decoder's verdict on a server call's body: its bad
// fields ("body" for nothing to attribute), or the conversion it keeps.
func goVerdict(body string) (map[string]string, sidecar.Conversion) {
	req, err := decodeConversion([]byte(body))
	var e *sidecar.Error
	if errors.As(err, &e) {
		return e.Fields, sidecar.Conversion{}
	}
	if req.IP != "" && !endUserAddr(netip.MustParseAddr(req.IP)) { // a server call's ip that is no end user's is dropped (publicIP)
		req.IP = ""
	}
	if !req.Conversion.Attributable() {
		return map[string]string{"body": "nothing to attribute"}, sidecar.Conversion{}
	}
	return nil, req.Conversion
}

// sqlVerdict is glp.enqueue's, in a transaction rolled back.
func sqlVerdict(t *testing.T, conn *pgx.Conn, body string) (map[string]string, sidecar.Conversion) {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var id string
	var payload []byte
	err = tx.QueryRow(ctx, `SELECT glp.enqueue($1::jsonb, NULL)`, body).Scan(&id)
	if err == nil {
		err = tx.QueryRow(ctx, `SELECT payload FROM glp.events WHERE id = $1`, id).Scan(&payload)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "22023" {
		fields := map[string]string{}
		if err := json.Unmarshal([]byte(pe.Detail), &fields); err != nil {
			t.Fatalf("%s: DETAIL %q: %v", body, pe.Detail, err)
		}
		return fields, sidecar.Conversion{}
	}
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	var c sidecar.Conversion
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return nil, c
}
