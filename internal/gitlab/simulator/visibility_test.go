package simulator

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Role tokens of the permission matrix; every user below is a member of
// each matrix project at the level its name says, except dave and root.
var roleTokens = map[string]string{
	"owner": "owner-token", "maintainer": aliceToken, "developer": devToken, "reporter": bobToken,
	"guest": carolToken, "non-member": daveToken, "admin": rootToken,
}

var roleOrder = []string{"owner", "maintainer", "developer", "reporter", "guest", "non-member", "admin"}

// newMatrix starts a simulator whose project 7 (branches main, feature/x,
// release/1.0) is configured by p and holds one pipeline on main, finished
// up to its manual deploy job.
func newMatrix(t *testing.T, p Project) (*fixture, int64) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	sim := New(Options{Now: clock.Now})
	for i, u := range []User{{ID: 1, Username: "alice"}, {ID: 2, Username: "bob"}, {ID: 3, Username: "carol"},
		{ID: 4, Username: "dave"}, {ID: 5, Username: "devon"}, {ID: 6, Username: "olive"},
		{ID: rootID, Username: "root", IsAdmin: true}} {
		tok := []string{aliceToken, bobToken, carolToken, daveToken, devToken, "owner-token", rootToken}[i]
		sim.AddUser(u, tok)
	}
	p.ID, p.Path = projectID, "group/sub/app"
	p.Branches = []string{"feature/x", "release/1.0"}
	p.Members = map[int64]AccessLevel{6: Owner, 1: Maintainer, 5: Developer, 2: Reporter, 3: Guest}
	p.Jobs = []JobSpec{{Name: "build", Stage: "build"}, {Name: "deploy", Stage: "deploy", When: "manual"}}
	sim.AddProject(p)
	pid := sim.CreatePipeline(projectID, "main", "push", 1)
	if sim.Finish(projectID, pid) != StatusManual {
		t.Fatal("setup pipeline did not stop at the manual job")
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return &fixture{sim: sim, clock: clock, ts: ts}, pid
}

// actions runs every CI action as token against the matrix project and
// its pipeline pid, in an order that leaves each action possible (play the
// manual job, retry the finished one, cancel the pipeline), and reports the
// statuses, e.g. "list=200 log=200 ...".
func (f *fixture) actions(t *testing.T, token string, pid int64) string {
	t.Helper()
	info := f.pipeline(t, pid)
	build, deploy := jobID(t, info, "build"), jobID(t, info, "deploy")
	steps := []struct{ name, method, path string }{
		{"list", "GET", "/projects/7/pipelines"},
		{"log", "GET", fmt.Sprintf("/projects/7/jobs/%d/trace", build)},
		{"vars", "GET", "/projects/7/variables"},
		{"main", "POST", "/projects/7/pipeline?ref=main"},
		{"feature", "POST", "/projects/7/pipeline?ref=feature%2Fx"},
		{"play", "POST", fmt.Sprintf("/projects/7/jobs/%d/play", deploy)},
		{"retry", "POST", fmt.Sprintf("/projects/7/jobs/%d/retry", build)},
		{"cancel", "POST", fmt.Sprintf("/projects/7/pipelines/%d/cancel", pid)},
	}
	var out []string
	for _, s := range steps {
		out = append(out, fmt.Sprintf("%s=%d", s.name, f.do(t, s.method, s.path, token, nil).status))
	}
	return strings.Join(out, " ")
}

const (
	allowAll   = "list=200 log=200 vars=200 main=201 feature=201 play=200 retry=201 cancel=201"
	developer  = "list=200 log=200 vars=403 main=201 feature=201 play=200 retry=201 cancel=201"
	readOnly   = "list=200 log=200 vars=403 main=403 feature=403 play=403 retry=403 cancel=403"
	denied     = "list=403 log=403 vars=403 main=403 feature=403 play=403 retry=403 cancel=403"
	notVisible = "list=404 log=404 vars=404 main=404 feature=404 play=404 retry=404 cancel=404"
)

