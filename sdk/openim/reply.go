package openim

// CommonResp holds the five fields every reply has. OpenIM stops the operation
// only when ActionCode is 0 and NextCode is 1; any other combination continues
// (ActionCode != 0 means "ignore this reply's verdict", not "reject").
type CommonResp struct {
	ActionCode int32  `json:"actionCode"` // must be 0 for NextCode to count
	ErrCode    int32  `json:"errCode"`    // returned to the caller on a stop
	ErrMsg     string `json:"errMsg"`     // returned to the caller on a stop
	ErrDlt     string `json:"errDlt"`     // error detail on a stop
	NextCode   int32  `json:"nextCode"`   // 1 = stop (with ActionCode 0)
}

// Stopped reports whether OpenIM would stop the operation on this reply.
func (c *CommonResp) Stopped() bool { return c.ActionCode == 0 && c.NextCode == 1 }

// Neutral returns the reply that lets the operation continue unchanged.
//
// For most commands that is the zero reply. For callbackBeforeSetGroupInfoCommand
// and callbackBeforeSetGroupInfoExCommand (Command.Echoes), OpenIM copies group
// fields from the reply unconditionally, so the neutral reply echoes them from
// req; req must then be that command's request.
//
// # Errors
//
// It returns nil for an invalid c, and for an echoing command when req is nil or
// of another type: a zero reply there would blank the group's name and profile.
// For other commands req may be nil.
func Neutral(c Command, req Request) Reply {
	if !c.Valid() {
		return nil
	}
	return neutralReply(c, req)
}

// AppendNeutral appends the JSON of Neutral(c, req) to dst. For commands that do
// not echo it appends a precomputed constant and does not allocate. It appends
// nothing where Neutral returns nil.
func AppendNeutral(dst []byte, c Command, req Request) []byte {
	if !c.Valid() {
		return dst
	}
	if !commandInfo[c].echoes {
		return append(dst, commandInfo[c].neutral...)
	}
	r := neutralReply(c, req)
	if r == nil {
		return dst
	}
	return r.AppendJSON(dst)
}

// Stop returns c's reply that stops the operation (ActionCode 0, NextCode 1)
// with the error OpenIM hands back to its caller. It returns nil for an invalid
// c. Stopping an after-command has no effect: OpenIM ignores those replies.
func Stop(c Command, errCode int32, errMsg, errDlt string) Reply {
	r := newReply(c)
	if r == nil {
		return nil
	}
	*r.Common() = CommonResp{ErrCode: errCode, ErrMsg: errMsg, ErrDlt: errDlt, NextCode: 1}
	return r
}

// Merge overlays src on dst for a chain of plugins handling the same command:
// the first stop wins, and modifications carry forward.
//
//   - dst already stops: nothing changes.
//   - src stops: dst takes src's CommonResp (and so stops).
//   - otherwise each modification field of src replaces dst's under the
//     command's rule (non-null, non-empty or always, as OpenIM applies it);
//     member lists are merged by userID. docs/protocol.md has the table.
//
// Fields OpenIM ignores are not merged. Merge does nothing when dst or src is
// nil or the two answer different commands. Copied values never share memory
// with src.
func Merge(dst, src Reply) {
	if dst == nil || src == nil || dst.Command() != src.Command() {
		return
	}
	dc, sc := dst.Common(), src.Common()
	if dc == nil || sc == nil || dc.Stopped() {
		return
	}
	if sc.Stopped() {
		*dc = *sc
		return
	}
	mergeFields(dst, src)
}

// Apply carries rep's modifications into req, so the next plugin in a chain sees
// the request as OpenIM would after applying rep: message content and sender
// fields for callbackBeforeMsgModifyCommand, the push list and push info, user
// and group profile fields, member fields matched by userID, conversation
// settings. Only fields with a counterpart in the request are applied (the
// reply of callbackBeforeMsgModifyCommand may set recvID, groupID, options and
// more, which Merge keeps in the final reply). Apply does nothing when the types
// do not match each other or either is nil.
func Apply(req Request, rep Reply) {
	if req == nil || rep == nil || req.Command() != rep.Command() {
		return
	}
	applyFields(req, rep)
}

// String returns a pointer to v, for optional reply fields:
//
//	rep.Content = openim.String(`{"content":"***"}`)
func String(v string) *string { return &v }

// Int32 returns a pointer to v, for optional reply fields.
func Int32(v int32) *int32 { return &v }

// Int64 returns a pointer to v, for optional reply fields.
func Int64(v int64) *int64 { return &v }

// Bool returns a pointer to v, for optional reply fields.
func Bool(v bool) *bool { return &v }

// clonePtr returns a pointer to a copy of *p, or nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
