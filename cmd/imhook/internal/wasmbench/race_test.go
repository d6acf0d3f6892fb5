//go:build race

package wasmbench

// raceEnabled skips the guest test under the race detector, which slows
// wazero's compiler tenfold and checks nothing here: the test is single-threaded.
const raceEnabled = true
