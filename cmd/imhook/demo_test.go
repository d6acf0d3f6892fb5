package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeDemo runs `imhook serve --demo` as the README's `make demo` does
// and uses what it prints: the curl's callback must be refused by the
// moderation plugin, and the printed tenant token must work on the admin API.
func TestServeDemo(t *testing.T) {
	buildBench(t) // the binary and the moderation example
	hp, ap := freePort(t), freePort(t)
	cmd := exec.Command(benchBuild.binary, "serve", "--demo", "--demo-plugin", benchBuild.moderation,
		"--data-dir", t.TempDir(), "--addr", fmt.Sprintf("127.0.0.1:%d", hp), "--admin-addr", fmt.Sprintf("127.0.0.1:%d", ap))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	lines := make(chan string, 64)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	var printed strings.Builder
	deadline := time.After(90 * time.Second)
	for !strings.Contains(printed.String(), "curl -s") || !strings.Contains(printed.String(), "-d '") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("imhook serve --demo exited; it printed:\n%s", printed.String())
			}
			printed.WriteString(l + "\n")
		case <-deadline:
			t.Fatalf("no curl line after 90s; printed:\n%s", printed.String())
		}
	}
	out := printed.String()
	token := regexp.MustCompile(`tenant admin token: (\S+)`).FindStringSubmatch(out)
	url := regexp.MustCompile(`(http://\S+/hooks/demo/callbackBeforeSendSingleMsgCommand)`).FindStringSubmatch(out)
	body := regexp.MustCompile(`-d '(.*)'`).FindStringSubmatch(out)
	if token == nil || url == nil || body == nil {
		t.Fatalf("demo output lacks the token, the url or the body:\n%s", out)
	}

	// The callback of the printed curl, once the server is ready (before,
	// callbacks get the failure policy's neutral reply while the plugin loads).
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", hp))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-deadline:
			t.Fatalf("/readyz not 200 within 90s (last error %v)", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	var reply struct{ ActionCode, NextCode, ErrCode int32 }
	for {
		resp, err := http.Post(url[1], "application/json", strings.NewReader(body[1]))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if err := json.Unmarshal(b, &reply); err != nil {
					t.Fatalf("reply %q: %v", b, err)
				}
				break
			}
		}
		select {
		case <-deadline:
			t.Fatalf("the demo callback was not answered within 90s (last error %v)", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if reply.ActionCode != 0 || reply.NextCode != 1 || reply.ErrCode == 0 {
		t.Fatalf("demo callback reply %+v, want the moderation stop (actionCode 0, nextCode 1)", reply)
	}

	// The printed token is the tenant's admin token.
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/v1/tenants/demo/plugins", ap), nil)
	req.Header.Set("Authorization", "Bearer "+token[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"moderation"`) {
		t.Fatalf("admin API with the printed token: %d %s", resp.StatusCode, b)
	}

	// The printed console url leads to the console's login page.
	console := regexp.MustCompile(`web console: (http://\S+/console/)`).FindStringSubmatch(out)
	if console == nil {
		t.Fatalf("demo output lacks the web console's url:\n%s", out)
	}
	resp, err = http.Get(console[1])
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `name="token"`) {
		t.Fatalf("GET %s (the printed console url): %d %.300s, want the login page", console[1], resp.StatusCode, b)
	}
}
