package plugin

// arrayBatch hands out the requests of one command from arrays of
// requestBatch, so that a call pays a fraction of an allocation for its
// request instead of a whole one: inside a Go wasip1 guest an allocation of a
// request costs about 2,000 wasm instructions, a quarter of a trivial call.
// A request a handler keeps after the call keeps its array alive.
//
// It is not safe for concurrent use: the WebAssembly build uses it (a guest
// runs one call at a time); native builds allocate each request (native.go).
type arrayBatch[T any] struct{ free []T }

const requestBatch = 32

// next returns a zero T that no other call has.
func (b *arrayBatch[T]) next() *T {
	if len(b.free) == 0 {
		b.free = make([]T, requestBatch)
	}
	p := &b.free[0]
	b.free = b.free[1:]
	return p
}
