package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

// A real `pipebot serve` in Socket Mode (SLACK_APP_TOKEN, no signing
// secret) takes a slash command and a button click over the websocket,
// acknowledges each envelope, and answers through response_url.
func TestServeInSocketModeRunsCommandsAndClicks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real process")
	}
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot"}, "glpat-sock")
	sim.AddProject(simulator.Project{ID: e2eProject, Path: "team/web", Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer},
		Jobs: []simulator.JobSpec{{Name: "build", Stage: "build", Fail: true}}})
	id := sim.CreatePipeline(e2eProject, "main", "push", 1)
	sim.Finish(e2eProject, id)
	gl := httptest.NewServer(sim)
	defer gl.Close()
	fake := slackfake.NewServer(slackfake.Options{AppToken: "xapp-1-A0TEST-socket"})
	defer fake.Close()
	c := &child{t: t, addr: freeAddr(t), env: []string{
		"SLACK_BOT_TOKEN=" + fake.BotToken(), "SLACK_APP_TOKEN=xapp-1-A0TEST-socket", "SLACK_SIGNING_SECRET=",
		"SLACK_API_URL=" + fake.APIURL(), "GITLAB_URL=" + gl.URL, "GITLAB_TOKEN=glpat-sock",
		"PIPEBOT_DB_PATH=" + filepath.Join(t.TempDir(), "pipebot.db"), "PIPEBOT_ADMINS=" + e2eAdmin, "PIPEBOT_LOG_LEVEL=info",
	}}
	var logs strings.Builder
	c.stderr = &logs
	defer func() {
		if t.Failed() {
			t.Logf("pipebot log:\n%s", logs.String())
		}
	}()
	defer c.kill9()
	c.start()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	replies := func() int { return len(fake.CallsOf("response_url")) }
	send := func(kind string, payload map[string]any, want string) {
		t.Helper()
		before := replies()
		raw, _ := json.Marshal(payload)
		env, err := fake.SendSocketEvent(ctx, kind, raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fake.WaitForAck(ctx, env); err != nil {
			t.Fatalf("%s envelope never acknowledged: %v", kind, err)
		}
		if err := fake.WaitFor(ctx, func(calls []slackfake.Call) bool { return replies() > before }); err != nil {
			t.Fatalf("no reply to the %s: %v", kind, err)
		}
		got := fake.CallsOf("response_url")[before]
		if text := got.Text + unescapeJSON(got.Blocks); !strings.Contains(text, want) {
			t.Errorf("%s reply lacks %q: %s", kind, want, text)
		}
	}
	send("slash_commands", map[string]any{
		"command": "/ci", "text": fmt.Sprintf("pipeline show team/web %d", id), "user_id": e2eAdmin, "channel_id": e2eChannel,
		"team_id": "T0E2E", "response_url": fake.ResponseURL(e2eChannel, e2eAdmin), "trigger_id": "1.2.3",
	}, "failed")
	send("interactive", map[string]any{
		"type": "block_actions", "trigger_id": "4.5.6", "response_url": fake.ResponseURLFor(e2eChannel, e2eAdmin, ""),
		"user": map[string]any{"id": e2eAdmin}, "team": map[string]any{"id": "T0E2E"}, "channel": map[string]any{"id": e2eChannel},
		"container": map[string]any{"type": "message", "message_ts": "1700000000.000100", "channel_id": e2eChannel},
		"actions":   []map[string]any{{"action_id": "pipeline_retry", "type": "button", "value": fmt.Sprintf("pipeline retry team/web %d", id), "action_ts": "1700000001.1"}},
	}, "Retrying pipeline")
	if n := sim.CountRequests("POST", fmt.Sprintf("/api/v4/projects/team%%2Fweb/pipelines/%d/retry", id)); n != 1 {
		t.Errorf("retry requests: %d, want 1", n)
	}
}
