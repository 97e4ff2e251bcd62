package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// CurrentUser returns the owner of the token (GET /user).
func (c *Client) CurrentUser(ctx context.Context) (User, error) {
	var w wireUser
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "user", out: &w}); err != nil {
		return User{}, fmt.Errorf("get current user: %w", err)
	}
	return w.user(), nil
}

// Version returns GitLab's version string (GET /version); used for /readyz.
func (c *Client) Version(ctx context.Context) (string, error) {
	var w struct {
		Version string `json:"version"`
	}
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "version", out: &w}); err != nil {
		return "", fmt.Errorf("get gitlab version: %w", err)
	}
	return w.Version, nil
}

// Project returns a project by numeric id or full path ("group/sub/app").
func (c *Client) Project(ctx context.Context, project string) (Project, error) {
	pp, err := projectPath(project)
	if err != nil {
		return Project{}, fmt.Errorf("get project: %w", err)
	}
	var w wireProject
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "projects/" + pp, out: &w}); err != nil {
		return Project{}, fmt.Errorf("get project %s: %w", project, err)
	}
	return w.project(), nil
}

type pipelinesQuery struct {
	Ref           string `url:"ref,omitempty"`
	Status        string `url:"status,omitempty"`
	Source        string `url:"source,omitempty"`
	Username      string `url:"username,omitempty"`
	OrderBy       string `url:"order_by,omitempty"`
	Sort          string `url:"sort,omitempty"`
	UpdatedAfter  string `url:"updated_after,omitempty"` // ISO 8601 with milliseconds
	CreatedAfter  string `url:"created_after,omitempty"`
	CreatedBefore string `url:"created_before,omitempty"`
	PerPage       int    `url:"per_page,omitempty"`
	Page          int    `url:"page,omitempty"`
}

// Pipelines lists a project's pipelines, newest first unless opt says
// otherwise, following pages up to opt.Limit (default 20).
func (c *Client) Pipelines(ctx context.Context, project string, opt ListPipelinesOptions) ([]Pipeline, error) {
	pp, err := projectPath(project)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	limit := opt.Limit
	if limit <= 0 {
		limit = defaultPipelineLimit
	}
	ws, err := paginate[wirePipeline](ctx, c, "projects/"+pp+"/pipelines", limit, func(page, perPage int) any {
		return opt.query(page, perPage)
	})
	if err != nil {
		return nil, fmt.Errorf("list pipelines in %s: %w", project, err)
	}
	out := make([]Pipeline, len(ws))
	for i, w := range ws {
		out[i] = w.pipeline()
	}
	return out, nil
}

// query is the list request for one page of opt.
func (opt ListPipelinesOptions) query(page, perPage int) *pipelinesQuery {
	return &pipelinesQuery{
		Ref: opt.Ref, Status: opt.Status, Source: opt.Source, Username: opt.Username,
		OrderBy: opt.OrderBy, Sort: opt.Sort, UpdatedAfter: isoMillis(opt.UpdatedAfter),
		CreatedAfter: isoMillis(opt.CreatedAfter), CreatedBefore: isoMillis(opt.CreatedBefore),
		PerPage: perPage, Page: page,
	}
}

// isoMillis writes t for GitLab's ISO 8601 parameters, "" for the zero time.
// Milliseconds matter: GitLab's updated_at has them, and a cursor cut to
// whole seconds would return the same busy second's pipelines forever.
func isoMillis(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// Pipeline returns one pipeline with its user, durations and detailed status.
func (c *Client) Pipeline(ctx context.Context, project string, id int64) (Pipeline, error) {
	p, err := c.pipelineCall(ctx, http.MethodGet, project, id, "", nil)
	if err != nil {
		return Pipeline{}, fmt.Errorf("get pipeline %d in %s: %w", id, project, err)
	}
	return p, nil
}

type createPipelineBody struct {
	Ref       string         `json:"ref"`
	Variables []wireVariable `json:"variables,omitempty"`
	Inputs    map[string]any `json:"inputs,omitempty"`
}

// CreatePipeline runs a new pipeline on ref with optional CI/CD variables
// and inputs (spec:inputs). It is never retried on 5xx: GitLab may have
// created the pipeline anyway.
func (c *Client) CreatePipeline(ctx context.Context, project, ref string, vars []Variable, inputs []Input) (Pipeline, error) {
	pp, err := projectPath(project)
	if err != nil {
		return Pipeline{}, fmt.Errorf("create pipeline: %w", err)
	}
	if strings.TrimSpace(ref) == "" {
		return Pipeline{}, fmt.Errorf("create pipeline in %s: empty ref", project)
	}
	if err := checkVariables(vars); err != nil {
		return Pipeline{}, fmt.Errorf("create pipeline in %s: %w", project, err)
	}
	in, err := inputsBody(inputs)
	if err != nil {
		return Pipeline{}, fmt.Errorf("create pipeline in %s: %w", project, err)
	}
	body := &createPipelineBody{Ref: ref, Variables: wireVariables(vars), Inputs: in}
	var w wirePipeline
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "projects/" + pp + "/pipeline", opt: body, out: &w}); err != nil {
		return Pipeline{}, fmt.Errorf("create pipeline on %s in %s: %w", ref, project, err)
	}
	return w.pipeline(), nil
}

