package commands

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/identity"
	"github.com/pipebot/pipebot/internal/insights"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
	"github.com/pipebot/pipebot/internal/state"
)

// The identity world: pipebot's token belongs to an administrator, so in
// bot mode everything is allowed; in linked and sudo modes GitLab's own
// permissions of alice and bob apply.
const (
	idTeam       = "T0ID"
	idBotToken   = "glpat-router-bot"  // the router's client: people's commands in bot mode
	idWatchToken = "glpat-watcher-bot" // the same GitLab user, for the watcher's background work
	slackAlice   = "U0ALICE"
	slackBob     = "U0BOB"
	slackCarol   = "U0CAROL" // no GitLab account with her email
	glAlice      = int64(2)
	glBob        = int64(3)
	pPublic      = int64(11) // public, public pipelines; bob maintains it
	pPrivate     = int64(12) // private; bob is a developer, alice nothing
	pProtected   = int64(13) // private; alice developer, bob maintainer; main protected
)

var idProjects = map[int64]string{pPublic: "group/public", pPrivate: "group/private", pProtected: "group/protected"}

// idWorld is one project's pipelines: failed (retry), running (cancel),
// blocked on a manual job (play), and a job with a log.
type idWorld struct{ failed, running, manualJob, logJob int64 }

type idHarness struct {
	t      testing.TB
	mode   identity.Mode
	sim    *simulator.Server
	glURL  string
	fake   *slackfake.Server
	store  *state.Store
	svc    *identity.Service
	router *Router
	srv    *httptest.Server // pipebot's OAuth callback
	world  map[int64]idWorld
}

