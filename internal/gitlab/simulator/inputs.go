package simulator

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
)

// InputSpec is one input a CI configuration declares: an entry of the
// header's spec:inputs (Project.Inputs, https://docs.gitlab.com/ci/inputs/)
// or of a job's inputs: keyword (JobSpec.Inputs,
// https://docs.gitlab.com/ci/jobs/job_inputs/).
type InputSpec struct {
	Name string
	// Type is "string" (the default), "number", "boolean" or "array".
	Type string
	// Default makes the input optional; without one it is required. GitLab
	// requires a default on job inputs.
	Default any
	// Options, when set, are the only values accepted.
	Options []any
	// Regex, when set, must match a string value.
	Regex string
}

// inputError is GitLab's validation error for inputs: the pipeline is not
// created and the API answers 400 with the messages under "base"
// (render_validation_error!), each in GitLab's wording.
func inputError(msgs []string) *apiError {
	return msgError(http.StatusBadRequest, map[string][]string{"base": msgs})
}

// resolveInputs checks given inputs against specs as GitLab does when it
// interpolates a configuration, and returns every input's value (defaults
// filled in), or GitLab's messages for what is wrong.
func resolveInputs(specs []InputSpec, given map[string]any) (map[string]any, []string) {
	var errs []string
	known := map[string]bool{}
	for _, sp := range specs {
		known[sp.Name] = true
	}
	var unknown []string
	for name := range given {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		errs = append(errs, "unknown input arguments: "+strings.Join(unknown, ", "))
	}
	out := map[string]any{}
	for _, sp := range specs {
		v, ok := given[sp.Name]
		if !ok {
			if sp.Default == nil {
				errs = append(errs, fmt.Sprintf("`%s` input: required value has not been provided", sp.Name))
				continue
			}
			v = sp.Default
		}
		if msg := checkInput(sp, v); msg != "" {
			errs = append(errs, fmt.Sprintf("`%s` input: %s", sp.Name, msg))
			continue
		}
		out[sp.Name] = v
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// checkInput returns what is wrong with v for sp, or "".
func checkInput(sp InputSpec, v any) string {
	switch sp.Type {
	case "", "string":
		if _, ok := v.(string); !ok {
			return "provided value is not a string"
		}
	case "number":
		switch v.(type) {
		case float64, int, int64:
		default:
			return "provided value is not a number"
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return "provided value is not a boolean"
		}
	case "array":
		if _, ok := v.([]any); !ok {
			return "provided value is not an array"
		}
	}
	if len(sp.Options) > 0 {
		allowed := false
		for _, o := range sp.Options {
			if fmt.Sprint(o) == fmt.Sprint(v) {
				allowed = true
			}
		}
		if !allowed {
			return fmt.Sprintf("`%v` cannot be used because it is not in the list of allowed options", v)
		}
	}
	if sp.Regex != "" {
		s, _ := v.(string)
		re, err := regexp.Compile(strings.Trim(sp.Regex, "/"))
		if err != nil || !re.MatchString(s) {
			return "provided value does not match required RegEx pattern"
		}
	}
	return ""
}

// PipelineInputs returns the inputs a pipeline was created with, defaults
// included (nil for an unknown pipeline).
func (s *Server) PipelineInputs(pipelineID int64) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pipelines[pipelineID]; ok {
		return copyInputs(p.inputs)
	}
	return nil
}

// JobInputs returns the inputs a job last ran with, defaults included (nil
// for an unknown job).
func (s *Server) JobInputs(jobID int64) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j, ok := s.jobs[jobID]; ok {
		return copyInputs(j.inputs)
	}
	return nil
}

func copyInputs(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
