package redisdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// seenFile is what a replica remembers of the store across restarts: the
// newest revision it saw and the epoch that revision belongs to. A replica
// that starts against a Redis holding less knows Redis lost data, even when
// no replica that saw the loss is running.
type seenFile struct {
	Epoch    uint64 `json:"epoch"`
	Revision uint64 `json:"revision"`
}

// readSeen reads path; a missing file (a new replica) is the zero value.
func readSeen(path string) (seenFile, error) {
	var s seenFile
	if path == "" {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read %s: %w; it holds the newest store revision this replica saw: delete it only if you know Redis is right", path, err)
	}
	return s, nil
}

// writeSeen replaces path atomically (write, fsync, rename).
func writeSeen(path string, s seenFile) error {
	if path == "" {
		return nil
	}
	b, _ := json.Marshal(s)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
