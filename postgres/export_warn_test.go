package postgres

// UnverifiedTLS is unverifiedTLS, for the tests of the TLS warning that
// connect to nothing.
var UnverifiedTLS = unverifiedTLS
