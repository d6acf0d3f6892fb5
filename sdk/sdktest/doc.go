// Package sdktest runs an imhook plugin's handlers natively, under plain
// go test, through the same dispatch code the WebAssembly build uses: the
// request is decoded, the handler runs, a panic becomes an error, and the reply
// is encoded exactly as imhook would receive them.
//
// A plugin's test registers nothing itself: importing the plugin's package
// (the test is in package main, next to main.go) runs its init, which
// registers the handlers. Then:
//
//	func TestBlocksBannedWord(t *testing.T) {
//		h := sdktest.New(t, map[string]string{"banned_words": "spam"})
//		resp, err := sdktest.Do[openim.BeforeSendSingleMsgResp](h, &openim.BeforeSendSingleMsgReq{...})
//		if err != nil {
//			t.Fatal(err)
//		}
//		if !plugin.Stopped(resp) {
//			t.Fatalf("got %+v, want the message stopped", resp)
//		}
//	}
//
// The package runs natively only: it is empty when built for GOOS=wasip1.
package sdktest
