package sidecar_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// apache20 is the SHA-256 of the Apache License 2.0 exactly as the Apache
// Software Foundation publishes it (https://www.apache.org/licenses/LICENSE-2.0.txt,
// 201 lines with the appendix), the text legal teams compare against.
const apache20 = "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4"

func TestTheLicenseIsTheApacheLicense20Unchanged(t *testing.T) {
	b, err := os.ReadFile("LICENSE")
	if err != nil {
		t.Fatalf("no LICENSE file: no legal team can approve the project without one (%v)", err)
	}
	if !strings.Contains(string(b), "Apache License\n                           Version 2.0, January 2004") {
		t.Fatal("LICENSE is not the Apache License, Version 2.0")
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != apache20 {
		t.Errorf("LICENSE differs from the Apache License 2.0's published text (sha256 %s, want %s): copy it unchanged", got, apache20)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "[Apache License 2.0](LICENSE)") {
		t.Error("README.md does not name the license with a link to LICENSE")
	}
	// The module's entry points name it too, for a file read apart from the
	// tree (LICENSE covers the whole module; pkg.go.dev reads it there).
	for _, f := range []string{"doc.go", "cmd/sidecar/main.go"} {
		b, err := os.ReadFile(f)
		if err != nil || !strings.HasPrefix(string(b), "// SPDX-License-Identifier: Apache-2.0\n\n") {
			t.Errorf("%s does not start with // SPDX-License-Identifier: Apache-2.0 and a blank line (%v)", f, err)
		}
	}
}
