package simulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// gql posts a GraphQL query to /api/graphql.
func (f *fixture) gql(t *testing.T, token, query string, vars map[string]any) response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	return f.send(t, http.MethodPost, "/api/graphql", hdr, string(body))
}

// gqlErrorsOf returns the messages of a 200 answer's "errors".
func gqlErrorsOf(t *testing.T, r response) []string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", r.status, r.body)
	}
	var out struct {
		Errors []struct{ Message string } `json:"errors"`
	}
	r.json(t, &out)
	msgs := make([]string, len(out.Errors))
	for i, e := range out.Errors {
		msgs[i] = e.Message
	}
	return msgs
}

const checkQuery = `query($ids: [ID!], $since: Time, $n: Int) {
  projects(ids: $ids, first: $n) {
    nodes { id fullPath pipelines(first: 1, updatedAfter: $since) { nodes { id iid status updatedAt } } }
  }
}`

type checkAnswer struct {
	Data struct {
		Projects struct {
			Nodes []struct {
				ID        string `json:"id"`
				FullPath  string `json:"fullPath"`
				Pipelines struct {
					Nodes []struct {
						ID, IID, Status, UpdatedAt string
					} `json:"nodes"`
				} `json:"pipelines"`
			} `json:"nodes"`
		} `json:"projects"`
	} `json:"data"`
	Errors []json.RawMessage `json:"errors"`
}

func TestGraphQLProjectsReportsTheNewestPipelineUpdatedAfter(t *testing.T) {
	f := newFixture(t)
	f.sim.AddProject(Project{ID: 8, Path: "group/other", Members: map[int64]AccessLevel{1: Developer}, Jobs: []JobSpec{{Name: "t"}}})
	f.sim.AddProject(Project{ID: 9, Path: "secret/app", Jobs: []JobSpec{{Name: "t"}}}) // alice is no member
	old := f.sim.CreatePipeline(projectID, "main", "push", 1)
	f.sim.Finish(projectID, old)
	f.clock.Add(time.Minute)
	since := f.clock.Now()
	f.clock.Add(time.Second)
	newer := f.sim.CreatePipeline(projectID, "main", "api", 1)
	f.sim.Advance(projectID, newer) // pending
	f.sim.CreatePipeline(9, "main", "push", 0)

	r := f.gql(t, aliceToken, checkQuery, map[string]any{
		"ids":   []string{"gid://gitlab/Project/7", "gid://gitlab/Project/8", "gid://gitlab/Project/9", "gid://gitlab/Project/404"},
		"since": since.Format(time.RFC3339), "n": 10,
	})
	var got checkAnswer
	r.json(t, &got)
	if r.status != http.StatusOK || len(got.Errors) > 0 {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	nodes := got.Data.Projects.Nodes
	if len(nodes) != 2 || nodes[0].ID != "gid://gitlab/Project/8" || nodes[1].ID != "gid://gitlab/Project/7" {
		t.Fatalf("projects = %+v, want 8 then 7 (newest id first; 9 unreadable and 404 unknown are left out)", nodes)
	}
	if len(nodes[0].Pipelines.Nodes) != 0 {
		t.Errorf("project 8 has no pipeline, got %+v", nodes[0].Pipelines.Nodes)
	}
	p := nodes[1].Pipelines.Nodes
	info := f.pipeline(t, newer)
	want := fmt.Sprintf("gid://gitlab/Ci::Pipeline/%d", newer)
	if len(p) != 1 || p[0].ID != want || p[0].Status != "PENDING" || p[0].IID != fmt.Sprint(info.IID) ||
		p[0].UpdatedAt != info.UpdatedAt.UTC().Format(time.RFC3339) {
		t.Fatalf("pipelines = %+v, want %s PENDING iid %d updated %s", p, want, info.IID, info.UpdatedAt)
	}
	// The first line is verbatim GitLab's answer order: data keys follow the query.
	if !strings.HasPrefix(string(r.body), `{"data":{"projects":{"nodes":[{"id":"gid://gitlab/Project/8","fullPath":"group/other","pipelines"`) {
		t.Errorf("body = %s", r.body)
	}
}

func TestGraphQLPipelinesFollowPermissions(t *testing.T) {
	f := newFixture(t)
	f.sim.AddProject(Project{ID: 20, Path: "pub/app", Visibility: VisibilityPublic, Jobs: []JobSpec{{Name: "t"}}})
	f.sim.AddProject(Project{ID: 21, Path: "pub/open", Visibility: VisibilityPublic, PublicPipelines: true, Jobs: []JobSpec{{Name: "t"}}})
	for _, pid := range []int64{projectID, 20, 21} {
		f.sim.CreatePipeline(pid, "main", "push", 1)
	}
	ids := []string{"gid://gitlab/Project/7", "gid://gitlab/Project/20", "gid://gitlab/Project/21"}
	tests := []struct {
		name, token string
		want        string // project:pipelines, newest project first
	}{
		{"reporter reads the pipelines of its project and of public ones with public pipelines", bobToken, "21:1 20:0 7:1"},
		{"guest sees its project but not its pipelines", carolToken, "21:1 20:0 7:0"},
		{"non-member sees only public projects", daveToken, "21:1 20:0"},
		{"anonymous sees public projects", "", "21:1 20:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.gql(t, tt.token, checkQuery, map[string]any{"ids": ids, "n": 10})
			var got checkAnswer
			r.json(t, &got)
			if len(got.Errors) > 0 {
				t.Fatalf("errors: %s", r.body)
			}
			var parts []string
			for _, n := range got.Data.Projects.Nodes {
				parts = append(parts, fmt.Sprintf("%s:%d", strings.TrimPrefix(n.ID, "gid://gitlab/Project/"), len(n.Pipelines.Nodes)))
			}
			if s := strings.Join(parts, " "); s != tt.want {
				t.Fatalf("got %q, want %q", s, tt.want)
			}
		})
	}
}

