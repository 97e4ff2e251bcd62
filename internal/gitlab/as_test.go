package gitlab_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

// fakeSource is a TokenSource over the simulator's OAuth tokens that
// counts its calls.
type fakeSource struct {
	mu        sync.Mutex
	token     string
	next      string // what Refresh hands out
	refreshed []string
	fail      error
}

func (f *fakeSource) Token(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.token, nil
}

func (f *fakeSource) Refresh(_ context.Context, rejected string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refreshed = append(f.refreshed, rejected)
	if f.fail != nil {
		return "", f.fail
	}
	f.token = f.next
	return f.token, nil
}

func identitySim(t *testing.T) (*simulator.Server, *gitlab.Client) {
	t.Helper()
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot", IsAdmin: true}, "glpat-bot")
	sim.AddUser(simulator.User{ID: 2, Username: "alice", Email: "Alice@Corp.example"}, "")
	sim.AddUser(simulator.User{ID: 3, Username: "alice-bot", Name: "alice@corp.example fan", Email: "other@corp.example"}, "")
	sim.AddOAuthApp("app", "secret", "http://127.0.0.1/cb", []string{"api"})
	sim.AddProject(simulator.Project{ID: 7, Path: "group/app", Members: map[int64]simulator.AccessLevel{2: simulator.Developer}})
	return sim, serveSim(t, sim, "glpat-bot")
}

func TestWithOAuthActsAsThePersonAndNeverSendsPipebotsToken(t *testing.T) {
	sim, bot := identitySim(t)
	access, _ := sim.IssueOAuthToken("app", 2, "api")
	alice := bot.WithOAuth(&fakeSource{token: access})
	ctx := context.Background()
	u, err := alice.CurrentUser(ctx)
	if err != nil || u.Username != "alice" {
		t.Fatalf("CurrentUser as alice = %+v, %v", u, err)
	}
	if _, err := alice.Project(ctx, "group/app"); err != nil {
		t.Fatalf("alice's project: %v", err)
	}
	for _, r := range sim.Requests() {
		if r.TokenValue != access || r.Credential != simulator.CredentialOAuth || r.ActingUserID != 2 {
			t.Errorf("%s %s went with %s as user %d, want alice's OAuth token", r.Method, r.Path, r.Credential, r.ActingUserID)
		}
	}
	if n := sim.CountCalls("glpat-bot"); n != 0 {
		t.Errorf("pipebot's token was sent %d times", n)
	}
	// The bot client it came from is unchanged.
	if u, err := bot.CurrentUser(ctx); err != nil || u.Username != "pipebot" || !u.IsAdmin {
		t.Errorf("bot CurrentUser = %+v, %v", u, err)
	}
}

func TestAnOAuth401IsRefreshedOnceAndRetried(t *testing.T) {
	sim, bot := identitySim(t)
	old, _ := sim.IssueOAuthToken("app", 2, "api")
	sim.ExpireOAuthTokens(2)
	fresh2, _ := sim.IssueOAuthToken("app", 2, "api")
	src := &fakeSource{token: old, next: fresh2}
	u, err := bot.WithOAuth(src).CurrentUser(context.Background())
	if err != nil || u.Username != "alice" {
		t.Fatalf("CurrentUser = %+v, %v", u, err)
	}
	if len(src.refreshed) != 1 || src.refreshed[0] != old {
		t.Errorf("Refresh calls = %v, want one with the rejected token", src.refreshed)
	}

	// A refresh that fails ends the call with the source's own error.
	gone := errors.New("link dropped")
	sim.ExpireOAuthTokens(2)
	src = &fakeSource{token: fresh2, fail: gone}
	_, err = bot.WithOAuth(src).Project(context.Background(), "group/app")
	if !errors.Is(err, gone) {
		t.Errorf("error = %v, want the source's", err)
	}
	if len(src.refreshed) != 1 {
		t.Errorf("Refresh called %d times, want 1", len(src.refreshed))
	}
}

func TestWithSudoSendsTheSudoHeaderWithPipebotsToken(t *testing.T) {
	sim, bot := identitySim(t)
	alice := bot.WithSudo(2)
	if alice.SudoUser() != 2 || bot.SudoUser() != 0 {
		t.Fatal("SudoUser")
	}
	u, err := alice.CurrentUser(context.Background())
	if err != nil || u.Username != "alice" {
		t.Fatalf("CurrentUser = %+v, %v", u, err)
	}
	r := sim.Requests()[0]
	if !r.Sudo || r.TokenValue != "glpat-bot" || r.ActingUserID != 2 {
		t.Errorf("request = %+v, want Sudo as alice with pipebot's token", r)
	}
}

func TestTokenSelfAndEmailSearch(t *testing.T) {
	sim, bot := identitySim(t)
	ctx := context.Background()
	ti, err := bot.TokenSelf(ctx)
	if err != nil || !strings.Contains(strings.Join(ti.Scopes, ","), "sudo") || ti.UserID != 1 {
		t.Errorf("TokenSelf = %+v, %v", ti, err)
	}
	sim.SetTokenScopes("glpat-bot", "api")
	if ti, _ := bot.TokenSelf(ctx); strings.Contains(strings.Join(ti.Scopes, ","), "sudo") {
		t.Errorf("scopes = %v after restricting them to api", ti.Scopes)
	}
	us, err := bot.SearchUsers(ctx, "alice@corp.example", 20)
	if err != nil {
		t.Fatal(err)
	}
	// GitLab's search is fuzzy: the name match comes back too, and the
	// administrator sees the private email that tells them apart.
	var emails []string
	for _, u := range us {
		emails = append(emails, u.Username+"="+u.Email)
	}
	if len(us) != 2 || !strings.Contains(strings.Join(emails, " "), "alice=Alice@Corp.example") {
		t.Errorf("search = %v", emails)
	}
}
