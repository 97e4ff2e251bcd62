package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

const hookSecret = "hook-secret-e2e"

// hookServe is a real `pipebot serve` process with GITLAB_WEBHOOK_SECRET set
// and polling so rare that anything the test sees came through the webhook.
type hookServe struct {
	t    *testing.T
	sim  *simulator.Server
	fake *slackfake.Server
	c    *child
}

func newHookServe(t *testing.T) *hookServe {
	t.Helper()
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot"}, "glpat-hook")
	sim.AddUser(simulator.User{ID: 7, Username: "dev", Name: "Dev", Email: "dev@example.com"}, "glpat-dev")
	sim.AddProject(simulator.Project{ID: e2eProject, Path: "team/web", Branches: []string{"main"},
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer, 7: simulator.Developer},
		Jobs: []simulator.JobSpec{
			{Name: "build", Stage: "build"},
			{Name: "unit", Stage: "test", Fail: true, FailureReason: "script_failure"},
		}})
	gl := httptest.NewServer(sim)
	t.Cleanup(gl.Close)
	fake := slackfake.NewServer(slackfake.Options{})
	t.Cleanup(fake.Close)
	c := &child{t: t, addr: freeAddr(t), env: []string{
		"SLACK_BOT_TOKEN=" + fake.BotToken(), "SLACK_SIGNING_SECRET=" + e2eSecret, "SLACK_API_URL=" + fake.APIURL(),
		"GITLAB_URL=" + gl.URL, "GITLAB_TOKEN=glpat-hook", "GITLAB_WEBHOOK_SECRET=" + hookSecret,
		"PIPEBOT_DB_PATH=" + filepath.Join(t.TempDir(), "pipebot.db"),
		"PIPEBOT_POLL_INTERVAL=1h", "PIPEBOT_ADMINS=" + e2eAdmin, "PIPEBOT_LOG_LEVEL=error",
	}}
	t.Cleanup(c.kill9)
	c.start()
	return &hookServe{t: t, sim: sim, fake: fake, c: c}
}

// command sends a signed slash command to the process and waits for its
// reply through the response_url.
func (h *hookServe) command(text string) string {
	h.t.Helper()
	n := len(h.fake.CallsOf("response_url"))
	form := url.Values{"command": {"/ci"}, "text": {text}, "user_id": {e2eAdmin}, "user_name": {"admin"},
		"channel_id": {e2eChannel}, "team_id": {"T0E2E"}, "response_url": {h.fake.ResponseURL(e2eChannel, e2eAdmin)}}
	body := []byte(form.Encode())
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.c.addr+"/slack/commands", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sign(e2eSecret, ts, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("slash command %q: HTTP %d", text, resp.StatusCode)
	}
	h.waitFor("reply to "+text, func([]slackfake.Call) bool { return len(h.fake.CallsOf("response_url")) > n })
	c := h.fake.CallsOf("response_url")[n]
	return c.Text + " " + unescapeJSON(c.Blocks)
}

