//go:build tools

// Package oauth2proxy pins the tools of the admin-access test
// (cmd/sidecar's TestTwoProxyNamedUsersAreInTheAuditWithNothingPersonal):
// a real oauth2-proxy, built from the Go module proxy, and mockoidc, the
// test identity provider. A module of its own, so that oauth2-proxy's
// dependency tree stays out of the sidecar's go.mod.
package oauth2proxy

import (
	_ "github.com/oauth2-proxy/mockoidc"
	_ "github.com/oauth2-proxy/oauth2-proxy/v7"
)
