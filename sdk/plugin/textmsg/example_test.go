package textmsg_test

import (
	"fmt"

	"github.com/imhook/imhook/sdk/plugin/textmsg"
)

func ExampleParse() {
	text, err := textmsg.Parse(`{"content":"hello \u003cworld\u003e"}`)
	fmt.Println(text, err)
	// Output: hello <world> <nil>
}

func ExampleEncode() {
	fmt.Println(textmsg.Encode(`say "hi" <b>`))
	// Output: {"content":"say \"hi\" \u003cb\u003e"}
}
