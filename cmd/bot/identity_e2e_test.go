package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
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

// Identity e2e: pipebot wired as serve wires it in linked mode, one HTTP
// server for Slack's endpoints and the login pages (as serve's mux), and
// GitLab behind a recording proxy that keeps every URL and body that
// crossed it, so a test can list the OAuth secrets that were exchanged.
const (
	idClientID     = "pipebot-e2e-app"
	idClientSecret = "SENTINEL-oauth-client-secret-0101"
	idGitLabToken  = "glpat-SENTINEL-identity-bot-0102"
	idAlice        = int64(2)
	idSlackAlice   = "U0ALICE"
)

// wire records what went to and came from GitLab.
type wireLog struct {
	mu      sync.Mutex
	urls    []string // every request URL (path and query)
	reqs    []string // request bodies
	resps   []string // response bodies and Location headers
	headers []string // Authorization and PRIVATE-TOKEN headers
}

func (w *wireLog) all() (urls, bodies string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.urls, "\n"), strings.Join(append(append([]string{}, w.reqs...), w.resps...), "\n")
}

// recordingProxy serves h and records the exchange.
func recordingProxy(h http.Handler, w *wireLog) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		w.mu.Lock()
		w.urls = append(w.urls, r.URL.RequestURI())
		w.reqs = append(w.reqs, string(body))
		w.resps = append(w.resps, rec.Body.String(), rec.Header().Get("Location"))
		w.headers = append(w.headers, r.Header.Get("Authorization"), r.Header.Get("PRIVATE-TOKEN"))
		w.mu.Unlock()
		for k, v := range rec.Header() {
			rw.Header()[k] = v
		}
		rw.WriteHeader(rec.Code)
		_, _ = rw.Write(rec.Body.Bytes())
	})
}

type idE2E struct {
	*e2e
	wire   *wireLog
	dbPath string
	glURL  string
	cfg    Config
}

// cmd runs a signed slash command and returns its replies.
func (e *idE2E) cmd(user, text string) string {
	e.t.Helper()
	out, _ := signedCommand(e.e2e, user, text)
	return out
}

