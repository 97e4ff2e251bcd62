package simulator

import (
	"encoding/json"
	"strconv"
	"testing"
)

const protectedRefMessage = "You do not have sufficient permission to run a pipeline on 'main'. Please select a different branch or contact your administrator for assistance."

func TestProtectedMainMatrix(t *testing.T) {
	const (
		// A Developer may still act on feature branches, never on main.
		devOnProtected   = "list=200 log=200 vars=403 main=400 feature=201 play=403 retry=403 cancel=403"
		adminOnProtected = "list=200 log=200 vars=200 main=400 feature=201 play=403 retry=403 cancel=403"
	)
	cases := []struct {
		name        string
		push, merge AccessLevel
		want        map[string]string
	}{
		{"maintainers only", Maintainer, Maintainer, map[string]string{
			"owner": allowAll, "maintainer": allowAll, "developer": devOnProtected, "reporter": readOnly,
			"guest": denied, "non-member": notVisible,
			// An administrator who is not a member passes no role level.
			"admin": adminOnProtected}},
		{"developers may merge", Maintainer, Developer, map[string]string{
			"developer": developer, "reporter": readOnly}},
		{"developers may push", Developer, Maintainer, map[string]string{"developer": developer}},
		{"no one", NoAccess, NoAccess, map[string]string{
			"owner": adminOnProtected, "maintainer": adminOnProtected}},
		{"admins only", Admins, NoAccess, map[string]string{"maintainer": adminOnProtected, "admin": allowAll}},
	}
	for _, tc := range cases {
		for _, role := range roleOrder {
			want, ok := tc.want[role]
			if !ok {
				continue
			}
			t.Run(tc.name+"/"+role, func(t *testing.T) {
				f, pid := newMatrix(t, Project{})
				f.sim.ProtectBranch(projectID, "main", tc.push, tc.merge)
				if got := f.actions(t, roleTokens[role], pid); got != want {
					t.Fatalf("\ngot  %s\nwant %s", got, want)
				}
			})
		}
	}
}

func TestProtectedRefRefusalBodies(t *testing.T) {
	f, pid := newMatrix(t, Project{})
	f.sim.ProtectBranch(projectID, "main", Maintainer, Maintainer)
	r := f.do(t, "POST", "/projects/7/pipeline?ref=main", devToken, nil)
	if r.status != 400 {
		t.Fatalf("create on protected main: %d %s", r.status, r.body)
	}
	var body struct {
		Message struct {
			Base []string `json:"base"`
		} `json:"message"`
	}
	r.json(t, &body)
	if len(body.Message.Base) != 1 || body.Message.Base[0] != protectedRefMessage {
		t.Fatalf("body = %s", r.body)
	}
	deploy := jobID(t, f.pipeline(t, pid), "deploy")
	wantMessage(t, f.do(t, "POST", "/projects/7/jobs/"+strconv.FormatInt(deploy, 10)+"/play", devToken, nil), 403, "403 Forbidden")
	wantMessage(t, f.do(t, "POST", "/projects/7/pipelines/"+strconv.FormatInt(pid, 10)+"/retry", devToken, nil), 403, "403 Forbidden")
	if f.sim.PipelineCount(projectID) != 1 || jobStatuses(f.pipeline(t, pid))["deploy"] != StatusManual {
		t.Fatal("a refusal changed state")
	}
	// A Reporter is refused before the ref is looked at: 403, not 400.
	wantMessage(t, f.do(t, "POST", "/projects/7/pipeline?ref=main", bobToken, nil), 403, "403 Forbidden")
	// Unprotecting gives the Developer main back.
	f.sim.UnprotectBranch(projectID, "main")
	if r := f.do(t, "POST", "/projects/7/pipeline?ref=main", devToken, nil); r.status != 201 {
		t.Fatalf("after unprotect: %d %s", r.status, r.body)
	}
}

