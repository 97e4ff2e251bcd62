package simulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

const schedPath = "/projects/" + encPath + "/pipeline_schedules"

func TestScheduleCreateComputesNextRunInItsZone(t *testing.T) {
	f := newFixture(t) // clock: 2024-05-01 12:00 UTC
	cases := []struct {
		name, cron, tz, want string
	}{
		{"UTC by default", "0 2 * * *", "", "2024-05-02T02:00:00.000Z"},
		{"IANA zone", "0 9 * * *", "Asia/Tokyo", "2024-05-02T00:00:00.000Z"},
		{"Rails zone", "0 2 * * *", "Pacific Time (US & Canada)", "2024-05-02T09:00:00.000Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := map[string]any{"description": "nightly", "ref": "main", "cron": c.cron}
			if c.tz != "" {
				body["cron_timezone"] = c.tz
			}
			r := f.do(t, "POST", schedPath, devToken, body)
			if r.status != http.StatusCreated {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			got := r.object(t)
			if got["next_run_at"] != c.want || got["ref"] != "refs/heads/main" || got["active"] != true {
				t.Errorf("next_run_at %v ref %v active %v", got["next_run_at"], got["ref"], got["active"])
			}
			if owner, _ := got["owner"].(map[string]any); owner["username"] != "devon" {
				t.Errorf("owner %v", got["owner"])
			}
			if _, ok := got["last_pipeline"]; !ok || got["last_pipeline"] != nil {
				t.Errorf("a new schedule's last_pipeline must be null: %v", got["last_pipeline"])
			}
		})
	}
}

func TestScheduleValidationAndAccess(t *testing.T) {
	f := newFixture(t)
	id := f.sim.AddSchedule(projectID, Schedule{Description: "d", Ref: "main", Cron: "0 1 * * *", Active: true, OwnerID: 1})
	p := fmt.Sprintf("%s/%d", schedPath, id)
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		message                   string // the "message" field as JSON text, when checked
	}{
		{"bad cron", "POST", schedPath, devToken, map[string]any{"description": "d", "ref": "main", "cron": "0 0 L * *"}, 400, `{"cron":["is invalid syntax"]}`},
		{"six fields", "POST", schedPath, devToken, map[string]any{"description": "d", "ref": "main", "cron": "0 0 * * * *"}, 400, `{"cron":["is invalid syntax"]}`},
		{"bad zone", "POST", schedPath, devToken, map[string]any{"description": "d", "ref": "main", "cron": "0 0 * * *", "cron_timezone": "Mars/Base"}, 400, `{"cron_timezone":["is invalid syntax"]}`},
		{"unknown ref", "POST", schedPath, devToken, map[string]any{"description": "d", "ref": "nope", "cron": "0 0 * * *"}, 400, `{"ref":["is ambiguous"]}`},
		{"missing cron", "POST", schedPath, devToken, map[string]any{"description": "d", "ref": "main"}, 400, ""},
		{"reporter cannot create", "POST", schedPath, bobToken, map[string]any{"description": "d", "ref": "main", "cron": "0 0 * * *"}, 403, ""},
		{"guest cannot read", "GET", schedPath, carolToken, nil, 403, ""},
		{"non-member sees no project", "GET", schedPath, daveToken, nil, 404, ""},
		{"missing schedule", "GET", schedPath + "/999", aliceToken, nil, 404, `"404 Pipeline Schedule Not Found"`},
		{"only the owner edits", "PUT", p, devToken, map[string]any{"active": false}, 403, ""},
		{"developer cannot take ownership", "POST", p + "/take_ownership", devToken, nil, 403, ""},
		{"developer non-owner cannot delete", "DELETE", p, devToken, nil, 403, ""},
		{"reporter cannot play", "POST", p + "/play", bobToken, nil, 403, ""},
		{"non-owner cannot set variables", "POST", p + "/variables", devToken, map[string]any{"key": "K", "value": "v"}, 403, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.do(t, c.method, c.path, c.token, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if c.message != "" {
				var m map[string]any
				r.json(t, &m)
				if got := jsonText(t, m["message"]); got != c.message {
					t.Errorf("message %s, want %s", got, c.message)
				}
			}
		})
	}
}

