package plugins

// The hostile and benchmark guests under testdata/ are committed as .wat with
// their .wasm, so tests need no wabt. After editing a .wat, run go generate.
//go:generate sh -c "for f in testdata/*.wat; do wat2wasm $DOLLAR{f} -o $DOLLAR{f%.wat}.wasm || exit 1; done"
