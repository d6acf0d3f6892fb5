package wasmcheck

import (
	"fmt"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// code checks the code section: one body per declared function, each within
// the per-function limits.
func (c *checker) code(r *wasmbin.Reader) error {
	c.hasCode = true
	n, err := count(r, "function bodies", 2)
	if err != nil {
		return fmt.Errorf("code section: %w", err)
	}
	if n != c.declared {
		return fmt.Errorf("%w: code section: %d function bodies for %d declared functions", ErrMalformed, n, c.declared)
	}
	for i := range n {
		idx := c.imported + i // the function's index, as tools print it
		if err := c.body(r, idx); err != nil {
			return within(fmt.Sprintf("function[%d]", idx), err)
		}
	}
	return nil
}

// body checks one function body: its size, its locals, and its code's
// nesting and control flow.
func (c *checker) body(r *wasmbin.Reader, idx uint32) error {
	size, err := r.U32()
	if err != nil {
		return err
	}
	if err := c.figure(uint64(size), limFunctionBytes, "is %d bytes long"); err != nil {
		return err
	}
	b, err := r.Next(int(size))
	if err != nil {
		return err
	}
	br := wasmbin.NewReader(b)
	groups, err := count(br, "local declarations", 2)
	if err != nil {
		return err
	}
	var locals uint64
	for range groups {
		n, err := br.U32()
		if err != nil {
			return err
		}
		if err := valType(br); err != nil {
			return err
		}
		locals += uint64(n)
	}
	if err := c.figure(locals, limLocals, "declares %d locals"); err != nil {
		return err
	}
	depth, control, err := c.instructions(br, idx)
	if err != nil {
		return err
	}
	if err := c.figure(uint64(depth), limNesting, "nests blocks %d deep"); err != nil {
		return err
	}
	return c.figure(control, limControl, "has control flow of weight %d (blocks and branch targets 1, ifs 2, loops 5)")
}

// Weights of the control figure (Limits.Control), from the compile time of
// a function made of nothing else, metered: for n of them it grows as n²
// times 4e-9 s for blocks, 1.2e-8 for br_if, 1.7e-8 for ifs, 1.8e-7 for
// loops. With these weights the costliest function of each kind that the
// limit lets through compiles in about a second (BenchmarkCompileAtLimits).
const (
	weightBlock = 1
	weightIf    = 2
	weightLoop  = 5
)

var weights = [...]uint64{wasmbin.OpBlock: weightBlock, wasmbin.OpLoop: weightLoop, wasmbin.OpIf: weightIf}

// instructions walks a body's code to its final end and returns its deepest
// nesting of blocks and its control figure.
func (c *checker) instructions(r *wasmbin.Reader, idx uint32) (maxDepth uint32, control uint64, err error) {
	var depth uint32
	for {
		in, err := r.Instr()
		if err != nil {
			return 0, 0, err
		}
		switch in.Op {
		case wasmbin.OpBlock, wasmbin.OpLoop, wasmbin.OpIf:
			depth++
			maxDepth = max(maxDepth, depth)
			control += weights[in.Op]
		case wasmbin.OpEnd:
			if depth == 0 {
				return maxDepth, control, finished(r, "function")
			}
			depth--
		case wasmbin.OpBr, wasmbin.OpBrIf:
			control++
		case wasmbin.OpBrTable:
			// Instr skipped the labels; their count is the first immediate.
			n, _ := wasmbin.NewReader(r.Bytes()[in.Start+1 : in.End]).U32()
			control += uint64(n) + 1
		case wasmbin.OpPrefixFC:
			if in.Sub == wasmbin.FCTableGrow && c.growsAt < 0 {
				c.growsAt = int64(idx)
			}
		}
	}
}
