package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Pipeline schedules: https://docs.gitlab.com/api/pipeline_schedules/

// Schedule is a pipeline schedule. Lists carry no LastPipeline and no
// Variables; a single schedule carries the variables only for the
// schedule's owner and maintainers.
type Schedule struct {
	ID                 int64
	Description, Ref   string
	Cron, CronTimezone string
	// NextRunAt is GitLab's own next run (zero when none is planned).
	NextRunAt            time.Time
	Active               bool
	CreatedAt, UpdatedAt time.Time
	// Owner is zero (ID 0) when the owner's account is gone.
	Owner User
	// LastPipeline is zero (ID 0) when the schedule never ran.
	LastPipeline ScheduledPipeline
	// Variables hold values: never show or store them.
	Variables []Variable
}

// ScheduledPipeline is the last pipeline a schedule created.
type ScheduledPipeline struct {
	ID        int64
	SHA, Ref  string
	Status    Status
	WebURL    string
	CreatedAt time.Time
}

// ScheduleOptions are the fields of a create or edit; nil fields are not
// sent (edit leaves them as they are).
type ScheduleOptions struct {
	Description, Ref, Cron, CronTimezone *string
	Active                               *bool
}

// ErrVariablesNotAllowed: the project's "minimum role to use pipeline
// variables" (ci_pipeline_variables_minimum_override_role) is above the
// role of pipebot's GitLab user, so GitLab refused variables. The error
// still matches the status sentinel (ErrForbidden) or *APIError.
var ErrVariablesNotAllowed = errors.New("gitlab: pipeline variables not allowed for this role")

// variablesRefusal wraps an error GitLab gave for pipeline variables.
type variablesRefusal struct{ err error }

func (e *variablesRefusal) Error() string { return e.err.Error() }

func (e *variablesRefusal) Unwrap() []error { return []error{ErrVariablesNotAllowed, e.err} }

// GitLab's wordings of that refusal: schedule variables
// (app/services/ci/pipeline_schedules/base_save_service.rb) and pipeline
// creation (lib/gitlab/ci/pipeline/chain/validate/abilities.rb).
var variablesRefusals = []string{
	"not authorized to set pipeline schedule variables",
	"insufficient permissions to set pipeline variables",
}

// classifyVariables marks GitLab's refusal of pipeline variables.
func classifyVariables(err error) error {
	if err == nil {
		return nil
	}
	var msg string
	var api *APIError
	var se *statusError
	switch {
	case errors.As(err, &api):
		msg = api.Message
	case errors.As(err, &se):
		msg = se.message
	}
	lower := strings.ToLower(msg)
	for _, r := range variablesRefusals {
		if strings.Contains(lower, r) {
			return &variablesRefusal{err: err}
		}
	}
	return err
}

type wireSchedule struct {
	ID           int64      `json:"id"`
	Description  string     `json:"description"`
	Ref          string     `json:"ref"`
	Cron         string     `json:"cron"`
	CronTimezone string     `json:"cron_timezone"`
	NextRunAt    *time.Time `json:"next_run_at"`
	Active       bool       `json:"active"`
	CreatedAt    *time.Time `json:"created_at"`
	UpdatedAt    *time.Time `json:"updated_at"`
	Owner        *wireUser  `json:"owner"`
	LastPipeline *struct {
		ID        int64      `json:"id"`
		SHA       string     `json:"sha"`
		Ref       string     `json:"ref"`
		Status    string     `json:"status"`
		WebURL    string     `json:"web_url"`
		CreatedAt *time.Time `json:"created_at"`
	} `json:"last_pipeline"`
	Variables []wireVariable `json:"variables"`
}

