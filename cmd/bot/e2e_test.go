package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

const (
	e2eSecret  = "e2e-signing-secret"
	e2eChannel = "C0E2E"
	e2eAdmin   = "U0ADMIN"
	e2eOper    = "U0OPER"
	e2eViewer  = "U0VIEWER"
	e2eProject = int64(42)
)

// e2e is pipebot wired as serve wires it, with GitLab and Slack replaced by
// the simulator and the recording fake over real loopback HTTP.
type e2e struct {
	t    *testing.T
	sim  *simulator.Server
	fake *slackfake.Server
	app  *app
	srv  *httptest.Server
	now  time.Time
}

// newE2E wires pipebot; opts may adjust the wiring (given the GitLab URL).
func newE2E(t *testing.T, opts ...func(w *wiring)) *e2e {
	t.Helper()
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot", Name: "pipebot"}, "glpat-e2e")
	sim.AddProject(simulator.Project{ID: e2eProject, Path: "team/web", Branches: []string{"main"},
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer},
		Jobs: []simulator.JobSpec{
			{Name: "build", Stage: "build"},
			{Name: "unit", Stage: "test", Fail: true, FailureReason: "script_failure"},
		}})
	glSrv := httptest.NewServer(sim)
	t.Cleanup(glSrv.Close)
	fake := slackfake.NewServer(slackfake.Options{})
	t.Cleanup(fake.Close)

	cfg := Config{
		DBPath: filepath.Join(t.TempDir(), "pipebot.db"), PollInterval: time.Second,
		Admins: []string{e2eAdmin}, DefaultRole: "viewer",
	}
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()))
	w := wiring{cfg: cfg, log: zerolog.Nop(), slackAPI: api, gitlabURL: glSrv.URL, gitlabToken: "glpat-e2e"}
	for _, o := range opts {
		o(&w)
	}
	a, err := wire(w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.store.Close() })
	if err := a.store.SetRole(e2eOper, "operator"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a.pool.Start(ctx)
	t.Cleanup(a.pool.Stop)

	e := &e2e{t: t, sim: sim, fake: fake, app: a, now: time.Now()}
	e.srv = httptest.NewServer(slackapp.NewHTTP(slackapp.HTTPConfig{SigningSecret: e2eSecret, Pool: a.pool, Logger: zerolog.Nop(), Answerer: a.router}))
	t.Cleanup(e.srv.Close)
	return e
}

func sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// post sends a Slack-signed request (signed with secret at time at) and
// returns the status.
func (e *e2e) post(path string, form url.Values, secret string, at time.Time) int {
	e.t.Helper()
	body := []byte(form.Encode())
	ts := strconv.FormatInt(at.Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sign(secret, ts, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// triggerSeq numbers the trigger_ids tests mint: Slack gives every
// invocation its own, and pipebot runs one invocation once.
var triggerSeq atomic.Int64

// newTriggerID returns a trigger_id no other delivery in this test binary has.
func newTriggerID() string { return fmt.Sprintf("%d.%d.e2e", time.Now().Unix(), triggerSeq.Add(1)) }

// commandForm is the form of a slash command typed by user.
func (e *e2e) commandForm(user, text string) url.Values {
	return url.Values{
		"command": {"/ci"}, "text": {text}, "user_id": {user}, "user_name": {"someone"},
		"channel_id": {e2eChannel}, "team_id": {"T0E2E"}, "response_url": {e.fake.ResponseURL(e2eChannel, user)},
		"trigger_id": {newTriggerID()},
	}
}

// command runs a signed slash command and waits for its reply, which it
// returns as text.
func (e *e2e) command(user, text string) string {
	e.t.Helper()
	form := e.commandForm(user, text)
	n := len(e.fake.CallsOf("response_url"))
	if code := e.post("/slack/commands", form, e2eSecret, time.Now()); code != http.StatusOK {
		e.t.Fatalf("slash command %q: HTTP %d", text, code)
	}
	e.app.pool.Wait()
	return e.repliesSince(n)
}

// repliesSince returns the text of the response_url posts after the first
// n; requests are handled one at a time here (pool.Wait), so these are the
// replies to the last request.
func (e *e2e) repliesSince(n int) string {
	e.t.Helper()
	var out []string
	for _, c := range e.fake.CallsOf("response_url")[n:] {
		out = append(out, c.ResponseType+" "+c.Text+" "+unescapeJSON(c.Blocks))
	}
	return strings.Join(out, "\n")
}

func unescapeJSON(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.String()
}

// click sends a signed block_actions payload for a button carrying value.
func (e *e2e) click(user, value, triggerID string) (status int, reply string) {
	e.t.Helper()
	n := len(e.fake.CallsOf("response_url"))
	respURL := e.fake.ResponseURLFor(e2eChannel, user, "")
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "trigger_id": triggerID, "response_url": respURL,
		"user":      map[string]any{"id": user, "username": "someone"},
		"team":      map[string]any{"id": "T0E2E"},
		"channel":   map[string]any{"id": e2eChannel},
		"container": map[string]any{"type": "message", "message_ts": "1700000000.000100", "channel_id": e2eChannel},
		"actions": []map[string]any{{"action_id": "pipeline_retry", "block_id": "pipeline_actions", "type": "button",
			"value": value, "action_ts": "1700000001.000200"}},
	})
	status = e.post("/slack/interactions", url.Values{"payload": {string(payload)}}, e2eSecret, time.Now())
	e.app.pool.Wait()
	return status, e.repliesSince(n)
}

func (e *e2e) mutations() int {
	n := 0
	for _, r := range e.sim.Requests() {
		if r.Method != http.MethodGet {
			n++
		}
	}
	return n
}

func mustContain(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: reply lacks %q:\n%s", what, w, got)
		}
	}
}