func TestScheduleOwnershipVariablesAndPlay(t *testing.T) {
	f := newFixture(t)
	id := f.sim.AddSchedule(projectID, Schedule{Description: "nightly", Ref: "develop", Cron: "0 1 * * *", Active: true, OwnerID: 5})
	p := fmt.Sprintf("%s/%d", schedPath, id)

	// The owner (a developer) sets a variable; a reporter's view hides it.
	if r := f.do(t, "POST", p+"/variables", devToken, map[string]any{"key": "TARGET", "value": "secret-1"}); r.status != 201 {
		t.Fatalf("create variable: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", p+"/variables", devToken, map[string]any{"key": "TARGET", "value": "x"}); r.status != 400 {
		t.Fatalf("duplicate key: %d %s", r.status, r.body)
	}
	if r := f.do(t, "PUT", p+"/variables/MISSING", devToken, map[string]any{"value": "x"}); r.status != 404 {
		t.Fatalf("edit of a missing key: %d", r.status)
	}
	if got := f.do(t, "GET", p, bobToken, nil).object(t); got["variables"] != nil {
		t.Errorf("a reporter saw variables: %v", got["variables"])
	}
	if got := f.do(t, "GET", p, aliceToken, nil).object(t); got["variables"] == nil {
		t.Errorf("a maintainer should see variables: %v", got)
	}

	// Play creates a schedule pipeline on the short ref, by the player.
	if r := f.do(t, "POST", p+"/play", devToken, nil); r.status != 201 || jsonText(t, r.object(t)["message"]) != `"201 Created"` {
		t.Fatalf("play: %d %s", r.status, r.body)
	}
	ids := f.sim.PipelineIDs(projectID)
	if len(ids) != 1 {
		t.Fatalf("pipelines after play: %v", ids)
	}
	info := f.pipeline(t, ids[0])
	if info.Source != "schedule" || info.Ref != "develop" || info.UserID != 5 {
		t.Errorf("played pipeline: %+v", info)
	}
	got := f.do(t, "GET", p, devToken, nil).object(t)
	if lp, _ := got["last_pipeline"].(map[string]any); lp["id"] != float64(ids[0]) {
		t.Errorf("last_pipeline %v", got["last_pipeline"])
	}

	// A maintainer takes ownership, and may then edit.
	if r := f.do(t, "POST", p+"/take_ownership", aliceToken, nil); r.status != 201 {
		t.Fatalf("take ownership: %d %s", r.status, r.body)
	}
	if s, _ := f.sim.Schedule(projectID, id); s.OwnerID != 1 {
		t.Fatalf("owner after take_ownership: %d", s.OwnerID)
	}
	if r := f.do(t, "PUT", p, aliceToken, map[string]any{"active": false, "cron": "30 4 * * 1"}); r.status != 200 {
		t.Fatalf("edit by the new owner: %d %s", r.status, r.body)
	}
	if s, _ := f.sim.Schedule(projectID, id); s.Active || s.Cron != "30 4 * * 1" {
		t.Errorf("edit not applied: %+v", s)
	}
	if r := f.do(t, "DELETE", p+"/variables/TARGET", aliceToken, nil); r.status != 202 {
		t.Fatalf("delete variable: %d", r.status)
	}
	if r := f.do(t, "DELETE", p, aliceToken, nil); r.status != 204 {
		t.Fatalf("delete schedule: %d", r.status)
	}
	if _, ok := f.sim.Schedule(projectID, id); ok {
		t.Error("schedule still there")
	}
}

func TestMinimumOverrideRoleRefusesScheduleVariables(t *testing.T) {
	f := newFixture(t)
	id := f.sim.AddSchedule(projectID, Schedule{Description: "n", Ref: "main", Cron: "0 1 * * *", Active: true, OwnerID: 5,
		Variables: []Variable{{Key: "K", Value: "v", VariableType: "env_var"}}})
	p := fmt.Sprintf("%s/%d", schedPath, id)
	f.sim.SetPipelineVariablesMinimumOverrideRole(projectID, OverrideMaintainer)

	r := f.do(t, "POST", p+"/variables", devToken, map[string]any{"key": "NEW", "value": "v"})
	wantMessage(t, r, http.StatusForbidden, "403 Forbidden - The current user is not authorized to set pipeline schedule variables")
	// A play by a developer creates no pipeline: GitLab's pipeline creation
	// stops with "Insufficient permissions to set pipeline variables".
	if r := f.do(t, "POST", p+"/play", devToken, nil); r.status != 201 {
		t.Fatalf("play: %d", r.status)
	}
	if n := f.sim.PipelineCount(projectID); n != 0 {
		t.Errorf("a pipeline was created with refused variables: %d", n)
	}
	// Deleting stays allowed; a maintainer's play runs.
	f.sim.SetPipelineVariablesMinimumOverrideRole(projectID, "")
	if r := f.do(t, "POST", p+"/play", aliceToken, nil); r.status != 201 || f.sim.PipelineCount(projectID) != 1 {
		t.Fatalf("maintainer play: %d, pipelines %d", r.status, f.sim.PipelineCount(projectID))
	}
	f.sim.SetPipelineVariablesMinimumOverrideRole(projectID, OverrideNoOneAllowed)
	r = f.do(t, "PUT", p+"/variables/K", devToken, map[string]any{"value": "w"})
	wantMessage(t, r, http.StatusForbidden, "403 Forbidden - The current user is not authorized to set pipeline schedule variables")
}

func TestScheduleResponsesMatchFixtureShapes(t *testing.T) {
	f := newFixture(t)
	id := f.sim.AddSchedule(projectID, Schedule{Description: "d", Ref: "main", Cron: "* * * * *", CronTimezone: "Asia/Tokyo", Active: true, OwnerID: 1,
		Variables: []Variable{{Key: "K", Value: "v", VariableType: "env_var"}}})
	if r := f.do(t, "POST", fmt.Sprintf("%s/%d/play", schedPath, id), aliceToken, nil); r.status != 201 {
		t.Fatal(r.status)
	}
	var fxGet map[string]any
	var fxList []map[string]any
	readFixture(t, "pipeline_schedule_get.json", &fxGet)
	readFixture(t, "pipeline_schedules_list.json", &fxList)
	got := f.do(t, "GET", fmt.Sprintf("%s/%d", schedPath, id), aliceToken, nil).object(t)
	sameKeys(t, "schedule get", got, fxGet, "inputs")
	sameKeys(t, "schedule owner", got["owner"].(map[string]any), fxGet["owner"].(map[string]any))
	var list []map[string]any
	f.do(t, "GET", schedPath, aliceToken, nil).json(t, &list)
	sameKeys(t, "schedules list", list[0], fxList[0], "inputs")
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
