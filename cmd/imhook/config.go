package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

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
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(path), yaml.Parser()); err != nil {
			return host.Config{}, fmt.Errorf("config file[%s]: %w", path, err)
		}
		// A section whose keys are all commented out ("store:" alone) is
		// null in YAML: it means the defaults, not a section of zeros.
		for _, key := range fk.Keys() {
			if fk.Get(key) == nil {
				fk.Delete(key)
			}
		}
		// Checked alone: merged, a value in place of a section would lose
		// its defaults to the flags' without a word.
		if err := checkKeys(fk, defaults, nil); err != nil {
			return host.Config{}, fmt.Errorf("config file[%s]: %w", path, err)
		}
		if err := k.Merge(fk); err != nil {
			return host.Config{}, fmt.Errorf("config file[%s]: %w", path, err)
		}
	}
	envNames := make(map[string]string) // key -> the variable that set it
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
			envNames[key] = k
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

	if err := checkKeys(k, defaults, envNames); err != nil {
		return host.Config{}, err
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

// checkKeys reports, all at once, every key no source should have set and
// every duration without a unit. Decoding would name only the section of an
// unknown key (an empty name for a top-level one) and read a bare number as
// nanoseconds, so that "read_timeout: 5" answered every callback with a
// timeout.
func checkKeys(k *koanf.Koanf, defaults map[string]any, envNames map[string]string) error {
	var errs []error
	for _, key := range k.Keys() {
		def, ok := defaults[key]
		if !ok {
			errs = append(errs, unknownKey(key, envNames[key], defaults))
			continue
		}
		if _, ok := def.(time.Duration); ok {
			if err := checkDuration(key, k.Get(key)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// unknownKey says that key (set by the variable envName, when not empty) is
// not a configuration key, and which one was probably meant.
func unknownKey(key, envName string, defaults map[string]any) error {
	for _, k := range slices.Sorted(maps.Keys(defaults)) {
		if strings.HasPrefix(k, key+".") {
			return fmt.Errorf("config key[%s] is a section, not a value: set its keys, such as %s", key, k)
		}
	}
	msg := fmt.Sprintf("unknown config key[%s]", key)
	if envName != "" {
		msg += " (" + envName + ")"
	}
	if near := closestKey(key, defaults); near != "" {
		return fmt.Errorf("%s; did you mean %s? (docs/config.md lists every key)", msg, near)
	}
	return fmt.Errorf("%s (see docs/config.md for every key)", msg)
}

// closestKey returns the key of defaults nearest to key: within a few edits,
// or else the one with the same last part (a key in the wrong section). It
// returns "" when none is close.
func closestKey(key string, defaults map[string]any) string {
	best, bestDist := "", max(2, len(key)/4)+1
	sameLeaf := ""
	leaf := key[strings.LastIndexByte(key, '.')+1:]
	for _, c := range slices.Sorted(maps.Keys(defaults)) {
		if d := editDistance(key, c); d < bestDist {
			best, bestDist = c, d
		}
		if sameLeaf == "" && strings.HasSuffix(c, "."+leaf) {
			sameLeaf = c
		}
	}
	if best == "" {
		return sameLeaf
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkDuration refuses a value of the duration key key that is not a Go
// duration, and a bare number other than 0 in particular.
func checkDuration(key string, v any) error {
	var text string
	switch v := v.(type) {
	case time.Duration:
		return nil
	case string:
		if _, err := time.ParseDuration(v); err == nil {
			return nil
		}
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("config key[%s]: %q is not a duration; write it like \"150ms\", \"5s\" or \"1m\"", key, v)
		}
		text = v
	default:
		r := reflect.ValueOf(v)
		if !r.CanInt() && !r.CanUint() && !r.CanFloat() {
			return fmt.Errorf("config key[%s]: %v is not a duration; write it like \"150ms\", \"5s\" or \"1m\"", key, v)
		}
		if r.IsZero() {
			return nil // 0 needs no unit
		}
		text = fmt.Sprint(v)
	}
	return fmt.Errorf("config key[%s]: %s has no unit; write \"%ss\" for seconds (a duration is like \"150ms\", \"5s\" or \"1m\")", key, text, text)
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
