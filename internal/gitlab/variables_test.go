package gitlab

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestVariablesDecodeMaskedAndHidden(t *testing.T) {
	hidden := `{"key":"HID","variable_type":"file","value":null,"protected":true,"masked":true,"hidden":true,"raw":false,"environment_scope":"prod","description":"d"}`
	f := newFake(t, map[string][]http.HandlerFunc{
		"GET /api/v4/projects/g%2Fapp/variables":                 {reply(200, fixture(t, "variables_list.json"))},
		"GET /api/v4/projects/g%2Fapp/variables/TEST_VARIABLE_1": {reply(200, fixture(t, "variable_get.json"))},
		"GET /api/v4/groups/team/variables/HID":                  {reply(200, hidden)},
	})
	c, _ := newTestClient(t, f.srv.URL)
	ctx := context.Background()
	list, err := c.Variables(ctx, VariableOwner{Path: "g/app"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || !list[0].Masked || list[1].Masked || list[0].EnvironmentScope != "*" || list[0].VariableType != VariableEnv {
		t.Fatalf("list %+v", list)
	}
	v, err := c.Variable(ctx, VariableOwner{Path: "g/app"}, "TEST_VARIABLE_1", "")
	if err != nil {
		t.Fatal(err)
	}
	if !v.Masked || v.Hidden || v.Value.Reveal() != "TEST_1" {
		t.Errorf("masked variables still return their value to maintainers: %+v", v)
	}
	h, err := c.Variable(ctx, VariableOwner{Group: true, Path: "team"}, "HID", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if !h.Hidden || h.Value != "" || h.VariableType != VariableFile || h.Description != "d" {
		t.Errorf("hidden variable: %+v", h)
	}
	if q := f.requests()[2].URL.Query().Get("filter[environment_scope]"); q != "prod" {
		t.Errorf("filter[environment_scope] = %q", q)
	}
}

func TestVariableWritesCarryTheScopeFilter(t *testing.T) {
	var putBody map[string]any
	var delQuery string
	f := newFake(t, map[string][]http.HandlerFunc{
		"PUT /api/v4/projects/g%2Fapp/variables/KEY": {func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(b, &putBody)
			reply(200, `{"key":"KEY","value":"v","environment_scope":"prod"}`)(w, r)
		}},
		"DELETE /api/v4/projects/g%2Fapp/variables/KEY": {func(w http.ResponseWriter, r *http.Request) {
			delQuery = r.URL.Query().Get("filter[environment_scope]")
			w.WriteHeader(204)
		}},
		"POST /api/v4/projects/g%2Fapp/variables": {reply(400, `{"message":{"value":["is invalid"]}}`)},
	})
	c, _ := newTestClient(t, f.srv.URL)
	ctx := context.Background()
	own := VariableOwner{Path: "g/app"}
	yes := true
	if _, err := c.UpdateVariable(ctx, own, SetVariable{Key: "KEY", Value: "v", Scope: "prod", Masked: &yes}); err != nil {
		t.Fatal(err)
	}
	filter, _ := putBody["filter"].(map[string]any)
	if filter["environment_scope"] != "prod" || putBody["value"] != "v" || putBody["masked"] != true {
		t.Errorf("PUT body %v", putBody)
	}
	if _, ok := putBody["protected"]; ok {
		t.Errorf("an option not given was sent: %v", putBody)
	}
	if err := c.DeleteVariable(ctx, own, "KEY", "prod"); err != nil || delQuery != "prod" {
		t.Errorf("delete: %v, filter %q", err, delQuery)
	}
	_, err := c.CreateVariable(ctx, own, SetVariable{Key: "KEY", Value: "short", Masked: &yes})
	if !IsValueInvalid(err) || strings.Contains(err.Error(), "short") {
		t.Errorf("masked refusal: %v", err)
	}
	if _, err := c.CreateVariable(ctx, own, SetVariable{Key: "BAD-KEY"}); err == nil {
		t.Error("an invalid key reached GitLab")
	}
}