func TestEveryPipelineCommandEndToEnd(t *testing.T) {
	e := newE2E(t)
	done := e.sim.CreatePipeline(e2eProject, "main", "push", 1)
	e.sim.Finish(e2eProject, done) // failed: unit fails

	mustContain(t, "list", e.command(e2eViewer, "pipeline list team/web"), "Pipelines of team/web", fmt.Sprintf("#%d", done), "failed")
	mustContain(t, "alias", e.command(e2eViewer, "pipelines team/web status:failed"), fmt.Sprintf("#%d", done))
	mustContain(t, "show", e.command(e2eViewer, fmt.Sprintf("pipeline show team/web %d", done)), "unit", "script failure", "pipeline retry team/web")

	out := e.command(e2eOper, "run team/web main DEPLOY=1")
	mustContain(t, "run", out, "Started pipeline")
	if e.sim.PipelineCount(e2eProject) != 2 {
		t.Fatalf("run did not create a pipeline")
	}
	mustContain(t, "vars", e.command(e2eOper, "pipeline vars team/web 2"), "DEPLOY")

	mustContain(t, "retry", e.command(e2eOper, fmt.Sprintf("pipeline retry team/web %d", done)), "Retrying pipeline")
	if p, _ := e.sim.Pipeline(e2eProject, done); p.Status == simulator.StatusFailed {
		t.Errorf("retry left the pipeline failed")
	}
	mustContain(t, "watch", e.command(e2eViewer, "pipeline watch team/web 2"), "Watching pipeline")

	mustContain(t, "cancel asks", e.command(e2eOper, "pipeline cancel team/web 2"), "Cancel pipeline #2 of team/web?")
	if p, _ := e.sim.Pipeline(e2eProject, 2); p.Status == simulator.StatusCanceled {
		t.Fatal("cancel ran before confirmation")
	}
	mustContain(t, "cancel confirmed", e.command(e2eOper, "pipeline cancel team/web 2 confirm:yes"), "Canceled pipeline")
	if p, _ := e.sim.Pipeline(e2eProject, 2); p.Status != simulator.StatusCanceled {
		t.Errorf("pipeline 2 is %s after a confirmed cancel", p.Status)
	}
	mustContain(t, "delete asks", e.command(e2eAdmin, fmt.Sprintf("pipeline delete team/web %d", done)), "Delete pipeline")
	mustContain(t, "delete confirmed", e.command(e2eAdmin, fmt.Sprintf("pipeline delete team/web %d confirm:yes", done)), "Deleted pipeline")
	if _, ok := e.sim.Pipeline(e2eProject, done); ok {
		t.Error("pipeline still exists after a confirmed delete")
	}
}