// newIdentityE2E wires pipebot in mode with the simulator's users alice
// (developer of team/web, whose main is protected) and pipebot's
// administrator, logging at debug level into logs.
func newIdentityE2E(t *testing.T, mode string, logs io.Writer) *idE2E {
	t.Helper()
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot", IsAdmin: true}, idGitLabToken)
	sim.AddUser(simulator.User{ID: idAlice, Username: "alice", Email: "alice@corp.example"}, "")
	sim.AddProject(simulator.Project{ID: e2eProject, Path: "team/web", Branches: []string{"main", "dev"},
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer, idAlice: simulator.Developer},
		Jobs:    []simulator.JobSpec{{Name: "build", Stage: "build"}, {Name: "unit", Stage: "test", Fail: true}}})
	sim.ProtectBranch(e2eProject, "main", simulator.Maintainer, simulator.Maintainer)
	w := &wireLog{}
	glSrv := httptest.NewServer(recordingProxy(sim, w))
	t.Cleanup(glSrv.Close)
	fake := slackfake.NewServer(slackfake.Options{BotToken: leakBotToken})
	t.Cleanup(fake.Close)
	fake.AddUser(slackfake.User{ID: idSlackAlice, Name: "alice", Email: "alice@corp.example"})

	// The pipebot server exists before the app so that its URL can be
	// the public URL (and the OAuth application's redirect URI).
	var handler http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { handler.ServeHTTP(rw, r) }))
	t.Cleanup(srv.Close)
	sim.AddOAuthApp(idClientID, idClientSecret, srv.URL+"/gitlab/oauth/callback", []string{"api"})

	log := zerolog.New(logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	dbPath := filepath.Join(t.TempDir(), "pipebot.db")
	cfg := Config{
		DBPath: dbPath, PollInterval: time.Second, Admins: []string{e2eAdmin, idSlackAlice}, DefaultRole: "viewer",
		SlackSigningSecret: leakSigning, SlackBotToken: leakBotToken, GitLabToken: idGitLabToken,
		Identity: mode, PublicURL: srv.URL, OAuthClientID: idClientID, OAuthClientSecret: idClientSecret,
		SecretKey: bytes.Repeat([]byte{0x5a}, 32),
	}
	log.Info().Str("config", cfg.String()).Msg("starting")
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()))
	a, err := wire(wiring{cfg: cfg, log: log, slackAPI: api, gitlabURL: glSrv.URL, gitlabToken: idGitLabToken,
		gitlabHosts: []string{"gitlab.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.store.Close() })
	if err := startIdentity(context.Background(), a, log); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a.pool.Start(ctx)
	t.Cleanup(a.pool.Stop)
	mux := http.NewServeMux()
	mux.Handle("/slack/", slackapp.NewHTTP(slackapp.HTTPConfig{SigningSecret: leakSigning, Pool: a.pool, Logger: log, Answerer: a.router}))
	mountIdentity(mux, a)
	handler = mux
	e := &e2e{t: t, sim: sim, fake: fake, app: a, srv: srv, now: time.Now()}
	return &idE2E{e2e: e, wire: w, dbPath: dbPath, glURL: glSrv.URL, cfg: cfg}
}

var loginURLPattern = regexp.MustCompile(`http://127\.0\.0\.1:\d+/gitlab/oauth/start\?state=[A-Za-z0-9_-]+`)

// loginURL types /ci login as user and returns the Connect button's URL.
func (e *idE2E) loginURL(user string) string {
	e.t.Helper()
	out, _ := signedCommand(e.e2e, user, "login")
	u := loginURLPattern.FindString(out)
	if u == "" {
		e.t.Fatalf("no login link in %s", out)
	}
	return u
}

// loginWithHTTP finishes a login like a browser without JavaScript: the
// start link, the approval form as GitLab user username, the callback.
func (e *idE2E) loginWithHTTP(loginURL, username string) string {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(loginURL)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	q := resp.Request.URL.Query()
	form := url.Values{"decision": {"authorize"}, "username": {username}}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "state", "scope", "code_challenge", "code_challenge_method"} {
		form.Set(k, q.Get(k))
	}
	resp, err = c.PostForm(e.glURL+"/oauth/authorize", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("login ended with %d: %s", resp.StatusCode, b)
	}
	return string(b)
}

func TestALinkedUsersCommandRunsAsThemOverSignedHTTP(t *testing.T) {
	e := newIdentityE2E(t, "linked", io.Discard)
	mustContain(t, "unlinked", e.cmd(idSlackAlice, "pipelines team/web"), "Connect GitLab", "/gitlab/oauth/start?state=")
	if n := len(e.sim.Requests()); n != 0 {
		t.Fatalf("%d GitLab requests before alice linked", n)
	}
	page := e.loginWithHTTP(e.loginURL(idSlackAlice), "alice")
	mustContain(t, "success page", page, "Slack <strong>@someone</strong> is now linked to GitLab <strong>@alice</strong>")
	if dm := e.fake.Messages(idSlackAlice); len(dm) != 1 || !strings.Contains(dm[0].Text, "@alice") {
		t.Errorf("Slack DM after linking: %+v", dm)
	}
	e.sim.ResetRequests()
	mustContain(t, "as alice", e.cmd(idSlackAlice, "run team/web main"), "can't run pipelines on protected branch `main` in team/web")
	mustContain(t, "as alice", e.cmd(idSlackAlice, "run team/web dev"), "Started pipeline")
	for _, r := range e.sim.Requests() {
		if r.TokenValue == idGitLabToken {
			continue // the watcher's card: background work uses pipebot's token
		}
		if r.Credential != simulator.CredentialOAuth || r.ActingUserID != idAlice {
			t.Errorf("%s %s as %s/%d", r.Method, r.Path, r.Credential, r.ActingUserID)
		}
	}
	pipes := e.sim.PipelineIDs(e2eProject)
	if info, _ := e.sim.Pipeline(e2eProject, pipes[len(pipes)-1]); info.UserID != idAlice {
		t.Errorf("the pipeline was created by user %d, want alice", info.UserID)
	}
	mustContain(t, "whoami", e.cmd(idSlackAlice, "whoami"), "linked @alice")
	mustContain(t, "logout", e.cmd(idSlackAlice, "logout"), "Unlinked GitLab @alice")
}

func TestServeRefusesAKeyThatDoesNotOpenTheStoredLinks(t *testing.T) {
	e := newIdentityE2E(t, "linked", io.Discard)
	e.loginWithHTTP(e.loginURL(idSlackAlice), "alice")
	cfg := e.cfg
	cfg.SecretKey = bytes.Repeat([]byte{1}, 32)
	ids, err := newIdentity(wiring{cfg: cfg, log: zerolog.Nop(), gitlabURL: e.glURL}, e.app.gitlab, e.app.store, e.app.slack)
	if err == nil {
		a := *e.app
		a.identity = ids
		err = startIdentity(context.Background(), &a, zerolog.Nop())
	}
	if err == nil || !strings.HasPrefix(err.Error(), "PIPEBOT_SECRET_KEY: ") || !strings.Contains(err.Error(), "PIPEBOT_SECRET_KEY_PREVIOUS") {
		t.Fatalf("start with another key: %v", err)
	}
	// With the old key as the previous one, serve starts and re-seals.
	cfg.SecretKeyPrevious = bytes.Repeat([]byte{0x5a}, 32)
	ids, _ = newIdentity(wiring{cfg: cfg, log: zerolog.Nop(), gitlabURL: e.glURL}, e.app.gitlab, e.app.store, e.app.slack)
	a := *e.app
	a.identity = ids
	if err := startIdentity(context.Background(), &a, zerolog.Nop()); err != nil {
		t.Fatalf("rotation: %v", err)
	}
}

func TestServeChecksTheSudoTokenAtStart(t *testing.T) {
	e := newIdentityE2E(t, "sudo", io.Discard)
	e.sim.SetTokenScopes(idGitLabToken, "api")
	err := startIdentity(context.Background(), e.app, zerolog.Nop())
	if err == nil || !strings.HasPrefix(err.Error(), "GITLAB_TOKEN: ") || !strings.Contains(err.Error(), "lacks the sudo scope") {
		t.Fatalf("start without the sudo scope: %v", err)
	}
}
