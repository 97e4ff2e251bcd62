package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
	"github.com/pipebot/pipebot/internal/state"
)

// homeOpened sends a signed Events API app_home_opened (Home tab) for user,
// whose DM with pipebot is dm, and returns the HTTP status.
func (e *e2e) homeOpened(user, dm string) int {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{
		"token": "unused", "team_id": "T0E2E", "api_app_id": "A0E2E", "type": "event_callback",
		"event_id": "Ev" + newTriggerID(), "event_time": 1700000000,
		"event": map[string]any{"type": "app_home_opened", "user": user, "channel": dm, "tab": "home", "event_ts": "1700000000.000200"},
	})
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/slack/events", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sign(e2eSecret, ts, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	e.app.pool.Wait()
	return resp.StatusCode
}

// homeClick sends a signed click on a button of user's Home, shaped as
// Slack sends it: container.type "view", the Home view, no channel and no
// response_url.
func (e *e2e) homeClick(user, actionID, value string) {
	e.t.Helper()
	status, _ := e.postPayload("/slack/interactions", map[string]any{
		"type": "block_actions", "trigger_id": newTriggerID(),
		"user": map[string]any{"id": user, "username": "someone"}, "team": map[string]any{"id": "T0E2E"},
		"container": map[string]any{"type": "view", "view_id": "V0HOME"},
		"view":      map[string]any{"id": "V0HOME", "type": "home", "hash": "1.2", "blocks": []any{}},
		"actions": []map[string]any{{"action_id": actionID, "block_id": "home_p", "type": "button",
			"value": value, "action_ts": "1700000001.000200"}},
	}, e2eSecret)
	if status != http.StatusOK {
		e.t.Fatalf("home click: HTTP %d", status)
	}
	e.app.pool.Wait()
}

func (e *e2e) home(user string) string {
	e.t.Helper()
	raw, ok := e.fake.HomeView(user)
	if !ok {
		e.t.Fatalf("no Home published for %s", user)
	}
	return unescapeJSON(raw)
}

func (e *e2e) dm(channel string) string {
	var out []string
	for _, m := range e.fake.Messages(channel) {
		out = append(out, m.Text+" "+unescapeJSON(m.Blocks))
	}
	return strings.Join(out, "\n")
}

// The App Home over the signed HTTP endpoints: app_home_opened publishes a
// Home with the user's role, identity, own pipelines and the workspace's
// subscriptions; a watched pipeline's change re-publishes it at no GitLab
// cost; a Retry on the Home runs as the clicker and answers in the DM.
func TestAppHomeEndToEnd(t *testing.T) {
	e := newE2E(t, func(w *wiring) { w.homeCoalesce = time.Millisecond })
	mustContain(t, "operator run", e.command(e2eOper, "run team/web main"), "Started pipeline")
	mustContain(t, "admin run", e.command(e2eAdmin, "run team/web main"), "Started pipeline")
	if err := e.app.store.PutSubscription(state.Subscription{Channel: "C0SUBS", Target: state.ProjectTarget(e2eProject), ProjectID: e2eProject,
		Project: "team/web", On: []string{"failed", "fixed"}}); err != nil {
		t.Fatal(err)
	}
	if code := e.homeOpened(e2eOper, "D0OPER"); code != http.StatusOK {
		t.Fatalf("app_home_opened: HTTP %d", code)
	}
	home := e.home(e2eOper)
	mustContain(t, "home", home, "*Your role:* operator", "pipebot's token (@pipebot-bot)", "/pipelines/1|#1>", "`team/web`",
		"ref `main`", "<#C0SUBS>", "on `failed,fixed`", "Refresh")
	if strings.Contains(home, "|#2>") {
		t.Errorf("operator's Home shows the admin's pipeline:\n%s", home)
	}

	// The admin never opened their Home: their pipeline's end publishes
	// nothing.
	e.sim.Finish(e2eProject, 2)
	if err := e.app.watcher.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.fake.HomeView(e2eAdmin); ok {
		t.Error("the admin's Home was published though they never opened it")
	}

	publishes := len(e.fake.CallsOf("views.publish"))
	e.sim.Finish(e2eProject, 1)
	before := len(e.sim.Requests())
	if err := e.app.watcher.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	afterTick := len(e.sim.Requests())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.fake.WaitFor(ctx, func([]slackfake.Call) bool { return len(e.fake.CallsOf("views.publish")) > publishes }); err != nil {
		t.Fatalf("Home not re-published after the pipeline failed: %v", err)
	}
	// The re-publish reads the store only: after the tick's own poll,
	// the Home costs GitLab nothing (the bot identity is cached).
	if n := len(e.sim.Requests()) - afterTick; n != 0 {
		t.Errorf("re-publishing the Home made %d GitLab requests", n)
	}
	for _, r := range e.sim.Requests()[before:] {
		if r.Path == "/api/v4/user" {
			t.Errorf("the tick read GET /user")
		}
	}
	home = e.home(e2eOper)
	mustContain(t, "re-published home", home, ":x: *<", "|#1>* failed", `"value":"pipeline retry team/web 1"`)

	// A viewer's Retry on the Home is refused in their DM; nothing runs.
	if _, err := e.app.store.AddHomePipeline(e2eViewer, state.HomePipeline{ProjectID: e2eProject, Project: "team/web", PipelineID: 1, Ref: "main", Status: "failed"}); err != nil {
		t.Fatal(err)
	}
	e.homeOpened(e2eViewer, "D0VIEW")
	retryPath := "/api/v4/projects/team%2Fweb/pipelines/1/retry"
	e.homeClick(e2eViewer, "pipeline_retry", "pipeline retry team/web 1")
	if n := e.sim.CountRequests("POST", retryPath); n != 0 {
		t.Fatalf("viewer's Home click retried the pipeline")
	}
	mustContain(t, "viewer DM", e.dm("D0VIEW"), "needs the operator role")

	// The operator's runs as them: retried once, answered and carded in the DM.
	e.homeClick(e2eOper, "pipeline_retry", "pipeline retry team/web 1")
	if n := e.sim.CountRequests("POST", retryPath); n != 1 {
		t.Fatalf("operator's Home click: %d retries, want 1", n)
	}
	mustContain(t, "operator DM", e.dm("D0OPER"), "Retrying pipeline", "Pipeline #1")
	mustContain(t, "home after the click", e.home(e2eOper), "I answered your click in our DM")
	entries, _ := e.app.store.Audit(5)
	if len(entries) == 0 || entries[0].User != e2eOper || !strings.Contains(entries[0].Command, "pipeline retry") {
		t.Errorf("audit = %+v", entries)
	}
}

