package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

// lockedBuffer collects log lines written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Every secret of the leak scan is a unique sentinel.
const (
	leakGitLabToken   = "glpat-SENTINEL-gitlab-token-0001"
	leakSigning       = "SENTINEL-signing-secret-0002"
	leakBotToken      = "xoxb-SENTINEL-bot-token-0003"
	leakWebhookSecret = "SENTINEL-webhook-secret-0004"
	leakForeignToken  = "glptt-SENTINEL-foreign-trigger-token-0005"
	leakInline        = "SENTINEL-value-inline-0006"
	leakModal         = "SENTINEL-value-modal-0007"
	leakShown         = "SENTINEL-value-shown-0008"
	leakMasked        = "SENTINEL-value-masked-0009"
	leakHidden        = "SENTINEL-value-hidden-0010"
	leakRunVar        = "SENTINEL-value-run-0011"
	leakRefusedVar    = "SENTINEL-value-refused-0012"
	leakBadMasked     = "SENTINEL bad masked 0013"
	leakOutage        = "SENTINEL-value-outage-0014"
	leakGroup         = "SENTINEL-value-group-0015"
)

// newLeakE2E is newE2E with every secret a sentinel and the log captured
// at debug level.
func newLeakE2E(t *testing.T, logs *lockedBuffer) (*e2e, string) {
	t.Helper()
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot", Name: "pipebot"}, leakGitLabToken)
	sim.AddUser(simulator.User{ID: 2, Username: "alice", Name: "Alice"}, "")
	sim.AddProject(simulator.Project{ID: e2eProject, Path: "team/web", Branches: []string{"main"},
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer, 2: simulator.Maintainer},
		Jobs:    []simulator.JobSpec{{Name: "build", Stage: "build"}, {Name: "unit", Stage: "test", Fail: true}}})
	sim.AddGroup(simulator.Group{ID: 9, Path: "team", Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}})
	sim.AddTrigger(e2eProject, 2, "alice's", leakForeignToken)
	sim.AddVariable(e2eProject, simulator.VariableSpec{Key: "SHOWN", Value: leakShown})
	sim.AddVariable(e2eProject, simulator.VariableSpec{Key: "MASKED", Value: leakMasked, Masked: true})
	sim.AddVariable(e2eProject, simulator.VariableSpec{Key: "HIDDEN", Value: leakHidden, Hidden: true})
	glSrv := httptest.NewServer(sim)
	t.Cleanup(glSrv.Close)
	fake := slackfake.NewServer(slackfake.Options{BotToken: leakBotToken})
	t.Cleanup(fake.Close)

	log := zerolog.New(logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	dbPath := filepath.Join(t.TempDir(), "pipebot.db")
	cfg := Config{
		DBPath: dbPath, PollInterval: time.Second, Admins: []string{e2eAdmin}, DefaultRole: "viewer",
		SlackSigningSecret: leakSigning, SlackBotToken: leakBotToken, GitLabToken: leakGitLabToken, GitLabWebhookSecret: leakWebhookSecret,
	}
	log.Info().Str("config", cfg.String()).Msg("starting")
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()))
	a, err := wire(wiring{cfg: cfg, log: log, slackAPI: api, gitlabURL: glSrv.URL, gitlabToken: leakGitLabToken})
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
	e.srv = httptest.NewServer(slackapp.NewHTTP(slackapp.HTTPConfig{SigningSecret: leakSigning, Pool: a.pool, Logger: log}))
	t.Cleanup(e.srv.Close)
	return e, dbPath
}

// signedCommand is e.command signed with the sentinel signing secret; it
// also returns the response_url it handed out.
func signedCommand(e *e2e, user, text string) (reply, responseURL string) {
	e.t.Helper()
	responseURL = e.fake.ResponseURL(e2eChannel, user)
	form := url.Values{
		"command": {"/ci"}, "text": {text}, "user_id": {user}, "user_name": {"someone"},
		"channel_id": {e2eChannel}, "team_id": {"T0E2E"}, "response_url": {responseURL}, "trigger_id": {newTriggerID()},
	}
	n := len(e.fake.CallsOf("response_url"))
	if code := e.post(slackapp.PathCommands, form, leakSigning, time.Now()); code != http.StatusOK {
		e.t.Fatalf("slash command %q: HTTP %d", text, code)
	}
	e.app.pool.Wait()
	return e.repliesSince(n), responseURL
}

// submitView posts a signed view_submission of the modal recorded by the
// fake, with value typed into it.
func submitView(e *e2e, user string, view json.RawMessage, value string) {
	e.t.Helper()
	var v map[string]any
	if err := json.Unmarshal(view, &v); err != nil {
		e.t.Fatal(err)
	}
	v["state"] = map[string]any{"values": map[string]any{"value": map[string]any{"value": map[string]any{"type": "plain_text_input", "value": value}}}}
	payload, _ := json.Marshal(map[string]any{
		"type": "view_submission", "trigger_id": "view.submit." + user,
		"user": map[string]any{"id": user, "username": "someone"},
		"team": map[string]any{"id": "T0E2E"},
		"view": v,
	})
	if code := e.post(slackapp.PathInteractions, url.Values{"payload": {string(payload)}}, leakSigning, time.Now()); code != http.StatusOK {
		e.t.Fatalf("view submission: HTTP %d", code)
	}
	e.app.pool.Wait()
}