func TestPermissionMatrix(t *testing.T) {
	private := Project{}
	public := Project{Visibility: VisibilityPublic, PublicPipelines: true}
	publicNoCI := Project{Visibility: VisibilityPublic}
	internal := Project{Visibility: VisibilityInternal, PublicPipelines: true}
	privateWithPublicCI := Project{PublicPipelines: true}
	cases := []struct {
		name    string
		project Project
		want    map[string]string
	}{
		{"private", private, map[string]string{
			"owner": allowAll, "maintainer": allowAll, "developer": developer, "reporter": readOnly,
			"guest": denied, "non-member": notVisible, "admin": allowAll}},
		{"public with public pipelines", public, map[string]string{
			"owner": allowAll, "maintainer": allowAll, "developer": developer, "reporter": readOnly,
			"guest": readOnly, "non-member": readOnly, "admin": allowAll}},
		{"public with public pipelines off", publicNoCI, map[string]string{
			"developer": developer, "reporter": readOnly, "guest": denied, "non-member": denied}},
		{"internal", internal, map[string]string{"guest": readOnly, "non-member": readOnly}},
		{"private with public pipelines", privateWithPublicCI, map[string]string{
			"reporter": readOnly, "guest": readOnly, "non-member": notVisible}},
	}
	for _, tc := range cases {
		for _, role := range roleOrder {
			want, ok := tc.want[role]
			if !ok {
				continue
			}
			t.Run(tc.name+"/"+role, func(t *testing.T) {
				f, pid := newMatrix(t, tc.project)
				before := f.sim.PipelineCount(projectID)
				if got := f.actions(t, roleTokens[role], pid); got != want {
					t.Fatalf("\ngot  %s\nwant %s", got, want)
				}
				if !strings.Contains(want, "main=201") {
					if n := f.sim.PipelineCount(projectID); n != before {
						t.Fatalf("refused creates changed the pipeline count %d -> %d", before, n)
					}
					if st := f.pipeline(t, pid); st.Status != StatusManual || jobStatuses(st)["deploy"] != StatusManual {
						t.Fatalf("refused actions changed the pipeline: %+v", st)
					}
				}
			})
		}
	}
}

func TestProjectVisibilityField(t *testing.T) {
	f, _ := newMatrix(t, Project{Visibility: VisibilityPublic})
	m := f.do(t, "GET", "/projects/7", daveToken, nil).object(t)
	if m["visibility"] != "public" {
		t.Fatalf("visibility = %v", m["visibility"])
	}
	f, _ = newMatrix(t, Project{})
	wantMessage(t, f.do(t, "GET", "/projects/7", daveToken, nil), 404, "404 Project Not Found")
	if m := f.do(t, "GET", "/projects/7", rootToken, nil).object(t); m["visibility"] != "private" {
		t.Fatalf("admin sees %v", m)
	}
}

func TestGroupMembershipIsInherited(t *testing.T) {
	f, _ := newMatrix(t, Project{})
	f.sim.AddProject(Project{ID: 8, Path: "group/open", Visibility: VisibilityPublic})
	f.sim.AddGroup(Group{ID: 70, Path: "group", Members: map[int64]AccessLevel{4: Maintainer}})
	f.sim.ProtectBranch(projectID, "main", Maintainer, Maintainer)
	// dave is in no project, but a Maintainer of the parent group of
	// group/sub/app: he sees it, may run on protected main and list
	// variables.
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/projects/7", 200},
		{"POST", "/projects/7/pipeline?ref=main", 201},
		{"GET", "/projects/7/variables", 200},
	} {
		if r := f.do(t, tc.method, tc.path, daveToken, nil); r.status != tc.want {
			t.Fatalf("%s %s = %d, want %d (%s)", tc.method, tc.path, r.status, tc.want, r.body)
		}
	}
	// The group's project list holds what the user may see: bob (a
	// reporter of project 7) sees 7 and the public 8; root sees both.
	for _, tc := range []struct{ token, want string }{{bobToken, "[7 8]"}, {rootToken, "[7 8]"}, {carolToken, "[7 8]"}} {
		var list []struct {
			ID int64 `json:"id"`
		}
		f.do(t, "GET", "/groups/group/projects?include_subgroups=true&order_by=id&sort=asc", tc.token, nil).json(t, &list)
		var ids []int64
		for _, p := range list {
			ids = append(ids, p.ID)
		}
		if fmt.Sprint(ids) != tc.want {
			t.Fatalf("group projects for %s = %v, want %s", tc.token, ids, tc.want)
		}
	}
	f.sim.AddUser(User{ID: 40, Username: "eve"}, "eve-token")
	var list []map[string]any
	f.do(t, "GET", "/groups/group/projects?include_subgroups=true", "eve-token", nil).json(t, &list)
	if len(list) != 1 || list[0]["id"] != float64(8) {
		t.Fatalf("a stranger sees %v, want only the public project", list)
	}
}
