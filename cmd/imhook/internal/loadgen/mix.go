package loadgen

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Callback is one kind of request of a Mix: an OpenIM callback command, its
// body, and how often it is sent relative to the others.
type Callback struct {
	// Name labels the callback in reports, for example "single-text-banned".
	Name string
	// Command is the callbackCommand, sent as the last path segment.
	Command string
	// Body is the JSON body.
	Body []byte
	// Weight is the callback's share of the mix, relative to the others' (>0).
	Weight int
	// Refused reports whether the moderation example, configured with
	// banned_words=BannedWord, refuses this callback (a stop reply).
	Refused bool
}

// Mix is the set of callbacks a run sends, each in proportion to its weight.
type Mix []Callback

// BannedWord is the word DefaultMix puts in the messages the moderation
// example must refuse; configure the tenant with banned_words=BannedWord.
const BannedWord = "spam"

// DefaultMix is the callback mix of the side-by-side benchmark, shaped like a
// chat service's webhook traffic: mostly before-send text messages, one in
// eight holding a banned word, some pictures (not moderated), read receipts,
// a friend request and an after-send notification. Bodies are the catalog
// examples (docs/protocol.md) with the content varied.
func DefaultMix() Mix {
	return Mix{
		{"single-text", "callbackBeforeSendSingleMsgCommand", msgBody("callbackBeforeSendSingleMsgCommand", 1, 101, "see you at the station at eight, bring the tickets", `"recvID":"user_b"`), 35, false},
		{"single-text-banned", "callbackBeforeSendSingleMsgCommand", msgBody("callbackBeforeSendSingleMsgCommand", 1, 101, "cheap SPAM offer, click now", `"recvID":"user_b"`), 5, true},
		{"group-text", "callbackBeforeSendGroupMsgCommand", msgBody("callbackBeforeSendGroupMsgCommand", 3, 101, "the meeting moved to room 4, same time", `"groupID":"3917201845"`), 25, false},
		{"group-text-banned", "callbackBeforeSendGroupMsgCommand", msgBody("callbackBeforeSendGroupMsgCommand", 3, 101, "win money: reply spam to join", `"groupID":"3917201845"`), 5, true},
		{"single-picture", "callbackBeforeSendSingleMsgCommand", msgBody("callbackBeforeSendSingleMsgCommand", 1, 102, "", `"recvID":"user_b"`), 5, false},
		{"group-read", "callbackAfterGroupMsgReadCommand", []byte(`{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"user_b","receiveID":"user_b","unreadMsgNum":42,"contentType":3}`), 10, false},
		{"add-friend", "callbackBeforeAddFriendCommand", []byte(`{"callbackCommand":"callbackBeforeAddFriendCommand","fromUserID":"user_a","toUserID":"user_b","reqMsg":"Hi, I'm Alice","ex":""}`), 10, false},
		{"group-sent", "callbackAfterSendGroupMsgCommand", msgBody("callbackAfterSendGroupMsgCommand", 3, 101, "the meeting moved to room 4, same time", `"groupID":"3917201845"`), 5, false},
	}
}

// msgBody is a message callback body as OpenIM sends it. A picture
// (contentType 102) gets a picture element as its content.
func msgBody(command string, sessionType, contentType int, text, peer string) []byte {
	content := `{\"content\":\"` + text + `\"}`
	if contentType == 102 {
		content = `{\"sourcePicture\":{\"url\":\"https://example.com/p.jpg\",\"width\":640,\"height\":480}}`
	}
	return fmt.Appendf(nil, `{"sendID":"user_a","callbackCommand":"%s","serverMsgID":"a3f1c9e2b7d84e0f9c1a2b3c4d5e6f70",`+
		`"clientMsgID":"5e8a2d1f0c9b4a7e8d6c5b4a39281706","operationID":"1719812345678-abcd-op","senderPlatformID":1,`+
		`"senderNickname":"Alice","sessionType":%d,"msgFrom":100,"contentType":%d,"status":1,"sendTime":1719812345678,`+
		`"createTime":1719812345600,"content":"%s","seq":0,"atUserList":null,"faceURL":"https://example.com/a.png","ex":"",%s}`,
		command, sessionType, contentType, content, peer)
}

// Validate checks that every callback has a command, a body and a positive
// weight.
func (m Mix) Validate() error {
	if len(m) == 0 {
		return errors.New("loadgen: the mix is empty")
	}
	for i, c := range m {
		if c.Command == "" || len(c.Body) == 0 || c.Weight <= 0 {
			return fmt.Errorf("loadgen: mix callback[%d] %q needs a command, a body and a weight > 0", i, c.Name)
		}
	}
	return nil
}

// schedule expands the mix into a shuffled sequence of indexes in which each
// callback appears Weight times; workers walk it from different offsets. The
// shuffle is seeded so every run, and every variant of a comparison, sends
// the same sequence.
func (m Mix) schedule() []int {
	var s []int
	for i, c := range m {
		for range c.Weight {
			s = append(s, i)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}
