package gitlab

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Input is one CI/CD input given when a pipeline is created (spec:inputs,
// https://docs.gitlab.com/ci/inputs/) or a manual job is run (job inputs,
// https://docs.gitlab.com/ci/jobs/job_inputs/). Value is a string, a bool or
// a json.Number: GitLab checks the JSON type against the input's declared
// type, so "3" and 3 are different inputs to it.
type Input struct {
	Name  string
	Value any
}

// jsonNumber is the JSON grammar of a number: GitLab reads exactly these as
// numbers, so "007", "0x1f" and "1e" stay strings.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// TypedInput types a value typed in chat the way pipebot promises: true and
// false are booleans, a JSON number is a number, everything else a string.
func TypedInput(name, value string) Input {
	switch {
	case value == "true":
		return Input{Name: name, Value: true}
	case value == "false":
		return Input{Name: name, Value: false}
	case len(value) <= 64 && jsonNumber.MatchString(value):
		return Input{Name: name, Value: json.Number(value)}
	}
	return Input{Name: name, Value: value}
}

// inputsBody is the JSON object GitLab takes as `inputs` (pipelines,
// triggers) or `job_inputs` (job play); nil when there are none, so the
// field is left out.
func inputsBody(inputs []Input) (map[string]any, error) {
	if len(inputs) == 0 {
		return nil, nil
	}
	m := make(map[string]any, len(inputs))
	for _, in := range inputs {
		if strings.TrimSpace(in.Name) == "" {
			return nil, errEmptyInput
		}
		if _, dup := m[in.Name]; dup {
			return nil, fmt.Errorf("input %s given twice", in.Name)
		}
		switch in.Value.(type) {
		case string, bool, json.Number:
		default:
			return nil, fmt.Errorf("input %s: unsupported value type %T", in.Name, in.Value)
		}
		m[in.Name] = in.Value
	}
	return m, nil
}

var errEmptyInput = errors.New("empty input name")

// InputRefusal is GitLab's refusal of one input, read from a 400 answer.
type InputRefusal struct {
	// Name is the input GitLab named.
	Name string
	// Reason is what is wrong with it, as GitLab put it, in lowercase.
	Reason string
}

// GitLab's wording (lib/gitlab/ci/input/…, Ci::Inputs): "unknown input
// arguments: a, b" and "`name` input: <what is wrong>".
var (
	unknownInputsRe = regexp.MustCompile(`(?i)unknown input arguments?:\s*([^.;]+)`)
	namedInputRe    = regexp.MustCompile("`([^`]+)` input:\\s*([^;]+)")
)

// InputRefusals reads which inputs GitLab refused and why from err, or
// returns nil when err is not such a refusal.
func InputRefusals(err error) []InputRefusal {
	var api *APIError
	if !errors.As(err, &api) || api.Status != 400 {
		return nil
	}
	var out []InputRefusal
	if m := unknownInputsRe.FindStringSubmatch(api.Message); m != nil {
		for name := range strings.SplitSeq(m[1], ",") {
			if name = strings.Trim(strings.TrimSpace(name), "`'\""); name != "" {
				out = append(out, InputRefusal{Name: name, Reason: "no such input is defined in the CI configuration"})
			}
		}
	}
	for _, m := range namedInputRe.FindAllStringSubmatch(api.Message, -1) {
		out = append(out, InputRefusal{Name: m[1], Reason: strings.TrimRight(strings.TrimSpace(m[2]), ".")})
	}
	return out
}
