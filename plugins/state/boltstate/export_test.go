package boltstate

// SetBatching turns the batching of concurrent writes on or off, for the
// benchmark that measures it.
func (s *Store) SetBatching(on bool) { s.batch = on }
