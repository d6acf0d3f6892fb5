// Package scaffold writes a new imhook plugin project (imhook new): a go.mod
// that builds as is, a handler, a native test, sample callbacks, a README,
// and a copy of the SDK the go.mod points at, all from files embedded in the
// imhook binary, so that it needs no network.
package scaffold

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/imhook/imhook/sdk"
)

//go:embed templates
var templates embed.FS

// SDKDir is the directory of the SDK copy in a project, relative to its root.
const SDKDir = "imhook-sdk"

// ASSDKDir is the directory of the AssemblyScript SDK copy in an
// AssemblyScript project, which its package.json depends on by path.
const ASSDKDir = "imhook-sdk-assemblyscript"

// Languages of imhook new --lang.
const (
	LangGo             = "go"
	LangAssemblyScript = "assemblyscript"
)

// stampFile holds the hash of the SDK copy as written, in SDKDir.
const stampFile = "IMHOOK_SDK"

// Params name a new project.
type Params struct {
	// Name is the plugin's name (lower-case letters, digits, - and _), the
	// one it is uploaded under.
	Name string
	// Module is the go.mod module path.
	Module string
	// Version is the imhook version writing the project, for the SDK copy's
	// README.
	Version string
	// Lang is LangGo (the default) or LangAssemblyScript.
	Lang string
}

// nameRe is what a plugin name may be (registry.ValidID's rule).
var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// NameFromDir derives a plugin name from a directory: its base name,
// lower-cased, other characters replaced by '-'.
func NameFromDir(dir string) string {
	base := strings.ToLower(filepath.Base(filepath.Clean(dir)))
	name := strings.Trim(regexp.MustCompile(`[^a-z0-9_-]+`).ReplaceAllString(base, "-"), "-_")
	if name == "" {
		return "plugin"
	}
	return name
}

// file is one file of a new project.
type file struct {
	name string // relative, slash-separated
	data []byte
}

// New writes a project into dir, which must not exist or be empty, and
// returns the files written, relative to dir.
func New(dir string, p Params) ([]string, error) {
	if !nameRe.MatchString(p.Name) {
		return nil, fmt.Errorf("plugin name %q: use lower-case letters, digits, - and _ (at most 63, starting with a letter or digit); pass --name", p.Name)
	}
	if p.Module == "" {
		p.Module = p.Name
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%s is not empty: imhook new writes a new project; choose a new directory (or run imhook new --update-sdk there to refresh only the SDK copy)", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if p.Lang == LangAssemblyScript {
		files, err := asProjectFiles(p)
		if err != nil {
			return nil, err
		}
		return write(dir, files)
	}
	if p.Lang != "" && p.Lang != LangGo {
		return nil, fmt.Errorf("language %q: want %s or %s", p.Lang, LangGo, LangAssemblyScript)
	}
	files, err := projectFiles(p)
	if err != nil {
		return nil, err
	}
	sdkFiles, err := sdkCopy(p.Version)
	if err != nil {
		return nil, err
	}
	files = append(files, sdkFiles...)
	return write(dir, files)
}

// UpdateSDK replaces the SDK copy of the project in dir with this binary's
// SDK and returns the files written.
func UpdateSDK(dir, version string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		if _, err := os.Stat(filepath.Join(dir, ASSDKDir)); err == nil {
			return updateASSDK(dir)
		}
		return nil, fmt.Errorf("%s has no go.mod (nor %s/): run imhook new --update-sdk in a plugin project's directory", dir, ASSDKDir)
	}
	files, err := sdkCopy(version)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(filepath.Join(dir, SDKDir)); err != nil {
		return nil, err
	}
	return write(dir, files)
}

// updateASSDK replaces the AssemblyScript SDK copy of the project in dir.
func updateASSDK(dir string) ([]string, error) {
	files, _, err := asSDKCopy()
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(filepath.Join(dir, ASSDKDir)); err != nil {
		return nil, err
	}
	return write(dir, files)
}