func TestGraphQLRefusesInvalidQueriesAsGitLabDoes(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, query string
		vars        map[string]any
		want        string
	}{
		{"unknown field", `{ projects { nodes { id color } } }`, nil, "Field 'color' doesn't exist on type 'Project'"},
		{"unknown argument", `{ projects(owner: "x") { count } }`, nil, "Field 'projects' doesn't accept argument 'owner'"},
		{"object without selections", `{ projects }`, nil, "Field must have selections (field 'projects' returns ProjectConnection but has no selections. Did you mean 'projects { ... }'?)"},
		{"selections on a scalar", `{ projects { count { x } } }`, nil, "Selections can't be made on scalars (field 'count' returns Int! but has selections [x])"},
		{"literal of the wrong type", `{ projects(first: "ten") { count } }`, nil, `Argument 'first' on Field 'projects' has an invalid value ("ten"). Expected type 'Int'.`},
		{"unknown enum value", `{ project(fullPath: "group/sub/app") { pipelines(status: DONE) { count } } }`, nil,
			"Argument 'status' on Field 'pipelines' has an invalid value (DONE). Expected type 'PipelineStatusEnum'."},
		{"missing required argument", `{ project { id } }`, nil, "Field 'project' is missing required arguments: fullPath"},
		{"undeclared variable", `{ projects(first: $n) { count } }`, nil, "Variable $n is used by anonymous query but not declared"},
		{"unused variable", `query Q($n: Int) { projects { count } }`, nil, "Variable $n is declared by query 'Q' but not used"},
		{"variable of another type", `query($ids: [String!]) { projects(ids: $ids) { count } }`, nil,
			"Type mismatch on variable $ids and argument ids ([String!] / [ID!])"},
		{"variable not a list", `query($ids: ID) { projects(ids: $ids) { count } }`, nil,
			"List dimension mismatch on variable $ids and argument ids (ID / [ID!])"},
		{"nullable variable for a required argument", `query($p: ID) { project(fullPath: $p) { id } }`, nil,
			"Nullability mismatch on variable $p and argument fullPath (ID / ID!)"},
		{"invalid variable value", `query($s: Time) { projects { nodes { pipelines(updatedAfter: $s) { count } } } }`, map[string]any{"s": "yesterday"},
			"Variable $s of type Time was provided invalid value"},
		{"missing required variable", `query($p: ID!) { project(fullPath: $p) { id } }`, nil, "Variable $p of type ID! was provided invalid value"},
		{"invalid global id", `{ projects(ids: ["7"]) { count } }`, nil, "7 is not a valid GitLab ID."},
		{"parse error", `{ projects { `, nil, "Expected NAME, actual: EOF at [1, 14]"},
		{"no query", ``, nil, "No query string was present"},
		{"mutation", `mutation { x { y } }`, nil, "The GitLab simulator answers queries only, not mutations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := gqlErrorsOf(t, f.gql(t, aliceToken, tt.query, tt.vars))
			if len(msgs) == 0 || msgs[0] != tt.want {
				t.Fatalf("errors = %q, want %q", msgs, tt.want)
			}
		})
	}

	r := f.gql(t, aliceToken, `{ projects { nodes { color } } }`, nil)
	var shape struct {
		Data   any `json:"data"`
		Errors []struct {
			Locations  []gqlLocation     `json:"locations"`
			Path       []string          `json:"path"`
			Extensions map[string]string `json:"extensions"`
		} `json:"errors"`
	}
	r.json(t, &shape)
	if shape.Data != nil || len(shape.Errors) != 1 {
		t.Fatalf("body = %s, want errors without data", r.body)
	}
	e := shape.Errors[0]
	if fmt.Sprint(e.Locations, e.Path, e.Extensions) != "[{1 22}] [query projects nodes color] map[code:undefinedField fieldName:color typeName:Project]" {
		t.Errorf("error = %+v", e)
	}
}