func (w wireSchedule) schedule() Schedule {
	s := Schedule{
		ID: w.ID, Description: w.Description, Ref: w.Ref, Cron: w.Cron, CronTimezone: w.CronTimezone,
		NextRunAt: deref(w.NextRunAt), Active: w.Active,
		CreatedAt: deref(w.CreatedAt), UpdatedAt: deref(w.UpdatedAt), Owner: w.Owner.user(),
	}
	if lp := w.LastPipeline; lp != nil {
		s.LastPipeline = ScheduledPipeline{ID: lp.ID, SHA: lp.SHA, Ref: lp.Ref, Status: Status(lp.Status),
			WebURL: lp.WebURL, CreatedAt: deref(lp.CreatedAt)}
	}
	for _, v := range w.Variables {
		s.Variables = append(s.Variables, Variable(v))
	}
	return s
}

// Schedules lists a project's pipeline schedules, up to limit (default 20).
func (c *Client) Schedules(ctx context.Context, project string, limit int) ([]Schedule, error) {
	pp, err := projectPath(project)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	if limit <= 0 {
		limit = defaultPipelineLimit
	}
	ws, err := paginate[wireSchedule](ctx, c, "projects/"+pp+"/pipeline_schedules", limit, func(page, perPage int) any {
		return &pageQuery{PerPage: perPage, Page: page}
	})
	if err != nil {
		return nil, fmt.Errorf("list schedules in %s: %w", project, err)
	}
	out := make([]Schedule, len(ws))
	for i, w := range ws {
		out[i] = w.schedule()
	}
	return out, nil
}

// Schedule returns one schedule with its last pipeline (and its variables
// when pipebot's user owns it or is a maintainer).
func (c *Client) Schedule(ctx context.Context, project string, id int64) (Schedule, error) {
	s, err := c.scheduleCall(ctx, http.MethodGet, project, id, "", nil)
	if err != nil {
		return Schedule{}, fmt.Errorf("get schedule %d in %s: %w", id, project, err)
	}
	return s, nil
}

type scheduleBody struct {
	Description  *string `json:"description,omitempty"`
	Ref          *string `json:"ref,omitempty"`
	Cron         *string `json:"cron,omitempty"`
	CronTimezone *string `json:"cron_timezone,omitempty"`
	Active       *bool   `json:"active,omitempty"`
}

func (o ScheduleOptions) body() *scheduleBody {
	return &scheduleBody{Description: o.Description, Ref: o.Ref, Cron: o.Cron, CronTimezone: o.CronTimezone, Active: o.Active}
}

// CreateSchedule creates a schedule; GitLab requires description, ref and
// cron. pipebot's user becomes its owner.
func (c *Client) CreateSchedule(ctx context.Context, project string, opt ScheduleOptions) (Schedule, error) {
	pp, err := projectPath(project)
	if err != nil {
		return Schedule{}, fmt.Errorf("create schedule: %w", err)
	}
	var w wireSchedule
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "projects/" + pp + "/pipeline_schedules", opt: opt.body(), out: &w}); err != nil {
		return Schedule{}, fmt.Errorf("create schedule in %s: %w", project, classifyVariables(err))
	}
	return w.schedule(), nil
}

// EditSchedule changes the given fields. GitLab lets only the owner edit.
func (c *Client) EditSchedule(ctx context.Context, project string, id int64, opt ScheduleOptions) (Schedule, error) {
	s, err := c.scheduleCall(ctx, http.MethodPut, project, id, "", opt.body())
	if err != nil {
		return Schedule{}, fmt.Errorf("edit schedule %d in %s: %w", id, project, classifyVariables(err))
	}
	return s, nil
}

// DeleteSchedule deletes a schedule (GitLab answers 204 or, older
// versions, 200 with the schedule; neither is decoded).
func (c *Client) DeleteSchedule(ctx context.Context, project string, id int64) error {
	if _, err := c.scheduleCall(ctx, http.MethodDelete, project, id, "", nil); err != nil {
		return fmt.Errorf("delete schedule %d in %s: %w", id, project, err)
	}
	return nil
}

