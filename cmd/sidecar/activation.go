package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/glpwinner/glp-sidecar/config"
)

// Socket activation: under a systemd socket unit (deploy/systemd/), the
// listening sockets belong to systemd, which passes them to each sidecar it
// starts (LISTEN_FDS from fd 3 on, LISTEN_PID, LISTEN_FDNAMES). They stay
// open while one process stops and the next starts: a connection that
// comes meanwhile waits in the socket's queue for the next process, and is
// never refused. Names: public and admin; a single socket without a name
// is the public one.
const (
	socketPublic = "public"
	socketAdmin  = "admin"
)

// passedListeners returns the sockets systemd passed to this process: nil
// for one it did not pass (the variable's address is listened on instead),
// both nil when none were passed. A socket named otherwise, passed twice
// or not a stream socket is bad configuration, named by LISTEN_FDNAMES.
// The LISTEN_ variables are cleared, so that no child inherits them.
func passedListeners() (public, admin net.Listener, err error) {
	files := activation.Files(true) // checks LISTEN_PID against this process
	if len(files) == 0 {
		return nil, nil, nil
	}
	var lns []net.Listener
	defer func() {
		if err != nil {
			closeAll(lns...)
		}
	}()
	byName := map[string]net.Listener{}
	for i, f := range files {
		name := f.Name()
		if len(files) == 1 && strings.HasPrefix(name, "LISTEN_FD_") { // LISTEN_FDNAMES unset
			name = socketPublic
		}
		ln, lerr := net.FileListener(f)
		f.Close() // FileListener holds a copy
		if lerr != nil {
			return nil, nil, &config.Error{Var: "LISTEN_FDS", Problem: fmt.Sprintf("socket %d (%q) is not a listening stream socket: %v", i+1, name, lerr)}
		}
		lns = append(lns, ln)
		if name != socketPublic && name != socketAdmin {
			return nil, nil, &config.Error{Var: "LISTEN_FDNAMES", Problem: fmt.Sprintf("socket %d is named %q: name the sockets %s and %s (FileDescriptorName= in the socket unit)", i+1, name, socketPublic, socketAdmin)}
		}
		if byName[name] != nil {
			return nil, nil, &config.Error{Var: "LISTEN_FDNAMES", Problem: fmt.Sprintf("two sockets are named %q", name)}
		}
		byName[name] = ln
	}
	return byName[socketPublic], byName[socketAdmin], nil
}

// fromSystemd reports whether LISTEN_FDS was set for this process, before
// passedListeners clears it: for the log.
func fromSystemd() bool {
	return os.Getenv("LISTEN_FDS") != "" && os.Getenv("LISTEN_PID") == fmt.Sprint(os.Getpid())
}
