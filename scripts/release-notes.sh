#!/usr/bin/env sh
# Prints the section of CHANGELOG.md for one version (without its heading): the release notes of
# the GitHub release. Fails when CHANGELOG.md has no such section.
# Usage: scripts/release-notes.sh VERSION     (0.4.0, no v)
set -eu
cd "$(dirname "$0")/.."
version=${1:?usage: release-notes.sh VERSION}
awk -v v="$version" '
  index($0, "## [" v "]") == 1 { found = 1; next }
  found && /^## \[/ { exit }
  found && /^\[[^]]*\]: / { exit }
  found { print }
  END { if (!found) { print "CHANGELOG.md has no section ## [" v "]" > "/dev/stderr"; exit 1 } }
' CHANGELOG.md
