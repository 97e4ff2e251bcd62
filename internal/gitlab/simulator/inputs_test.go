package simulator

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// inputsProject is group/inputs (id 9): a configuration with spec:inputs and
// a manual deploy job with job inputs.
func inputsFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.sim.AddProject(Project{
		ID: 9, Path: "group/inputs", Members: map[int64]AccessLevel{1: Maintainer, 5: Developer},
		Inputs: []InputSpec{
			{Name: "environment", Options: []any{"staging", "production"}},
			{Name: "replicas", Type: "number", Default: float64(1)},
			{Name: "debug", Type: "boolean", Default: false},
			{Name: "version", Default: "1.0.0", Regex: `/^\d+\.\d+\.\d+$/`},
		},
		Jobs: []JobSpec{
			{Name: "build", Stage: "build"},
			{Name: "deploy", Stage: "deploy", When: "manual", Inputs: []InputSpec{
				{Name: "target", Default: "eu", Options: []any{"eu", "us"}},
				{Name: "canary", Type: "boolean", Default: true},
			}},
		},
	})
	return f
}

func TestCreatePipelineChecksInputsAsGitLabDoes(t *testing.T) {
	tests := []struct {
		name   string
		body   any
		status int
		want   map[string]any // resolved inputs, when created
		msg    string         // part of GitLab's message, when refused
	}{
		{name: "typed inputs with defaults filled in", status: 201,
			body: map[string]any{"ref": "main", "inputs": map[string]any{"environment": "staging", "replicas": 3, "debug": true}},
			want: map[string]any{"environment": "staging", "replicas": float64(3), "debug": true, "version": "1.0.0"}},
		{name: "form-encoded inputs are strings", status: 201,
			body: "ref=main&inputs[environment]=production",
			want: map[string]any{"environment": "production", "replicas": float64(1), "debug": false, "version": "1.0.0"}},
		{name: "a required input left out", status: 400, body: map[string]any{"ref": "main"},
			msg: "`environment` input: required value has not been provided"},
		{name: "an unknown input", status: 400,
			body: map[string]any{"ref": "main", "inputs": map[string]any{"environment": "staging", "colour": "red", "apple": 1}},
			msg:  "unknown input arguments: apple, colour"},
		{name: "a value outside the options", status: 400,
			body: map[string]any{"ref": "main", "inputs": map[string]any{"environment": "prod"}},
			msg:  "`environment` input: `prod` cannot be used because it is not in the list of allowed options"},
		{name: "a string for a number", status: 400,
			body: map[string]any{"ref": "main", "inputs": map[string]any{"environment": "staging", "replicas": "3"}},
			msg:  "`replicas` input: provided value is not a number"},
		{name: "a string for a boolean", status: 400,
			body: map[string]any{"ref": "main", "inputs": map[string]any{"environment": "staging", "debug": "yes"}},
			msg:  "`debug` input: provided value is not a boolean"},
		{name: "a value the regex refuses", status: 400,
			body: map[string]any{"ref": "main", "inputs": map[string]any{"environment": "staging", "version": "latest"}},
			msg:  "`version` input: provided value does not match required RegEx pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := inputsFixture(t)
			r := f.do(t, "POST", "/projects/9/pipeline", devToken, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tt.status)
			}
			if tt.status != http.StatusCreated {
				if !strings.Contains(string(r.body), tt.msg) || !strings.Contains(string(r.body), `"base"`) {
					t.Fatalf("body %s, want %q under message.base", r.body, tt.msg)
				}
				if n := len(f.sim.PipelineIDs(9)); n != 0 {
					t.Fatalf("%d pipelines created by a refused request", n)
				}
				return
			}
			id := int64(r.object(t)["id"].(float64))
			if got := f.sim.PipelineInputs(id); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("inputs %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProjectWithoutSpecInputsRefusesInputs(t *testing.T) {
	f := newFixture(t)
	r := f.do(t, "POST", "/projects/7/pipeline", devToken, map[string]any{"ref": "main", "inputs": map[string]any{"x": "1"}})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "unknown input arguments: x") {
		t.Fatalf("got %d %s", r.status, r.body)
	}
}

func TestTriggerTakesInputs(t *testing.T) {
	f := inputsFixture(t)
	f.sim.AddTrigger(9, 1, "deploys", "glptt-inputs-trigger-token-0000000001")
	r := f.do(t, "POST", "/projects/9/trigger/pipeline", "", map[string]any{
		"token": "glptt-inputs-trigger-token-0000000001", "ref": "main", "inputs": map[string]any{"environment": "production", "replicas": 2},
	})
	if r.status != http.StatusCreated {
		t.Fatalf("trigger = %d %s", r.status, r.body)
	}
	id := int64(r.object(t)["id"].(float64))
	if got := f.sim.PipelineInputs(id); got["environment"] != "production" || got["replicas"] != float64(2) {
		t.Fatalf("inputs %v", got)
	}
	r = f.do(t, "POST", "/projects/9/trigger/pipeline", "", "token=glptt-inputs-trigger-token-0000000001&ref=main&inputs[environment]=qa")
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "`environment` input: `qa` cannot be used") {
		t.Fatalf("bad trigger input = %d %s", r.status, r.body)
	}
}

func TestPlayJobTakesJobInputs(t *testing.T) {
	f := inputsFixture(t)
	r := f.do(t, "POST", "/projects/9/pipeline", devToken, map[string]any{"ref": "main", "inputs": map[string]any{"environment": "staging"}})
	pid := int64(r.object(t)["id"].(float64))
	f.sim.Finish(9, pid)
	var deploy int64
	for _, j := range f.sim.Jobs(9, pid) {
		if j.Name == "deploy" {
			deploy = j.ID
		}
	}
	if got := f.sim.JobInputs(deploy); !reflect.DeepEqual(got, map[string]any{"target": "eu", "canary": true}) {
		t.Fatalf("default job inputs %v", got)
	}
	path := fmt.Sprintf("/projects/9/jobs/%d/play", deploy)
	r = f.do(t, "POST", path, devToken, map[string]any{"job_inputs": map[string]any{"target": "mars"}})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "`target` input: `mars` cannot be used") {
		t.Fatalf("bad job input = %d %s", r.status, r.body)
	}
	for _, j := range f.sim.Jobs(9, pid) {
		if j.ID == deploy && j.Status != StatusManual {
			t.Fatalf("refused play moved the job to %s", j.Status)
		}
	}
	r = f.do(t, "POST", path, devToken, map[string]any{"job_inputs": map[string]any{"target": "us", "canary": false}})
	if r.status != http.StatusOK {
		t.Fatalf("play = %d %s", r.status, r.body)
	}
	if got := f.sim.JobInputs(deploy); !reflect.DeepEqual(got, map[string]any{"target": "us", "canary": false}) {
		t.Fatalf("played job inputs %v", got)
	}
}
