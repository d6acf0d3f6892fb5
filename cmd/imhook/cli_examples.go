package main

// clientExamples are the examples the usage of the admin API clients'
// verbs ends with (newClientFlags), by command name; docs/cli.md shows each
// with its output.
var clientExamples = map[string]string{
	"tenant create":    "imhook tenant create acme --settings settings.json",
	"tenant list":      "imhook tenant list --json",
	"tenant get":       "imhook tenant get acme",
	"tenant update":    "imhook tenant update acme --config banned_words=spam,scam --fail-closed --err-code 7001",
	"tenant delete":    "imhook tenant delete acme",
	"tenant token":     "imhook tenant token acme",
	"tenant stats":     "imhook tenant stats acme",
	"plugin push":      "imhook plugin push moderation build/moderation.wasm --activate",
	"plugin list":      "imhook plugin list moderation",
	"plugin activate":  "imhook plugin activate moderation 4ce2a9ed59aa",
	"plugin rollback":  "imhook plugin rollback moderation",
	"plugin delete":    "imhook plugin delete moderation 9f2a61c0e4b7",
	"plugin order":     "imhook plugin order guard moderation",
	"plugin test":      "imhook plugin test moderation --command callbackBeforeSendSingleMsgCommand --file callback.json",
	"queue stats":      "imhook queue stats --tenant acme",
	"queue dead list":  "imhook queue dead list --tenant acme --limit 20",
	"queue dead show":  "imhook queue dead show 0f9c2b7e1d4a4c6b8e2f3a5d7c9b1e0f --tenant acme",
	"queue dead retry": "imhook queue dead retry --all --tenant acme",
	"queue dead purge": "imhook queue dead purge 0f9c2b7e1d4a4c6b8e2f3a5d7c9b1e0f --tenant acme",
	"secret set":       "imhook secret set acme api_token < token.txt",
	"secret list":      "imhook secret list acme",
	"secret delete":    "imhook secret delete acme api_token",
	"store status":     "imhook store status",
	"store accept":     "imhook store accept --revision 0",
	"kv list":          "imhook kv list acme --prefix rate:",
	"kv get":           "imhook kv get acme rate:user_a",
	"kv set":           "imhook kv set acme banned_words --file words.txt",
	"kv del":           "imhook kv del acme rate:user_a",
}
