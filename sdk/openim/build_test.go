package openim

import "testing"

func TestBuilders(t *testing.T) {
	t.Parallel()
	setGroup := decodeReq(t, BeforeSetGroupInfo, `{"callbackCommand":"callbackBeforeSetGroupInfoCommand","groupID":"g","groupName":"Team","faceURL":"f"}`).(*BeforeSetGroupInfoReq)
	setGroupEx := decodeReq(t, BeforeSetGroupInfoEx, `{"callbackCommand":"callbackBeforeSetGroupInfoExCommand","groupID":"g","groupName":"Team","ex":null}`).(*BeforeSetGroupInfoExReq)
	join := decodeReq(t, BeforeMembersJoinGroup, `{"callbackCommand":"callbackBeforeMembersJoinGroupCommand","memberList":[{"userID":"a"},{"userID":"b"}]}`).(*BeforeMembersJoinGroupReq)
	tests := []struct {
		name string
		rep  Reply
		want string
	}{
		{"ModifyContent", ModifyContent(`{"content":"h***o"}`), `{` + common0 + `,"atUserIDList":null,"attachedInfo":null,"clientMsgID":null,"content":"{\"content\":\"h***o\"}","contentType":null,"ex":null,"groupID":null,"msgDataList":null,"msgFrom":null,"offlinePushInfo":null,"options":null,"recvID":null,"senderFaceURL":null,"senderNickname":null,"senderPlatformID":null,"serverMsgID":null,"sessionType":null,"status":null}`},
		{"OfflinePushTo", OfflinePushTo([]string{"u"}, &OfflinePushInfo{Title: "T"}), `{` + common0 + `,"userIDList":["u"],"offlinePushInfo":{"title":"T","desc":"","ex":"","iOSPushSound":"","iOSBadgeCount":false,"signalInfo":""}}`},
		{"GroupPushTo", GroupPushTo([]string{"a", "b"}), `{` + common0 + `,"offlinePushInfo":null,"userIDList":["a","b"]}`},
		{"UpdateUserInfo", UpdateUserInfo(String("Al"), nil, nil), `{` + common0 + `,"ex":null,"faceURL":null,"nickName":"Al"}`},
		{"UpdateUserInfoEx", UpdateUserInfoEx(nil, String("f"), nil), `{` + common0 + `,"ex":null,"faceURL":"f","nickName":null}`},
		{"EditGroupInfo", func() Reply {
			r := EditGroupInfo(setGroup)
			r.Ex = String("x")
			return r
		}(), `{` + common0 + `,"groupID":"g","groupName":"Team","notification":"","introduction":"","faceURL":"f","ex":"x","needVerification":null,"lookMemberInfo":null,"applyMemberFriend":null}`},
		{"EditGroupInfoEx", EditGroupInfoEx(setGroupEx), `{` + common0 + `,"groupID":"g","groupName":"Team","notification":null,"introduction":null,"faceURL":null,"ex":null,"needVerification":null,"lookMemberInfo":null,"applyMemberFriend":null}`},
		{"JoinMembers", func() Reply {
			r := JoinMembers(join)
			r.MemberCallbackList[1].RoleLevel = Int32(60)
			return r
		}(), `{` + common0 + `,"memberCallbackList":[{"userID":"a","nickname":null,"faceURL":null,"roleLevel":null,"muteEndTime":null,"ex":null},{"userID":"b","nickname":null,"faceURL":null,"roleLevel":60,"muteEndTime":null,"ex":null}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(tt.rep.AppendJSON(nil)); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
			if tt.rep.Common().Stopped() {
				t.Error("builder reply stops the operation")
			}
		})
	}
	if EditGroupInfo(nil) != nil || EditGroupInfoEx(nil) != nil {
		t.Error("EditGroupInfo(nil) != nil")
	}
	if r := JoinMembers(nil); r == nil || r.MemberCallbackList != nil {
		t.Error("JoinMembers(nil) is not an empty reply")
	}
}
