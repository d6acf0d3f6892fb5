//go:build !race

package main

// goGuestUnderRace is true without -race; see cli_race_test.go.
const goGuestUnderRace = true
