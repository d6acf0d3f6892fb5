package main

import (
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/imhook/imhook/host"
)

// envPrefix starts every environment variable imhook reads. "__" separates
// levels so that keys may hold "_": IMHOOK_SERVER__READ_TIMEOUT is
// server.read_timeout.
const envPrefix = "IMHOOK_"

// flagKeys maps the serve flags that set configuration to their keys. Other
// flags (--config, --demo, ...) are not configuration.
var flagKeys = map[string]string{
	"addr":       "server.addr",
	"admin-addr": "admin.addr",
	"data-dir":   "data_dir",
	"log-level":  "log.level",
	"log-format": "log.format",
}

// addConfigFlags registers the flags listed in flagKeys on fs, with the
// defaults of host.Default so --help shows them.
func addConfigFlags(fs *pflag.FlagSet) {
	d := host.Default()
	fs.String("addr", d.Server.Addr, "webhook listen address (server.addr)")
	fs.String("admin-addr", d.Admin.Addr, "admin API listen address, empty to disable (admin.addr)")
	fs.String("data-dir", d.DataDir, "directory of the embedded store and compile cache (data_dir)")
	fs.String("log-level", d.Log.Level, "debug, info, warn or error (log.level)")
	fs.String("log-format", d.Log.Format, "text or json (log.format)")
}

// loadConfig builds the effective configuration. Later sources win:
//
//  1. host.Default()
//  2. the YAML file at path, when path is not empty
//  3. IMHOOK_* environment variables from environ
//  4. the flags of fs that were set on the command line
//
// Unknown keys from any source are errors, so a typo never goes unnoticed.
// The result is validated.
func loadConfig(fs *pflag.FlagSet, path string, environ func() []string) (host.Config, error) {
	k := koanf.New(".")
	defaults := make(map[string]any)
	flatten(reflect.ValueOf(host.Default()), "", defaults)
	if err := k.Load(confmap.Provider(defaults, "."), nil); err != nil {
		return host.Config{}, fmt.Errorf("load config defaults: %w", err)
	}
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return host.Config{}, fmt.Errorf("config file[%s]: %w", path, err)
		}
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return host.Config{}, fmt.Errorf("config file[%s]: %w", path, err)
		}
	}
	err := k.Load(env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: environ,
		TransformFunc: func(k, v string) (string, any) {
			key := envKey(k)
			if !strings.Contains(key, ".") {
				if _, ok := defaults[key]; !ok {
					// IMHOOK_TOKEN, IMHOOK_ADMIN_URL: the clients' variables.
					return "", nil
				}
			}
			return key, v
		},
	}), nil)
	if err != nil {
		return host.Config{}, fmt.Errorf("load %s environment variables: %w", envPrefix, err)
	}
	if fs != nil {
		err = k.Load(posflag.ProviderWithFlag(fs, ".", k, func(f *pflag.Flag) (string, any) {
			key, ok := flagKeys[f.Name]
			if !ok {
				return "", nil
			}
			return key, posflag.FlagVal(fs, f)
		}), nil)
		if err != nil {
			return host.Config{}, fmt.Errorf("load flags: %w", err)
		}
	}

	cfg := host.Config{}
	err = k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				mapstructure.StringToTimeDurationHookFunc(),
				mapstructure.TextUnmarshallerHookFunc(),
			),
			ErrorUnused:      true,
			WeaklyTypedInput: true,
			TagName:          "koanf",
			Result:           &cfg,
		},
	})
	if err != nil {
		return host.Config{}, fmt.Errorf("config: %w (see docs/config.md for every key)", err)
	}
	if err := cfg.Validate(); err != nil {
		return host.Config{}, err
	}
	return cfg, nil
}

// envKey turns IMHOOK_SERVER__READ_TIMEOUT into server.read_timeout.
//
// A variable without "__" is configuration only when it names a top-level key
// (IMHOOK_DATA_DIR); others, such as the clients' IMHOOK_TOKEN and
// IMHOOK_ADMIN_URL, are left alone. Every variable with "__" must name a key.
func envKey(k string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, envPrefix)), "__", ".")
}

// flatten writes every leaf of a koanf-tagged struct into out under its
// dotted key, so the defaults come from host.Default alone.
func flatten(v reflect.Value, prefix string, out map[string]any) {
	t := v.Type()
	for i := range t.NumField() {
		key := t.Field(i).Tag.Get("koanf")
		if key == "" {
			continue
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			flatten(f, prefix+key+".", out)
			continue
		}
		out[prefix+key] = f.Interface()
	}
}