func (h *hookServe) waitFor(what string, cond func([]slackfake.Call) bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.fake.WaitFor(ctx, cond); err != nil {
		h.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// send delivers d to the process's webhook with token and returns the HTTP
// status and body.
func (h *hookServe) send(d simulator.Delivery, token string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.c.addr+"/gitlab/webhook", strings.NewReader(string(d.Body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitlab-Event", d.Event)
	req.Header.Set("X-Gitlab-Token", token)
	req.Header.Set("X-Gitlab-Event-UUID", d.UUID)
	req.Header.Set("Idempotency-Key", d.IdempotencyKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *hookServe) advanceTo(pipelineID int64, status string) {
	h.t.Helper()
	for i := 0; h.sim.Advance(e2eProject, pipelineID) != status; i++ {
		if i > 20 {
			h.t.Fatalf("pipeline %d never reached %s", pipelineID, status)
		}
	}
}

func (h *hookServe) hook(pipelineID int64) simulator.Delivery {
	h.t.Helper()
	d, ok := h.sim.PipelineHook(e2eProject, pipelineID)
	if !ok {
		h.t.Fatalf("no hook for pipeline %d", pipelineID)
	}
	return d
}

// cards returns the top-level (non-thread, non-ephemeral) messages in the
// channel that mention the pipeline.
func (h *hookServe) cards(pipelineID int64) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range h.fake.Messages(e2eChannel) {
		if m.Ephemeral || (m.ThreadTS != "" && m.ThreadTS != m.TS) {
			continue
		}
		if strings.Contains(m.Text+string(m.Blocks), "#"+strconv.FormatInt(pipelineID, 10)) {
			out = append(out, m)
		}
	}
	return out
}

func (h *hookServe) threadReplies() int {
	n := 0
	for _, m := range h.fake.Messages(e2eChannel) {
		if !m.Ephemeral && m.ThreadTS != "" && m.ThreadTS != m.TS {
			n++
		}
	}
	return n
}

func TestServeWebhookPostsCardRejectsWrongTokenAndDropsDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real process")
	}
	h := newHookServe(t)
	if reply := h.command("subscribe team/web on:running,failed"); !strings.Contains(reply, "team/web") {
		t.Fatalf("subscribe reply: %s", reply)
	}
	posts := func() int { return len(h.fake.CallsOf("chat.postMessage")) }

	// A signed Pipeline Hook for a running pipeline: the card appears.
	a := h.sim.CreatePipeline(e2eProject, "main", "push", 7)
	h.advanceTo(a, simulator.StatusRunning)
	running := h.hook(a)
	if code, body := h.send(running, hookSecret); code != http.StatusOK || !strings.Contains(body, "ok") {
		t.Fatalf("signed delivery: %d %q", code, body)
	}
	h.waitFor("the card", func([]slackfake.Call) bool { return len(h.cards(a)) == 1 })
	before := posts()

	// A wrong token gets 401, is not recorded as seen, and changes nothing.
	b := h.sim.CreatePipeline(e2eProject, "main", "push", 7)
	h.advanceTo(b, simulator.StatusRunning)
	hookB := h.hook(b)
	for _, token := range []string{"wrong", "", hookSecret + "x"} {
		if code, _ := h.send(hookB, token); code != http.StatusUnauthorized {
			t.Errorf("token %q: HTTP %d, want 401", token, code)
		}
	}

	// A duplicate delivery (same Idempotency-Key and X-Gitlab-Event-UUID) is
	// answered but not processed, even when its body differs: the keys decide.
	if code, body := h.send(running, hookSecret); code != http.StatusOK || !strings.Contains(body, "duplicate") {
		t.Errorf("redelivery: %d %q, want 200 duplicate", code, body)
	}
	forged := hookB
	forged.UUID, forged.IdempotencyKey = running.UUID, running.IdempotencyKey
	if code, body := h.send(forged, hookSecret); code != http.StatusOK || !strings.Contains(body, "duplicate") {
		t.Errorf("known keys with another body: %d %q, want 200 duplicate", code, body)
	}
	// Barrier: the end of pipeline a, through the same queue, updates its
	// card and posts into its thread; everything sent before is processed.
	if st := h.sim.Finish(e2eProject, a); st != simulator.StatusFailed {
		t.Fatalf("pipeline a ended %s", st)
	}
	if code, _ := h.send(h.hook(a), hookSecret); code != http.StatusOK {
		t.Fatalf("final delivery: %d", code)
	}
	h.waitFor("the final reply", func([]slackfake.Call) bool { return h.threadReplies() == 1 })

	if n := len(h.cards(a)); n != 1 {
		t.Errorf("cards for pipeline a: %d, want 1", n)
	}
	if n := len(h.cards(b)); n != 0 {
		t.Errorf("cards for pipeline b (wrong token, duplicate keys): %d, want 0", n)
	}
	if got := posts() - before; got != 1 {
		t.Errorf("posts after the card: %d, want only the final reply", got)
	}
	if len(h.fake.CallsOf("chat.update")) == 0 {
		t.Error("the card was never updated to the end state")
	}

	// The delivery markers survive a restart.
	h.c.kill9()
	h.c.start()
	if code, body := h.send(running, hookSecret); code != http.StatusOK || !strings.Contains(body, "duplicate") {
		t.Errorf("redelivery after a restart: %d %q, want 200 duplicate", code, body)
	}
}
