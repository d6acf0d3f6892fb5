package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/imhook/imhook/plugins/limits"
	"github.com/spf13/pflag"
)

// limitFlags registers a flag per limit, named after its key
// (max_instructions is --max-instructions), writing into l. suffix ends
// each flag's help (who may set it, say).
func limitFlags(fs *pflag.FlagSet, l *limits.Limits, suffix string) {
	for _, f := range limits.Fields {
		fs.Var(limitValue{f, l}, limitFlag(f), f.Doc+suffix)
	}
}

// limitFlag is the flag name of a limit.
func limitFlag(f limits.Field) string { return strings.ReplaceAll(f.Key, "_", "-") }

// limitValue is one limit as a pflag.Value.
type limitValue struct {
	f limits.Field
	l *limits.Limits
}

func (v limitValue) String() string { return v.f.Format(v.f.Get(*v.l)) }

func (v limitValue) Type() string {
	if v.f.Unit == "duration" {
		return "duration"
	}
	return "int"
}

func (v limitValue) Set(s string) error {
	if v.f.Unit == "duration" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.f.Set(v.l, int64(d))
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a whole number: %w", err)
	}
	v.f.Set(v.l, n)
	return nil
}

// changedLimits counts the limit flags given.
func changedLimits(fs *pflag.FlagSet) int {
	n := 0
	for _, f := range limits.Fields {
		if fs.Changed(limitFlag(f)) {
			n++
		}
	}
	return n
}