// SDKStatus compares the SDK copy of the project in dir with this binary's:
// "" when they are the same, else a sentence saying what differs.
func SDKStatus(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, SDKDir, stampFile))
	if err != nil {
		return "the project has no " + SDKDir + "/" + stampFile + " (its SDK was not written by imhook new)"
	}
	want, err := sdkHash()
	if err != nil {
		return err.Error()
	}
	if strings.TrimSpace(string(b)) != want {
		return "the SDK copy in " + SDKDir + "/ is not this imhook's SDK; imhook new --update-sdk . replaces it"
	}
	return ""
}

// projectFiles renders the templates.
func projectFiles(p Params) ([]file, error) {
	goVersion, err := sdkGoVersion()
	if err != nil {
		return nil, err
	}
	data := struct {
		Params
		GoVersion string
	}{p, goVersion}
	files, err := renderAll(data, [][2]string{
		{"go.mod.tmpl", "go.mod"},
		{"main.go.tmpl", "main.go"},
		{"main_test.go.tmpl", "main_test.go"},
		{"README.md.tmpl", "README.md"},
		{"gitignore.tmpl", ".gitignore"},
	})
	if err != nil {
		return nil, err
	}
	readme, err := render("sdk-readme.md.tmpl", data)
	if err != nil {
		return nil, err
	}
	files = append(files, file{SDKDir + "/README.md", readme})
	return files, nil
}

// render executes the template named tmpl with data.
func render(tmpl string, data any) ([]byte, error) {
	src, err := templates.ReadFile("templates/" + tmpl)
	if err != nil {
		return nil, err
	}
	t, err := template.New(tmpl).Parse(string(src))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = t.Execute(&b, data)
	return b.Bytes(), err
}

// renderAll renders each template (template, file name) with data, then
// adds the sample callbacks: a project's own files.
func renderAll(data any, templates [][2]string) ([]file, error) {
	var files []file
	for _, t := range templates {
		b, err := render(t[0], data)
		if err != nil {
			return nil, fmt.Errorf("scaffold: %s: %w", t[0], err)
		}
		files = append(files, file{t[1], b})
	}
	samples, err := sampleCallbacks()
	return append(files, samples...), err
}

// sampleCallbacks are the sample callbacks of a new project: the catalog's
// single-chat text message, and the same saying spam.
func sampleCallbacks() ([]file, error) {
	plain, err := Example("callbackBeforeSendSingleMsgCommand")
	if err != nil {
		return nil, err
	}
	spam := bytes.Replace(plain, []byte(`\"hello\"`), []byte(`\"buy spam now\"`), 1)
	if bytes.Equal(spam, plain) {
		return nil, errors.New(`scaffold: the catalog's callbackBeforeSendSingleMsgCommand example no longer says "hello"; update sampleCallbacks`)
	}
	return []file{
		{"testdata/callbacks/callbackBeforeSendSingleMsgCommand.json", plain},
		{"testdata/callbacks/callbackBeforeSendSingleMsgCommand.spam.json", spam},
	}, nil
}

// asProjectFiles are the files of an AssemblyScript project: package.json
// (the SDK copy by path, the compiler at the SDK's pinned version),
// asconfig.json, the handler, its test, the samples, a README and the SDK
// copy under ASSDKDir.
func asProjectFiles(p Params) ([]file, error) {
	files, asc, err := asSDKCopy()
	if err != nil {
		return nil, err
	}
	data := struct {
		Params
		SDKDir, ASCVersion string
	}{p, ASSDKDir, asc}
	own, err := renderAll(data, [][2]string{
		{"as/package.json.tmpl", "package.json"},
		{"as/asconfig.json.tmpl", "asconfig.json"},
		{"as/index.ts.tmpl", "assembly/index.ts"},
		{"as/plugin.test.js.tmpl", "test/plugin.test.js"},
		{"as/README.md.tmpl", "README.md"},
		{"as/gitignore.tmpl", ".gitignore"},
	})
	return append(own, files...), err
}

