// Command every is a raw ABI v1 test guest (no SDK) for the serving path's
// end-to-end tests. It declares every OpenIM callback command and answers each
// with a reply that continues the operation but is not the neutral one
// (actionCode 1), so a test can tell that the call went through the sandbox.
// A body containing "fail-me" makes it return an error result instead.
//
// Built by the host tests with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
package main

import (
	"bytes"
	"unsafe"
)

func main() {}

var (
	input    []byte // the host writes command+body here
	reply    = []byte(`{"actionCode":1,"errCode":0,"errMsg":"every","errDlt":"","nextCode":0}`)
	failMsg  = []byte("every: asked to fail")
	commands = []byte("callbackBeforeSendSingleMsgCommand,callbackAfterSendSingleMsgCommand,callbackBeforeSendGroupMsgCommand,callbackAfterSendGroupMsgCommand,callbackBeforeMsgModifyCommand,callbackAfterMsgSaveDBCommand,callbackAfterGroupMsgReadCommand,callbackAfterSingleMsgReadCommand,callbackBeforeAfterMsgCommand,callbackAfterUserOnlineCommand,callbackAfterUserOfflineCommand,callbackAfterUserKickOffCommand,callbackBeforeOfflinePushCommand,callbackBeforeOnlinePushCommand,callbackBeforeGroupOnlinePushCommand,callbackBeforeAddFriendCommand,callbackAfterAddFriendCommand,callbackBeforeAddFriendAgreeCommand,callbackAfterAddFriendAgreeCommand,callbackAfterDeleteFriendCommand,callbackBeforeImportFriendsCommand,callbackAfterImportFriendsCommand,callbackBeforeSetFriendRemarkCommand,callbackAfterSetFriendRemarkCommand,callbackBeforeAddBlackCommand,callbackAfterRemoveBlackCommand,callbackBeforeUpdateUserInfoCommand,callbackAfterUpdateUserInfoCommand,callbackBeforeUpdateUserInfoExCommand,callbackAfterUpdateUserInfoExCommand,callbackBeforeUserRegisterCommand,callbackAfterUserRegisterCommand,callbackBeforeCreateGroupCommand,callbackAfterCreateGroupCommand,callbackBeforeMembersJoinGroupCommand,callbackBeforeSetGroupMemberInfoCommand,callbackAfterSetGroupMemberInfoCommand,callbackAfterQuitGroupCommand,callbackAfterKickGroupCommand,callbackAfterDisMissGroupCommand,callbackBeforeJoinGroupCommand,callbackAfterJoinGroupCommand,callbackBeforeInviteJoinGroupCommand,callbackAfterTransferGroupOwnerCommand,callbackBeforeSetGroupInfoCommand,callbackAfterSetGroupInfoCommand,callbackBeforeSetGroupInfoExCommand,callbackAfterSetGroupInfoExCommand,callbackBeforeCreateSingleChatConversationsCommand,callbackAfterCreateSingleChatConversationsCommand,callbackBeforeCreateGroupChatConversationsCommand,callbackAfterCreateGroupChatConversationsCommand")
)

func pack(b []byte) uint64 {
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

//go:wasmexport imhook_abi_version
func abiVersion() int32 { return 1 }

//go:wasmexport imhook_commands
func imhookCommands() uint64 { return pack(commands) }

//go:wasmexport imhook_buffer
func imhookBuffer(n int32) uint64 {
	if int(n) > cap(input) {
		input = make([]byte, n)
	}
	input = input[:cap(input)]
	return pack(input)
}

//go:wasmexport imhook_handle
func imhookHandle(cmdLen, bodyLen int32) uint64 {
	if bytes.Contains(input[cmdLen:cmdLen+bodyLen], []byte("fail-me")) {
		return 1<<63 | pack(failMsg)
	}
	return pack(reply)
}
