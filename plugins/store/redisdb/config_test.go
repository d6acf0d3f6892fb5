package redisdb_test

import (
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/store/redisdb"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  redisdb.Config
		want string // "" means valid
	}{
		{"zero", redisdb.Config{}, ""},
		{"comma list cluster", redisdb.Config{Address: "a:1, b:2,c:3", Mode: "cluster"}, ""},
		{"sentinel", redisdb.Config{Address: "s1:26379,s2:26379", Mode: "sentinel", MasterName: "mymaster"}, ""},
		{"no port", redisdb.Config{Address: "localhost"}, `store.redis.address]: "localhost" is not host:port`},
		{"two standalone", redisdb.Config{Address: "a:1,b:2"}, "standalone mode takes one address, got 2"},
		{"sentinel without master", redisdb.Config{Mode: "sentinel"}, "store.redis.master_name]: must be set in sentinel mode"},
		{"cluster db", redisdb.Config{Mode: "cluster", DB: 2}, "a Redis Cluster has only db 0, got 2"},
		{"bad mode", redisdb.Config{Mode: "replica"}, `"replica" is not one of standalone, sentinel, cluster`},
		{"negative db", redisdb.Config{DB: -1}, "must not be negative, got -1"},
		{"brace prefix", redisdb.Config{KeyPrefix: "{x}"}, "no braces"},
		{"poll too fast", redisdb.Config{PollInterval: time.Millisecond}, "store.redis.poll_interval]: must be between 10ms and 1m, got 1ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if got := (redisdb.Config{Password: "secret", SentinelPassword: "s"}).Redacted(); got.Password != "REDACTED" || got.SentinelPassword != "REDACTED" {
		t.Fatalf("Redacted = %+v, want both passwords replaced", got)
	}
}

func TestConfigWhere(t *testing.T) {
	for _, tc := range []struct {
		cfg  redisdb.Config
		want string
	}{
		{redisdb.Config{}, "redis at 127.0.0.1:6379"},
		{redisdb.Config{Address: "s1:26379, s2:26379", Mode: "sentinel", MasterName: "mymaster"}, "redis master mymaster via sentinels s1:26379,s2:26379"},
		{redisdb.Config{Address: "a:1,b:2", Mode: "cluster"}, "redis cluster at a:1,b:2"},
	} {
		if got := tc.cfg.Where(); got != tc.want {
			t.Errorf("%+v.Where() = %q, want %q", tc.cfg, got, tc.want)
		}
	}
}