// batchQuery asks for n projects' newest pipeline, with pageInfo when asked.
func batchQuery(n int, pageInfo bool) string {
	extra := ""
	if pageInfo {
		extra = " pageInfo { hasNextPage endCursor }"
	}
	return fmt.Sprintf(`query($ids: [ID!], $since: Time) { projects(ids: $ids, first: %d) { nodes { id pipelines(first: 1, updatedAfter: $since) { nodes { id status updatedAt } } }%s } }`, n, extra)
}

func TestGraphQLComplexityIsComputedAndLimitedAsGitLabDoes(t *testing.T) {
	f := newFixture(t)
	f.sim.AddUser(User{ID: 9, Username: "root", IsAdmin: true}, "root-token")
	f.sim.AddProject(Project{ID: 30, Path: "pub/app", Visibility: VisibilityPublic})
	tests := []struct {
		name, token, query string
		score              int // 0: refused
		refusal            string
	}{
		// projects: (first×(nodes' children 6) + 1 metadata + 1 resolver) × (1 + first/100),
		// rounded down;
		// pipelines(first: 1): (1×3 + 1 + 1) × 1.01 = 5; nodes: 1 + id + pipelines.
		{"thirty projects fit", aliceToken, batchQuery(30, false), 236, ""},
		{"thirty-one projects fit", aliceToken, batchQuery(31, false), 246, ""},
		{"thirty-two projects do not", aliceToken, batchQuery(32, false), 0, "Query has complexity of 256, which exceeds max complexity of 250"},
		{"pageInfo and its fields are metadata, not multiplied", aliceToken, batchQuery(30, true), 240, ""},
		{"an administrator may send up to 300", "root-token", batchQuery(32, false), 256, ""},
		{"anonymous requests stop at 200", "", batchQuery(30, false), 0, "Query has complexity of 236, which exceeds max complexity of 200"},
		{"ref costs the pipelines resolver 2", aliceToken,
			`{ projects(first: 10) { nodes { pipelines(first: 1, ref: "main") { nodes { id } } } } }`, 0, ""},
		{"without first a connection counts its 100 items", aliceToken, `{ projects { nodes { id } } }`, 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.gql(t, tt.token, tt.query, nil)
			msgs := gqlErrorsOf(t, r)
			if tt.refusal != "" {
				if len(msgs) != 1 || msgs[0] != tt.refusal {
					t.Fatalf("errors = %q, want %q", msgs, tt.refusal)
				}
				if strings.Contains(string(r.body), `"data"`) {
					t.Errorf("a refused query has no data: %s", r.body)
				}
				return
			}
			if len(msgs) > 0 {
				t.Fatalf("errors = %q", msgs)
			}
		})
	}
	// queryComplexity reports the score, itself included (1 + its 2 fields).
	for _, tt := range tests {
		if tt.score == 0 {
			continue
		}
		q := strings.Replace(tt.query, "{ projects", "{ queryComplexity { score limit } projects", 1)
		var got struct {
			Data struct {
				QueryComplexity struct{ Score, Limit int } `json:"queryComplexity"`
			} `json:"data"`
		}
		f.gql(t, tt.token, q, nil).json(t, &got)
		if got.Data.QueryComplexity.Score != tt.score+3 {
			t.Errorf("%s: score = %d, want %d", tt.name, got.Data.QueryComplexity.Score, tt.score+3)
		}
	}
	// ref: pipelines (1×1 + 1 + 1 + 2) × 1.01 = 5; nodes 6; projects (10×5 + 1 + 1) × 1.1 = 57.
	var got struct {
		Data struct {
			QueryComplexity struct{ Score int } `json:"queryComplexity"`
		} `json:"data"`
	}
	f.gql(t, aliceToken, `{ queryComplexity { score } projects(first: 10) { nodes { pipelines(first: 1, ref: "main") { nodes { id } } } } }`, nil).json(t, &got)
	if got.Data.QueryComplexity.Score != 2+57 {
		t.Errorf("ref query score = %d, want %d", got.Data.QueryComplexity.Score, 2+57)
	}
}

