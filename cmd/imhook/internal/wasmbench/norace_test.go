//go:build !race

package wasmbench

const raceEnabled = false