// RetryPipeline retries the failed and canceled jobs of a pipeline.
func (c *Client) RetryPipeline(ctx context.Context, project string, id int64) (Pipeline, error) {
	p, err := c.pipelineCall(ctx, http.MethodPost, project, id, "/retry", nil)
	if err != nil {
		return Pipeline{}, fmt.Errorf("retry pipeline %d in %s: %w", id, project, err)
	}
	return p, nil
}

// CancelPipeline cancels a pipeline's running and pending jobs.
func (c *Client) CancelPipeline(ctx context.Context, project string, id int64) (Pipeline, error) {
	p, err := c.pipelineCall(ctx, http.MethodPost, project, id, "/cancel", nil)
	if err != nil {
		return Pipeline{}, fmt.Errorf("cancel pipeline %d in %s: %w", id, project, err)
	}
	return p, nil
}

// DeletePipeline deletes a pipeline with its jobs and logs.
func (c *Client) DeletePipeline(ctx context.Context, project string, id int64) error {
	if _, err := c.pipelineCall(ctx, http.MethodDelete, project, id, "", nil); err != nil {
		return fmt.Errorf("delete pipeline %d in %s: %w", id, project, err)
	}
	return nil
}

// PipelineVariables returns the variables a pipeline was run with, values
// included: callers must mask them before showing them to anyone.
func (c *Client) PipelineVariables(ctx context.Context, project string, id int64) ([]Variable, error) {
	pp, err := pipelinePath(project, id)
	if err != nil {
		return nil, fmt.Errorf("get pipeline variables: %w", err)
	}
	var ws []wireVariable
	if _, err := c.do(ctx, request{method: http.MethodGet, path: pp + "/variables", out: &ws}); err != nil {
		return nil, fmt.Errorf("get variables of pipeline %d in %s: %w", id, project, err)
	}
	out := make([]Variable, len(ws))
	for i, w := range ws {
		out[i] = Variable(w)
	}
	return out, nil
}

// pipelineCall makes a call on projects/:id/pipelines/:pid[suffix] that
// answers a pipeline (DELETE answers 204 and nothing is decoded).
func (c *Client) pipelineCall(ctx context.Context, method, project string, id int64, suffix string, body any) (Pipeline, error) {
	pp, err := pipelinePath(project, id)
	if err != nil {
		return Pipeline{}, err
	}
	var w wirePipeline
	var out any = &w
	if method == http.MethodDelete {
		out = nil
	}
	if _, err := c.do(ctx, request{method: method, path: pp + suffix, opt: body, out: out}); err != nil {
		return Pipeline{}, err
	}
	return w.pipeline(), nil
}

func pipelinePath(project string, id int64) (string, error) {
	pp, err := projectPath(project)
	if err != nil {
		return "", err
	}
	if id <= 0 {
		return "", fmt.Errorf("invalid pipeline id %d", id)
	}
	return fmt.Sprintf("projects/%s/pipelines/%d", pp, id), nil
}

func wireVariables(vars []Variable) []wireVariable {
	if len(vars) == 0 {
		return nil
	}
	out := make([]wireVariable, len(vars))
	for i, v := range vars {
		out[i] = wireVariable(v)
	}
	return out
}

var errEmptyKey = errors.New("variable with an empty key")

func checkVariables(vars []Variable) error {
	for _, v := range vars {
		if strings.TrimSpace(v.Key) == "" {
			return errEmptyKey
		}
	}
	return nil
}