// app_home_opened over Socket Mode: the same Home, published for the user
// the envelope names.
func TestAppHomeOverSocketMode(t *testing.T) {
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot", Name: "pipebot"}, "glpat-home")
	sim.AddProject(simulator.Project{ID: e2eProject, Path: "team/web", Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}})
	gl := httptest.NewServer(sim)
	defer gl.Close()
	const appToken = "xapp-1-A0TEST-home"
	fake := slackfake.NewServer(slackfake.Options{AppToken: appToken})
	defer fake.Close()
	a, err := wire(wiring{
		cfg: Config{DBPath: filepath.Join(t.TempDir(), "pipebot.db"), PollInterval: time.Second, Admins: []string{e2eAdmin}, DefaultRole: "viewer"},
		log: zerolog.Nop(), slackAPI: slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL())), gitlabURL: gl.URL, gitlabToken: "glpat-home",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a.pool.Start(ctx)
	defer a.pool.Stop()
	done := make(chan error, 1)
	go func() {
		done <- slackapp.RunSocketMode(ctx, slackapp.SocketConfig{AppToken: appToken, BotToken: fake.BotToken(), APIURL: fake.APIURL(),
			Pool: a.pool, Logger: zerolog.Nop(), Answerer: a.router})
	}()
	defer func() { cancel(); <-done }()
	if err := fake.WaitForSockets(ctx, 1); err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{
		"type": "event_callback", "team_id": "T0E2E", "api_app_id": "A0TEST", "event_id": "Ev0HOME", "event_time": 1700000000,
		"event": map[string]any{"type": "app_home_opened", "user": e2eAdmin, "channel": "D0ADMIN", "tab": "home", "event_ts": "1700000000.000100"},
	})
	env, err := fake.SendSocketEvent(ctx, "events_api", payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fake.WaitForAck(ctx, env); err != nil {
		t.Fatalf("envelope not acknowledged: %v", err)
	}
	if err := fake.WaitFor(ctx, func([]slackfake.Call) bool { _, ok := fake.HomeView(e2eAdmin); return ok }); err != nil {
		t.Fatalf("no Home published: %v", err)
	}
	raw, _ := fake.HomeView(e2eAdmin)
	mustContain(t, "socket home", unescapeJSON(raw), "*Your role:* admin", "pipebot's token (@pipebot-bot)", "None yet", "No channel subscribes")
}
