package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// watchEvery is how often the watch looks at the file's path by itself, so
// that /readyz and the log know within a second even when nothing writes.
const watchEvery = 250 * time.Millisecond

// fileGoneMsg is what a caller is told (a 503's body): the path is for the
// log and the admin listener only.
const fileGoneMsg = unavailableMsg + ": its file was deleted, moved or replaced while the sidecar ran"

// fileWatch keeps the outbox honest about where its writes go. SQLite holds
// the file open: deleted, moved away or replaced by another file at
// GLP_DB_PATH, it would go on committing into a file that nobody will ever
// open again, and every 202 answered meanwhile would be a conversion lost
// at the next restart. So the watch compares the file the outbox opened
// (its device and inode) with a stat of the path: every watchEvery, and
// before each group commit is answered (one stat, a microsecond beside the
// commit's fsync). While they differ every write fails with an EUnavailable
// error (503 to callers, /readyz failing with the path), and the log says
// what happened once, and again once the file is back.
type fileWatch struct {
	path   string
	opened os.FileInfo
	log    *slog.Logger

	mu   sync.Mutex
	lost error // nil while the path is the file opened

	stop chan struct{}
	done chan struct{}
}

// newFileWatch remembers the file now at path as the one opened.
func newFileWatch(path string, log *slog.Logger) (*fileWatch, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return &fileWatch{path: path, opened: fi, log: log, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// check stats the path and returns nil while it is the file opened, else
// the EUnavailable error that every write gets. It logs each change.
func (fw *fileWatch) check() error {
	problem := fw.look()
	fw.mu.Lock()
	defer fw.mu.Unlock()
	switch {
	case problem != "" && fw.lost == nil:
		fw.lost = &sidecar.Error{Code: sidecar.EUnavailable, Message: fileGoneMsg, Err: errors.New(problem)}
		fw.log.Error("the outbox file is no longer at GLP_DB_PATH: conversions are refused (503) and /readyz fails until it is put back "+
			"or the sidecar restarts on a new file; the events queued in the old one are in it, not in a new one",
			"path", fw.path, "problem", problem)
	case problem == "" && fw.lost != nil:
		fw.lost = nil
		fw.log.Info("the outbox file is back at GLP_DB_PATH: conversions are stored again", "path", fw.path)
	}
	return fw.lost
}

// look says what is wrong with the path: "" when it is the file opened.
func (fw *fileWatch) look() string {
	fi, err := os.Stat(fw.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s was deleted or moved away while the sidecar ran", fw.path)
	case err != nil:
		return fmt.Sprintf("%s cannot be checked: %v", fw.path, err)
	case !os.SameFile(fi, fw.opened):
		return fmt.Sprintf("%s was replaced by another file while the sidecar ran", fw.path)
	}
	return ""
}

// run checks the path every watchEvery until close.
func (fw *fileWatch) run() {
	defer close(fw.done)
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-fw.stop:
			return
		case <-t.C:
			fw.check()
		}
	}
}

func (fw *fileWatch) close() {
	close(fw.stop)
	<-fw.done
}

// failGuarded fails every write of batch with the guard's error, if the
// file is no longer the one opened, and reports whether it did.
func (w *writer) failGuarded(batch []*op) bool {
	if w.guard == nil {
		return false
	}
	err := w.guard()
	if err == nil {
		return false
	}
	for _, o := range batch {
		w.fail(o, err)
	}
	return true
}
