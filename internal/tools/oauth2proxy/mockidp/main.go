// Command mockidp runs mockoidc, the test identity provider, on loopback
// for the admin-access test. Its first line on stdout is JSON: the
// issuer, the client id and secret, and a control URL; a POST to
// control+"/queue?email=E&sub=S" makes E the user of the next login. It
// runs until its stdin closes or it is killed.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/oauth2-proxy/mockoidc"
)

func main() {
	m, err := mockoidc.Run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mockidp:", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "mockidp:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /queue", func(w http.ResponseWriter, r *http.Request) {
		email, sub := r.URL.Query().Get("email"), r.URL.Query().Get("sub")
		m.QueueUser(&mockoidc.MockUser{Subject: sub, Email: email, EmailVerified: true, PreferredUsername: sub})
		w.WriteHeader(http.StatusNoContent)
	})
	go http.Serve(ln, mux)
	cfg := m.Config()
	json.NewEncoder(os.Stdout).Encode(map[string]string{
		"issuer": cfg.Issuer, "client_id": cfg.ClientID, "client_secret": cfg.ClientSecret, "control": "http://" + ln.Addr().String(),
	})
	io.Copy(io.Discard, os.Stdin)
}
