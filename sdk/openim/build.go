package openim

// Builders for the replies that change what OpenIM does. Every reply type can
// also be filled directly; these cover the common cases and the traps (echoed
// group fields, member lists keyed by userID). All of them continue the
// operation; combine with Stop's CommonResp to refuse instead.

// ModifyContent returns a callbackBeforeMsgModifyCommand reply that replaces
// the message content. content is the message's content document, for a text
// message e.g. {"content":"h***o"}; OpenIM's main line refuses content that is
// not a JSON object. Other fields can be set on the result (nil leaves them).
func ModifyContent(content string) *BeforeMsgModifyResp {
	return &BeforeMsgModifyResp{Content: String(content)}
}

// OfflinePushTo returns a callbackBeforeOfflinePushCommand reply that sends the
// offline push only to userIDs (an empty list keeps OpenIM's) and, when info is
// not nil, replaces the push title, text and options.
func OfflinePushTo(userIDs []string, info *OfflinePushInfo) *BeforeOfflinePushResp {
	return &BeforeOfflinePushResp{UserIDList: userIDs, OfflinePushInfo: info}
}

// GroupPushTo returns a callbackBeforeGroupOnlinePushCommand reply that pushes
// the group message only to userIDs (an empty list keeps all members).
func GroupPushTo(userIDs []string) *BeforeGroupOnlinePushResp {
	return &BeforeGroupOnlinePushResp{UserIDList: userIDs}
}

// UpdateUserInfo returns a callbackBeforeUpdateUserInfoCommand reply that
// overrides the update with each non-nil argument.
func UpdateUserInfo(nickname, faceURL, ex *string) *BeforeUpdateUserInfoResp {
	return &BeforeUpdateUserInfoResp{NickName: nickname, FaceURL: faceURL, Ex: ex}
}

// UpdateUserInfoEx is UpdateUserInfo for callbackBeforeUpdateUserInfoExCommand.
func UpdateUserInfoEx(nickname, faceURL, ex *string) *BeforeUpdateUserInfoExResp {
	return &BeforeUpdateUserInfoExResp{NickName: nickname, FaceURL: faceURL, Ex: ex}
}

// EditGroupInfo returns the neutral callbackBeforeSetGroupInfoCommand reply for
// req, with the group fields OpenIM copies unconditionally already echoed, for
// the caller to change. Starting from a zero reply instead would blank the
// group's name, introduction and avatar. It returns nil for a nil req.
func EditGroupInfo(req *BeforeSetGroupInfoReq) *BeforeSetGroupInfoResp {
	r, _ := neutralReply(BeforeSetGroupInfo, req).(*BeforeSetGroupInfoResp)
	return r
}

// EditGroupInfoEx is EditGroupInfo for callbackBeforeSetGroupInfoExCommand,
// where every field is copied: set one to nil to cancel that part of the change.
func EditGroupInfoEx(req *BeforeSetGroupInfoExReq) *BeforeSetGroupInfoExResp {
	r, _ := neutralReply(BeforeSetGroupInfoEx, req).(*BeforeSetGroupInfoExResp)
	return r
}

// JoinMembers returns a callbackBeforeMembersJoinGroupCommand reply with one
// MemberUpdate per joining member of req, carrying only its userID (OpenIM
// requires it), for the caller to fill; untouched entries change nothing.
func JoinMembers(req *BeforeMembersJoinGroupReq) *BeforeMembersJoinGroupResp {
	r := new(BeforeMembersJoinGroupResp)
	if req == nil {
		return r
	}
	r.MemberCallbackList = make([]MemberUpdate, len(req.MemberList))
	for i, m := range req.MemberList {
		r.MemberCallbackList[i].UserID = String(m.UserID)
	}
	return r
}
