package simulator

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestTriggerTokenIsWholeOnlyForItsOwner(t *testing.T) {
	f := newFixture(t)
	r := f.do(t, "POST", "/projects/"+encPath+"/triggers", aliceToken, map[string]any{"description": "deploy"})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	created := r.object(t)
	full, _ := created["token"].(string)
	if !strings.HasPrefix(full, "glptt-") || len(full) < 40 {
		t.Fatalf("creator sees token %q", full)
	}
	f.sim.SetMember(projectID, 5, Maintainer)
	var fx []map[string]any
	readFixture(t, "triggers_list.json", &fx)
	cases := []struct {
		name, token, want string
	}{
		{"owner sees the whole token", aliceToken, full},
		{"another maintainer sees four characters", devToken, full[:4]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var list []map[string]any
			f.do(t, "GET", "/projects/"+encPath+"/triggers", c.token, nil).json(t, &list)
			if len(list) != 1 || list[0]["token"] != c.want {
				t.Fatalf("list = %v", list)
			}
			sameKeys(t, "trigger", list[0], fx[0])
		})
	}
	if r := f.do(t, "GET", "/projects/"+encPath+"/triggers", bobToken, nil); r.status != http.StatusForbidden {
		t.Errorf("reporter listed triggers: %d", r.status)
	}
	id := int64(created["id"].(float64))
	if r := f.do(t, "DELETE", fmt.Sprintf("/projects/%s/triggers/%d", encPath, id), aliceToken, nil); r.status != http.StatusNoContent {
		t.Errorf("delete: %d", r.status)
	}
	if n := len(f.sim.Triggers(projectID)); n != 0 {
		t.Errorf("%d triggers left after delete", n)
	}
}