// asSDKCopy returns the AssemblyScript SDK's files under ASSDKDir and the
// assemblyscript version its package.json pins.
func asSDKCopy() (files []file, asc string, err error) {
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	err = sdk.AssemblyScriptFiles(func(name string, data []byte) error {
		if name == "package.json" {
			if err := json.Unmarshal(data, &pkg); err != nil {
				return fmt.Errorf("scaffold: the AssemblyScript SDK's package.json: %w", err)
			}
		}
		files = append(files, file{ASSDKDir + "/" + name, data})
		return nil
	})
	if asc = pkg.DevDependencies["assemblyscript"]; err == nil && asc == "" {
		err = errors.New("scaffold: the AssemblyScript SDK's package.json pins no assemblyscript version")
	}
	return files, asc, err
}

// sdkCopy returns the SDK's files under SDKDir, with the stamp.
func sdkCopy(version string) ([]file, error) {
	var files []file
	err := sdk.Files(func(name string, data []byte) error {
		files = append(files, file{SDKDir + "/" + name, data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	h, err := sdkHash()
	if err != nil {
		return nil, err
	}
	return append(files, file{SDKDir + "/" + stampFile, []byte(h + "\n")}), nil
}

// sdkHash is the hash of the SDK's files as imhook new copies them.
func sdkHash() (string, error) {
	sum := sha256.New()
	err := sdk.Files(func(name string, data []byte) error {
		fmt.Fprintf(sum, "%s %d\n", name, len(data))
		sum.Write(data)
		return nil
	})
	return "sha256:" + hex.EncodeToString(sum.Sum(nil)), err
}

// sdkGoVersion is the go directive of the SDK's go.mod: a project needs at
// least that version.
func sdkGoVersion() (string, error) {
	var v string
	err := sdk.Files(func(name string, data []byte) error {
		if name == "go.mod" {
			for _, line := range strings.Split(string(data), "\n") {
				if rest, ok := strings.CutPrefix(line, "go "); ok {
					v = strings.TrimSpace(rest)
				}
			}
		}
		return nil
	})
	if err == nil && v == "" {
		err = errors.New("scaffold: the SDK's go.mod has no go directive")
	}
	return v, err
}

// write writes files under dir.
func write(dir string, files []file) ([]string, error) {
	var names []string
	for _, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return names, err
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(string(f.data), "#!") {
			mode = 0o755 // a script (the SDK's imhook-asc), executable as in the repository
		}
		if err := os.WriteFile(path, f.data, mode); err != nil {
			return names, err
		}
		names = append(names, f.name)
	}
	return names, nil
}

// Command is one OpenIM callback command of the catalog.
type Command struct {
	Name  string `json:"command"`
	Phase string `json:"phase"` // before, after
	// Trigger says what makes OpenIM send it.
	Trigger string          `json:"trigger"`
	Example json.RawMessage `json:"example"`
}

// Commands returns the catalog's commands, sorted by name.
func Commands() ([]Command, error) {
	var cmds []Command
	if err := json.Unmarshal(sdk.Catalog(), &cmds); err != nil {
		return nil, fmt.Errorf("scaffold: the embedded catalog: %w", err)
	}
	slices.SortFunc(cmds, func(a, b Command) int { return strings.Compare(a.Name, b.Name) })
	return cmds, nil
}

// Example returns the catalog's example body of command, indented, with a
// final newline.
func Example(command string) ([]byte, error) {
	cmds, err := Commands()
	if err != nil {
		return nil, err
	}
	for _, c := range cmds {
		if c.Name == command {
			var b bytes.Buffer
			if err := json.Indent(&b, c.Example, "", "  "); err != nil {
				return nil, err
			}
			b.WriteByte('\n')
			return b.Bytes(), nil
		}
	}
	return nil, fmt.Errorf("unknown command %q: imhook callback list lists the %d commands", command, len(cmds))
}
