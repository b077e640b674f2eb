// Command provider-app is a provider's Go app that keeps the affiliate's click id itself, with
// glp-sidecar's capture.Middleware (no proxy in front), and posts conversions to the sidecar as
// server calls with glp-sidecar's client package, which retries through a restart of the sidecar.
//
//	SIDECAR_URL=http://127.0.0.1:8787 GLP_INGEST_TOKEN=… PORT=3000 go run .
//
// A conversion the sidecar never acknowledged within TRACK_RETRY_SECONDS (60) is appended to
// NOT_TRACKED_FILE (glp-not-tracked.jsonl) as one JSON line: docs/integration.md shows how to
// send those again.
package main

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/glpwinner/glp-sidecar/capture" // see go.mod: a replace directive to your copy
	"github.com/glpwinner/glp-sidecar/client"
)

// Order is your sign-up: its id is a number, as it usually is.
type Order struct {
	ID    int
	Email string
}

// trackConversion posts one conversion to the sidecar. The client retries a connection error, a
// timeout and a 5xx with the order id as the Idempotency-Key; it returns an error for a 4xx (a
// field is wrong and would fail again as it is) or once it gave up (the conversion is then in
// NOT_TRACKED_FILE).
func trackConversion(c *client.Client, r *http.Request, o Order) (client.Answer, error) {
	conv := client.Conversion{
		Email:        o.Email,
		IP:           clientIP(r),
		ConversionID: strconv.Itoa(o.ID), // a string: a number is refused with 400
	}
	if ck, err := r.Cookie("_glp_cid"); err == nil {
		conv.ClickID = ck.Value // set by capture.Middleware when the visitor landed
	}
	return c.Track(r.Context(), conv)
}

// clientIP is the visitor's address. Behind a load balancer of your own, take it from the header
// that your balancer sets instead.
func clientIP(r *http.Request) string {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return host
}

func main() {
	notTracked := os.Getenv("NOT_TRACKED_FILE")
	if notTracked == "" {
		notTracked = "glp-not-tracked.jsonl"
	}
	kept, err := os.OpenFile(notTracked, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	retryFor := client.DefaultRetryFor
	if s, err := strconv.Atoi(os.Getenv("TRACK_RETRY_SECONDS")); err == nil && s > 0 {
		retryFor = time.Duration(s) * time.Second
	}
	sidecar, err := client.New(client.Options{
		URL:         os.Getenv("SIDECAR_URL"),
		IngestToken: os.Getenv("GLP_INGEST_TOKEN"), // the sidecar's GLP_INGEST_TOKEN
		RetryFor:    retryFor,
		NotTracked:  kept,
		Logger:      slog.Default(),
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<h1>Welcome</h1>
<form method="post" action="/signup"><input name="email"><input name="order"><button>Sign up</button></form>`)
	})
	mux.HandleFunc("POST /signup", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.FormValue("order")) // missing or not a number: refused, never a stand-in id
		if err != nil {
			http.Error(w, "order: not a number", http.StatusBadRequest)
			return
		}
		order := Order{ID: id, Email: r.FormValue("email")} // your sign-up, stored first
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		answer, err := trackConversion(sidecar, r, order)
		if err != nil {
			msg := err.Error()
			if e := (*client.Error)(nil); errors.As(err, &e) && e.NotTracked {
				msg += " (kept in " + notTracked + " for replay)"
			}
			log.Printf("conversion not tracked: %s", msg) // alert on this line
			fmt.Fprintf(w, "signed up; conversion not tracked: %s", msg)
			return
		}
		fmt.Fprintf(w, "signed up; conversion %s (event %s)", answer.Status, answer.EventID)
	})
	// capture.Middleware sets the _glp_cid cookie from ?glp_click_id= on every GET, from the server.
	handler := capture.Middleware(capture.Options{})(mux)
	addr := "127.0.0.1:" + os.Getenv("PORT")
	log.Printf("listening on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, handler))
}