func TestTriggerEndpointAuthenticatesByTriggerToken(t *testing.T) {
	f := newFixture(t)
	tok := "glptt-0123456789abcdef0123456789abcdef01234567"
	f.sim.AddTrigger(projectID, 5, "ci", tok)
	cases := []struct {
		name     string
		body     any
		role     string
		status   int
		contains string
	}{
		{"wrong token is 404", "token=glptt-nope&ref=main", "", 404, "404 Not Found"},
		{"missing ref", "token=" + tok, "", 400, "ref is missing"},
		{"form variables", "token=" + tok + "&ref=main&variables[ZONE]=eu", "", 201, `"source":"trigger"`},
		{"json variables", map[string]any{"token": tok, "ref": "main", "variables": map[string]string{"A": "1"}}, "", 201, `"status":"created"`},
		{"variables refused below the override role", "token=" + tok + "&ref=main&variables[ZONE]=eu", OverrideMaintainer, 400, "Insufficient permissions to set pipeline variables"},
		{"no one may set variables", "token=" + tok + "&ref=main&variables[ZONE]=eu", OverrideNoOneAllowed, 400, "Insufficient permissions"},
		{"no variables is fine whatever the role", "token=" + tok + "&ref=main", OverrideNoOneAllowed, 201, `"source":"trigger"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.sim.SetPipelineVariablesMinimumOverrideRole(projectID, c.role)
			r := f.do(t, "POST", "/projects/"+encPath+"/trigger/pipeline", "", c.body) // no PRIVATE-TOKEN
			if r.status != c.status || !strings.Contains(string(r.body), c.contains) {
				t.Fatalf("%d %s, want %d with %q", r.status, r.body, c.status, c.contains)
			}
		})
	}
	ids := f.sim.PipelineIDs(projectID)
	if len(ids) != 3 {
		t.Fatalf("pipelines: %v", ids)
	}
	if p := f.pipeline(t, ids[0]); p.UserID != 5 || p.Source != "trigger" {
		t.Errorf("a trigger pipeline runs as the trigger's owner: %+v", p)
	}
	if r := f.do(t, "POST", "/projects/"+encPath+"/pipeline", devToken, map[string]any{"ref": "main", "variables": []map[string]string{{"key": "A", "value": "1"}}}); r.status != 400 {
		t.Errorf("API pipeline with variables below the override role: %d %s", r.status, r.body)
	}
}

func TestVariablesMaskedHiddenAndScoped(t *testing.T) {
	f := newFixture(t)
	base := "/projects/" + encPath + "/variables"
	steps := []struct {
		name, method, path, token string
		body                      any
		status                    int
		contains                  string
	}{
		{"developer may not list", "GET", base, devToken, nil, 403, "403"},
		{"create", "POST", base, aliceToken, map[string]any{"key": "TOKEN", "value": "abcdefgh12345", "masked": true}, 201, `"masked":true`},
		{"duplicate key in the same scope", "POST", base, aliceToken, map[string]any{"key": "TOKEN", "value": "x"}, 400, "has already been taken"},
		{"same key in another scope", "POST", base, aliceToken, map[string]any{"key": "TOKEN", "value": "prodvalue1", "environment_scope": "production"}, 201, `"environment_scope":"production"`},
		{"two scopes need a filter", "GET", base + "/TOKEN", aliceToken, nil, 409, "filter[environment_scope]"},
		{"filter picks one", "GET", base + "/TOKEN?filter%5Benvironment_scope%5D=production", aliceToken, nil, 200, `"value":"prodvalue1"`},
		{"masked value too short", "POST", base, aliceToken, map[string]any{"key": "SHORT", "value": "abc", "masked": true}, 400, `"value":["is invalid"]`},
		{"masked value with a space", "POST", base, aliceToken, map[string]any{"key": "SPACE", "value": "abc defgh ijk", "masked": true}, 400, "is invalid"},
		{"masked raw allows symbols", "POST", base, aliceToken, map[string]any{"key": "RAW", "value": "p@$$w0rd!!", "masked": true, "raw": true}, 201, `"raw":true`},
		{"masked expanded refuses symbols", "POST", base, aliceToken, map[string]any{"key": "EXP", "value": "p@$$w0rd!!", "masked": true}, 400, "is invalid"},
		{"hidden returns null", "POST", base, aliceToken, map[string]any{"key": "HID", "value": "hiddenvalue1", "masked_and_hidden": true}, 201, `"value":null`},
		{"hidden stays null on get", "GET", base + "/HID", aliceToken, nil, 200, `"hidden":true`},
		{"bad key", "POST", base, aliceToken, map[string]any{"key": "A-B", "value": "x"}, 400, "can contain only letters"},
		{"update in a scope", "PUT", base + "/TOKEN", aliceToken, map[string]any{"value": "newprodvalue", "filter": map[string]string{"environment_scope": "production"}}, 200, `"value":"newprodvalue"`},
		{"delete in a scope", "DELETE", base + "/TOKEN?filter%5Benvironment_scope%5D=production", aliceToken, nil, 204, ""},
		{"missing", "GET", base + "/NOPE", aliceToken, nil, 404, "404 Variable Not Found"},
	}
	for _, s := range steps {
		r := f.do(t, s.method, s.path, s.token, s.body)
		if r.status != s.status || !strings.Contains(string(r.body), s.contains) {
			t.Fatalf("%s: %d %s, want %d with %q", s.name, r.status, r.body, s.status, s.contains)
		}
	}
	vars := f.sim.Variables(projectID)
	if len(vars) != 3 {
		t.Fatalf("variables left: %+v", vars)
	}
	if r := f.do(t, "GET", "/projects/"+encPath+"/variables/HID", aliceToken, nil); strings.Contains(string(r.body), "hiddenvalue1") {
		t.Error("a hidden value came back")
	}
}

func TestGroupVariables(t *testing.T) {
	f := newFixture(t)
	f.sim.AddGroup(Group{ID: 9, Path: "team", Members: map[int64]AccessLevel{1: Maintainer, 5: Developer}})
	if r := f.do(t, "POST", "/groups/team/variables", aliceToken, map[string]any{"key": "G", "value": "gv"}); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/groups/9/variables/G", aliceToken, nil); r.status != 200 || !strings.Contains(string(r.body), `"value":"gv"`) {
		t.Errorf("get by id: %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/groups/team/variables", devToken, nil); r.status != 403 {
		t.Errorf("developer listed group variables: %d", r.status)
	}
	if r := f.do(t, "GET", "/groups/nope/variables", aliceToken, nil); r.status != 404 {
		t.Errorf("unknown group: %d", r.status)
	}
	if v := f.sim.GroupVariables(9); len(v) != 1 || v[0].Scope != "*" {
		t.Errorf("group variables: %+v", v)
	}
}
