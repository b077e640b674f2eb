package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process: the mock, the ceiling or the sidecar.
type proc struct {
	cmd    *exec.Cmd
	urls   []string
	stderr bytes.Buffer
}

var urlRe = regexp.MustCompile(`http://[0-9.:]+`)

// spawn starts exe with args and env, and waits for the first line with a URL.
func spawn(exe string, env []string, args ...string) (*proc, error) {
	p := &proc{cmd: exec.Command(exe, args...)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		p.urls = urlRe.FindAllString(s, -1)
		if len(p.urls) == 0 {
			p.stop()
			return nil, fmt.Errorf("%s %v printed no URL: %s", exe, args, p.stderr.String())
		}
		return p, nil
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s %v did not start: %s", exe, args, p.stderr.String())
	}
}

func (p *proc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	return p.cmd.Wait()
}

// usage is a process's memory and CPU, from /proc.
type usage struct {
	rss, peakRSS int64         // bytes
	cpu          time.Duration // user + system
}

func (p *proc) usage() usage {
	var u usage
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				if f[0] == "VmRSS:" {
					u.rss = kb << 10
				} else {
					u.peakRSS = kb << 10
				}
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid)); err == nil {
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 12 {
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			u.cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
		}
	}
	return u
}

// stats reads the sidecar's admin stats.
func stats(admin string) (map[string]int, error) {
	resp, err := http.Get(admin + "/admin/api/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s struct {
		States map[string]int `json:"states"`
	}
	return s.States, json.NewDecoder(resp.Body).Decode(&s)
}

// poller reads the sidecar's stats, at most every pollEvery and no more
// often than ten times what the last read took: counting the states of a
// million events takes about 100 ms, and the bench must not weigh on the
// drain it measures.
type poller struct {
	admin string
	every time.Duration
}

// next waits, reads the stats, and says when they were taken.
func (p *poller) next() (map[string]int, time.Time, error) {
	time.Sleep(max(p.every, pollEvery))
	t0 := time.Now()
	s, err := stats(p.admin)
	took := time.Since(t0)
	p.every = 10 * took
	return s, t0.Add(took / 2), err
}

// serveReady starts `sidecar serve` with env and returns it once its
// /readyz answers 200; the caller stops it.
func serveReady(ctx context.Context, exe string, env []string) (*proc, error) {
	sc, err := spawn(exe, env, "serve")
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, sc.urls[1]); err != nil {
		sc.stop()
		return nil, err
	}
	return sc, nil
}

// waitReady polls /readyz until it answers 200.
func waitReady(ctx context.Context, admin string) error {
	for ctx.Err() == nil {
		if resp, err := http.Get(admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return errors.New("the sidecar never became ready")
}
