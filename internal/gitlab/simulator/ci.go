package simulator

// This file simulates GitLab's pipeline trigger tokens
// (doc/api/pipeline_triggers.md), project and group CI/CD variables
// (doc/api/project_level_variables.md, group_level_variables.md) and the
// ci_pipeline_variables_minimum_override_role project setting
// (doc/ci/variables/index.md#restrict-pipeline-variables).

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// VariableSpec is a project or group CI/CD variable.
type VariableSpec struct {
	Key, Value string
	// Type is "env_var" (default) or "file".
	Type                           string
	Protected, Masked, Hidden, Raw bool
	Scope                          string // environment scope; default "*"
	Description                    string
}

// TriggerInfo is a snapshot of a trigger token.
type TriggerInfo struct {
	ID          int64
	Description string
	Token       string
	OwnerID     int64
}

// Values of ci_pipeline_variables_minimum_override_role (doc/api/projects.md).
const (
	OverrideNoOneAllowed = "no_one_allowed"
	OverrideDeveloper    = "developer"
	OverrideMaintainer   = "maintainer"
	OverrideOwner        = "owner"
)

type ciState struct {
	nextTrigger int64
	triggers    map[int64][]*TriggerInfo // by project id
	vars        map[string][]*VariableSpec
	lastUsed    map[int64]time.Time // by trigger id
}

func (s *Server) ciInit() *ciState {
	if s.ci.triggers == nil {
		s.ci = ciState{
			triggers: map[int64][]*TriggerInfo{}, vars: map[string][]*VariableSpec{},
			lastUsed: map[int64]time.Time{},
		}
	}
	return &s.ci
}

func projectVarsKey(id int64) string { return "p" + strconv.FormatInt(id, 10) }
func groupVarsKey(id int64) string   { return "g" + strconv.FormatInt(id, 10) }

// AddTrigger gives a project a trigger token owned by ownerID; an empty
// token gets a generated one. It returns the trigger id.
func (s *Server) AddTrigger(projectID, ownerID int64, description, token string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addTrigger(projectID, ownerID, description, token).ID
}

func (s *Server) addTrigger(projectID, ownerID int64, description, token string) *TriggerInfo {
	ci := s.ciInit()
	if token == "" {
		token = newTriggerToken()
	}
	ci.nextTrigger++
	t := &TriggerInfo{ID: ci.nextTrigger, Description: description, Token: token, OwnerID: ownerID}
	ci.triggers[projectID] = append(ci.triggers[projectID], t)
	return t
}

// newTriggerToken makes a token shaped like GitLab's: "glptt-" and 40 hex.
func newTriggerToken() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return "glptt-" + hex.EncodeToString(b)
}

// Triggers returns snapshots of a project's trigger tokens.
func (s *Server) Triggers(projectID int64) []TriggerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TriggerInfo
	for _, t := range s.ciInit().triggers[projectID] {
		out = append(out, *t)
	}
	return out
}

// AddVariable sets a project variable directly (setup for tests).
func (s *Server) AddVariable(projectID int64, v VariableSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putVariable(projectVarsKey(projectID), v)
}

// AddGroupVariable sets a group variable directly.
func (s *Server) AddGroupVariable(groupID int64, v VariableSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putVariable(groupVarsKey(groupID), v)
}

func (s *Server) putVariable(owner string, v VariableSpec) {
	ci := s.ciInit()
	v.fill()
	cp := v
	ci.vars[owner] = append(ci.vars[owner], &cp)
}

func (v *VariableSpec) fill() {
	if v.Type == "" {
		v.Type = "env_var"
	}
	if v.Scope == "" {
		v.Scope = "*"
	}
	if v.Hidden {
		v.Masked = true
	}
}

// Variables returns copies of a project's variables.
func (s *Server) Variables(projectID int64) []VariableSpec {
	return s.variablesOf(projectVarsKey(projectID))
}

// GroupVariables returns copies of a group's variables.
func (s *Server) GroupVariables(groupID int64) []VariableSpec {
	return s.variablesOf(groupVarsKey(groupID))
}

