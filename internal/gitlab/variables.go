package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// VariableOwner is whose CI/CD variables are meant: a project (path or id)
// or, with Group set, a group (path or id).
type VariableOwner struct {
	Group bool
	Path  string
}

// String is "group/app" or "group:team".
func (o VariableOwner) String() string {
	if o.Group {
		return "group:" + o.Path
	}
	return o.Path
}

func (o VariableOwner) base() (string, error) {
	p := strings.Trim(strings.TrimSpace(o.Path), "/")
	if p == "" {
		return "", errors.New("empty project or group")
	}
	if o.Group {
		return "groups/" + url.PathEscape(p) + "/variables", nil
	}
	pp, err := projectPath(p)
	if err != nil {
		return "", err
	}
	return "projects/" + pp + "/variables", nil
}

// Variable types GitLab knows.
const (
	VariableEnv  = "env_var"
	VariableFile = "file"
)

// CIVariable is a project or group CI/CD variable
// (doc/api/project_level_variables.md, group_level_variables.md).
type CIVariable struct {
	Key string
	// Value is what GitLab returned. Masked variables still return their
	// value to Maintainers; callers must not show it.
	Value Secret
	// Hidden variables (masked and hidden) come back with value null.
	Hidden                 bool
	VariableType           string
	Protected, Masked, Raw bool
	EnvironmentScope       string
	Description            string
}

type wireCIVariable struct {
	Key              string  `json:"key"`
	Value            *string `json:"value"`
	VariableType     string  `json:"variable_type"`
	Protected        bool    `json:"protected"`
	Masked           bool    `json:"masked"`
	Hidden           bool    `json:"hidden"`
	Raw              bool    `json:"raw"`
	EnvironmentScope string  `json:"environment_scope"`
	Description      *string `json:"description"`
}

func (w wireCIVariable) variable() CIVariable {
	v := CIVariable{Key: w.Key, VariableType: w.VariableType, Protected: w.Protected, Masked: w.Masked,
		Hidden: w.Hidden || w.Value == nil, Raw: w.Raw, EnvironmentScope: w.EnvironmentScope}
	if w.Value != nil {
		v.Value = Secret(*w.Value)
	}
	if w.Description != nil {
		v.Description = *w.Description
	}
	if v.VariableType == "" {
		v.VariableType = VariableEnv
	}
	if v.EnvironmentScope == "" {
		v.EnvironmentScope = "*"
	}
	return v
}

// SetVariable is a create or an update. Nil fields are not sent: GitLab's
// default on create, unchanged on update.
type SetVariable struct {
	Key   string
	Value Secret
	// Scope is the environment scope to create with, and on update the
	// filter[environment_scope] that picks the variable; "" means "*".
	Scope           string
	VariableType    *string
	Protected       *bool
	Masked          *bool
	MaskedAndHidden bool // create only: masked and never shown again
	Raw             *bool
	Description     *string
}

type variableFilter struct {
	EnvironmentScope string `url:"filter[environment_scope],omitempty" json:"environment_scope,omitempty"`
}

type variableBody struct {
	Key              string          `json:"key,omitempty"`
	Value            string          `json:"value"`
	VariableType     *string         `json:"variable_type,omitempty"`
	Protected        *bool           `json:"protected,omitempty"`
	Masked           *bool           `json:"masked,omitempty"`
	MaskedAndHidden  *bool           `json:"masked_and_hidden,omitempty"`
	Raw              *bool           `json:"raw,omitempty"`
	EnvironmentScope string          `json:"environment_scope,omitempty"`
	Description      *string         `json:"description,omitempty"`
	Filter           *variableFilter `json:"filter,omitempty"`
}

// maxVariables bounds a variable list.
const maxVariables = 1000

// Variables lists the CI/CD variables of a project or group.
func (c *Client) Variables(ctx context.Context, owner VariableOwner) ([]CIVariable, error) {
	base, err := owner.base()
	if err != nil {
		return nil, fmt.Errorf("list variables: %w", err)
	}
	ws, err := paginate[wireCIVariable](ctx, c, base, maxVariables, func(page, perPage int) any {
		return &pageQuery{PerPage: perPage, Page: page}
	})
	if err != nil {
		return nil, fmt.Errorf("list variables of %s: %w", owner, err)
	}
	out := make([]CIVariable, len(ws))
	for i, w := range ws {
		out[i] = w.variable()
	}
	return out, nil
}

func keyPath(base, key string) (string, error) {
	if !validKey(key) {
		return "", fmt.Errorf("invalid variable key %q", key)
	}
	return base + "/" + url.PathEscape(key), nil
}

