package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp"
)

// auditMustNotContain fails when an audit entry holds any of secrets.
func auditMustNotContain(t *testing.T, h *harness, secrets ...string) {
	t.Helper()
	entries, err := h.store.Audit(200)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		for _, s := range secrets {
			if strings.Contains(e.Command+e.Result, s) {
				t.Errorf("audit entry %+v holds a secret", e)
			}
		}
	}
}

func TestTriggerCommands(t *testing.T) {
	h := newHarness(t)
	h.sim.AddUser(simulator.User{ID: 2, Username: "alice"}, "glpat-alice")
	h.sim.SetMember(7, 2, simulator.Maintainer)
	foreign := h.sim.AddTrigger(7, 2, "alice's", "glptt-SENTINEL-foreign-0000000000000000000001")

	if _, out := h.do(operator, `trigger create group/app "nightly deploy"`); !strings.Contains(out, "needs the admin role") {
		t.Fatalf("operator created a trigger: %s", out)
	}
	reply, out := h.do(admin, `trigger create group/app "nightly deploy"`)
	ts := h.sim.Triggers(7)
	if len(ts) != 2 {
		t.Fatalf("triggers: %+v", ts)
	}
	token := ts[1].Token
	if !strings.Contains(out, token) || reply.InChannel {
		t.Fatalf("the creator must get the whole token, privately: %s (in channel %v)", out, reply.InChannel)
	}

	_, out = h.do(operator, "trigger list group/app")
	if strings.Contains(out, token) || !strings.Contains(out, "…"+token[len(token)-4:]) || !strings.Contains(out, "nightly deploy") {
		t.Errorf("list must show only the last 4 characters: %s", out)
	}
	if !strings.Contains(out, "not usable by pipebot") || strings.Contains(out, "glptt-SENTINEL-foreign") {
		t.Errorf("list must flag the trigger pipebot cannot use: %s", out)
	}

	_, out = h.do(operator, `trigger run group/app "Nightly Deploy" main ZONE=SENTINEL-zone`)
	if !strings.Contains(out, "Triggered pipeline") {
		t.Fatalf("run: %s", out)
	}
	p, ok := h.sim.Pipeline(7, 1)
	if !ok || p.Source != "trigger" || p.Ref != "main" {
		t.Fatalf("pipeline: %+v", p)
	}
	if ws, _ := h.store.Watches(); len(ws) != 1 || ws[0].Requester != operator {
		t.Errorf("a triggered pipeline must be watched: %+v", ws)
	}

	_, out = h.do(operator, fmt.Sprintf("trigger run group/app %d main", foreign))
	if !strings.Contains(out, "full token only to its owner (alice)") {
		t.Errorf("foreign trigger: %s", out)
	}
	_, out = h.do(operator, "trigger run group/app nope main")
	if !strings.Contains(out, "There is no trigger `nope`") {
		t.Errorf("unknown trigger: %s", out)
	}

	if _, out = h.do(admin, fmt.Sprintf("trigger delete group/app %d", foreign)); !strings.Contains(out, "Delete trigger #") {
		t.Fatalf("delete must ask first: %s", out)
	}
	if len(h.sim.Triggers(7)) != 2 {
		t.Fatal("deleted before confirmation")
	}
	if _, out = h.do(admin, fmt.Sprintf("trigger delete group/app %d confirm:yes", foreign)); !strings.Contains(out, "Deleted trigger") {
		t.Fatalf("confirmed delete: %s", out)
	}
	auditMustNotContain(t, h, token, "SENTINEL")
}

func TestVariableRefusalsAreOneSentence(t *testing.T) {
	h := newHarness(t)
	h.sim.SetPipelineVariablesMinimumOverrideRole(7, simulator.OverrideOwner)
	h.do(admin, `trigger create group/app ci`)
	for _, text := range []string{"trigger run group/app ci main A=1", "run group/app main A=1"} {
		reply, out := h.do(operator, text)
		if !strings.Contains(out, "GitLab refused the variables") || !strings.Contains(out, "ci_pipeline_variables_minimum_override_role") {
			t.Errorf("%s: %s", text, out)
		}
		if strings.Count(reply.Text, ". ") > 1 {
			t.Errorf("%s: more than one sentence: %s", text, out)
		}
	}
	if n := h.sim.PipelineCount(7); n != 0 {
		t.Errorf("refused runs created %d pipelines", n)
	}
	if _, out := h.do(operator, "trigger run group/app ci main"); !strings.Contains(out, "Triggered pipeline") {
		t.Errorf("without variables the run goes through: %s", out)
	}
}

