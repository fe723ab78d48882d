//go:build !race

package crashtest

// raceEnabled reports whether the tests run with the race detector; the
// peers are then built with it too.
const raceEnabled = false