func TestGraphQLPaginatesProjects(t *testing.T) {
	f := newFixture(t)
	for id := int64(40); id < 45; id++ {
		f.sim.AddProject(Project{ID: id, Path: fmt.Sprintf("pub/p%d", id), Visibility: VisibilityPublic})
	}
	var seen []string
	after := ""
	for pages := 0; pages < 10; pages++ {
		vars := map[string]any{}
		if after != "" {
			vars["after"] = after
		}
		var got struct {
			Data struct {
				Projects struct {
					Count    int
					Nodes    []struct{ FullPath string }
					PageInfo struct {
						HasNextPage     bool
						HasPreviousPage bool
						EndCursor       string
					}
				}
			}
		}
		f.gql(t, daveToken, `query($after: String) { projects(first: 2, after: $after, search: "pub/") { count nodes { fullPath } pageInfo { hasNextPage hasPreviousPage endCursor } } }`, vars).json(t, &got)
		p := got.Data.Projects
		if p.Count != 5 || p.PageInfo.HasPreviousPage != (after != "") {
			t.Fatalf("page %d: count %d, hasPreviousPage %v", pages, p.Count, p.PageInfo.HasPreviousPage)
		}
		for _, n := range p.Nodes {
			seen = append(seen, n.FullPath)
		}
		if !p.PageInfo.HasNextPage {
			break
		}
		after = p.PageInfo.EndCursor
	}
	if strings.Join(seen, " ") != "pub/p44 pub/p43 pub/p42 pub/p41 pub/p40" {
		t.Fatalf("pages gave %v", seen)
	}
	msgs := gqlErrorsOf(t, f.gql(t, daveToken, `{ projects(after: "nope") { count } }`, nil))
	if len(msgs) != 1 || msgs[0] != "Please provide a valid cursor" {
		t.Fatalf("bad cursor: %q", msgs)
	}
}

func TestGraphQLRequestsAreLoggedAndCountedByTheRateLimit(t *testing.T) {
	f := newFixture(t)
	f.sim.SetRateLimit(RateLimit{Limit: 3, HeadersOnSuccess: true})
	f.do(t, http.MethodGet, "/projects/7", aliceToken, nil)
	r := f.gql(t, aliceToken, `{ projects { count } }`, nil)
	if r.header.Get("RateLimit-Observed") != "2" || r.header.Get("RateLimit-Remaining") != "1" {
		t.Fatalf("headers %v: the GraphQL request should be the user's second in the window", r.header)
	}
	f.gql(t, aliceToken, `{ projects { count } }`, nil)
	if r := f.gql(t, aliceToken, `{ projects { count } }`, nil); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("fourth request: status %d, want 429 with Retry-After", r.status)
	}
	if n := f.sim.CountRequests(http.MethodPost, "/api/graphql"); n != 3 {
		t.Fatalf("logged %d GraphQL requests, want 3", n)
	}
	if _, throttled := f.sim.RateLimitStats(); throttled != 1 {
		t.Fatalf("throttled = %d, want 1", throttled)
	}
}

func TestGraphQLAuthentication(t *testing.T) {
	f := newFixture(t)
	r := f.gql(t, "wrong-token", `{ projects { count } }`, nil)
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `"errors":[{"message":"Invalid token"}]`) {
		t.Fatalf("bad token: %d %s", r.status, r.body)
	}
	f.sim.SetTokenScopes(bobToken, "read_api")
	if msgs := gqlErrorsOf(t, f.gql(t, bobToken, `{ projects { count } }`, nil)); len(msgs) != 0 {
		t.Fatalf("a read_api token may query: %q", msgs)
	}
	f.sim.SetTokenScopes(bobToken, "read_user")
	if r := f.gql(t, bobToken, `{ projects { count } }`, nil); r.status != http.StatusForbidden {
		t.Fatalf("read_user token: status %d, want 403", r.status)
	}
	if r := f.send(t, http.MethodPut, "/api/graphql", nil, ""); r.status != http.StatusNotFound {
		t.Fatalf("PUT /api/graphql: %d, want 404", r.status)
	}
}