func TestVarCommands(t *testing.T) {
	h := newHarness(t)
	h.sim.AddGroup(simulator.Group{ID: 9, Path: "platform", Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}})
	h.sim.AddVariable(7, simulator.VariableSpec{Key: "MASKED", Value: "SENTINEL-masked-1", Masked: true})
	h.sim.AddVariable(7, simulator.VariableSpec{Key: "HIDDEN", Value: "SENTINEL-hidden-1", Hidden: true})
	steps := []struct {
		name, user, text string
		want             []string
		deny             []string
	}{
		{"create", admin, `var set group/app ZONE=SENTINEL-zone-1 description:"where"`, []string{"Created `ZONE` of group/app (scope `*`)"}, nil},
		{"update keeps the scope", admin, "var set group/app ZONE=SENTINEL-zone-2 protected:yes", []string{"Updated `ZONE`"}, nil},
		{"another scope is another variable", admin, "var set group/app ZONE=SENTINEL-zone-3 scope:production", []string{"Created `ZONE`", "scope `production`"}, nil},
		{"list shows flags, never values", operator, "vars group/app", []string{"`ZONE` · scope `*` · protected — where", "`MASKED` · scope `*` · masked", "`HIDDEN` · scope `*` · hidden"}, nil},
		{"operator may not show", operator, "var show group/app ZONE scope:*", []string{"needs the admin role"}, nil},
		{"show gives the value", admin, "var show group/app ZONE scope:production", []string{"SENTINEL-zone-3", "shown to you alone"}, nil},
		{"two scopes need scope:", admin, "var show group/app ZONE", []string{"several environment scopes"}, nil},
		{"masked is never shown", admin, "var show group/app MASKED", []string{"is masked"}, nil},
		{"hidden is never shown", admin, "var show group/app HIDDEN", []string{"is hidden"}, nil},
		{"masking rules in one sentence", admin, "var set group/app SHORT=abc masked:yes", []string{"GitLab refused the value of `SHORT`: a masked value must be one line of at least 8 characters"}, nil},
		{"bad type", admin, "var set group/app X=1 type:blob", []string{"type:file"}, nil},
		{"group variable", admin, "var set group:platform REGION=SENTINEL-region", []string{"Created `REGION` of group:platform"}, nil},
		{"group list", operator, "var list group:platform", []string{"`REGION`"}, nil},
		{"unknown project", admin, "var list group/nope", []string{"can't find group/nope"}, nil},
		{"delete asks", admin, "var delete group/app ZONE scope:production", []string{"Delete the variable `ZONE` of group/app (scope `production`)?"}, nil},
		{"delete confirmed", admin, "var delete group/app ZONE scope:production confirm:yes", []string{"Deleted the variable `ZONE`"}, nil},
	}
	for _, s := range steps {
		reply, out := h.do(s.user, s.text)
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: reply lacks %q: %s", s.name, w, out)
			}
		}
		if reply.InChannel {
			t.Errorf("%s: a var reply went to the channel", s.name)
		}
		if s.name != "show gives the value" && strings.Contains(out, "SENTINEL") {
			t.Errorf("%s: a value leaked: %s", s.name, out)
		}
	}
	vars := h.sim.Variables(7)
	if len(vars) != 3 || vars[2].Key != "ZONE" || vars[2].Value != "SENTINEL-zone-2" || !vars[2].Protected || vars[2].Description != "where" {
		t.Errorf("project variables: %+v", vars)
	}
	if g := h.sim.GroupVariables(9); len(g) != 1 || g[0].Value != "SENTINEL-region" {
		t.Errorf("group variables: %+v", g)
	}
	auditMustNotContain(t, h, "SENTINEL", "abc")
}

// submit sends the modal recorded by the fake back as the user's submission.
func (h *harness) submit(user string, view json.RawMessage, value string) {
	h.t.Helper()
	var v slack.View
	if err := json.Unmarshal(view, &v); err != nil {
		h.t.Fatal(err)
	}
	v.State = &slack.ViewState{Values: map[string]map[string]slack.BlockAction{blockVarValue: {actionVarValue: {Type: "plain_text_input", Value: value}}}}
	h.router.Handle(context.Background(), slackapp.Request{Kind: slackapp.KindViewSubmission, UserID: user, View: &v, TriggerID: "view.trigger"})
}

func TestVarSetWithoutValueAsksInAFormAndTheSubmissionSetsIt(t *testing.T) {
	h := newHarness(t)
	const value = "SENTINEL-modal-value-0123456789"
	req := h.req(admin, "var set group/app API_TOKEN masked:yes scope:production")
	req.TriggerID = "123.456.abc"
	reply := h.router.Dispatch(context.Background(), req)
	if !reply.None {
		t.Errorf("opening the form needs no reply: %s", replyText(reply))
	}
	opens := h.fake.CallsOf("views.open")
	if len(opens) != 1 || opens[0].TriggerID != "123.456.abc" {
		t.Fatalf("views.open calls: %+v", opens)
	}
	if m := h.mutations(); len(m) != 0 {
		t.Fatalf("GitLab changed before the value was given: %+v", m)
	}

	h.submit(viewer, opens[0].View, value)
	if v := h.sim.Variables(7); len(v) != 0 {
		t.Fatalf("a viewer's submission set a variable: %+v", v)
	}
	h.submit(admin, opens[0].View, value)
	vars := h.sim.Variables(7)
	if len(vars) != 1 || vars[0].Key != "API_TOKEN" || vars[0].Value != value || !vars[0].Masked || vars[0].Scope != "production" {
		t.Fatalf("variables after the submission: %+v", vars)
	}
	eph := h.fake.CallsOf("chat.postEphemeral")
	if len(eph) != 2 || eph[0].User != viewer || !strings.Contains(eph[0].Text, "needs the admin role") ||
		eph[1].User != admin || eph[1].Channel != chanID || !strings.Contains(eph[1].Text, "Created `API_TOKEN`") {
		t.Errorf("answers to the submissions: %+v", eph)
	}
	for _, c := range h.fake.Calls() {
		if strings.Contains(c.Body, value) {
			t.Errorf("%s carried the value: %s", c.Method, c.Body)
		}
	}
	auditMustNotContain(t, h, value)

	req.TriggerID = ""
	if _, out := h.do(admin, "var set group/app OTHER"); !strings.Contains(out, "give the value inline") {
		t.Errorf("without a trigger_id: %s", out)
	}
}
