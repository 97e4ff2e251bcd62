package simulator

// Pipeline schedules (doc/api/pipeline_schedules.md): per-project schedules
// with an owner, next_run_at computed from cron and time zone, play, take
// ownership, variables, and the refusal of variables by the project's
// ci_pipeline_variables_minimum_override_role.

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule describes a pipeline schedule for AddSchedule and Schedule.
type Schedule struct {
	ID           int64
	Description  string
	Ref          string // short ("main") or full ("refs/heads/main")
	Cron         string
	CronTimezone string // default "UTC"
	Active       bool
	OwnerID      int64
	Variables    []Variable
	// LastPipelineID is the last pipeline the schedule created (0: none).
	LastPipelineID int64
}

type schedule struct {
	Schedule
	project   *project
	createdAt time.Time
	updatedAt time.Time
}

// scheduleState is the simulator's schedules; the zero value is ready.
type scheduleState struct {
	next    int64
	byID    map[int64]*schedule
	minRole map[int64]string // project id → ci_pipeline_variables_minimum_override_role
}

func (st *scheduleState) init() {
	if st.byID == nil {
		st.byID = map[int64]*schedule{}
		st.minRole = map[int64]string{}
	}
}

// SetPipelineVariablesMinimumOverrideRole sets the project's
// ci_pipeline_variables_minimum_override_role; "" restores the default
// (developer).
func (s *Server) SetPipelineVariablesMinimumOverrideRole(projectID int64, role string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sched.init()
	s.sched.minRole[projectID] = role
}

// canSetPipelineVariables is GitLab's :set_pipeline_variables ability.
func (s *Server) canSetPipelineVariables(pr *project, level AccessLevel) bool {
	s.sched.init()
	switch s.sched.minRole[pr.ID] {
	case OverrideNoOneAllowed:
		return false
	case OverrideOwner:
		return level >= Owner
	case OverrideMaintainer:
		return level >= Maintainer
	}
	return level >= Developer
}

// AddSchedule adds a schedule for setup and returns its id (0 when the
// project is unknown or the cron or time zone is invalid).
func (s *Server) AddSchedule(projectID int64, sc Schedule) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, ok := s.projects[projectID]
	if !ok {
		return 0
	}
	if sc.CronTimezone == "" {
		sc.CronTimezone = "UTC"
	}
	if _, err := simCron(sc.Cron); err != nil {
		return 0
	}
	if simZone(sc.CronTimezone) == nil {
		return 0
	}
	if ref, ok := expandRef(pr, sc.Ref); ok {
		sc.Ref = ref
	}
	return s.addSchedule(pr, sc).ID
}

func (s *Server) addSchedule(pr *project, sc Schedule) *schedule {
	s.sched.init()
	s.sched.next++
	sc.ID = s.sched.next
	sc.Variables = append([]Variable(nil), sc.Variables...)
	now := s.clock()
	x := &schedule{Schedule: sc, project: pr, createdAt: now, updatedAt: now}
	s.sched.byID[sc.ID] = x
	return x
}

// Schedule returns a copy of a schedule, variables included.
func (s *Server) Schedule(projectID, id int64) (Schedule, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sched.init()
	x, ok := s.sched.byID[id]
	if !ok || x.project.ID != projectID {
		return Schedule{}, false
	}
	out := x.Schedule
	out.Variables = append([]Variable(nil), x.Variables...)
	return out, true
}

// simCron parses the five cron fields as GitLab's Fugit does for the
// common forms (7 is Sunday too).
func simCron(spec string) (cron.Schedule, error) {
	f := strings.Fields(spec)
	if len(f) == 5 {
		if f[4] == "7" {
			f[4] = "0"
		}
		spec = strings.Join(f, " ")
	}
	return parseCronSafe(spec)
}

var simCronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

func parseCronSafe(spec string) (sc cron.Schedule, err error) {
	defer func() {
		if recover() != nil {
			sc, err = nil, errCronSyntax
		}
	}()
	if len(strings.Fields(spec)) != 5 {
		return nil, errCronSyntax
	}
	return simCronParser.Parse(spec)
}

type cronError struct{}

func (cronError) Error() string { return "is invalid syntax" }

var errCronSyntax error = cronError{}

