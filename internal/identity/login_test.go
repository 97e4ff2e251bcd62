package identity

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

func TestLinkingAUserMakesTheirCommandsRunWithTheirOwnToken(t *testing.T) {
	r := newRig(t, ModeLinked)
	ctx := context.Background()
	if _, err := r.svc.Actor(ctx, team, "U1"); !errors.Is(err, ErrNotLinked) {
		t.Fatalf("Actor before linking: %v, want ErrNotLinked", err)
	}
	if n := len(r.sim.Requests()); n != 0 {
		t.Fatalf("an unlinked user's resolution made %d GitLab requests", n)
	}
	p := r.link("U1", aliceID)
	if p.status != http.StatusOK || !strings.Contains(p.body, "Slack <strong>@slack-U1</strong> is now linked to GitLab <strong>@alice</strong>") {
		t.Fatalf("success page: %d %s", p.status, p.body)
	}
	if len(r.notify) != 1 || !strings.HasPrefix(r.notify[0], "U1: ") || !strings.Contains(r.notify[0], "@alice") {
		t.Errorf("Slack was told %q", r.notify)
	}
	a, err := r.svc.Actor(ctx, team, "U1")
	if err != nil || a.Kind != KindLinked || a.Username != "alice" || a.UserID != aliceID || a.String() != "linked @alice" {
		t.Fatalf("Actor = %+v, %v", a, err)
	}
	r.sim.ResetRequests()
	if _, err := a.GitLab.Project(ctx, "group/app"); err != nil {
		t.Fatal(err)
	}
	for _, q := range r.sim.Requests() {
		if q.Credential != simulator.CredentialOAuth || q.ActingUserID != aliceID || q.TokenValue == botToken {
			t.Errorf("request %s %s: %s as %d", q.Method, q.Path, q.Credential, q.ActingUserID)
		}
	}
	// Another workspace's user of the same id is not linked.
	if _, err := r.svc.Actor(ctx, "T2", "U1"); !errors.Is(err, ErrNotLinked) {
		t.Errorf("Actor in another team: %v", err)
	}
	// Without a team (a Home publish from the watcher), the one link of
	// the user is found.
	if a, err := r.svc.Actor(ctx, "", "U1"); err != nil || a.Username != "alice" {
		t.Errorf("Actor without team = %+v, %v", a, err)
	}
}

func TestBadLoginsStoreNothing(t *testing.T) {
	r := newRig(t, ModeLinked)
	ctx := context.Background()
	r.sim.SetBrowserUser(aliceID)
	cb := r.srv.URL + CallbackPath

	cases := []struct {
		name   string
		run    func(t *testing.T) webPage
		status int
		want   string
	}{
		{"a forged state", func(t *testing.T) webPage {
			return get(t, browser(t), cb+"?code=x&state=forged")
		}, 400, "unknown or was already used"},
		{"no state", func(t *testing.T) webPage { return get(t, browser(t), cb+"?code=x") }, 400, "unknown"},
		{"a denied authorization", func(t *testing.T) webPage {
			u, _ := r.svc.StartLogin(ctx, team, "U1", "alice")
			b := browser(t)
			return approve(t, b, get(t, b, u), "deny")
		}, 400, "You denied pipebot access"},
		{"a failed code exchange", func(t *testing.T) webPage {
			u, _ := r.svc.StartLogin(ctx, team, "U1", "alice")
			b := browser(t)
			start := get(t, b, u) // the approval page; the cookie is set
			st := start.url.Query().Get("state")
			return get(t, b, cb+"?"+url.Values{"code": {"not-a-code"}, "state": {st}}.Encode())
		}, 502, "GitLab did not accept the login (invalid_grant)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.run(t)
			if p.status != c.status || !strings.Contains(p.body, c.want) {
				t.Errorf("page: %d %s", p.status, p.body)
			}
			if strings.Contains(p.body, "goroutine") || strings.Contains(p.body, "panic") {
				t.Errorf("page shows a stack: %s", p.body)
			}
			if links, _ := r.store.Links(); len(links) != 0 {
				t.Errorf("%d links stored", len(links))
			}
		})
	}
}

func TestAStateIsSingleUseAndBoundToItsBrowser(t *testing.T) {
	r := newRig(t, ModeLinked)
	ctx := context.Background()
	r.sim.SetBrowserUser(aliceID)
	u, _ := r.svc.StartLogin(ctx, team, "U1", "alice")
	b := browser(t)
	approval := get(t, b, u)
	st := approval.url.Query().Get("state")
	// Another browser that got hold of the link (a forwarded message) may
	// neither open it again nor finish it.
	other := browser(t)
	if p := get(t, other, u); p.status != 400 || !strings.Contains(p.body, "another browser") {
		t.Errorf("second browser on start: %d %s", p.status, p.body)
	}
	// A code for that state arriving in the other browser is refused and
	// leaves the login to its own browser.
	noFollow := &http.Client{Jar: b.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"decision": {"authorize"}}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "state", "scope", "code_challenge", "code_challenge_method"} {
		form.Set(k, approval.url.Query().Get(k))
	}
	resp, err := noFollow.PostForm(r.glURL+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	if p := get(t, other, callback); p.status != 400 || !strings.Contains(p.body, "another browser") {
		t.Errorf("second browser on callback: %d %s", p.status, p.body)
	}
	if p := get(t, b, callback); p.status != 200 {
		t.Fatalf("own browser: %d %s", p.status, p.body)
	}
	// The same callback again: the state is used up.
	if p := get(t, b, callback); p.status != 400 || !strings.Contains(p.body, "already used") {
		t.Errorf("reused state: %d %s", p.status, p.body)
	}
	if links, _ := r.store.Links(); len(links) != 1 {
		t.Fatalf("%d links", len(links))
	}
	// The state never reaches the database in clear, nor the verifier.
	db, _ := os.ReadFile(r.dbPath)
	if bytes.Contains(db, []byte(st)) {
		t.Error("the database holds the state")
	}
}

func TestAnExpiredLoginLinkIsRefused(t *testing.T) {
	r := newRig(t, ModeLinked)
	now := time.Now()
	r.svc.cfg.Now = func() time.Time { return now }
	u, _ := r.svc.StartLogin(context.Background(), team, "U1", "alice")
	now = now.Add(loginTTL + time.Second)
	if p := get(t, browser(t), u); p.status != 400 || !strings.Contains(p.body, "expired") {
		t.Errorf("expired start: %d %s", p.status, p.body)
	}
	if ps, _ := r.store.PendingLogins(); len(ps) != 0 {
		t.Errorf("the expired login is still pending: %d", len(ps))
	}
}

func TestHTMLPagesEscapeNames(t *testing.T) {
	r := newRig(t, ModeLinked)
	r.sim.AddUser(simulator.User{ID: 9, Username: "<b>x</b>"}, "")
	u, _ := r.svc.StartLogin(context.Background(), team, "U9", `<script>alert(1)</script>`)
	r.sim.SetBrowserUser(9)
	b := browser(t)
	p := approve(t, b, get(t, b, u), "authorize")
	if p.status != 200 || strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<b>x</b>") ||
		!strings.Contains(p.body, "&lt;script&gt;") {
		t.Errorf("page not escaped: %s", p.body)
	}
}
