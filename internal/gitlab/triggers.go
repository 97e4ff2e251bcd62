package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ShortTokenLen is how many characters of a trigger token GitLab shows to
// anyone but the trigger's owner (doc/api/pipeline_triggers.md: "Trigger
// tokens created by other users are shortened to four characters").
const ShortTokenLen = 4

// Trigger is a pipeline trigger token of a project.
type Trigger struct {
	ID          int64
	Description string
	// Token is the whole token only when pipebot's GitLab user created the
	// trigger; otherwise GitLab sends ShortTokenLen characters.
	Token     Secret
	Owner     User
	CreatedAt time.Time
	LastUsed  *time.Time
}

// FullToken reports whether GitLab sent the whole token, which pipebot needs
// to run a pipeline with it.
func (t Trigger) FullToken() bool { return len(t.Token) > ShortTokenLen }

type wireTrigger struct {
	ID          int64      `json:"id"`
	Description string     `json:"description"`
	Token       string     `json:"token"`
	Owner       *wireUser  `json:"owner"`
	CreatedAt   *time.Time `json:"created_at"`
	LastUsed    *time.Time `json:"last_used"`
}

func (w wireTrigger) trigger() Trigger {
	return Trigger{ID: w.ID, Description: w.Description, Token: Secret(w.Token), Owner: w.Owner.user(),
		CreatedAt: deref(w.CreatedAt), LastUsed: w.LastUsed}
}

// maxTriggers bounds a trigger list; projects rarely have more than a few.
const maxTriggers = 500

// pageQuery is the query of a list with nothing but pagination.
type pageQuery struct {
	PerPage int `url:"per_page,omitempty"`
	Page    int `url:"page,omitempty"`
}

// Triggers lists a project's trigger tokens (GET /projects/:id/triggers).
func (c *Client) Triggers(ctx context.Context, project string) ([]Trigger, error) {
	pp, err := projectPath(project)
	if err != nil {
		return nil, fmt.Errorf("list triggers: %w", err)
	}
	ws, err := paginate[wireTrigger](ctx, c, "projects/"+pp+"/triggers", maxTriggers, func(page, perPage int) any {
		return &pageQuery{PerPage: perPage, Page: page}
	})
	if err != nil {
		return nil, fmt.Errorf("list triggers in %s: %w", project, err)
	}
	out := make([]Trigger, len(ws))
	for i, w := range ws {
		out[i] = w.trigger()
	}
	return out, nil
}

// CreateTrigger creates a trigger token owned by pipebot's GitLab user; the
// answer carries the whole token.
func (c *Client) CreateTrigger(ctx context.Context, project, description string) (Trigger, error) {
	pp, err := projectPath(project)
	if err != nil {
		return Trigger{}, fmt.Errorf("create trigger: %w", err)
	}
	body := &struct {
		Description string `json:"description"`
	}{description}
	var w wireTrigger
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "projects/" + pp + "/triggers", opt: body, out: &w}); err != nil {
		return Trigger{}, fmt.Errorf("create trigger in %s: %w", project, err)
	}
	return w.trigger(), nil
}

// DeleteTrigger removes a trigger token.
func (c *Client) DeleteTrigger(ctx context.Context, project string, id int64) error {
	pp, err := projectPath(project)
	if err != nil {
		return fmt.Errorf("delete trigger: %w", err)
	}
	if id <= 0 {
		return fmt.Errorf("delete trigger: invalid id %d", id)
	}
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: fmt.Sprintf("projects/%s/triggers/%d", pp, id)}); err != nil {
		return fmt.Errorf("delete trigger %d in %s: %w", id, project, err)
	}
	return nil
}

// triggerBody is POST /projects/:id/trigger/pipeline's JSON body. The token
// travels in the body, never in the URL, so no proxy log or url.Error sees
// it; variables is the variables[KEY]=value hash of the form encoding.
type triggerBody struct {
	Token     string            `json:"token"`
	Ref       string            `json:"ref"`
	Variables map[string]string `json:"variables,omitempty"`
	Inputs    map[string]any    `json:"inputs,omitempty"`
}

// TriggerPipeline runs a pipeline on ref with a trigger token, variables and
// inputs (POST /projects/:id/trigger/pipeline). GitLab authenticates this call by
// the trigger token and runs the pipeline as the trigger's owner. Like every
// mutating call it is retried on 429 only.
func (c *Client) TriggerPipeline(ctx context.Context, project string, token Secret, ref string, vars []Variable, inputs []Input) (Pipeline, error) {
	pp, err := projectPath(project)
	if err != nil {
		return Pipeline{}, fmt.Errorf("trigger pipeline: %w", err)
	}
	if strings.TrimSpace(ref) == "" {
		return Pipeline{}, fmt.Errorf("trigger pipeline in %s: empty ref", project)
	}
	if len(token) <= ShortTokenLen {
		return Pipeline{}, fmt.Errorf("trigger pipeline in %s: %w", project, ErrShortToken)
	}
	if err := checkVariables(vars); err != nil {
		return Pipeline{}, fmt.Errorf("trigger pipeline in %s: %w", project, err)
	}
	in, err := inputsBody(inputs)
	if err != nil {
		return Pipeline{}, fmt.Errorf("trigger pipeline in %s: %w", project, err)
	}
	body := &triggerBody{Token: token.Reveal(), Ref: ref, Inputs: in}
	if len(vars) > 0 {
		body.Variables = make(map[string]string, len(vars))
		for _, v := range vars {
			body.Variables[v.Key] = v.Value
		}
	}
	var w wirePipeline
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "projects/" + pp + "/trigger/pipeline", opt: body, out: &w}); err != nil {
		// Should GitLab (or a proxy) ever echo the token, it is cut from the
		// error and from the message users see.
		var api *APIError
		if errors.As(err, &api) {
			api.Message = redact(api.Message, token.Reveal())
		}
		var se *statusError
		if errors.As(err, &se) {
			se.message = redact(se.message, token.Reveal())
		}
		return Pipeline{}, fmt.Errorf("trigger pipeline on %s in %s: %w", ref, project, &redactedError{err: err, tokens: []string{token.Reveal()}})
	}
	return w.pipeline(), nil
}

// ErrShortToken: pipebot holds only the first characters of a trigger's
// token because another GitLab user owns the trigger.
var ErrShortToken = fmt.Errorf("gitlab: only %d characters of the trigger token are visible", ShortTokenLen)
