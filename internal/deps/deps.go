package deps
import (
	_ "github.com/tetratelabs/wazero"
	_ "github.com/valyala/fasthttp"
	_ "github.com/knadh/koanf/v2"
	_ "github.com/knadh/koanf/providers/file"
	_ "github.com/knadh/koanf/providers/env/v2"
	_ "github.com/knadh/koanf/providers/posflag"
	_ "github.com/knadh/koanf/providers/confmap"
	_ "github.com/knadh/koanf/parsers/yaml"
	_ "go.etcd.io/bbolt"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/pflag"
)
