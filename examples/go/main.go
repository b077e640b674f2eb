// Command provider-app is a provider's Go app that keeps the affiliate's click id itself, with
// glp-sidecar's capture.Middleware (no proxy in front), and posts conversions to the sidecar as
// server calls.
//
//	SIDECAR_URL=http://127.0.0.1:8787 GLP_INGEST_TOKEN=… PORT=3000 go run .
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/glpwinner/glp-sidecar/capture" // see go.mod: a replace directive to your copy
)

// Order is your sign-up: its id is a number, as it usually is.
type Order struct {
	ID    int
	Email string
}

var client = &http.Client{Timeout: 5 * time.Second}

// trackConversion posts one conversion to the sidecar. It returns an error for anything but 202
// (queued) or 200 (duplicate): a 4xx says which field is wrong and will fail again if retried as
// it is; a 5xx stored nothing, so retry later.
func trackConversion(r *http.Request, o Order) (status, eventID string, err error) {
	var clickID *string // null when the visitor came without one
	if c, err := r.Cookie("_glp_cid"); err == nil {
		clickID = &c.Value // set by capture.Middleware when the visitor landed
	}
	body, err := json.Marshal(map[string]any{
		"glpClickId":    clickID,
		"email":         o.Email,
		"ip":            clientIP(r),
		"conversion_id": strconv.Itoa(o.ID), // a string: a number is refused with 400
	})
	if err != nil {
		return "", "", err
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, os.Getenv("SIDECAR_URL")+"/glp-s2s-conversion", bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+os.Getenv("GLP_INGEST_TOKEN")) // the sidecar's GLP_INGEST_TOKEN
	resp, err := client.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("sidecar unreachable: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("sidecar answered %d: %s", resp.StatusCode, raw)
	}
	var answer struct {
		Status  string `json:"status"` // "queued" or "duplicate"
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return "", "", fmt.Errorf("sidecar answered %d with %q: %w", resp.StatusCode, raw, err)
	}
	return answer.Status, answer.EventID, nil
}

// clientIP is the visitor's address. Behind a load balancer of your own, take it from the header
// that your balancer sets instead.
func clientIP(r *http.Request) string {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return host
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<h1>Welcome</h1>
<form method="post" action="/signup"><input name="email"><input name="order"><button>Sign up</button></form>`)
	})
	mux.HandleFunc("POST /signup", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.FormValue("order"))
		if err != nil {
			http.Error(w, "order: not a number", http.StatusBadRequest)
			return
		}
		order := Order{ID: id, Email: r.FormValue("email")} // your sign-up, stored first
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		status, eventID, err := trackConversion(r, order)
		if err != nil {
			log.Printf("conversion not tracked: %v", err) // alert on this line
			fmt.Fprintf(w, "signed up; conversion not tracked: %v", err)
			return
		}
		fmt.Fprintf(w, "signed up; conversion %s (event %s)", status, eventID)
	})
	// capture.Middleware sets the _glp_cid cookie from ?glp_click_id= on every GET, from the server.
	handler := capture.Middleware(capture.Options{})(mux)
	addr := "127.0.0.1:" + os.Getenv("PORT")
	log.Printf("listening on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, handler))
}
