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
	"context"
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

// signupWait is how long a sign-up's answer waits for the sidecar's: past it (the sidecar is
// restarting), the visitor is answered and the conversion goes on being retried in the background.
// Never hold the visitor for the whole retry: behind the sidecar, the sign-up's own request is
// one that a stopping sidecar waits for before the next one can start.
const signupWait = 3 * time.Second

// conversion is what your sign-up knows, for the sidecar.
func conversion(r *http.Request, o Order) client.Conversion {
	conv := client.Conversion{
		Email:        o.Email,
		IP:           clientIP(r),
		ConversionID: strconv.Itoa(o.ID), // a string: a number is refused with 400
	}
	if ck, err := r.Cookie("_glp_cid"); err == nil {
		conv.ClickID = ck.Value // set by capture.Middleware when the visitor landed
	}
	return conv
}

// tracked is how a conversion ended.
type tracked struct {
	answer client.Answer
	err    error
}

// track posts one conversion to the sidecar in the background. The client retries a connection
// error, a timeout and a 5xx with the order id as the Idempotency-Key; it ends with an error for
// a 4xx (a field is wrong and would fail again as it is) or once it gave up (the conversion is
// then in NOT_TRACKED_FILE). Either way the outcome is logged.
func track(c *client.Client, conv client.Conversion, notTracked string) <-chan tracked {
	done := make(chan tracked, 1)
	go func() {
		answer, err := c.Track(context.Background(), conv)
		if err != nil {
			msg := err.Error()
			if e := (*client.Error)(nil); errors.As(err, &e) && e.NotTracked {
				msg += " (kept in " + notTracked + " for replay)"
			}
			err = errors.New(msg)
			log.Printf("conversion not tracked: %s", msg) // alert on this line
		}
		done <- tracked{answer, err}
	}()
	return done
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
		select {
		case t := <-track(sidecar, conversion(r, order), notTracked):
			if t.err != nil {
				fmt.Fprintf(w, "signed up; conversion not tracked: %v", t.err)
				return
			}
			fmt.Fprintf(w, "signed up; conversion %s (event %s)", t.answer.Status, t.answer.EventID)
		case <-time.After(signupWait):
			fmt.Fprint(w, "signed up; conversion pending: the sidecar has not answered yet, retrying in the background")
		}
	})
	// capture.Middleware sets the _glp_cid cookie from ?glp_click_id= on every GET, from the server.
	handler := capture.Middleware(capture.Options{})(mux)
	addr := "127.0.0.1:" + os.Getenv("PORT")
	log.Printf("listening on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, handler))
}
