package plugin

import "github.com/imhook/imhook/sdk/openim"

// ReplyPtr is the type constraint of the reply helpers: R is a reply struct of
// package openim (such as openim.BeforeSendSingleMsgResp) and *R, its pointer,
// implements openim.Reply. Callers name R and the compiler infers the pointer:
//
//	plugin.Stop[openim.BeforeSendSingleMsgResp](20001, "blocked") // *openim.BeforeSendSingleMsgResp
type ReplyPtr[R any] interface {
	*R
	openim.Reply
}

// Stop returns a reply of type R that refuses the operation: OpenIM aborts it
// and hands errCode and errMsg back to the client that asked for it.
//
//	return plugin.Stop[openim.BeforeAddFriendResp](1201, "friend requests need a message"), nil
//
// Only before-callbacks can be refused; OpenIM ignores the reply of
// after-callbacks. errCode should be an application code outside OpenIM's own
// ranges; errMsg is shown to the client, so keep secrets out of it.
func Stop[R any, P ReplyPtr[R]](errCode int32, errMsg string) P {
	return StopDetail[R, P](errCode, errMsg, "")
}

// StopDetail is Stop with an error detail (OpenIM's errDlt) for the client.
func StopDetail[R any, P ReplyPtr[R]](errCode int32, errMsg, errDetail string) P {
	r := P(new(R))
	*r.Common() = Refuse(errCode, errMsg, errDetail)
	return r
}

// Continue returns the neutral reply of type R to req: the operation goes on
// unchanged. Returning nil from a handler has the same effect and is cheaper;
// use Continue as the starting point of a reply whose command-specific fields
// you then set, for example
//
//	r := plugin.Continue[openim.BeforeMsgModifyResp](req)
//	r.Content = openim.String(masked)
//	return r, nil
//
// For most commands the neutral reply is the zero reply and req is not read
// (it may be nil). For the commands whose Command.Echoes is true
// (callbackBeforeSetGroupInfoCommand, callbackBeforeSetGroupInfoExCommand),
// OpenIM copies group fields from the reply unconditionally, so the neutral
// reply echoes them from req: Continue panics if req is not that command's
// request, because a zero reply would blank the group's profile.
func Continue[R any, P ReplyPtr[R]](req openim.Request) P {
	r := P(new(R))
	cmd := r.Command()
	if !cmd.Echoes() {
		return r
	}
	n, ok := openim.Neutral(cmd, req).(P)
	if !ok || n == nil {
		panic("plugin: Continue for " + cmd.String() + " needs that command's request, to echo the fields OpenIM copies")
	}
	return n
}

// Refuse returns the common reply fields that refuse an operation, for code
// that builds a reply struct itself:
//
//	return &openim.BeforeSendGroupMsgResp{CommonResp: plugin.Refuse(1001, "blocked", "")}, nil
//
// OpenIM stops an operation only when actionCode is 0 and nextCode is 1;
// Refuse sets exactly that.
func Refuse(errCode int32, errMsg, errDetail string) openim.CommonResp {
	return openim.CommonResp{ActionCode: 0, NextCode: 1, ErrCode: errCode, ErrMsg: errMsg, ErrDlt: errDetail}
}

// Stopped reports whether r refuses the operation by OpenIM's rule (actionCode
// 0 and nextCode 1). A nil r, the "no reply" answer, does not.
func Stopped(r openim.Reply) bool {
	if r == nil {
		return false
	}
	return r.Common().Stopped()
}