func TestLeakScanSecretsReachOnlyTheirRequester(t *testing.T) {
	logs := &lockedBuffer{}
	e, dbPath := newLeakE2E(t, logs)
	var responseURLs []string
	run := func(user, text string, want ...string) {
		t.Helper()
		out, ru := signedCommand(e, user, text)
		responseURLs = append(responseURLs, ru)
		mustContain(t, text, out, want...)
	}

	run(e2eAdmin, `trigger create team/web "deploy"`, "Created trigger", "shown to you alone")
	triggers := e.sim.Triggers(e2eProject)
	created := triggers[len(triggers)-1].Token
	run(e2eOper, "trigger list team/web", "…"+created[len(created)-4:], "not usable by pipebot")
	run(e2eOper, "trigger run team/web deploy main ZONE="+leakRunVar, "Triggered pipeline")
	run(e2eOper, "trigger run team/web 1 main", "full token only to its owner")
	e.sim.Finish(e2eProject, 1)
	if err := e.app.watcher.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	run(e2eOper, "pipeline vars team/web 1", "ZONE")

	run(e2eAdmin, "var set team/web INLINE="+leakInline, "Created `INLINE`")
	run(e2eAdmin, "var set team/web INLINE="+leakInline+" protected:yes", "Updated `INLINE`")
	run(e2eAdmin, "var set group:team GROUPED="+leakGroup, "Created `GROUPED` of group:team")
	run(e2eAdmin, "var set team/web MODAL masked:yes")
	opens := e.fake.CallsOf("views.open")
	if len(opens) != 1 {
		t.Fatalf("views.open calls: %d", len(opens))
	}
	submitView(e, e2eOper, opens[0].View, leakModal) // denied: operators may not set variables
	submitView(e, e2eAdmin, opens[0].View, leakModal)
	if vs := e.sim.Variables(e2eProject); vs[len(vs)-1].Key != "MODAL" || vs[len(vs)-1].Value != leakModal || !vs[len(vs)-1].Masked {
		t.Fatalf("the modal did not set MODAL: %+v", vs)
	}
	run(e2eAdmin, "var show team/web SHOWN", "shown to you alone")
	run(e2eAdmin, "var show team/web MASKED", "is masked")
	run(e2eAdmin, "var show team/web HIDDEN", "is hidden")
	run(e2eAdmin, "var show team/web MODAL", "is masked")
	run(e2eViewer, "var show team/web SHOWN", "needs the admin role")
	run(e2eOper, "var list team/web", "`INLINE`", "`MODAL`")
	run(e2eAdmin, fmt.Sprintf("var set team/web BAD=%q masked:yes", leakBadMasked), "GitLab refused the value of `BAD`")
	e.sim.SetPipelineVariablesMinimumOverrideRole(e2eProject, simulator.OverrideOwner)
	run(e2eOper, "run team/web main X="+leakRefusedVar, "GitLab refused the variables")
	run(e2eOper, "trigger run team/web deploy main X="+leakRefusedVar, "GitLab refused the variables")
	e.sim.SetFault(func(r *http.Request) (int, time.Duration, bool) {
		return http.StatusInternalServerError, 0, r.Method == http.MethodPost // a create is never retried on 5xx
	})
	run(e2eAdmin, "var set team/web OUTAGE="+leakOutage, "GitLab is unreachable", "ref `")
	e.sim.SetFault(nil)
	run(e2eAdmin, "var delete team/web INLINE confirm:yes", "Deleted the variable `INLINE`")
	run(e2eAdmin, "audit limit:100", "var set team/web INLINE=…")

	db, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	calls := e.fake.Calls()
	// The bot token authenticates pipebot's own Web API calls to Slack, so
	// it is scanned for in logs and the database only.
	for _, s := range []string{leakBotToken} {
		if strings.Contains(logs.String(), s) || bytes.Contains(db, []byte(s)) {
			t.Errorf("the bot token leaked into logs or the database")
		}
	}
	never := append([]string{leakGitLabToken, leakSigning, leakWebhookSecret, leakForeignToken,
		leakInline, leakModal, leakMasked, leakHidden, leakRunVar, leakRefusedVar, leakBadMasked, leakOutage, leakGroup}, responseURLs...)
	once := []string{created, leakShown} // each meant for its requester alone
	for _, s := range append(never, once...) {
		if strings.Contains(logs.String(), s) {
			t.Errorf("a log line holds secret %q", s)
		}
		if bytes.Contains(db, []byte(s)) {
			t.Errorf("the bbolt file holds secret %q", s)
		}
	}
	for _, s := range never {
		for _, c := range calls {
			if strings.Contains(c.Body+c.Text+string(c.Blocks)+string(c.View), s) {
				t.Errorf("Slack %s (to %s/%s) carried secret %q", c.Method, c.Channel, c.User, s)
			}
		}
	}
	for _, s := range once {
		var carriers []slackfake.Call
		for _, c := range calls {
			if strings.Contains(c.Body, s) {
				carriers = append(carriers, c)
			}
		}
		if len(carriers) != 1 {
			t.Errorf("secret %q reached Slack %d times, want exactly once", s, len(carriers))
			continue
		}
		if c := carriers[0]; c.Method != "response_url" || c.ResponseType == slack.ResponseTypeInChannel || c.User != e2eAdmin {
			t.Errorf("secret %q went %s (%s) to %s, want an ephemeral reply to %s", s, c.Method, c.ResponseType, c.User, e2eAdmin)
		}
	}
	if !strings.Contains(logs.String(), `"gitlab refused"`) && !strings.Contains(logs.String(), `"command failed"`) {
		t.Error("the outage was not logged: the scan saw no error path")
	}
}