func newIDHarness(t testing.TB, mode identity.Mode) *idHarness {
	t.Helper()
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot", IsAdmin: true}, idBotToken)
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot", IsAdmin: true}, idWatchToken)
	sim.AddUser(simulator.User{ID: glAlice, Username: "alice", Email: "alice@corp.example"}, "")
	sim.AddUser(simulator.User{ID: glBob, Username: "bob", Email: "bob@corp.example"}, "")
	// The manual deploy job shares the failing stage, so a failed
	// pipeline also waits on it (GitLab skips manual jobs of later stages).
	jobs := []simulator.JobSpec{
		{Name: "build", Stage: "build"},
		{Name: "test", Stage: "test", Fail: true},
		{Name: "deploy", Stage: "test", When: "manual", AllowFailure: true},
	}
	for id, path := range idProjects {
		sim.AddProject(simulator.Project{ID: id, Path: path, Visibility: visibilityOf(id), PublicPipelines: id == pPublic,
			Members: membersOf(id), Jobs: jobs, Branches: []string{"main"}})
	}
	sim.ProtectBranch(pProtected, "main", simulator.Maintainer, simulator.Maintainer)
	world := map[int64]idWorld{}
	for id := range idProjects {
		var w idWorld
		w.failed = sim.CreatePipeline(id, "main", "push", glBob)
		sim.Finish(id, w.failed)
		for _, j := range sim.Jobs(id, w.failed) {
			switch j.Name {
			case "build":
				w.logJob = j.ID
			case "deploy":
				w.manualJob = j.ID
			}
		}
		w.running = sim.CreatePipeline(id, "main", "push", glBob)
		sim.Advance(id, w.running)
		sim.Advance(id, w.running)
		sim.AddVariable(id, simulator.VariableSpec{Key: "DEPLOY_KEY", Value: "v"})
		world[id] = w
	}
	gsrv := httptest.NewServer(tallying(mode, sim))
	t.Cleanup(gsrv.Close)
	bot, err := gitlab.New(gitlab.Config{BaseURL: gsrv.URL, Token: idBotToken, MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	watchGL, err := gitlab.New(gitlab.Config{BaseURL: gsrv.URL, Token: idWatchToken, MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fake := slackfake.NewServer(slackfake.Options{})
	t.Cleanup(fake.Close)
	fake.AddUser(slackfake.User{ID: slackAlice, Name: "alice", Email: "Alice@corp.example"})
	fake.AddUser(slackfake.User{ID: slackBob, Name: "bob", Email: "bob@corp.example"})
	fake.AddUser(slackfake.User{ID: slackCarol, Name: "carol", Email: "carol@corp.example"})
	st, err := state.Open(filepath.Join(t.TempDir(), "pipebot.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	api := slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL()))
	poster := notify.NewSlack(notify.SlackConfig{API: api, PerChannel: time.Millisecond})
	w := notify.New(notify.Config{GitLab: watchGL, Slack: poster, Store: st, Logger: zerolog.Nop()})
	h := &idHarness{t: t, mode: mode, sim: sim, glURL: gsrv.URL, fake: fake, store: st, world: world}
	h.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { h.svc.ServeHTTP(rw, r) }))
	t.Cleanup(h.srv.Close)
	sim.AddOAuthApp("pipebot", "app-secret", h.srv.URL+identity.CallbackPath, []string{"api"})
	key := make([]byte, identity.KeySize)
	sealer, _ := identity.NewSealer(key, nil)
	h.svc, err = identity.New(identity.Config{
		Mode: mode, Bot: bot, Store: st, Sealer: sealer, Slack: api, Logger: zerolog.Nop(),
		OAuth: identity.OAuthConfig{GitLabURL: gsrv.URL, PublicURL: h.srv.URL, ClientID: "pipebot", ClientSecret: "app-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.router = New(Deps{GitLab: bot, Watcher: w, Subs: w, Slack: poster, Unfurls: poster, Store: st, Identities: h.svc,
		Insights: insights.NewBuilder(insights.Config{GitLab: bot, Store: st}), ChartDir: t.TempDir(),
		Admins: []string{slackAlice, slackBob, slackCarol}, Logger: zerolog.Nop()})
	return h
}

func visibilityOf(id int64) string {
	if id == pPublic {
		return simulator.VisibilityPublic
	}
	return simulator.VisibilityPrivate
}

// membersOf: pipebot's GitLab user (1) maintains every project (an
// administrator who is not a member does not pass protected branches).
func membersOf(id int64) map[int64]simulator.AccessLevel {
	switch id {
	case pPublic:
		return map[int64]simulator.AccessLevel{1: simulator.Maintainer, glBob: simulator.Maintainer}
	case pPrivate:
		return map[int64]simulator.AccessLevel{1: simulator.Maintainer, glBob: simulator.Developer}
	}
	return map[int64]simulator.AccessLevel{1: simulator.Maintainer, glAlice: simulator.Developer, glBob: simulator.Maintainer}
}

func (h *idHarness) req(user, text string) slackapp.Request {
	return slackapp.Request{Kind: slackapp.KindCommand, TeamID: idTeam, UserID: user, UserName: strings.ToLower(user[3:]), ChannelID: chanID, Command: "/ci", Text: text}
}

func (h *idHarness) do(user, text string) string {
	h.t.Helper()
	return replyText(h.router.Dispatch(context.Background(), h.req(user, text)))
}

// link runs user's whole OAuth login (the Connect button's URL, the
// approval page, the callback) as GitLab user gl.
func (h *idHarness) link(user string, gl int64) {
	h.t.Helper()
	u, err := h.svc.StartLogin(context.Background(), idTeam, user, user)
	if err != nil {
		h.t.Fatal(err)
	}
	loginAs(h.t, h.sim, u, gl)
}

// loginAs follows a login URL in a cookie-keeping client, approves on the
// simulator's page as GitLab user gl, and checks pipebot's success page.
func loginAs(t testing.TB, sim *simulator.Server, loginURL string, gl int64) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	approval := resp.Request.URL
	form := url.Values{"decision": {"authorize"}}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "state", "scope", "code_challenge", "code_challenge_method"} {
		form.Set(k, approval.Query().Get(k))
	}
	sim.SetBrowserUser(gl)
	resp, err = c.PostForm(approval.Scheme+"://"+approval.Host+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "is now linked to GitLab") {
		t.Fatalf("login: %d %s", resp.StatusCode, b)
	}
}

// botCallsForPeople counts the requests made with the router's bot token
// without Sudo, other than sudo's user look-up (GET /users?search=): in
// linked and sudo modes a person's command never makes one.
func botCallsForPeople(sim *simulator.Server) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.TokenValue == idBotToken && !r.Sudo && !(r.Method == "GET" && r.Path == "/api/v4/users") {
			n++
		}
	}
	return n
}
