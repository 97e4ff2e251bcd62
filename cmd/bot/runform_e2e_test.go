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

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
	"github.com/pipebot/pipebot/internal/state"
)

// postPayload sends a signed interaction payload to path, as Slack does, and
// returns the status and the body Slack would read (options, or a view
// submission's errors).
func (e *e2e) postPayload(path string, payload any, secret string) (int, string) {
	e.t.Helper()
	status, body, err := e.fake.Interaction(context.Background(), e.srv.URL+path, secret, payload)
	if err != nil {
		e.t.Fatal(err)
	}
	return status, string(body)
}

// runFormE2E is the e2e harness with refs in team/web and the channel's
// default project set.
func runFormE2E(t *testing.T) *e2e {
	t.Helper()
	e := newE2E(t)
	e.sim.AddProject(simulator.Project{ID: 77, Path: "team/api", Branches: []string{"main", "release/2.0", "feature/login"},
		Tags: []string{"v2.0.0", "release-candidate"}, Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer},
		Jobs: []simulator.JobSpec{{Name: "build", Stage: "build"}}})
	if _, err := e.app.store.UpdateChannel(e2eChannel, func(c *state.Channel) error { c.DefaultProject = "team/api"; return nil }); err != nil {
		t.Fatal(err)
	}
	return e
}

