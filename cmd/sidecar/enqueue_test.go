package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/glpwinner/glp-sidecar/internal/pgtest"
)

// enqueueExamples are the apps that record an order and its conversion in
// one transaction with glp.enqueue (examples/enqueue-*): each prepares
// itself in a directory and returns it and its command line, to which the
// order id, the click id and commit or rollback are added.
var enqueueExamples = []struct {
	name, runtime, install string
	command                func(t *testing.T) (string, []string)
}{
	{"enqueue-node", "npm", "apt-get install -y nodejs npm", func(t *testing.T) (string, []string) {
		return npmCI(t, "../../examples/enqueue-node", "enqueue.js"), []string{"node", "enqueue.js"}
	}},
	{"enqueue-python", "python3", "apt-get install -y python3 python3-psycopg", func(t *testing.T) (string, []string) {
		for _, python := range []string{"python3", "/usr/bin/python3"} { // Debian's, where another python3 comes first on PATH
			if exec.Command(python, "-c", "import psycopg").Run() == nil {
				return "../../examples/enqueue-python", []string{python, "enqueue.py"}
			}
		}
		needRuntime(t, "psycopg (python3-psycopg)", "apt-get install -y python3-psycopg")
		return "", nil
	}},
}

// TestTheEnqueueExamplesCommitWithTheOrder runs each enqueue example
// against a sidecar and the mock on the throwaway cluster: an order rolled
// back leaves nothing for the mock; an order committed is delivered once,
// without anyone posting to the sidecar.
func TestTheEnqueueExamplesCommitWithTheOrder(t *testing.T) {
	skipIfShort(t, "the enqueue examples (npm ci, python3-psycopg, PostgreSQL)")
	t.Parallel()
	url := pgtest.URL(t)
	up := newCountingUpstream(t)
	start(t, fleetEnv(t, url, up.srv.URL), "serve").urls(t) // migrated: glp.enqueue is there
	for _, ex := range enqueueExamples {
		t.Run(ex.name, func(t *testing.T) {
			needRuntime(t, ex.runtime, ex.install)
			dir, argv := ex.command(t)
			run := func(order, outcome string) string {
				cmd := exec.Command(argv[0], append(argv[1:], order, "click-"+order, outcome)...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s %s: %v\n%s", order, outcome, err, out)
				}
				return string(out)
			}
			declined, paid := ex.name+"-declined", ex.name+"-paid"
			if out := run(declined, "rollback"); !strings.Contains(out, `"stored": false`) && !strings.Contains(out, `"stored":false`) {
				t.Fatalf("rolled back: %s", out)
			}
			if out := run(paid, "commit"); !strings.Contains(out, "event_id") {
				t.Fatalf("committed: %s", out)
			}
			waitFor(t, func() bool { return up.recorded(t)["click-"+paid] == 1 })
			time.Sleep(500 * time.Millisecond) // a second send, or the rolled-back one, would land by now
			up.mu.Lock()
			posts, rolled := up.posts["click-"+paid], up.posts["click-"+declined]
			up.mu.Unlock()
			if posts != 1 || rolled != 0 || up.recorded(t)["click-"+declined] != 0 {
				t.Fatalf("the committed order's conversion was posted %d times (want 1), the rolled-back one's %d (want 0)", posts, rolled)
			}
		})
	}
}
