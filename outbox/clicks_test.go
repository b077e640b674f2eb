package outbox_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/outbox"
)

func TestRecordClicksKeepsTheNewestAndSaysHowManyWentAndOnlyTopLevelLandingsMatch(t *testing.T) {
	box, err := outbox.Open(outbox.Options{Path: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	ctx := context.Background()
	now := time.Now()
	pruned := 0
	for b := 0; b < 5; b++ {
		var batch []sidecar.Click
		for i := 0; i < 10; i++ {
			batch = append(batch, sidecar.Click{ClickID: fmt.Sprintf("c-%d-%d", b, i), At: now, IP: "203.0.113.1", UserAgent: "UA", TopLevel: i%2 == 0})
		}
		n, err := box.RecordClicks(ctx, batch, 25)
		if err != nil {
			t.Fatal(err)
		}
		pruned += n
	}
	clicks, err := box.Clicks(ctx, 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(clicks) != 25 || pruned != 25 || clicks[0].ClickID != "c-4-9" || clicks[24].ClickID != "c-2-5" {
		t.Fatalf("%d clicks kept (newest %v), %d pruned: want the newest 25 and 25 pruned", len(clicks), clicks[0], pruned)
	}
	id, ok, err := box.MatchClick(ctx, "203.0.113.1", "UA", now.Add(-time.Hour))
	if err != nil || !ok || id != "c-4-8" {
		t.Errorf("matched %q %v %v, want the newest top-level landing c-4-8", id, ok, err)
	}
}
