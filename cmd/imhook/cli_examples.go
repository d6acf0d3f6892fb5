package main

// clientExamples are the examples the usage of the admin API clients'
// verbs ends with (newClientFlags), by command name; docs/cli.md shows each
// with its output.
var clientExamples = map[string]string{
	"tenant create":   "imhook tenant create acme --settings settings.json",
	"tenant list":     "imhook tenant list --json",
	"tenant get":      "imhook tenant get acme",
	"tenant update":   "imhook tenant update acme --config banned_words=spam,scam --fail-closed --err-code 7001",
	"tenant delete":   "imhook tenant delete acme",
	"tenant token":    "imhook tenant token acme",
	"tenant stats":    "imhook tenant stats acme",
	"plugin push":     "imhook plugin push moderation build/moderation.wasm --activate",
	"plugin list":     "imhook plugin list moderation",
	"plugin activate": "imhook plugin activate moderation 4ce2a9ed59aa",
	"plugin rollback": "imhook plugin rollback moderation",
	"plugin delete":   "imhook plugin delete moderation 9f2a61c0e4b7",
	"plugin order":    "imhook plugin order guard moderation",
	"plugin test":     "imhook plugin test moderation --command callbackBeforeSendSingleMsgCommand --file callback.json",
}
