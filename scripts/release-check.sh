#!/usr/bin/env sh
# Before a release (the release workflow runs it on the tag; run it yourself before tagging):
# the version is a semantic version, CHANGELOG.md has its section with a date, and every manifest
# and Compose file names the image of that version. A pre-release (0.4.0-rc.1) keeps the pins.
# Usage: scripts/release-check.sh VERSION     (0.4.0, no v)
set -eu
cd "$(dirname "$0")/.."
version=${1:?usage: release-check.sh VERSION}
fail=0
if ! echo "$version" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'; then
  echo "release-check: $version is not a semantic version such as 0.4.0 (tag v0.4.0)"; exit 1
fi
if ! grep -Eq "^## \[$version\] - [0-9]{4}-[0-9]{2}-[0-9]{2}$" CHANGELOG.md; then
  echo "release-check: CHANGELOG.md has no heading '## [$version] - YYYY-MM-DD': move Unreleased under it"; fail=1
fi
case $version in
*-*) ;; # a pre-release: manifests keep naming the last release
*)
  for f in deploy/kubernetes/*.yaml docker/*.yaml; do
    grep -o 'ghcr.io/glpwinner/glp-sidecar:[0-9A-Za-z.+-]*' "$f" | while read -r image; do
      if [ "$image" != "ghcr.io/glpwinner/glp-sidecar:$version" ]; then
        echo "release-check: $f names $image, not ghcr.io/glpwinner/glp-sidecar:$version"; exit 1
      fi
    done || fail=1
  done
  ;;
esac
exit $fail
