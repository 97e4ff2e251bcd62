package gitlab_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

// serveSim serves sim for the test's duration and returns a client of it
// that authenticates with token.
func serveSim(t *testing.T, sim *simulator.Server, token string) *gitlab.Client {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	gl, err := gitlab.New(gitlab.Config{BaseURL: srv.URL, Token: token, MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return gl
}

// acmeSim is a simulator whose clock reads *now (start at first), with user
// 1 (pipebot, token glpat-test) a Reporter of group acme (id 50).
func acmeSim(start time.Time) (*simulator.Server, *time.Time) {
	now := start
	sim := simulator.New(simulator.Options{Now: func() time.Time { return now }})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot"}, "glpat-test")
	sim.AddGroup(simulator.Group{ID: 50, Path: "acme", Members: map[int64]simulator.AccessLevel{1: simulator.Reporter}})
	return sim, &now
}
