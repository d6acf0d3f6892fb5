package openim

import (
	"testing"
)

// decodeReply decodes a reply of c from JSON, failing the test on error.
func decodeReply(t *testing.T, c Command, s string) Reply {
	t.Helper()
	r := NewReply(c)
	if err := r.DecodeJSON([]byte(s)); err != nil {
		t.Fatalf("%v reply %s: %v", c, s, err)
	}
	return r
}

func decodeReq(t *testing.T, c Command, s string) Request {
	t.Helper()
	r := NewRequest(c)
	if err := r.DecodeJSON([]byte(s)); err != nil {
		t.Fatalf("%v request %s: %v", c, s, err)
	}
	return r
}

const common0 = `"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0`

func TestMerge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cmd      Command
		dst, src string
		want     string
	}{
		{
			name: "first stop wins",
			cmd:  BeforeSendSingleMsg,
			dst:  `{"nextCode":1,"errCode":1,"errMsg":"first"}`,
			src:  `{"nextCode":1,"errCode":2,"errMsg":"second"}`,
			want: `{"actionCode":0,"errCode":1,"errMsg":"first","errDlt":"","nextCode":1}`,
		},
		{
			name: "a later stop stops",
			cmd:  BeforeSendSingleMsg,
			dst:  `{}`,
			src:  `{"nextCode":1,"errCode":2,"errMsg":"second"}`,
			want: `{"actionCode":0,"errCode":2,"errMsg":"second","errDlt":"","nextCode":1}`,
		},
		{
			name: "actionCode 1 with nextCode 1 is not a stop",
			cmd:  BeforeSendSingleMsg,
			dst:  `{}`,
			src:  `{"actionCode":1,"nextCode":1}`,
			want: `{` + common0 + `}`,
		},
		{
			name: "msg modify: non-null fields carry forward",
			cmd:  BeforeMsgModify,
			dst:  `{"content":"{\"content\":\"a\"}","ex":"x"}`,
			src:  `{"content":"{\"content\":\"b\"}","msgDataList":"aGk=","options":{"a":true}}`,
			want: `{` + common0 + `,"atUserIDList":null,"attachedInfo":null,"clientMsgID":null,"content":"{\"content\":\"b\"}","contentType":null,"ex":"x","groupID":null,"msgDataList":null,"msgFrom":null,"offlinePushInfo":null,"options":{"a":true},"recvID":null,"senderFaceURL":null,"senderNickname":null,"senderPlatformID":null,"serverMsgID":null,"sessionType":null,"status":null}`,
		},
		{
			name: "offline push: empty userIDList does not replace",
			cmd:  BeforeOfflinePush,
			dst:  `{"userIDList":["a"]}`,
			src:  `{"userIDList":[],"offlinePushInfo":{"title":"t"}}`,
			want: `{` + common0 + `,"userIDList":["a"],"offlinePushInfo":{"title":"t","desc":"","ex":"","iOSPushSound":"","iOSBadgeCount":false,"signalInfo":""}}`,
		},
		{
			name: "remark: empty cannot override",
			cmd:  BeforeSetFriendRemark,
			dst:  `{"remark":"Bob"}`,
			src:  `{"remark":""}`,
			want: `{` + common0 + `,"remark":"Bob"}`,
		},
		{
			name: "members merged by userID",
			cmd:  BeforeMembersJoinGroup,
			dst:  `{"memberCallbackList":[{"userID":"a","nickname":"A"}]}`,
			src:  `{"memberCallbackList":[{"userID":"a","roleLevel":60},{"userID":"b","ex":"e"}]}`,
			want: `{` + common0 + `,"memberCallbackList":[{"userID":"a","nickname":"A","faceURL":null,"roleLevel":60,"muteEndTime":null,"ex":null},{"userID":"b","nickname":null,"faceURL":null,"roleLevel":null,"muteEndTime":null,"ex":"e"}]}`,
		},
		{
			name: "set group info ex: always copied, null cancels",
			cmd:  BeforeSetGroupInfoEx,
			dst:  `{"groupID":"g","groupName":"A","ex":"x"}`,
			src:  `{"groupID":"g","groupName":"B"}`,
			want: `{` + common0 + `,"groupID":"g","groupName":"B","notification":null,"introduction":null,"faceURL":null,"ex":null,"needVerification":null,"lookMemberInfo":null,"applyMemberFriend":null}`,
		},
		{
			name: "after command: nothing to merge",
			cmd:  AfterSendSingleMsg,
			dst:  `{"errMsg":"kept"}`,
			src:  `{"errMsg":"ignored"}`,
			want: `{"actionCode":0,"errCode":0,"errMsg":"kept","errDlt":"","nextCode":0}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst, src := decodeReply(t, tt.cmd, tt.dst), decodeReply(t, tt.cmd, tt.src)
			Merge(dst, src)
			if got := string(dst.AppendJSON(nil)); got != tt.want {
				t.Errorf("merged\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestMergeDoesNotAlias(t *testing.T) {
	t.Parallel()
	dst := decodeReply(t, BeforeImportFriends, `{}`).(*BeforeImportFriendsResp)
	src := decodeReply(t, BeforeImportFriends, `{"friendUserIDs":["a"]}`).(*BeforeImportFriendsResp)
	Merge(dst, src)
	src.FriendUserIDs[0] = "changed"
	if dst.FriendUserIDs[0] != "a" {
		t.Error("Merge shares the list with src")
	}
	// Mismatched or nil arguments are ignored rather than panicking.
	Merge(dst, NewReply(BeforeAddFriend))
	Merge(nil, src)
	Merge(dst, (*BeforeImportFriendsResp)(nil))
}

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cmd  Command
		req  string
		rep  string
		want string
	}{
		{
			name: "msg modify renames: senderFaceURL to faceURL, atUserIDList to atUserList",
			cmd:  BeforeMsgModify,
			req:  `{"callbackCommand":"callbackBeforeMsgModifyCommand","content":"a","faceURL":"f0"}`,
			rep:  `{"content":"b","senderFaceURL":"f1","atUserIDList":["u"],"recvID":"not in the request"}`,
			want: `{"sendID":"","callbackCommand":"callbackBeforeMsgModifyCommand","serverMsgID":"","clientMsgID":"","operationID":"","senderPlatformID":0,"senderNickname":"","sessionType":0,"msgFrom":0,"contentType":0,"status":0,"sendTime":0,"createTime":0,"content":"b","seq":0,"atUserList":["u"],"faceURL":"f1","ex":""}`,
		},
		{
			name: "offline push info into the embedded fields",
			cmd:  BeforeOfflinePush,
			req:  `{"callbackCommand":"callbackBeforeOfflinePushCommand","userIDList":["a","b"]}`,
			rep:  `{"userIDList":["b"],"offlinePushInfo":{"title":"T"}}`,
			want: `{"callbackCommand":"callbackBeforeOfflinePushCommand","operationID":"","platformID":0,"platform":"","userIDList":["b"],"title":"T","desc":"","ex":"","iOSPushSound":"","iOSBadgeCount":false,"signalInfo":"","clientMsgID":"","sendID":"","groupID":"","contentType":0,"sessionType":0,"atUserIDList":null,"content":""}`,
		},
		{
			name: "user info pointers",
			cmd:  BeforeUpdateUserInfo,
			req:  `{"callbackCommand":"callbackBeforeUpdateUserInfoCommand","userID":"u","nickName":"a","ex":null}`,
			rep:  `{"nickName":"b","ex":"e"}`,
			want: `{"callbackCommand":"callbackBeforeUpdateUserInfoCommand","userID":"u","nickName":"b","faceURL":null,"ex":"e"}`,
		},
		{
			name: "member ex by userID",
			cmd:  BeforeMembersJoinGroup,
			req:  `{"callbackCommand":"callbackBeforeMembersJoinGroupCommand","memberList":[{"userID":"a","ex":""},{"userID":"b","ex":""}]}`,
			rep:  `{"memberCallbackList":[{"userID":"b","ex":"vip","nickname":"not in the request"},{"userID":"z","ex":"nobody"}]}`,
			want: `{"callbackCommand":"callbackBeforeMembersJoinGroupCommand","groupID":"","memberList":[{"userID":"a","ex":""},{"userID":"b","ex":"vip"}],"groupEx":""}`,
		},
		{
			name: "conversation settings",
			cmd:  BeforeCreateSingleChatConversations,
			req:  `{"callbackCommand":"callbackBeforeCreateSingleChatConversationsCommand","isPinned":false}`,
			rep:  `{"isPinned":true,"recvMsgOpt":2}`,
			want: `{"callbackCommand":"callbackBeforeCreateSingleChatConversationsCommand","ownerUserId":"","conversationId":"","conversationType":0,"userId":"","recvMsgOpt":2,"isPinned":true,"isPrivateChat":false,"burnDuration":0,"groupAtType":0,"attachedInfo":"","ex":""}`,
		},
		{
			name: "set group info: always fields overwrite, null pointer ones do not",
			cmd:  BeforeSetGroupInfo,
			req:  `{"callbackCommand":"callbackBeforeSetGroupInfoCommand","groupID":"g","groupName":"A","ex":"x"}`,
			rep:  `{"groupID":"g","groupName":"B","needVerification":1}`,
			want: `{"callbackCommand":"callbackBeforeSetGroupInfoCommand","operationID":"","groupID":"g","groupName":"B","notification":"","introduction":"","faceURL":"","ex":"x","needVerification":1,"lookMemberInfo":0,"applyMemberFriend":0}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := decodeReq(t, tt.cmd, tt.req)
			Apply(req, decodeReply(t, tt.cmd, tt.rep))
			if got := string(req.AppendJSON(nil)); got != tt.want {
				t.Errorf("applied\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	// Mismatched or nil arguments are ignored.
	Apply(NewRequest(BeforeAddFriend), NewReply(BeforeImportFriends))
	Apply(nil, NewReply(BeforeImportFriends))
	Apply((*BeforeImportFriendsReq)(nil), NewReply(BeforeImportFriends))
}
