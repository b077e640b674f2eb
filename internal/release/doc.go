// Package release holds no code: its tests check what a release is made of
// (.goreleaser.yaml, the GitHub workflows, the release scripts, the image
// pins of the manifests and Compose files, CHANGELOG.md) with the real
// tools, GoReleaser and actionlint, built from tools/.
package release