// PlaySchedule runs a schedule now. GitLab answers 201 at once and creates
// the pipeline in the background, so the answer names no pipeline.
func (c *Client) PlaySchedule(ctx context.Context, project string, id int64) error {
	pp, err := schedulePath(project, id)
	if err != nil {
		return fmt.Errorf("play schedule: %w", err)
	}
	if _, err := c.do(ctx, request{method: http.MethodPost, path: pp + "/play"}); err != nil {
		return fmt.Errorf("play schedule %d in %s: %w", id, project, classifyVariables(err))
	}
	return nil
}

// TakeScheduleOwnership makes pipebot's user the schedule's owner.
func (c *Client) TakeScheduleOwnership(ctx context.Context, project string, id int64) (Schedule, error) {
	s, err := c.scheduleCall(ctx, http.MethodPost, project, id, "/take_ownership", nil)
	if err != nil {
		return Schedule{}, fmt.Errorf("take ownership of schedule %d in %s: %w", id, project, err)
	}
	return s, nil
}

type scheduleVariableBody struct {
	Key          string `json:"key,omitempty"`
	Value        string `json:"value"`
	VariableType string `json:"variable_type,omitempty"`
}

// SetScheduleVariable creates the variable, or updates it when the key
// exists. It reports whether it was created. The value travels only in
// the request body and never appears in an error.
func (c *Client) SetScheduleVariable(ctx context.Context, project string, id int64, v Variable) (created bool, err error) {
	pp, err := schedulePath(project, id)
	if err != nil {
		return false, fmt.Errorf("set schedule variable: %w", err)
	}
	if strings.TrimSpace(v.Key) == "" {
		return false, fmt.Errorf("set variable of schedule %d in %s: %w", id, project, errEmptyKey)
	}
	// GitLab's answers echo the value; they are read into nothing.
	_, err = c.do(ctx, request{method: http.MethodPut, path: pp + "/variables/" + url.PathEscape(v.Key),
		opt: &scheduleVariableBody{Value: v.Value, VariableType: v.VariableType}})
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("edit variable %s of schedule %d in %s: %w", v.Key, id, project, classifyVariables(err))
	}
	// 404: no such variable (or no such schedule, which the create says).
	_, err = c.do(ctx, request{method: http.MethodPost, path: pp + "/variables",
		opt: &scheduleVariableBody{Key: v.Key, Value: v.Value, VariableType: v.VariableType}})
	if err != nil {
		return false, fmt.Errorf("create variable %s of schedule %d in %s: %w", v.Key, id, project, classifyVariables(err))
	}
	return true, nil
}

// DeleteScheduleVariable deletes a schedule's variable by key.
func (c *Client) DeleteScheduleVariable(ctx context.Context, project string, id int64, key string) error {
	pp, err := schedulePath(project, id)
	if err != nil {
		return fmt.Errorf("delete schedule variable: %w", err)
	}
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: pp + "/variables/" + url.PathEscape(key)}); err != nil {
		return fmt.Errorf("delete variable %s of schedule %d in %s: %w", key, id, project, classifyVariables(err))
	}
	return nil
}

// scheduleCall makes a call on projects/:id/pipeline_schedules/:sid[suffix]
// that answers a schedule (DELETE's answer is not decoded).
func (c *Client) scheduleCall(ctx context.Context, method, project string, id int64, suffix string, body any) (Schedule, error) {
	pp, err := schedulePath(project, id)
	if err != nil {
		return Schedule{}, err
	}
	var w wireSchedule
	var out any = &w
	if method == http.MethodDelete {
		out = nil
	}
	if _, err := c.do(ctx, request{method: method, path: pp + suffix, opt: body, out: out}); err != nil {
		return Schedule{}, err
	}
	return w.schedule(), nil
}

func schedulePath(project string, id int64) (string, error) {
	pp, err := projectPath(project)
	if err != nil {
		return "", err
	}
	if id <= 0 {
		return "", fmt.Errorf("invalid schedule id %d", id)
	}
	return fmt.Sprintf("projects/%s/pipeline_schedules/%d", pp, id), nil
}
