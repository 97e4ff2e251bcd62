package identity

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
	"github.com/pipebot/pipebot/internal/state"
)

const (
	botToken  = "glpat-identity-bot"
	appID     = "pipebot-app"
	appSecret = "app-secret-SENTINEL"
	team      = "T1"
	aliceID   = int64(2)
)

// rig is the identity service over real parts: the simulator with an
// OAuth application whose redirect URI is the rig's pipebot server, a bbolt
// file, and the Slack fake.
type rig struct {
	t      testing.TB
	sim    *simulator.Server
	glURL  string
	bot    *gitlab.Client
	store  *state.Store
	dbPath string
	svc    *Service
	srv    *httptest.Server // pipebot's callback server
	fake   *slackfake.Server
	key    []byte
	mu     sync.Mutex
	notify []string
}

func newRig(t testing.TB, mode Mode) *rig {
	t.Helper()
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot", IsAdmin: true}, botToken)
	sim.AddUser(simulator.User{ID: aliceID, Username: "alice", Email: "Alice@Corp.example"}, "")
	sim.AddUser(simulator.User{ID: 3, Username: "bob", Email: "bob@corp.example"}, "")
	sim.AddUser(simulator.User{ID: 4, Username: "alice.fan", Name: "alice@corp.example fan", Email: "fan@corp.example"}, "")
	sim.AddProject(simulator.Project{ID: 7, Path: "group/app", Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer, aliceID: simulator.Developer}})
	gsrv := httptest.NewServer(sim)
	t.Cleanup(gsrv.Close)
	bot, err := gitlab.New(gitlab.Config{BaseURL: gsrv.URL, Token: botToken, MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "pipebot.db")
	st, err := state.Open(dbPath, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	fake := slackfake.NewServer(slackfake.Options{})
	t.Cleanup(fake.Close)
	fake.AddUser(slackfake.User{ID: "U1", Name: "alice", Email: "alice@corp.EXAMPLE"})
	fake.AddUser(slackfake.User{ID: "U2", Name: "stranger", Email: "nobody@corp.example"})
	fake.AddUser(slackfake.User{ID: "U3", Name: "bob", Email: "bob@corp.example"})
	fake.AddUser(slackfake.User{ID: "U4", Name: "noemail"})
	r := &rig{t: t, sim: sim, glURL: gsrv.URL, bot: bot, store: st, dbPath: dbPath, fake: fake, key: testKey(1)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.svc.ServeHTTP(w, req) }))
	t.Cleanup(r.srv.Close)
	sim.AddOAuthApp(appID, appSecret, r.srv.URL+CallbackPath, []string{"api"})
	sealer, err := NewSealer(r.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.svc, err = New(Config{
		Mode: mode, Bot: bot, Store: st, Sealer: sealer,
		OAuth: OAuthConfig{GitLabURL: gsrv.URL, PublicURL: r.srv.URL, ClientID: appID, ClientSecret: appSecret},
		Slack: slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL())),
		Notify: func(_ context.Context, user, text string) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.notify = append(r.notify, user+": "+text)
			return nil
		},
		Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testKey(b byte) []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

// browser is an HTTP client with cookies that follows redirects, like a
// person's browser.
func browser(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

type webPage struct {
	status int
	body   string
	url    *url.URL
}

func get(t testing.TB, c *http.Client, u string) webPage {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return webPage{status: resp.StatusCode, body: string(b), url: resp.Request.URL}
}

// approve submits the simulator's approval page (already loaded in p) the
// way its form does.
func approve(t testing.TB, c *http.Client, p webPage, decision string) webPage {
	t.Helper()
	if p.status != http.StatusOK || !strings.Contains(p.body, "Authorize") {
		t.Fatalf("not the approval page: %d %s", p.status, p.body)
	}
	form := url.Values{"decision": {decision}}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "state", "scope", "code_challenge", "code_challenge_method"} {
		form.Set(k, p.url.Query().Get(k))
	}
	resp, err := c.PostForm(p.url.Scheme+"://"+p.url.Host+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return webPage{status: resp.StatusCode, body: string(b), url: resp.Request.URL}
}

// link runs the whole login of Slack user U1 as GitLab user alice.
func (r *rig) link(user string, gitlabUser int64) webPage {
	r.t.Helper()
	u, err := r.svc.StartLogin(context.Background(), team, user, "slack-"+user)
	if err != nil {
		r.t.Fatal(err)
	}
	r.sim.SetBrowserUser(gitlabUser)
	b := browser(r.t)
	return approve(r.t, b, get(r.t, b, u), "authorize")
}