func (s *Server) variablesOf(owner string) []VariableSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []VariableSpec
	for _, v := range s.ciInit().vars[owner] {
		out = append(out, *v)
	}
	return out
}

var errVariablesRefused = msgError(http.StatusBadRequest, map[string][]string{"base": {"Insufficient permissions to set pipeline variables"}})

// checkOverrideRole refuses variables from a user below the project's
// minimum override role. Callers hold mu.
func (s *Server) checkOverrideRole(pr *project, userID int64, vars []Variable) *apiError {
	if len(vars) == 0 {
		return nil
	}
	if !s.canSetPipelineVariables(pr, pr.Members[userID]) {
		return errVariablesRefused
	}
	return nil
}

type triggerJSON struct {
	ID          int64  `json:"id"`
	Description string `json:"description"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
	LastUsed    any    `json:"last_used"`
	Token       string `json:"token"`
	Owner       any    `json:"owner"`
}

// triggerJSON shows the whole token to its owner only; everyone else sees
// four characters.
func (s *Server) triggerJSON(t *TriggerInfo, viewer int64, created time.Time) triggerJSON {
	tok := t.Token
	if t.OwnerID != viewer && len(tok) > 4 {
		tok = tok[:4]
	}
	out := triggerJSON{ID: t.ID, Description: t.Description, CreatedAt: ts(created), UpdatedAt: ts(created),
		LastUsed: nil, Token: tok, Owner: s.userBasic(t.OwnerID)}
	if at, ok := s.ciInit().lastUsed[t.ID]; ok {
		out.LastUsed = ts(at)
	}
	return out
}

// routeProjectCI serves /projects/:id/triggers… and /projects/:id/variables….
func (s *Server) routeProjectCI(c *call, rest []string) *apiError {
	if err := c.need(Maintainer); err != nil {
		return err
	}
	if rest[0] == "variables" {
		return s.routeVariables(c, projectVarsKey(c.proj.ID), rest[1:])
	}
	ci := s.ciInit()
	m := c.r.Method
	list := ci.triggers[c.proj.ID]
	created := c.proj.createdAt
	switch {
	case len(rest) == 1 && m == http.MethodGet:
		out := make([]triggerJSON, 0, len(list))
		for _, t := range list {
			out = append(out, s.triggerJSON(t, c.user.ID, created))
		}
		return writePage(c, out)
	case len(rest) == 1 && m == http.MethodPost:
		params, err := readParams(c.r)
		if err != nil {
			return err
		}
		desc := params.get("description")
		if desc == "" {
			return paramError("description is missing")
		}
		t := s.addTrigger(c.proj.ID, c.user.ID, desc, "")
		writeJSON(c.w, http.StatusCreated, s.triggerJSON(t, c.user.ID, s.clock()))
		return nil
	case len(rest) == 2:
		id, perr := strconv.ParseInt(rest[1], 10, 64)
		if perr != nil {
			return paramError("trigger_id is invalid")
		}
		for i, t := range list {
			if t.ID != id {
				continue
			}
			switch m {
			case http.MethodGet:
				writeJSON(c.w, http.StatusOK, s.triggerJSON(t, c.user.ID, created))
			case http.MethodDelete:
				ci.triggers[c.proj.ID] = append(list[:i:i], list[i+1:]...)
				c.w.WriteHeader(http.StatusNoContent)
			default:
				return errRouteNotFound
			}
			return nil
		}
		return msgError(http.StatusNotFound, "404 Trigger Not Found")
	}
	return errRouteNotFound
}

// triggerPipelineAPI serves POST /projects/:id/trigger/pipeline. GitLab
// authenticates it by the trigger token in the parameters (not by
// PRIVATE-TOKEN) and runs the pipeline as the trigger's owner, whose role
// must allow the variables. Callers hold mu.
func (s *Server) triggerPipelineAPI(w http.ResponseWriter, r *http.Request, idOrPath string) *apiError {
	pr := s.lookupProject(idOrPath)
	if pr == nil {
		return errProjectNotFound
	}
	params, err := readParams(r)
	if err != nil {
		return err
	}
	token, ref := params.get("token"), params.get("ref")
	if token == "" {
		return paramError("token is missing")
	}
	if ref == "" {
		return paramError("ref is missing")
	}
	var trig *TriggerInfo
	for _, t := range s.ciInit().triggers[pr.ID] {
		if t.Token == token {
			trig = t
		}
	}
	if trig == nil {
		return msgError(http.StatusNotFound, "404 Not Found")
	}
	owner, ok := s.users[trig.OwnerID]
	if !ok || owner.State == "blocked" || pr.Members[trig.OwnerID] < Developer {
		return errForbidden
	}
	vars, verr := params.hashVariables("variables")
	if verr != nil {
		return verr
	}
	if err := s.checkOverrideRole(pr, trig.OwnerID, vars); err != nil {
		return err
	}
	inputs, ierr := params.hash("inputs")
	if ierr != nil {
		return ierr
	}
	p, cerr := s.createPipeline(pr, ref, "trigger", trig.OwnerID, vars, inputs)
	if cerr != nil {
		return cerr
	}
	s.ciInit().lastUsed[trig.ID] = s.clock()
	writeJSON(w, http.StatusCreated, s.pipelineFull(p))
	return nil
}

// hashVariables reads a Grape Hash parameter of string values (hash) as
// variables, sorted by key.
func (p *params) hashVariables(name string) ([]Variable, *apiError) {
	m, aerr := p.hash(name)
	if aerr != nil {
		return nil, aerr
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Variable, 0, len(keys))
	for _, k := range keys {
		v, ok := m[k].(string)
		if !ok && m[k] != nil {
			return nil, paramError(name + " is invalid")
		}
		out = append(out, Variable{Key: k, Value: v, VariableType: "env_var"})
	}
	return out, nil
}

// routeGroupCI serves /groups/:id/variables….
func (s *Server) routeGroupCI(c *call, idOrPath string, rest []string) *apiError {
	g := s.lookupGroup(idOrPath)
	if g == nil || g.Members[c.user.ID] < Guest {
		return msgError(http.StatusNotFound, "404 Group Not Found")
	}
	c.level = g.Members[c.user.ID]
	if len(rest) == 0 || rest[0] != "variables" {
		return errRouteNotFound
	}
	if err := c.need(Maintainer); err != nil {
		return err
	}
	return s.routeVariables(c, groupVarsKey(g.ID), rest[1:])
}

type variableJSON struct {
	VariableType     string  `json:"variable_type"`
	Key              string  `json:"key"`
	Value            *string `json:"value"`
	Protected        bool    `json:"protected"`
	Masked           bool    `json:"masked"`
	Hidden           bool    `json:"hidden"`
	Raw              bool    `json:"raw"`
	EnvironmentScope string  `json:"environment_scope"`
	Description      *string `json:"description"`
}

// variableJSON renders v; a hidden variable's value is null, a masked one's
// is returned (to Maintainers, as GitLab does).
func toVariableJSON(v *VariableSpec) variableJSON {
	out := variableJSON{VariableType: v.Type, Key: v.Key, Protected: v.Protected, Masked: v.Masked,
		Hidden: v.Hidden, Raw: v.Raw, EnvironmentScope: v.Scope}
	if !v.Hidden {
		val := v.Value
		out.Value = &val
	}
	if v.Description != "" {
		d := v.Description
		out.Description = &d
	}
	return out
}

var (
	keyRe = regexp.MustCompile(`^[a-zA-Z0-9_]{1,255}$`)
	// maskRe and maskRawRe are GitLab's Ci::Maskable rules: a single line of
	// at least 8 characters from the Base64 alphabet plus @ : . ~ (or, for a
	// raw variable, any 8 non-space characters).
	maskRe    = regexp.MustCompile(`^[a-zA-Z0-9_+=/@:.~-]{8,}$`)
	maskRawRe = regexp.MustCompile(`^\S{8,}$`)

	errVariableNotFound = msgError(http.StatusNotFound, "404 Variable Not Found")
	errManyScopes       = msgError(http.StatusConflict, "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'")
)

// filterScope reads filter[environment_scope] from the query, a form or a
// JSON body ({"filter":{"environment_scope":…}}).
func (p *params) filterScope() string {
	if raw, ok := p.json["filter"]; ok {
		var f struct {
			Scope string `json:"environment_scope"`
		}
		if json.Unmarshal(raw, &f) == nil {
			return f.Scope
		}
	}
	return p.values.Get("filter[environment_scope]")
}

func (p *params) has(key string) bool {
	if _, ok := p.json[key]; ok {
		return true
	}
	_, ok := p.values[key]
	return ok
}

func (p *params) boolean(key string) bool {
	v := p.get(key)
	return v == "true" || v == "1"
}

func (s *Server) routeVariables(c *call, owner string, rest []string) *apiError {
	ci := s.ciInit()
	list := ci.vars[owner]
	params, err := readParams(c.r)
	if err != nil {
		return err
	}
	m := c.r.Method
	if len(rest) == 0 {
		switch m {
		case http.MethodGet:
			out := make([]variableJSON, 0, len(list))
			for _, v := range list {
				out = append(out, toVariableJSON(v))
			}
			return writePage(c, out)
		case http.MethodPost:
			v := VariableSpec{Key: params.get("key"), Value: params.get("value"), Type: params.get("variable_type"),
				Protected: params.boolean("protected"), Masked: params.boolean("masked") || params.boolean("masked_and_hidden"),
				Hidden: params.boolean("masked_and_hidden"), Raw: params.boolean("raw"),
				Scope: params.get("environment_scope"), Description: params.get("description")}
			v.fill()
			if aerr := validateVariable(&v); aerr != nil {
				return aerr
			}
			for _, o := range list {
				if o.Key == v.Key && o.Scope == v.Scope {
					return msgError(http.StatusBadRequest, map[string][]string{"key": {"(" + v.Key + ") has already been taken"}})
				}
			}
			ci.vars[owner] = append(list, &v)
			writeJSON(c.w, http.StatusCreated, toVariableJSON(&v))
			return nil
		}
		return errRouteNotFound
	}
	if len(rest) != 1 {
		return errRouteNotFound
	}
	key, scope := rest[0], params.filterScope()
	idx := -1
	for i, v := range list {
		if v.Key != key || (scope != "" && v.Scope != scope) {
			continue
		}
		if idx >= 0 {
			return errManyScopes
		}
		idx = i
	}
	if idx < 0 {
		return errVariableNotFound
	}
	v := list[idx]
	switch m {
	case http.MethodGet:
		writeJSON(c.w, http.StatusOK, toVariableJSON(v))
	case http.MethodDelete:
		ci.vars[owner] = append(list[:idx:idx], list[idx+1:]...)
		c.w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		next := *v
		if params.has("value") {
			next.Value = params.get("value")
		}
		if params.has("variable_type") {
			next.Type = params.get("variable_type")
		}
		for key, field := range map[string]*bool{"protected": &next.Protected, "masked": &next.Masked, "raw": &next.Raw} {
			if params.has(key) {
				*field = params.boolean(key)
			}
		}
		if params.has("environment_scope") {
			next.Scope = params.get("environment_scope")
		}
		if params.has("description") {
			next.Description = params.get("description")
		}
		if v.Hidden && !next.Masked {
			return msgError(http.StatusBadRequest, map[string][]string{"base": {"Only visible variables can be set to visible"}})
		}
		next.fill()
		if aerr := validateVariable(&next); aerr != nil {
			return aerr
		}
		*v = next
		writeJSON(c.w, http.StatusOK, toVariableJSON(v))
	default:
		return errRouteNotFound
	}
	return nil
}

func validateVariable(v *VariableSpec) *apiError {
	if v.Key == "" {
		return paramError("key is missing")
	}
	if !keyRe.MatchString(v.Key) {
		return msgError(http.StatusBadRequest, map[string][]string{"key": {"can contain only letters, digits and '_'."}})
	}
	if v.Type != "env_var" && v.Type != "file" {
		return paramError("variable_type does not have a valid value")
	}
	if v.Masked {
		re := maskRe
		if v.Raw {
			re = maskRawRe
		}
		if !re.MatchString(v.Value) {
			return msgError(http.StatusBadRequest, map[string][]string{"value": {"is invalid"}})
		}
	}
	return nil
}
