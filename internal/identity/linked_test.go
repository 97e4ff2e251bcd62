package identity

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

func TestAnExpiredTokenIsRefreshedOnceWhenTenCommandsArriveTogether(t *testing.T) {
	r := newRig(t, ModeLinked)
	r.link("U1", aliceID)
	ctx := context.Background()
	before, _, _ := r.store.Link(team, "U1")
	r.sim.ExpireOAuthTokens(aliceID)
	// pipebot learns of the expiry as GitLab answers 401, or from the
	// stored expiry: both paths meet in one refresh.
	if _, err := r.store.WithLink(team, "U1", func(l *state.Link, _ bool) (state.RecordOp, error) {
		l.Expiry = time.Now().Add(-time.Second)
		return state.Save, nil
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := r.svc.Actor(ctx, team, "U1")
			if err == nil {
				_, err = a.GitLab.Pipelines(ctx, "group/app", gitlab.ListPipelinesOptions{})
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("command: %v", err)
		}
	}
	if n := r.sim.OAuthTokenRequests("refresh_token"); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	after, found, _ := r.store.Link(team, "U1")
	if !found || after.Version <= before.Version || !after.Expiry.After(time.Now().Add(time.Hour)) {
		t.Errorf("link after refresh = %+v", after)
	}
	// The new pair is what is stored: the next command needs no refresh.
	a, _ := r.svc.Actor(ctx, team, "U1")
	if _, err := a.GitLab.CurrentUser(ctx); err != nil {
		t.Fatal(err)
	}
	if n := r.sim.OAuthTokenRequests("refresh_token"); n != 1 || r.sim.LiveOAuthTokens(aliceID) != 1 {
		t.Errorf("refreshes %d, live tokens %d", n, r.sim.LiveOAuthTokens(aliceID))
	}
}

func TestARevokedLinkIsDroppedAndTheUserAskedToLogInAgain(t *testing.T) {
	r := newRig(t, ModeLinked)
	r.link("U1", aliceID)
	ctx := context.Background()
	a, err := r.svc.Actor(ctx, team, "U1")
	if err != nil {
		t.Fatal(err)
	}
	r.sim.RevokeOAuthTokens(aliceID) // the user revoked pipebot in GitLab
	_, err = a.GitLab.Project(ctx, "group/app")
	if !errors.Is(err, ErrLinkRevoked) {
		t.Fatalf("error = %v, want ErrLinkRevoked", err)
	}
	if _, found, _ := r.store.Link(team, "U1"); found {
		t.Error("the refused link is still stored")
	}
	if _, err := r.svc.Actor(ctx, team, "U1"); !errors.Is(err, ErrNotLinked) {
		t.Errorf("next command: %v, want ErrNotLinked", err)
	}
}

func TestGitLabUnreachableDuringARefreshKeepsTheLink(t *testing.T) {
	r := newRig(t, ModeLinked)
	r.link("U1", aliceID)
	ctx := context.Background()
	r.sim.ExpireOAuthTokens(aliceID)
	r.sim.SetFault(func(q *http.Request) (int, time.Duration, bool) {
		return http.StatusServiceUnavailable, 0, q.URL.Path == "/oauth/token" // the token endpoint is down
	})
	a, _ := r.svc.Actor(ctx, team, "U1")
	_, err := a.GitLab.Project(ctx, "group/app")
	r.sim.SetFault(nil)
	if !errors.Is(err, gitlab.ErrUnavailable) || errors.Is(err, ErrLinkRevoked) {
		t.Fatalf("error = %v, want ErrUnavailable", err)
	}
	if _, found, _ := r.store.Link(team, "U1"); !found {
		t.Fatal("a GitLab outage dropped the link")
	}
	if _, err := a.GitLab.Project(ctx, "group/app"); err != nil {
		t.Errorf("after the outage: %v", err)
	}
}

func TestLogoutRevokesAtGitLabAndDeletesTheLinkEvenWhenGitLabIsDown(t *testing.T) {
	r := newRig(t, ModeLinked)
	ctx := context.Background()
	r.link("U1", aliceID)
	res, err := r.svc.Logout(ctx, team, "U1")
	if err != nil || !res.Linked || res.Username != "alice" || res.RevokeErr != nil {
		t.Fatalf("Logout = %+v, %v", res, err)
	}
	if n := r.sim.LiveOAuthTokens(aliceID); n != 0 {
		t.Errorf("%d tokens still live at GitLab", n)
	}
	if _, found, _ := r.store.Link(team, "U1"); found {
		t.Error("link kept")
	}
	if res, _ := r.svc.Logout(ctx, team, "U1"); res.Linked {
		t.Error("a second logout found a link")
	}

	r.link("U1", aliceID)
	r.svc.cfg.OAuth.GitLabURL = "http://127.0.0.1:1" // nothing listens there
	res, err = r.svc.Logout(ctx, team, "U1")
	if err != nil || !res.Linked || res.RevokeErr == nil {
		t.Fatalf("Logout with GitLab down = %+v, %v", res, err)
	}
	if _, found, _ := r.store.Link(team, "U1"); found {
		t.Error("GitLab being down kept the link")
	}
}
