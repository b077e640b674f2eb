package sidecar_test

import (
	"testing"

	sidecar "github.com/glpwinner/glp-sidecar"
)

func TestMaskingKeepsOnlyWhatAnOperatorNeeds(t *testing.T) {
	for in, want := range map[string]string{"pat@example.com": "p•••@example.com", "x": "", "": ""} {
		if got := sidecar.MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}
