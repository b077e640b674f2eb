package pgtest

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// Crash stops the cluster as a crash would, and waits for the server to
// exit: `pg_ctl stop -m immediate` (immediate; the next start recovers
// from the WAL) or a SIGKILL of the postmaster (its backends notice and
// exit). Start brings it back.
func (c *Cluster) Crash(immediate bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.server == nil {
		return errors.New("pgtest: the cluster is not running")
	}
	defer func() { c.server = nil }()
	if immediate {
		if out, err := c.run("pg_ctl", "stop", "-m", "immediate", "-D", c.data()); err != nil {
			return fmt.Errorf("pg_ctl stop -m immediate: %v: %s", err, out)
		}
	} else {
		c.server.Process.Signal(syscall.SIGKILL)
	}
	select {
	case <-c.exited:
		return nil
	case <-time.After(60 * time.Second):
		return errors.New("postgres did not exit within a minute")
	}
}

// Restart starts the cluster again after a Crash, retrying for up to a
// minute while the killed postmaster's backends still hold its shared
// memory.
func (c *Cluster) Restart() error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := c.Start()
		if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "exited") {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}