func TestWatchedPipelineFailureReachesCardAndThread(t *testing.T) {
	e := newE2E(t)
	mustContain(t, "run", e.command(e2eOper, "run team/web main"), "Started pipeline")
	e.sim.Finish(e2eProject, 1)
	if err := e.app.watcher.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	var cards, replies []slackfake.Message
	for _, m := range e.fake.Messages(e2eChannel) {
		if m.Ephemeral {
			continue
		}
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			cards = append(cards, m)
		} else {
			replies = append(replies, m)
		}
	}
	if len(cards) != 1 || len(replies) != 1 {
		t.Fatalf("want one card and one thread reply, got %d and %d", len(cards), len(replies))
	}
	mustContain(t, "card", unescapeJSON(cards[0].Blocks), "failed", "unit", "script failure")
	mustContain(t, "thread", unescapeJSON(replies[0].Blocks), "<@"+e2eOper+">", "unit", "failed")
}

func TestViewerClickingRetryChangesNothing(t *testing.T) {
	e := newE2E(t)
	id := e.sim.CreatePipeline(e2eProject, "main", "push", 1)
	e.sim.Finish(e2eProject, id)
	before := e.mutations()
	status, reply := e.click(e2eViewer, fmt.Sprintf("pipeline retry team/web %d", id), "trig-1")
	if status != http.StatusOK {
		t.Fatalf("click: HTTP %d", status)
	}
	mustContain(t, "viewer click", reply, "needs the operator role", "you are a viewer")
	if e.mutations() != before {
		t.Fatal("a viewer's click changed GitLab")
	}
}

func TestDuplicateClickRunsOnce(t *testing.T) {
	e := newE2E(t)
	id := e.sim.CreatePipeline(e2eProject, "main", "push", 1)
	e.sim.Finish(e2eProject, id)
	for i := 0; i < 2; i++ {
		if status, _ := e.click(e2eOper, fmt.Sprintf("pipeline retry team/web %d", id), "trig-same"); status != http.StatusOK {
			t.Fatalf("click %d: HTTP %d", i, status)
		}
	}
	retries := 0
	for _, r := range e.sim.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/retry") {
			retries++
		}
	}
	if retries != 1 {
		t.Fatalf("the same click delivered twice retried %d times", retries)
	}
}

func TestForgedStaleAndUnsignedRequestsDoNothing(t *testing.T) {
	e := newE2E(t)
	form := url.Values{"command": {"/ci"}, "text": {"run team/web main"}, "user_id": {e2eAdmin},
		"channel_id": {e2eChannel}, "response_url": {e.fake.ResponseURL(e2eChannel, e2eAdmin)}}
	cases := []struct {
		name   string
		secret string
		at     time.Time
	}{
		{"forged", "not-the-secret", time.Now()},
		{"stale", e2eSecret, time.Now().Add(-6 * time.Minute)},
		{"from the future", e2eSecret, time.Now().Add(6 * time.Minute)},
	}
	for _, c := range cases {
		if code := e.post("/slack/commands", form, c.secret, c.at); code != http.StatusUnauthorized {
			t.Errorf("%s: HTTP %d, want 401", c.name, code)
		}
	}
	resp, err := http.PostForm(e.srv.URL+"/slack/commands", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned: HTTP %d, want 401", resp.StatusCode)
	}
	e.app.pool.Wait()
	if n := len(e.sim.Requests()); n != 0 {
		t.Errorf("rejected requests reached GitLab %d times", n)
	}
	if n := len(e.fake.Calls()); n != 0 {
		t.Errorf("rejected requests reached Slack %d times", n)
	}
}

func TestChannelWithoutPipebotGetsCardThroughResponseURLAndOneInviteHint(t *testing.T) {
	e := newE2E(t)
	e.fake.NotInChannel(e2eChannel)
	first := e.command(e2eOper, "run team/web main")
	mustContain(t, "first run", first, "in_channel", "/invite @pipebot", "#1")
	second := e.command(e2eOper, "run team/web main")
	mustContain(t, "second run", second, "#2")
	if strings.Contains(second, "/invite") {
		t.Errorf("the invite hint was repeated: %s", second)
	}
	if ws, _ := e.app.store.Watches(); len(ws) != 0 {
		t.Errorf("watches kept for a channel pipebot cannot post in: %+v", ws)
	}
}
