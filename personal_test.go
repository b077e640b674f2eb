package sidecar_test

import (
	"strings"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

func TestEmailAndIPGoUpstreamOnlyWhenNothingElseAttributesTheEvent(t *testing.T) {
	full := sidecar.Conversion{ClickID: "c", SessionToken: "s", Email: "e@example.com", IP: "203.0.113.1", ConversionID: "o"}
	for _, tt := range []struct {
		name   string
		c      sidecar.Conversion
		policy sidecar.SendPolicy
		want   string
	}{
		{"a click id", sidecar.Conversion{ClickID: "c", Email: "e@example.com", IP: "203.0.113.1"}, sidecar.SendWhenNeeded, "transaction_id"},
		{"a session token", sidecar.Conversion{SessionToken: "s", Email: "e@example.com", IP: "203.0.113.1"}, sidecar.SendWhenNeeded, "session_token"},
		{"neither: a soft match", sidecar.Conversion{Email: "e@example.com", IP: "203.0.113.1", ConversionID: "o"}, sidecar.SendWhenNeeded, "email,ip,conversion_id"},
		{"the policy unset is when-needed", full, "", "transaction_id,session_token,conversion_id"},
		{"always", full, sidecar.SendAlways, "transaction_id,session_token,email,ip,conversion_id"},
	} {
		if got := strings.Join(tt.c.SentFields(tt.policy), ","); got != tt.want {
			t.Errorf("%s: sent %s, want %s", tt.name, got, tt.want)
		}
	}
	for in, want := range map[string]sidecar.SendPolicy{"": sidecar.SendWhenNeeded, "when-needed": sidecar.SendWhenNeeded, " always ": sidecar.SendAlways} {
		if p, err := sidecar.ParseSendPolicy(in); err != nil || p != want {
			t.Errorf("%q: %q %v", in, p, err)
		}
	}
	if _, err := sidecar.ParseSendPolicy("never"); err == nil {
		t.Error("never was taken")
	}
}

// chain makes n chained lines after anchor.
func chain(anchor string, n int) []sidecar.AuditEntry {
	var out []sidecar.AuditEntry
	seq, prev := int64(0), anchor
	for i := range n {
		e := sidecar.AuditEntry{At: time.Unix(int64(1_800_000_000+i), 0), User: "alice@clinic.example", Client: "10.0.0.1", Action: "event.read", Target: "event 1", Status: 200}.Chain(seq, prev)
		seq, prev = e.Seq, e.Hash
		out = append(out, e)
	}
	return out
}

func TestTheAuditChainCatchesAnEditedADeletedAndAReorderedLine(t *testing.T) {
	check := func(anchor string, lines []sidecar.AuditEntry) (int, error) {
		v := sidecar.NewAuditVerifier(anchor)
		for _, l := range lines {
			if err := v.Check(l); err != nil {
				return v.Lines, err
			}
		}
		return 0, nil
	}
	if bad, err := check("", chain("", 5)); err != nil {
		t.Fatalf("an intact chain: line %d: %v", bad, err)
	}
	edited := chain("", 5)
	edited[2].User = "mallory@clinic.example"
	deleted := append(chain("", 5)[:1:1], chain("", 5)[2:]...)
	swapped := chain("", 5)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	retained := chain("anchor-hash", 5)
	for _, tt := range []struct {
		name   string
		anchor string
		lines  []sidecar.AuditEntry
		line   int
	}{
		{"an edited line", "", edited, 3},
		{"a deleted line", "", deleted, 2},
		{"two lines swapped", "", swapped, 2},
		{"the first lines deleted past the anchor", "anchor-hash", retained[1:], 1},
		{"a retained log checked without its anchor", "", retained, 1},
	} {
		if bad, err := check(tt.anchor, tt.lines); err == nil || bad != tt.line {
			t.Errorf("%s: caught at line %d (%v), want line %d", tt.name, bad, err, tt.line)
		}
	}
}
