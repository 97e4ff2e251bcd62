package gitlab

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// GraphQLBatch is the most projects one UpdatedPipelines request asks
// about. GitLab refuses an authenticated query whose complexity is over
// 250 (doc/api/graphql/_index.md, "Limits"), and computes this query's
// (graphql-ruby's connection complexity and GitLab's resolver complexity,
// Types::BaseField#field_resolver_complexity) as (6n + 2) × (1 + n/100)
// rounded down for n projects: 236 for 30, 246 for 31, 256 for 32.
const GraphQLBatch = 30

// updatedPipelinesQuery asks, for each project, for the newest pipeline
// (GitLab orders them by id, newest first) updated at or after $since.
// Field and argument names are GitLab's GraphQL reference's:
// Query.projects(ids:), Project.pipelines(updatedAfter:), Pipeline.status.
const updatedPipelinesQuery = `query($ids: [ID!], $first: Int, $since: Time) {
  projects(ids: $ids, first: $first) {
    nodes { id pipelines(first: 1, updatedAfter: $since) { nodes { id status updatedAt } } }
  }
}`

// PipelineUpdate is a pipeline as a GraphQL check reports it.
type PipelineUpdate struct {
	ID        int64
	Status    Status
	UpdatedAt time.Time
}

// ProjectUpdates is one project's answer to UpdatedPipelines.
type ProjectUpdates struct {
	ProjectID int64
	// Latest is the newest pipeline (by id) updated at or after the time
	// asked, nil when none was. Older pipelines may have been updated too:
	// Latest says that something changed, not everything that did.
	Latest *PipelineUpdate
}

type graphqlRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables,omitempty"`
}

type wireUpdates struct {
	Data *struct {
		Projects *struct {
			Nodes []struct {
				ID        string `json:"id"`
				Pipelines *struct {
					Nodes []struct {
						ID        string `json:"id"`
						Status    string `json:"status"`
						UpdatedAt string `json:"updatedAt"`
					} `json:"nodes"`
				} `json:"pipelines"`
			} `json:"nodes"`
		} `json:"projects"`
	} `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// UpdatedPipelines asks GitLab's GraphQL API (POST /api/graphql) which of
// projects have a pipeline updated at or after since: one request for
// every GraphQLBatch projects, where the REST API needs one per project.
// A project GitLab does not list (the token cannot read it, or it is gone)
// is left out of the answer; a project listed without a pipeline has a nil
// Latest.
//
// Reads are retried as GETs are. An instance without the GraphQL API
// answers ErrNotFound; a 200 answer carrying GraphQL "errors" (a query
// GitLab refuses, such as one over its complexity limit) is an *APIError
// with status 200 and the errors' messages.
func (c *Client) UpdatedPipelines(ctx context.Context, projects []int64, since time.Time) ([]ProjectUpdates, error) {
	ids := make([]string, 0, len(projects))
	seen := make(map[int64]bool, len(projects))
	for _, id := range projects {
		if id > 0 && !seen[id] {
			seen[id] = true
			ids = append(ids, "gid://gitlab/Project/"+strconv.FormatInt(id, 10))
		}
	}
	var out []ProjectUpdates
	for start := 0; start < len(ids); start += GraphQLBatch {
		batch := ids[start:min(start+GraphQLBatch, len(ids))]
		got, err := c.updatedBatch(ctx, batch, since)
		if err != nil {
			return nil, fmt.Errorf("check pipelines of %d projects: %w", len(batch), err)
		}
		out = append(out, got...)
	}
	return out, nil
}

func (c *Client) updatedBatch(ctx context.Context, ids []string, since time.Time) ([]ProjectUpdates, error) {
	body := graphqlRequest{Query: updatedPipelinesQuery, Variables: map[string]any{
		"ids": ids, "first": len(ids), "since": since.UTC().Format(time.RFC3339Nano),
	}}
	var w wireUpdates
	if _, err := c.do(ctx, request{method: http.MethodPost, graphql: true, read: true, opt: body, out: &w}); err != nil {
		return nil, err
	}
	if len(w.Errors) > 0 {
		msgs := make([]string, len(w.Errors))
		for i, e := range w.Errors {
			msgs[i] = e.Message
		}
		return nil, &APIError{Status: http.StatusOK, Message: redact(strings.Join(msgs, "; "), c.token)}
	}
	if w.Data == nil || w.Data.Projects == nil {
		return nil, &APIError{Status: http.StatusOK, Message: "GraphQL answer without data.projects"}
	}
	out := make([]ProjectUpdates, 0, len(w.Data.Projects.Nodes))
	for _, n := range w.Data.Projects.Nodes {
		pid, err := parseGlobalID(n.ID, "Project")
		if err != nil {
			return nil, err
		}
		u := ProjectUpdates{ProjectID: pid}
		if n.Pipelines != nil && len(n.Pipelines.Nodes) > 0 {
			p := n.Pipelines.Nodes[0]
			id, err := parseGlobalID(p.ID, "Ci::Pipeline")
			if err != nil {
				return nil, err
			}
			at, err := time.Parse(time.RFC3339Nano, p.UpdatedAt)
			if err != nil {
				return nil, &APIError{Status: http.StatusOK, Message: fmt.Sprintf("pipeline %d: bad updatedAt %q", id, p.UpdatedAt)}
			}
			// PipelineStatusEnum's values are the REST statuses in capitals.
			u.Latest = &PipelineUpdate{ID: id, Status: Status(strings.ToLower(p.Status)), UpdatedAt: at}
		}
		out = append(out, u)
	}
	return out, nil
}

// parseGlobalID reads a GraphQL global ID, "gid://gitlab/<model>/<id>".
func parseGlobalID(gid, model string) (int64, error) {
	rest, ok := strings.CutPrefix(gid, "gid://gitlab/"+model+"/")
	if id, err := strconv.ParseInt(rest, 10, 64); ok && err == nil && id > 0 {
		return id, nil
	}
	return 0, &APIError{Status: http.StatusOK, Message: fmt.Sprintf("unexpected %s global ID %q", model, gid)}
}