// simRailsZones is a part of ActiveSupport::TimeZone::MAPPING, the Rails
// names GitLab takes for cron_timezone besides IANA names.
var simRailsZones = map[string]string{
	"Pacific Time (US & Canada)":  "America/Los_Angeles",
	"Mountain Time (US & Canada)": "America/Denver",
	"Central Time (US & Canada)":  "America/Chicago",
	"Eastern Time (US & Canada)":  "America/New_York",
	"London":                      "Europe/London",
	"Berlin":                      "Europe/Berlin",
	"Paris":                       "Europe/Paris",
	"Tokyo":                       "Asia/Tokyo",
	"Sydney":                      "Australia/Sydney",
	"UTC":                         "Etc/UTC",
}

func simZone(name string) *time.Location {
	if iana, ok := simRailsZones[name]; ok {
		name = iana
	}
	if name == "" || name == "Local" {
		return nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	return loc
}

// expandRef turns a short ref into refs/heads/… or refs/tags/…, as
// Ci::PipelineSchedule#expand_short_ref does; ok is false when the ref is
// neither or both.
func expandRef(pr *project, ref string) (string, bool) {
	switch {
	case strings.HasPrefix(ref, "refs/heads/"):
		return ref, contains(pr.Branches, strings.TrimPrefix(ref, "refs/heads/"))
	case strings.HasPrefix(ref, "refs/tags/"):
		return ref, contains(pr.Tags, strings.TrimPrefix(ref, "refs/tags/"))
	}
	b, t := contains(pr.Branches, ref), contains(pr.Tags, ref)
	switch {
	case b && !t:
		return "refs/heads/" + ref, true
	case t && !b:
		return "refs/tags/" + ref, true
	}
	return ref, false
}

func shortRef(ref string) string {
	return strings.TrimPrefix(strings.TrimPrefix(ref, "refs/heads/"), "refs/tags/")
}

type scheduleJSON struct {
	ID           int64  `json:"id"`
	Description  string `json:"description"`
	Ref          string `json:"ref"`
	Cron         string `json:"cron"`
	CronTimezone string `json:"cron_timezone"`
	NextRunAt    any    `json:"next_run_at"`
	Active       bool   `json:"active"`
	CreatedAt    string `json:"created_at"`
	UpdatedAt    string `json:"updated_at"`
	Owner        any    `json:"owner"`
	// Inputs are CI inputs (GitLab 17.11+); the simulator has none.
	Inputs []any `json:"inputs"`
}

type scheduleVarJS struct {
	Key          string `json:"key"`
	VariableType string `json:"variable_type"`
	Value        string `json:"value"`
	Raw          bool   `json:"raw"`
}

func (s *Server) nextRunAt(x *schedule) any {
	sc, err := simCron(x.Cron)
	loc := simZone(x.CronTimezone)
	if err != nil || loc == nil {
		return nil
	}
	t := sc.Next(s.clock().In(loc))
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

func (s *Server) scheduleBasic(x *schedule) scheduleJSON {
	return scheduleJSON{
		ID: x.ID, Description: x.Description, Ref: x.Ref, Cron: x.Cron, CronTimezone: x.CronTimezone,
		NextRunAt: s.nextRunAt(x), Active: x.Active, CreatedAt: ts(x.createdAt), UpdatedAt: ts(x.updatedAt),
		Owner: s.userBasic(x.OwnerID), Inputs: []any{},
	}
}

// scheduleDetailsJSON is PipelineScheduleDetails: the basic fields, the
// last pipeline (null when it never ran) and, for the owner and
// maintainers, the variables.
type scheduleDetailsJSON struct {
	scheduleJSON
	LastPipeline any             `json:"last_pipeline"`
	Variables    []scheduleVarJS `json:"variables,omitempty"`
}

func (s *Server) scheduleDetails(c *call, x *schedule) scheduleDetailsJSON {
	out := scheduleDetailsJSON{scheduleJSON: s.scheduleBasic(x)}
	if p := s.findPipeline(x.project.ID, x.LastPipelineID); p != nil {
		out.LastPipeline = s.pipelineBasic(p)
	}
	if c.user.ID == x.OwnerID || c.level >= Maintainer {
		out.Variables = scheduleVars(x)
	}
	return out
}

func scheduleVars(x *schedule) []scheduleVarJS {
	out := make([]scheduleVarJS, 0, len(x.Variables))
	for _, v := range x.Variables {
		out = append(out, scheduleVarJS{Key: v.Key, VariableType: v.VariableType, Value: v.Value})
	}
	return out
}

var varKeyRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`)

const errScheduleVarsForbidden = "403 Forbidden - The current user is not authorized to set pipeline schedule variables"

// routeSchedules serves /projects/:id/pipeline_schedules[/…].
func (s *Server) routeSchedules(c *call, rest []string) *apiError {
	s.sched.init()
	m := c.r.Method
	if len(rest) == 0 {
		switch m {
		case http.MethodGet:
			return s.listSchedules(c)
		case http.MethodPost:
			return s.createSchedule(c)
		}
		return errRouteNotFound
	}
	if err := c.need(Reporter); err != nil {
		return err
	}
	id, err := strconv.ParseInt(rest[0], 10, 64)
	if err != nil {
		return paramError("pipeline_schedule_id is invalid")
	}
	x, ok := s.sched.byID[id]
	if !ok || x.project != c.proj {
		return msgError(http.StatusNotFound, "404 Pipeline Schedule Not Found")
	}
	owner := c.user.ID == x.OwnerID
	rest = rest[1:]
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		writeJSON(c.w, http.StatusOK, s.scheduleDetails(c, x))
	case len(rest) == 0 && m == http.MethodPut:
		if !owner {
			return errForbidden
		}
		return s.editSchedule(c, x)
	case len(rest) == 0 && m == http.MethodDelete:
		if !owner && c.level < Maintainer {
			return errForbidden
		}
		delete(s.sched.byID, x.ID)
		c.w.WriteHeader(http.StatusNoContent)
	case len(rest) == 1 && rest[0] == "take_ownership" && m == http.MethodPost:
		if !owner && c.level < Maintainer {
			return errForbidden
		}
		x.OwnerID = c.user.ID
		x.updatedAt = s.clock()
		writeJSON(c.w, http.StatusCreated, s.scheduleDetails(c, x))
	case len(rest) == 1 && rest[0] == "play" && m == http.MethodPost:
		if err := c.need(Developer); err != nil {
			return err
		}
		// play_pipeline_schedule is prevented on a ref the user may not
		// update (PipelineSchedulePolicy's protected_ref).
		if !s.canUpdateRef(c, strings.TrimPrefix(x.Ref, "refs/heads/"), strings.HasPrefix(x.Ref, "refs/tags/")) {
			return errForbidden
		}
		s.playSchedule(c, x)
		writeJSON(c.w, http.StatusCreated, map[string]string{"message": "201 Created"})
	case len(rest) >= 1 && rest[0] == "variables":
		return s.routeScheduleVariables(c, x, owner, rest[1:])
	default:
		return errRouteNotFound
	}
	return nil
}

func (s *Server) listSchedules(c *call) *apiError {
	if err := c.need(Reporter); err != nil {
		return err
	}
	scope := c.r.URL.Query().Get("scope")
	if scope != "" && scope != "active" && scope != "inactive" {
		return paramError("scope does not have a valid value")
	}
	out := []scheduleJSON{}
	for id := int64(1); id <= s.sched.next; id++ {
		x, ok := s.sched.byID[id]
		if !ok || x.project != c.proj || (scope == "active" && !x.Active) || (scope == "inactive" && x.Active) {
			continue
		}
		out = append(out, s.scheduleBasic(x))
	}
	return writePage(c, out)
}

// readScheduleParams reads and checks the fields of a create or edit.
func (s *Server) readScheduleParams(c *call, x *Schedule, create bool) *apiError {
	params, perr := readParams(c.r)
	if perr != nil {
		return perr
	}
	has := func(k string) bool {
		_, inJSON := params.json[k]
		return inJSON || params.values.Has(k)
	}
	if create {
		for _, k := range []string{"description", "ref", "cron"} {
			if !has(k) {
				return paramError(k + " is missing")
			}
		}
	}
	if has("description") {
		x.Description = params.get("description")
	}
	if has("ref") {
		ref, ok := expandRef(c.proj, params.get("ref"))
		if !ok {
			return msgError(http.StatusBadRequest, map[string][]string{"ref": {"is ambiguous"}})
		}
		x.Ref = ref
	}
	if has("cron") {
		x.Cron = params.get("cron")
	}
	if has("cron_timezone") {
		x.CronTimezone = params.get("cron_timezone")
	}
	if has("active") {
		switch params.get("active") {
		case "true":
			x.Active = true
		case "false":
			x.Active = false
		default:
			return paramError("active is invalid")
		}
	}
	errs := map[string][]string{}
	if _, err := simCron(x.Cron); err != nil {
		errs["cron"] = []string{"is invalid syntax"}
	}
	if simZone(x.CronTimezone) == nil {
		errs["cron_timezone"] = []string{"is invalid syntax"}
	}
	if len(errs) > 0 {
		return msgError(http.StatusBadRequest, errs)
	}
	return nil
}

func (s *Server) createSchedule(c *call) *apiError {
	if err := c.need(Developer); err != nil {
		return err
	}
	sc := Schedule{CronTimezone: "UTC", Active: true, OwnerID: c.user.ID}
	if err := s.readScheduleParams(c, &sc, true); err != nil {
		return err
	}
	x := s.addSchedule(c.proj, sc)
	writeJSON(c.w, http.StatusCreated, s.scheduleDetails(c, x))
	return nil
}

func (s *Server) editSchedule(c *call, x *schedule) *apiError {
	sc := x.Schedule
	if err := s.readScheduleParams(c, &sc, false); err != nil {
		return err
	}
	x.Schedule = sc
	x.updatedAt = s.clock()
	writeJSON(c.w, http.StatusOK, s.scheduleDetails(c, x))
	return nil
}

// playSchedule runs the schedule now, as RunPipelineScheduleWorker does for
// the user who pressed play. GitLab creates the pipeline after answering;
// when creation fails (bad ref, no jobs, or variables the user may not set:
// "Insufficient permissions to set pipeline variables") no pipeline appears.
func (s *Server) playSchedule(c *call, x *schedule) {
	if len(x.Variables) > 0 && !s.canSetPipelineVariables(c.proj, c.level) {
		return
	}
	p, err := s.createPipeline(c.proj, shortRef(x.Ref), "schedule", c.user.ID, x.Variables, nil)
	if err != nil {
		return
	}
	x.LastPipelineID = p.id
}

func (s *Server) routeScheduleVariables(c *call, x *schedule, owner bool, rest []string) *apiError {
	m := c.r.Method
	if !owner {
		return errForbidden
	}
	if (m == http.MethodPost || m == http.MethodPut) && !s.canSetPipelineVariables(c.proj, c.level) {
		return msgError(http.StatusForbidden, errScheduleVarsForbidden)
	}
	find := func(key string) int {
		for i, v := range x.Variables {
			if v.Key == key {
				return i
			}
		}
		return -1
	}
	switch {
	case len(rest) == 0 && m == http.MethodPost:
		params, perr := readParams(c.r)
		if perr != nil {
			return perr
		}
		key := params.get("key")
		if key == "" {
			return paramError("key is missing")
		}
		if _, inJSON := params.json["value"]; !inJSON && !params.values.Has("value") {
			return paramError("value is missing")
		}
		if !varKeyRe.MatchString(key) {
			return msgError(http.StatusBadRequest, map[string][]string{"key": {"can contain only letters, digits and '_'."}})
		}
		if find(key) >= 0 {
			return msgError(http.StatusBadRequest, map[string][]string{"key": {"has already been taken"}})
		}
		v := Variable{Key: key, Value: params.get("value"), VariableType: orDefault(params.get("variable_type"), "env_var")}
		x.Variables = append(x.Variables, v)
		writeJSON(c.w, http.StatusCreated, scheduleVarJS{Key: v.Key, VariableType: v.VariableType, Value: v.Value})
	case len(rest) == 1 && m == http.MethodPut:
		i := find(rest[0])
		if i < 0 {
			return msgError(http.StatusNotFound, "404 Variable Not Found")
		}
		params, perr := readParams(c.r)
		if perr != nil {
			return perr
		}
		if _, inJSON := params.json["value"]; inJSON || params.values.Has("value") {
			x.Variables[i].Value = params.get("value")
		}
		if t := params.get("variable_type"); t != "" {
			x.Variables[i].VariableType = t
		}
		v := x.Variables[i]
		writeJSON(c.w, http.StatusOK, scheduleVarJS{Key: v.Key, VariableType: v.VariableType, Value: v.Value})
	case len(rest) == 1 && m == http.MethodDelete:
		i := find(rest[0])
		if i < 0 {
			return msgError(http.StatusNotFound, "404 Variable Not Found")
		}
		v := x.Variables[i]
		x.Variables = append(x.Variables[:i:i], x.Variables[i+1:]...)
		writeJSON(c.w, http.StatusAccepted, scheduleVarJS{Key: v.Key, VariableType: v.VariableType, Value: v.Value})
	default:
		return errRouteNotFound
	}
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
