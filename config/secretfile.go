package config

import (
	"fmt"
	"os"
	"sort"
)

// secretFileWarnings warns, naming the variable and the file, of each
// secret file (variable → path; "" is none) that every user may read (its
// "other" read bit): any local account, or a process of another container
// sharing the volume, could read the token. A file its group reads is the
// Kubernetes way (root owns it, the pod's fsGroup reads it).
func secretFileWarnings(files map[string]string) []string {
	var w []string
	for name, path := range files {
		if path == "" {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm()&0o004 == 0 {
			continue
		}
		w = append(w, fmt.Sprintf("%s (%s) can be read by other users (mode %04o): chmod 600 it (or 640 for a group of its own); in Kubernetes give the secret volume defaultMode: 0440",
			name, path, fi.Mode().Perm()))
	}
	sort.Strings(w)
	return w
}

// checkBrowserCalls checks GLP_BROWSER_CALLS.
func (c *Config) checkBrowserCalls() error {
	switch c.BrowserCalls {
	case "corroborated", "open", "off":
		return nil
	}
	return &Error{"GLP_BROWSER_CALLS", fmt.Sprintf("%q is not corroborated, open or off", c.BrowserCalls)}
}
