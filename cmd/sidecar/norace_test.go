//go:build !race

package main

// raceTest is whether this test binary has the race detector; the sidecar
// built for the child-process tests matches it (buildBinary).
const raceTest = false