// validKey is GitLab's rule: letters, digits and _, at most 255.
func validKey(key string) bool {
	if key == "" || len(key) > 255 {
		return false
	}
	for _, r := range key {
		if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// Variable returns one variable; scope ("" for any) is GitLab's
// filter[environment_scope], needed when the key exists in several scopes
// (GitLab answers 409 then).
func (c *Client) Variable(ctx context.Context, owner VariableOwner, key, scope string) (CIVariable, error) {
	base, err := owner.base()
	if err != nil {
		return CIVariable{}, fmt.Errorf("get variable: %w", err)
	}
	p, err := keyPath(base, key)
	if err != nil {
		return CIVariable{}, fmt.Errorf("get variable: %w", err)
	}
	var w wireCIVariable
	if _, err := c.do(ctx, request{method: http.MethodGet, path: p, opt: &variableFilter{EnvironmentScope: scope}, out: &w}); err != nil {
		return CIVariable{}, fmt.Errorf("get variable %s of %s: %w", key, owner, err)
	}
	return w.variable(), nil
}

// CreateVariable creates a variable.
func (c *Client) CreateVariable(ctx context.Context, owner VariableOwner, in SetVariable) (CIVariable, error) {
	base, err := owner.base()
	if err != nil {
		return CIVariable{}, fmt.Errorf("create variable: %w", err)
	}
	if !validKey(in.Key) {
		return CIVariable{}, fmt.Errorf("create variable: invalid key %q", in.Key)
	}
	body := in.body()
	body.Key = in.Key
	body.EnvironmentScope = in.Scope
	if in.MaskedAndHidden {
		t := true
		body.MaskedAndHidden = &t
	}
	var w wireCIVariable
	if _, err := c.do(ctx, request{method: http.MethodPost, path: base, opt: body, out: &w}); err != nil {
		return CIVariable{}, fmt.Errorf("create variable %s of %s: %w", in.Key, owner, err)
	}
	return w.variable(), nil
}

// UpdateVariable updates the variable of in.Key in scope in.Scope.
func (c *Client) UpdateVariable(ctx context.Context, owner VariableOwner, in SetVariable) (CIVariable, error) {
	base, err := owner.base()
	if err != nil {
		return CIVariable{}, fmt.Errorf("update variable: %w", err)
	}
	p, err := keyPath(base, in.Key)
	if err != nil {
		return CIVariable{}, fmt.Errorf("update variable: %w", err)
	}
	body := in.body()
	scope := in.Scope
	if scope == "" {
		scope = "*"
	}
	// Grape reads filter[environment_scope] from the JSON body as from the query.
	body.Filter = &variableFilter{EnvironmentScope: scope}
	var w wireCIVariable
	if _, err := c.do(ctx, request{method: http.MethodPut, path: p, opt: body, out: &w}); err != nil {
		return CIVariable{}, fmt.Errorf("update variable %s of %s: %w", in.Key, owner, err)
	}
	return w.variable(), nil
}

// DeleteVariable deletes the variable key in scope ("" for the only one).
func (c *Client) DeleteVariable(ctx context.Context, owner VariableOwner, key, scope string) error {
	base, err := owner.base()
	if err != nil {
		return fmt.Errorf("delete variable: %w", err)
	}
	p, err := keyPath(base, key)
	if err != nil {
		return fmt.Errorf("delete variable: %w", err)
	}
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: p, opt: &variableFilter{EnvironmentScope: scope}}); err != nil {
		return fmt.Errorf("delete variable %s of %s: %w", key, owner, err)
	}
	return nil
}

func (in SetVariable) body() *variableBody {
	return &variableBody{Value: in.Value.Reveal(), VariableType: in.VariableType, Protected: in.Protected,
		Masked: in.Masked, Raw: in.Raw, Description: in.Description}
}

// Refusals GitLab words in ways worth recognising.
const (
	msgVariablesRefused = "Insufficient permissions to set pipeline variables"
	msgPipelineRefused  = "sufficient permission to run a pipeline"
	msgValueInvalid     = "value is invalid"
)

// IsVariablesRefused reports GitLab refusing a pipeline's variables because
// of the project's ci_pipeline_variables_minimum_override_role.
func IsVariablesRefused(err error) bool { return apiMessageContains(err, msgVariablesRefused) }

// IsPipelineRefused reports GitLab's pipeline-creation chain refusing the
// user a ref (a protected branch or tag): a 400 "You do not have
// sufficient permission to run a pipeline on '<ref>'", not a 403.
func IsPipelineRefused(err error) bool { return apiMessageContains(err, msgPipelineRefused) }

// IsValueInvalid reports GitLab refusing a variable's value, which for a
// masked variable means it breaks the masking rules.
func IsValueInvalid(err error) bool { return apiMessageContains(err, msgValueInvalid) }

// IsConflict reports a 409, e.g. a key that exists in several environment
// scopes asked for without filter[environment_scope].
func IsConflict(err error) bool {
	var api *APIError
	return errors.As(err, &api) && api.Status == http.StatusConflict
}

func apiMessageContains(err error, s string) bool {
	var api *APIError
	return errors.As(err, &api) && strings.Contains(strings.ToLower(api.Message), strings.ToLower(s))
}
