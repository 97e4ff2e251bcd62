//go:build race

package notify

// raceEnabled: the race detector slows byte loops about tenfold, so the
// big-data tests use smaller inputs under it.
const raceEnabled = true
