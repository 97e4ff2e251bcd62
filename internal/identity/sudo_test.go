package identity

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

func TestSudoMapsBySlackEmailAndRefusesStrangers(t *testing.T) {
	r := newRig(t, ModeSudo)
	ctx := context.Background()
	cases := []struct {
		user, wantUser, refused string
	}{
		// Slack's email differs in case; GitLab's fuzzy search also
		// returns alice.fan, whose name holds the address.
		{user: "U1", wantUser: "alice"},
		{user: "U2", refused: "No GitLab user has the email address of your Slack account"},
		{user: "U4", refused: "can't see the email address of your Slack account"},
	}
	for _, c := range cases {
		t.Run(c.user, func(t *testing.T) {
			r.sim.ResetRequests()
			a, err := r.svc.Actor(ctx, team, c.user)
			if c.refused != "" {
				var re *RefusedError
				if !errors.As(err, &re) || !strings.Contains(re.Msg, c.refused) {
					t.Fatalf("Actor = %+v, %v; want refusal %q", a, err, c.refused)
				}
				for _, q := range r.sim.Requests() {
					if q.Sudo {
						t.Errorf("a refused user reached GitLab with Sudo: %s %s", q.Method, q.Path)
					}
				}
				return
			}
			if err != nil || a.Kind != KindSudo || a.Username != c.wantUser || a.String() != "sudo @alice" {
				t.Fatalf("Actor = %+v, %v", a, err)
			}
			r.sim.ResetRequests()
			u, err := a.GitLab.CurrentUser(ctx)
			if err != nil || u.Username != "alice" {
				t.Fatalf("as alice: %+v, %v", u, err)
			}
			q := r.sim.Requests()[0]
			if !q.Sudo || q.ActingUserID != aliceID || q.TokenValue != botToken {
				t.Errorf("request %+v, want Sudo as alice", q)
			}
		})
	}
}

func TestSudoRefusesABlockedUserAndRemembersMappingsForTenMinutes(t *testing.T) {
	r := newRig(t, ModeSudo)
	now := time.Now()
	r.svc.cfg.Now = func() time.Time { return now }
	ctx := context.Background()
	if _, err := r.svc.Actor(ctx, team, "U3"); err != nil {
		t.Fatal(err)
	}
	r.sim.SetUserState(3, "blocked")
	lookups := len(r.fake.CallsOf("users.info"))
	if a, err := r.svc.Actor(ctx, team, "U3"); err != nil || a.Username != "bob" {
		t.Fatalf("cached mapping: %+v, %v", a, err)
	}
	if n := len(r.fake.CallsOf("users.info")); n != lookups {
		t.Errorf("the cached mapping asked Slack again")
	}
	now = now.Add(10 * time.Minute)
	var re *RefusedError
	if _, err := r.svc.Actor(ctx, team, "U3"); !errors.As(err, &re) || !strings.Contains(re.Msg, "@bob is blocked") {
		t.Fatalf("blocked user after the cache: %v", err)
	}
}

func TestSudoStartupCheckNamesWhatIsMissing(t *testing.T) {
	r := newRig(t, ModeSudo)
	ctx := context.Background()
	if err := CheckSudo(ctx, r.bot); err != nil {
		t.Fatalf("an admin token with sudo: %v", err)
	}
	r.sim.SetTokenScopes(botToken, "api")
	if err := CheckSudo(ctx, r.bot); !errors.Is(err, ErrSudoToken) || !strings.Contains(err.Error(), "lacks the sudo scope") {
		t.Errorf("no sudo scope: %v", err)
	}
	r.sim.AddUser(simulator.User{ID: 1, Username: "pipebot"}, botToken) // no longer an admin
	if err := CheckSudo(ctx, r.bot); !errors.Is(err, ErrSudoToken) || !strings.Contains(err.Error(), "not a GitLab administrator") {
		t.Errorf("not an admin: %v", err)
	}
}
