package config

import (
	"fmt"
	"os"
	"sort"
)

// secretFileWarnings warns, naming the variable and the file, of each
// secret file (variable → path; "" is none) that users other than its
// owner may read: any local account, or a process of another container
// sharing the volume, could read the token.
func secretFileWarnings(files map[string]string) []string {
	var w []string
	for name, path := range files {
		if path == "" {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		w = append(w, fmt.Sprintf("%s (%s) can be read by other users (mode %04o): chmod 600 it, or in Kubernetes give the secret volume defaultMode: 0400",
			name, path, fi.Mode().Perm()))
	}
	sort.Strings(w)
	return w
}
