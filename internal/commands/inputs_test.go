package commands

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

// addInputsProject gives the harness group/inputs (id 9): spec:inputs and a
// manual deploy job with job inputs, and a trigger on it.
func addInputsProject(h *harness) {
	h.sim.AddProject(simulator.Project{ID: 9, Path: "group/inputs", Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer},
		Inputs: []simulator.InputSpec{
			{Name: "environment", Options: []any{"staging", "production"}},
			{Name: "replicas", Type: "number", Default: float64(1)},
			{Name: "dry-run", Type: "boolean", Default: false},
			{Name: "note", Default: ""},
		},
		Jobs: []simulator.JobSpec{{Name: "build", Stage: "build"}, {Name: "deploy", Stage: "deploy", When: "manual",
			Inputs: []simulator.InputSpec{{Name: "target", Default: "eu", Options: []any{"eu", "us"}}}}},
	})
	h.sim.AddTrigger(9, 1, "deploys", "glptt-commands-inputs-trigger-000001")
}

func TestInputsReachGitLabTyped(t *testing.T) {
	h := newHarness(t)
	addInputsProject(h)
	_, out := h.do(operator, `run group/inputs main input:environment=staging input:replicas=3 input:dry-run=true input:note="007 agents"`)
	if !strings.Contains(out, "Started pipeline") {
		t.Fatalf("run: %s", out)
	}
	ids := h.sim.PipelineIDs(9)
	if len(ids) != 1 {
		t.Fatalf("pipelines %v", ids)
	}
	want := map[string]any{"environment": "staging", "replicas": float64(3), "dry-run": true, "note": "007 agents"}
	if got := h.sim.PipelineInputs(ids[0]); !reflect.DeepEqual(got, want) {
		t.Fatalf("inputs %v, want %v", got, want)
	}

	_, out = h.do(operator, "trigger run group/inputs deploys main input:environment=production")
	if !strings.Contains(out, "Triggered") {
		t.Fatalf("trigger run: %s", out)
	}
	ids = h.sim.PipelineIDs(9)
	if got := h.sim.PipelineInputs(ids[len(ids)-1]); got["environment"] != "production" {
		t.Fatalf("trigger inputs %v", got)
	}

	h.sim.Finish(9, ids[0])
	var deploy int64
	for _, j := range h.sim.Jobs(9, ids[0]) {
		if j.Name == "deploy" {
			deploy = j.ID
		}
	}
	_, out = h.do(operator, fmt.Sprintf("job play group/inputs %d input:target=us", deploy))
	if !strings.Contains(out, "Playing") {
		t.Fatalf("job play: %s", out)
	}
	if got := h.sim.JobInputs(deploy); got["target"] != "us" {
		t.Fatalf("job inputs %v", got)
	}
}

func TestABadInputIsRefusedWithItsName(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"an option GitLab does not allow", "run group/inputs main input:environment=prod",
			[]string{"GitLab refused the input", "`environment`", "`prod` cannot be used because it is not in the list of allowed options"}},
		{"an input the configuration does not define", "run group/inputs main input:environment=staging input:colour=red",
			[]string{"`colour`", "no such input is defined"}},
		{"a required input left out", "run group/inputs main",
			[]string{"`environment`", "required value has not been provided"}},
		{"a string where a number is wanted", "run group/inputs main input:environment=staging input:replicas=three",
			[]string{"`replicas`", "provided value is not a number"}},
		{"hostile text is escaped", "run group/inputs main input:environment=&lt;b&gt;&lt;!channel&gt;",
			[]string{"`environment`", "&lt;b&gt;"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			addInputsProject(h)
			_, out := h.do(operator, tt.text)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("answer lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "<b>") || strings.Contains(out, "<!channel>") {
				t.Errorf("unescaped mention in %s", out)
			}
			if n := len(h.sim.PipelineIDs(9)); n != 0 {
				t.Errorf("%d pipelines created", n)
			}
			if ws, _ := h.store.Watches(); len(ws) != 0 {
				t.Errorf("watches %v", ws)
			}
		})
	}
}

func TestInputsAreCheckedBeforeGitLabIsCalled(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"a command without inputs", "pipeline list group/app input:x=1", "takes no inputs"},
		{"no NAME=value", "run group/app main input:staging", "needs NAME=value"},
		{"a bad name", "run group/app main input:a.b=1", "an input's name is letters"},
		{"the same input twice", "run group/app main input:a=1 input:a=2", "input a: given more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			_, out := h.do(operator, tt.text)
			if !strings.Contains(out, tt.want) || !strings.Contains(out, "Usage") {
				t.Errorf("answer %q lacks %q and usage", out, tt.want)
			}
			if n := len(h.sim.Requests()); n != 0 {
				t.Errorf("%d GitLab requests for a malformed command", n)
			}
		})
	}
}
