;; commands: handles the current command of every old name OpenIM sent, and
;; callbackBeforeMembersJoinGroupCommand, and stops each with the command it
;; was called with as errMsg, so a test sees which command a callback reached:
;;   {"actionCode":0,"errCode":7,"errMsg":"<command>","errDlt":"","nextCode":1}
;; Memory: page 0 holds the command list and the reply's two halves; the input
;; buffer is 16 KiB at 65536, the reply is built at 98304.
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackAfterQuitGroupCommand,callbackAfterKickGroupCommand,callbackAfterDisMissGroupCommand,callbackAfterGroupMsgReadCommand,callbackAfterSingleMsgReadCommand,callbackBeforeMsgModifyCommand,callbackAfterUserOnlineCommand,callbackAfterUserOfflineCommand,callbackAfterUserKickOffCommand,callbackBeforeOfflinePushCommand,callbackBeforeOnlinePushCommand,callbackBeforeGroupOnlinePushCommand,callbackAfterTransferGroupOwnerCommand,callbackBeforeSetFriendRemarkCommand,callbackAfterSetFriendRemarkCommand,callbackBeforeMembersJoinGroupCommand")
  (data (i32.const 1024) "{\"actionCode\":0,\"errCode\":7,\"errMsg\":\"")
  (data (i32.const 1088) "\",\"errDlt\":\"\",\"nextCode\":1}")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  ;; Pointer 0, length 537.
  (func (export "imhook_commands") (result i64) (i64.const 537))
  ;; (65536 << 32) | 16384.
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (if (i32.gt_u (local.get $n) (i32.const 16384)) (then (return (i64.const 0))))
    (i64.const 0x0001000000004000))
  ;; The buffer holds cmdLen bytes of command, then the body.
  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64)
    (memory.copy (i32.const 98304) (i32.const 1024) (i32.const 38))
    (memory.copy (i32.const 98342) (i32.const 65536) (local.get $cmdLen))
    (memory.copy (i32.add (i32.const 98342) (local.get $cmdLen)) (i32.const 1088) (i32.const 27))
    (i64.or (i64.shl (i64.const 98304) (i64.const 32))
            (i64.extend_i32_u (i32.add (local.get $cmdLen) (i32.const 65)))))
)
