package main

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

// TestMain lets the test binary run as pipebot itself, so tests can start
// real pipebot processes and kill them.
func TestMain(m *testing.M) {
	if os.Getenv("PIPEBOT_TEST_CHILD") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child is a pipebot serve process started from the test binary.
type child struct {
	t      *testing.T
	env    []string
	addr   string
	cmd    *exec.Cmd
	stderr io.Writer // the child's log, when set
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func (c *child) start() {
	c.t.Helper()
	c.cmd = exec.Command(os.Args[0], "serve")
	c.cmd.Env = append(os.Environ(), c.env...)
	c.cmd.Env = append(c.cmd.Env, "PIPEBOT_TEST_CHILD=1", "PIPEBOT_LISTEN_ADDR="+c.addr)
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + c.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("pipebot child never became healthy")
}

// kill9 kills the process with SIGKILL: no shutdown code runs.
func (c *child) kill9() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
	c.cmd = nil
}

func TestKill9AtAnyMomentLeavesExactlyOneCardAndOneFinalMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills real processes")
	}
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot"}, "glpat-kill")
	sim.AddProject(simulator.Project{ID: e2eProject, Path: "team/web", Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer},
		Jobs: []simulator.JobSpec{
			{Name: "build", Stage: "build"}, {Name: "unit", Stage: "test", Fail: true},
			{Name: "lint", Stage: "test"}, {Name: "deploy", Stage: "deploy"},
		}})
	gl := httptest.NewServer(sim)
	defer gl.Close()
	// Slack answers chat.postMessage slowly: the message exists at Slack
	// while pipebot waits for its ts, which widens the window in which a
	// kill leaves "posted but not recorded" behind.
	fake := slackfake.New(slackfake.Options{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/chat.postMessage") {
			fake.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		fake.ServeHTTP(rec, r)
		time.Sleep(150 * time.Millisecond)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	defer slow.Close()
	fake.SetBaseURL(slow.URL)

	c := &child{t: t, addr: freeAddr(t), env: []string{
		"SLACK_BOT_TOKEN=" + fake.BotToken(), "SLACK_SIGNING_SECRET=" + e2eSecret, "SLACK_API_URL=" + fake.APIURL(),
		"GITLAB_URL=" + gl.URL, "GITLAB_TOKEN=glpat-kill", "PIPEBOT_DB_PATH=" + filepath.Join(t.TempDir(), "pipebot.db"),
		"PIPEBOT_POLL_INTERVAL=100ms", "PIPEBOT_ADMINS=" + e2eAdmin, "PIPEBOT_LOG_LEVEL=error",
	}}
	defer c.kill9()
	c.start()

	// Start the pipeline from Slack over signed HTTP.
	form := url.Values{"command": {"/ci"}, "text": {"run team/web main"}, "user_id": {e2eAdmin},
		"channel_id": {e2eChannel}, "response_url": {fake.ResponseURL(e2eChannel, e2eAdmin)}}
	body := []byte(form.Encode())
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, "http://"+c.addr+"/slack/commands", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sign(e2eSecret, ts, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fake.WaitFor(ctx, func(calls []slackfake.Call) bool {
		for _, c := range calls {
			if c.Method == "chat.postMessage" && c.Error == "" {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatal("no card was posted:", err)
	}

	// Move the pipeline on while killing pipebot at random moments.
	rng := rand.New(rand.NewPCG(42, 7))
	for step := 0; ; step++ {
		c.kill9()
		st := sim.Advance(e2eProject, 1)
		c.start()
		if st == simulator.StatusFailed {
			break
		}
		if step > 20 {
			t.Fatal("pipeline never finished")
		}
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
	}
	// The pipeline ended while pipebot was down; a started pipebot polls at
	// once, so the final reply goes out right after start-up and Slack holds
	// it for 150 ms: kill pipebot again and again around that window.
	for i := 0; i < 12; i++ {
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		c.kill9()
		c.start()
	}
	final := func() []slackfake.Message {
		var out []slackfake.Message
		for _, m := range fake.Messages(e2eChannel) {
			if !m.Ephemeral && m.ThreadTS != "" && m.ThreadTS != m.TS {
				out = append(out, m)
			}
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(final()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a few more ticks: nothing more may be posted
	c.kill9()

	var cards int
	for _, m := range fake.Messages(e2eChannel) {
		if !m.Ephemeral && (m.ThreadTS == "" || m.ThreadTS == m.TS) {
			cards++
		}
	}
	if cards != 1 {
		t.Errorf("cards in the channel: %d, want 1", cards)
	}
	replies := final()
	if len(replies) != 1 {
		t.Fatalf("final thread replies: %d, want exactly 1", len(replies))
	}
	if text := unescapeJSON(replies[0].Blocks); !strings.Contains(text, "unit") || !strings.Contains(text, "failed") {
		t.Errorf("final reply does not name the failed job: %s", text)
	}
	t.Logf("posts: %d, updates: %d", len(fake.CallsOf("chat.postMessage")), len(fake.CallsOf("chat.update")))
}

func TestServeAnswersHealthReadinessMetricsAndSlackEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real process")
	}
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot"}, "glpat-ops")
	gl := httptest.NewServer(sim)
	defer gl.Close()
	fake := slackfake.NewServer(slackfake.Options{})
	defer fake.Close()
	c := &child{t: t, addr: freeAddr(t), env: []string{
		"SLACK_BOT_TOKEN=" + fake.BotToken(), "SLACK_SIGNING_SECRET=" + e2eSecret, "SLACK_API_URL=" + fake.APIURL(),
		"GITLAB_URL=" + gl.URL, "GITLAB_TOKEN=glpat-ops", "PIPEBOT_DB_PATH=" + filepath.Join(t.TempDir(), "pipebot.db"),
		"PIPEBOT_LOG_LEVEL=error",
	}}
	defer c.kill9()
	c.start()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + c.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(5 * time.Second)
	code, body := get("/readyz")
	for code != http.StatusOK && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		code, body = get("/readyz")
	}
	if code != http.StatusOK {
		t.Errorf("/readyz with GitLab and Slack up: %d %s", code, body)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "pipebot_gitlab_requests_total") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d, missing pipebot or Go metrics", code)
	}
	// Slack's url_verification handshake, signed.
	challenge := `{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, "http://"+c.addr+"/slack/events", strings.NewReader(challenge))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sign(e2eSecret, ts, []byte(challenge)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") {
		t.Errorf("url_verification: %d %s", resp.StatusCode, b)
	}
	resp, err = http.Post("http://"+c.addr+"/slack/events", "application/json", strings.NewReader(challenge))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned url_verification: %d, want 401", resp.StatusCode)
	}
}
