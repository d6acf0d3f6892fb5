package plugins_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/limits"
)

// A tenant loads a plugin, the host asks whether it handles a command and
// calls it; a failure says which limit or fault it was. (Turning a failure
// into OpenIM's reply is the host's job: host/chain.)
func Example() {
	ctx := context.Background()
	e, err := plugins.NewEngine(ctx, plugins.EngineOptions{}) // no CacheDir: compiled code stays in memory
	if err != nil {
		panic(err)
	}
	defer e.Close(ctx)

	t, err := e.NewSandbox(plugins.SandboxOptions{ID: "acme", Limits: limits.Default()})
	if err != nil {
		panic(err)
	}
	wasm, err := os.ReadFile("testdata/echo.wasm")
	if err != nil {
		panic(err)
	}
	p, err := t.Load(ctx, "echo", wasm)
	if err != nil {
		panic(err)
	}

	const cmd = "callbackBeforeSendSingleMsgCommand"
	fmt.Println(p.Handles(cmd), p.Handles("callbackBeforeAddFriendCommand"))

	reply, _, err := p.Call(ctx, cmd, []byte(`{"hello":1}`), nil)
	fmt.Println(string(reply), err)

	// echo.wasm returns a body starting with '!' as an error message.
	_, _, err = p.Call(ctx, cmd, []byte("!no"), nil)
	fmt.Println(errors.Is(err, plugins.ErrGuestError), plugins.KindOf(err))
	// Output:
	// true false
	// {"hello":1} <nil>
	// true guest_error
}

// Every module the rewriter supports runs under an instruction budget; a
// call reports what it used. Counts are deterministic; the first call on an
// instance also pays for growing the guest's input buffer (imhook_buffer).
func ExampleCallInfo_instructions() {
	ctx := context.Background()
	e, err := plugins.NewEngine(ctx, plugins.EngineOptions{})
	if err != nil {
		panic(err)
	}
	defer e.Close(ctx)
	lim := limits.Default()
	lim.MaxInstructions = 10_000 // the smallest budget allowed
	t, err := e.NewSandbox(plugins.SandboxOptions{ID: "acme", Limits: lim})
	if err != nil {
		panic(err)
	}
	wasm, err := os.ReadFile("testdata/echo.wasm")
	if err != nil {
		panic(err)
	}
	p, err := t.Load(ctx, "echo", wasm)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Info().CPULimit)

	for range 2 {
		_, info, err := p.Call(ctx, "callbackBeforeSendSingleMsgCommand", []byte(`{"hello":1}`), nil)
		fmt.Println(info.Instructions, err)
	}
	// Output:
	// instructions
	// 42 <nil>
	// 25 <nil>
}
