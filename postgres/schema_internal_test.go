package postgres

import "testing"

// The store's schema is the first the URL's search_path names, $user
// aside, folded to lower case unless double-quoted; glp without one.
func TestTheSchemaIsTheSearchPathsFirst(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "glp",
		"  ":                  "glp",
		"outbox":              "outbox",
		"Outbox, public":      "outbox",
		`"$user", public`:     "public",
		`$user,app`:           "app",
		`"My ""Outbox""",app`: `My "Outbox"`,
	} {
		if got := schemaOf(in); got != want {
			t.Errorf("search_path %q: schema %q, want %q", in, got, want)
		}
	}
}
