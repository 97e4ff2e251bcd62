package gitlab_test

import (
	"context"
	"errors"
	"sort"
	"testing"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

func simClient(t *testing.T) (*simulator.Server, *gitlab.Client) {
	t.Helper()
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot"}, "glpat-test")
	sim.AddUser(simulator.User{ID: 2, Username: "alice", Email: "alice@corp.example", PublicEmail: "alice@corp.example"}, "")
	sim.AddUser(simulator.User{ID: 3, Username: "bob", Email: "bob@corp.example"}, "")
	return sim, serveSim(t, sim, "glpat-test")
}

func TestGroupProjectsIncludeSubgroupsAndOnlyVisibleOnes(t *testing.T) {
	sim, gl := simClient(t)
	sim.AddGroup(simulator.Group{ID: 50, Path: "acme"})
	member := map[int64]simulator.AccessLevel{1: simulator.Developer}
	sim.AddProject(simulator.Project{ID: 1, Path: "acme/api", Members: member})
	sim.AddProject(simulator.Project{ID: 2, Path: "acme/platform/db", Members: member})
	sim.AddProject(simulator.Project{ID: 3, Path: "acme/secret"})
	sim.AddProject(simulator.Project{ID: 4, Path: "other/app", Members: member})
	ctx := context.Background()
	g, err := gl.Group(ctx, "acme")
	if err != nil || g.ID != 50 || g.Path != "acme" {
		t.Fatalf("Group = %+v, %v", g, err)
	}
	ps, err := gl.GroupProjects(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Path)
	}
	sort.Strings(got) // GitLab's default order is newest first
	if len(got) != 2 || got[0] != "acme/api" || got[1] != "acme/platform/db" {
		t.Errorf("group projects = %v, want acme/api and acme/platform/db", got)
	}
	if _, err := gl.Group(ctx, "nobody"); !errors.Is(err, gitlab.ErrNotFound) {
		t.Errorf("unknown group: %v, want ErrNotFound", err)
	}
}

func TestUserShowsOnlyThePublicEmailToANonAdminToken(t *testing.T) {
	_, gl := simClient(t)
	ctx := context.Background()
	cases := []struct {
		name string
		id   int64
		want string
	}{
		{"public email is shown", 2, "alice@corp.example"},
		{"private email is not", 3, ""},
	}
	for _, c := range cases {
		u, err := gl.User(ctx, c.id)
		if err != nil || u.Email != c.want {
			t.Errorf("%s: User(%d) = %+v, %v; want email %q", c.name, c.id, u, err, c.want)
		}
	}
}