// openedRunForm types `/ci run` as user and returns the modal Slack was
// asked to open.
func (e *e2e) openedRunForm(user string) map[string]any {
	e.t.Helper()
	before := len(e.fake.CallsOf("views.open"))
	reply := e.command(user, "run")
	opens := e.fake.CallsOf("views.open")
	if len(opens) != before+1 {
		e.t.Fatalf("views.open calls = %d, want %d; reply: %s", len(opens), before+1, reply)
	}
	var v map[string]any
	if err := json.Unmarshal(opens[len(opens)-1].View, &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

func runFormPayload(kind, user string, view map[string]any, values map[string]map[string]any, typed string) map[string]any {
	v := map[string]any{}
	for k, x := range view {
		v[k] = x
	}
	state := map[string]any{}
	for block, val := range values {
		state[block] = map[string]any{"value": val}
	}
	v["state"] = map[string]any{"values": state}
	v["id"] = "V0RUN"
	p := map[string]any{
		"type": kind, "user": map[string]any{"id": user, "username": "someone"},
		"team": map[string]any{"id": "T0E2E"}, "view": v,
	}
	if kind == "block_suggestion" {
		p["action_id"], p["block_id"], p["value"] = "value", "ref", typed
	} else {
		p["trigger_id"] = "view.run." + user + strconv.Itoa(len(values))
	}
	return p
}

func text(s string) map[string]any { return map[string]any{"type": "plain_text_input", "value": s} }
func chosen(s string) map[string]any {
	return map[string]any{"type": "external_select", "selected_option": map[string]any{"value": s, "text": map[string]any{"type": "plain_text", "text": s}}}
}

func TestRunFormOpensWithTheChannelDefaultProject(t *testing.T) {
	e := runFormE2E(t)
	v := e.openedRunForm(e2eOper)
	raw, _ := json.Marshal(v)
	mustContain(t, "run form", string(raw), `"callback_id":"pipebot_run"`, `"initial_value":"team/api"`, `"type":"external_select"`,
		`"block_id":"ref"`, `"block_id":"variables"`, `"block_id":"inputs"`)
	if got := e.mutations(); got != 0 {
		t.Errorf("opening the form changed GitLab %d times", got)
	}
}

func TestRunFormRefSearchOverSignedHTTP(t *testing.T) {
	e := runFormE2E(t)
	v := e.openedRunForm(e2eOper)
	proj := map[string]map[string]any{"project": text("team/api")}
	status, body := e.postPayload(slackapp.PathOptions, runFormPayload("block_suggestion", e2eOper, v, proj, "release"), e2eSecret)
	if status != http.StatusOK {
		t.Fatalf("options: HTTP %d %s", status, body)
	}
	var got struct {
		Options []struct {
			Value       string                `json:"value"`
			Description struct{ Text string } `json:"description"`
		} `json:"options"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("options body %q: %v", body, err)
	}
	var names []string
	for _, o := range got.Options {
		names = append(names, o.Value+"/"+o.Description.Text)
	}
	// Prefix matches first (branch and tag alike, by name), then the rest.
	if want := "release-candidate/tag release/2.0/branch"; strings.Join(names, " ") != want {
		t.Errorf("options = %v, want %s", names, want)
	}
	// A suggestion that carries no form state still searches the project
	// the form was opened for (kept in private_metadata).
	_, body = e.postPayload(slackapp.PathOptions, runFormPayload("block_suggestion", e2eOper, v, nil, "release"), e2eSecret)
	if !strings.Contains(body, `"release/2.0"`) {
		t.Errorf("options without form state: %s, want the prefilled project's refs", body)
	}
	status, body = e.postPayload(slackapp.PathOptions, runFormPayload("block_suggestion", e2eOper, v, proj, "release"), "forged-secret")
	if status != http.StatusUnauthorized || strings.Contains(body, "release") {
		t.Errorf("forged options request: HTTP %d %q, want 401 and no options", status, body)
	}
	// A viewer could not run the pipeline, so the picker offers nothing.
	_, body = e.postPayload(slackapp.PathOptions, runFormPayload("block_suggestion", e2eViewer, v, proj, ""), e2eSecret)
	if strings.Contains(body, "main") {
		t.Errorf("viewer got ref options: %s", body)
	}
}

func TestRunFormSubmissionStartsOneWatchedPipeline(t *testing.T) {
	e := runFormE2E(t)
	v := e.openedRunForm(e2eOper)
	status, body := e.postPayload(slackapp.PathInteractions, runFormPayload("view_submission", e2eOper, v, map[string]map[string]any{
		"project": text("team/api"), "ref": chosen("release/2.0"), "variables": text("DEPLOY_ZONE=us-west1\n\nCOLOR=blue"),
	}, ""), e2eSecret)
	if status != http.StatusOK || strings.Contains(body, "errors") {
		t.Fatalf("submission: HTTP %d %s", status, body)
	}
	e.app.pool.Wait()
	var creates []simulator.Request
	for _, r := range e.sim.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/pipeline") {
			creates = append(creates, r)
		}
	}
	if len(creates) != 1 {
		t.Fatalf("pipelines created = %d, want 1", len(creates))
	}
	watches, err := e.app.store.Watches()
	if err != nil || len(watches) != 1 || watches[0].Channel != e2eChannel || watches[0].Requester != e2eOper {
		t.Fatalf("watches = %+v, %v; want one in %s for %s", watches, err, e2eChannel, e2eOper)
	}
	var cards, private []string
	for _, m := range e.fake.Messages(e2eChannel) {
		if m.Ephemeral {
			private = append(private, m.User+": "+m.Text)
		} else {
			cards = append(cards, m.Text)
		}
	}
	if len(cards) != 1 || !strings.Contains(cards[0], "release/2.0") {
		t.Fatalf("cards in channel = %q, want one for release/2.0", cards)
	}
	// The submitter hears, privately, that it started (a modal has no
	// response_url).
	if len(private) != 1 || !strings.HasPrefix(private[0], e2eOper+": Started pipeline") {
		t.Errorf("private replies = %q", private)
	}
	audit, _ := e.app.store.Audit(10)
	if len(audit) == 0 || audit[0].Project != "team/api" || !strings.Contains(audit[0].Command, "pipeline run release/2.0") || strings.Contains(audit[0].Command, "us-west1") {
		t.Errorf("audit = %+v, want the composed command without variable values", audit)
	}
}

func TestRunFormBadValuesKeepTheFormOpen(t *testing.T) {
	e := runFormE2E(t)
	v := e.openedRunForm(e2eOper)
	cases := []struct {
		name   string
		values map[string]map[string]any
		block  string
		user   string
		want   string
	}{
		{"unknown project", map[string]map[string]any{"project": text("team/nope"), "ref": chosen("main")}, "project", e2eOper, "can't find the project"},
		{"unknown ref", map[string]map[string]any{"project": text("team/api"), "ref": chosen("nope")}, "ref", e2eOper, "no branch or tag nope"},
		{"malformed variable line", map[string]map[string]any{"project": text("team/api"), "ref": chosen("main"), "variables": text("GOOD=1\nnot a variable")}, "variables", e2eOper, "Line 2"},
		{"viewer is refused like the typed command", map[string]map[string]any{"project": text("team/api"), "ref": chosen("main")}, "project", e2eViewer, "needs the operator role"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.postPayload(slackapp.PathInteractions, runFormPayload("view_submission", tc.user, v, tc.values, ""), e2eSecret)
			e.app.pool.Wait()
			var got struct {
				Action string            `json:"response_action"`
				Errors map[string]string `json:"errors"`
			}
			if status != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Action != "errors" {
				t.Fatalf("submission: HTTP %d %q, want response_action errors", status, body)
			}
			if len(got.Errors) != 1 || !strings.Contains(got.Errors[tc.block], tc.want) {
				t.Errorf("errors = %v, want %q on %s", got.Errors, tc.want, tc.block)
			}
			if n := e.mutations(); n != 0 {
				t.Errorf("GitLab changed %d times", n)
			}
			if w, _ := e.app.store.Watches(); len(w) != 0 {
				t.Errorf("watches = %v", w)
			}
		})
	}
}

func TestViewerTypingRunGetsNoForm(t *testing.T) {
	e := runFormE2E(t)
	reply := e.command(e2eViewer, "run")
	mustContain(t, "viewer /ci run", reply, "needs the operator role")
	if n := len(e.fake.CallsOf("views.open")); n != 0 {
		t.Errorf("views.open called %d times for a viewer", n)
	}
}

// Over Socket Mode the options travel in the envelope's ack, from a real
// `pipebot serve`.
func TestRunFormRefSearchOverSocketMode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real process")
	}
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot"}, "glpat-sock")
	sim.AddProject(simulator.Project{ID: 77, Path: "team/api", Branches: []string{"main", "release/2.0", "hotfix-release"},
		Tags: []string{"v2.0.0"}, Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}})
	gl := httptest.NewServer(sim)
	defer gl.Close()
	fake := slackfake.NewServer(slackfake.Options{AppToken: "xapp-1-A0TEST-socket"})
	defer fake.Close()
	c := &child{t: t, addr: freeAddr(t), env: []string{
		"SLACK_BOT_TOKEN=" + fake.BotToken(), "SLACK_APP_TOKEN=xapp-1-A0TEST-socket", "SLACK_SIGNING_SECRET=",
		"SLACK_API_URL=" + fake.APIURL(), "GITLAB_URL=" + gl.URL, "GITLAB_TOKEN=glpat-sock",
		"PIPEBOT_DB_PATH=" + filepath.Join(t.TempDir(), "pipebot.db"), "PIPEBOT_ADMINS=" + e2eAdmin,
	}}
	defer c.kill9()
	c.start()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	view := map[string]any{"type": "modal", "callback_id": "pipebot_run", "private_metadata": `{"channel":"C0E2E"}`}
	payload := runFormPayload("block_suggestion", e2eAdmin, view, map[string]map[string]any{"project": text("team/api")}, "release")
	_, ack, err := fake.Interaction(ctx, "", "", slackfake.BlockSuggestion(e2eAdmin, "T0E2E", "ref", "value", "release", payload["view"].(map[string]any)))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Options []struct {
			Value string `json:"value"`
		} `json:"options"`
	}
	if err := json.Unmarshal(ack, &got); err != nil {
		t.Fatalf("ack payload %s: %v", ack, err)
	}
	var names []string
	for _, o := range got.Options {
		names = append(names, o.Value)
	}
	if want := "release/2.0 hotfix-release"; strings.Join(names, " ") != want {
		t.Errorf("options in the ack = %v, want %s (ack %s)", names, want, ack)
	}
}