func TestProtectedWildcardAndBranchJSON(t *testing.T) {
	f, _ := newMatrix(t, Project{})
	f.sim.ProtectBranch(projectID, "release/*", Maintainer, Developer)
	f.sim.ProtectBranch(projectID, "main", Maintainer, Maintainer)

	// The wildcard matches across slashes; Developers may merge there, so
	// they may run pipelines, but the reporter still may not.
	if r := f.do(t, "POST", "/projects/7/pipeline?ref=release%2F1.0", devToken, nil); r.status != 201 {
		t.Fatalf("developer on release/1.0: %d %s", r.status, r.body)
	}
	f.sim.ProtectBranch(projectID, "release/*", Maintainer, Maintainer) // re-protect: levels replaced
	if r := f.do(t, "POST", "/projects/7/pipeline?ref=release%2F1.0", devToken, nil); r.status != 400 {
		t.Fatalf("developer on re-protected release/1.0: %d %s", r.status, r.body)
	}

	var branches []branchJSON
	f.do(t, "GET", "/projects/7/repository/branches", devToken, nil).json(t, &branches)
	got := map[string]string{}
	for _, b := range branches {
		got[b.Name] = strconv.FormatBool(b.Protected) + "/" + strconv.FormatBool(b.CanPush) + "/" + strconv.FormatBool(b.DevelopersCanMerge)
	}
	want := map[string]string{"main": "true/false/false", "release/1.0": "true/false/false", "feature/x": "false/true/false"}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("branch %s protected/can_push/developers_can_merge = %s, want %s (all %v)", k, got[k], v, got)
		}
	}
	f.do(t, "GET", "/projects/7/repository/branches", aliceToken, nil).json(t, &branches)
	for _, b := range branches {
		if !b.CanPush {
			t.Fatalf("maintainer cannot push %s", b.Name)
		}
	}

	r := f.do(t, "GET", "/projects/7/protected_branches", aliceToken, nil)
	var list []map[string]any
	r.json(t, &list)
	if len(list) != 2 || list[0]["name"] != "release/*" || list[1]["name"] != "main" {
		t.Fatalf("protected_branches = %s", r.body)
	}
	push, _ := list[1]["push_access_levels"].([]any)
	lvl, _ := push[0].(map[string]any)
	if lvl["access_level"] != float64(40) || lvl["access_level_description"] != "Maintainers" {
		t.Fatalf("push level = %v", lvl)
	}
	one := f.do(t, "GET", "/projects/7/protected_branches/release%2F%2A", aliceToken, nil)
	var pb protectedBranchJSON
	if err := json.Unmarshal(one.body, &pb); err != nil || one.status != 200 || pb.Name != "release/*" {
		t.Fatalf("single protected branch: %d %s", one.status, one.body)
	}
	wantMessage(t, f.do(t, "GET", "/projects/7/protected_branches/nope", aliceToken, nil), 404, "404 Not found")
	wantMessage(t, f.do(t, "GET", "/projects/7/protected_branches", devToken, nil), 403, "403 Forbidden")
}

func TestScheduleOnProtectedRefPlaysOnlyForWhoMayUpdateIt(t *testing.T) {
	f, _ := newMatrix(t, Project{})
	f.sim.ProtectBranch(projectID, "main", Maintainer, Maintainer)
	onMain := f.sim.AddSchedule(projectID, Schedule{Description: "nightly", Ref: "refs/heads/main", Cron: "0 2 * * *", Active: true, OwnerID: 1})
	onFeature := f.sim.AddSchedule(projectID, Schedule{Description: "feature", Ref: "feature/x", Cron: "0 2 * * *", Active: true, OwnerID: 1})
	before := f.sim.PipelineCount(projectID)
	path := func(id int64) string { return "/projects/7/pipeline_schedules/" + strconv.FormatInt(id, 10) + "/play" }
	wantMessage(t, f.do(t, "POST", path(onMain), devToken, nil), 403, "403 Forbidden")
	if n := f.sim.PipelineCount(projectID); n != before {
		t.Fatalf("a refused play made a pipeline: %d -> %d", before, n)
	}
	for _, tc := range []struct {
		token string
		id    int64
	}{{devToken, onFeature}, {aliceToken, onMain}} {
		if r := f.do(t, "POST", path(tc.id), tc.token, nil); r.status != 201 {
			t.Fatalf("play %d: %d %s", tc.id, r.status, r.body)
		}
	}
}
