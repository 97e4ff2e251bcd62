package gitlab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pipelinePage answers page `page` of a list of total pipelines with ids
// 1..total, reading per_page from the query as GitLab does.
func pipelinePage(t *testing.T, total int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		page, _ := strconv.Atoi(q.Get("page"))
		perPage, _ := strconv.Atoi(q.Get("per_page"))
		if page < 1 || perPage < 1 || perPage > 100 {
			t.Errorf("bad paging page=%q per_page=%q", q.Get("page"), q.Get("per_page"))
		}
		var items []string
		for id := (page-1)*perPage + 1; id <= min(page*perPage, total); id++ {
			items = append(items, fmt.Sprintf(`{"id":%d,"status":"success","ref":"main"}`, id))
		}
		if page*perPage < total {
			w.Header().Set("X-Next-Page", strconv.Itoa(page+1))
		}
		w.Header().Set("X-Page", strconv.Itoa(page))
		w.Header().Set("X-Per-Page", strconv.Itoa(perPage))
		_, _ = w.Write([]byte("[" + strings.Join(items, ",") + "]"))
	}
}

func TestPipelinesFollowPagesUpToLimit(t *testing.T) {
	const route = "GET /api/v4/projects/g%2Fapp/pipelines"
	tests := []struct {
		name         string
		total, limit int
		wantPerPage  []string
		wantPages    []string
		wantN        int
	}{
		{"limit 250 reads three pages of 100 and stops", 1000, 250, []string{"100", "100", "100"}, []string{"1", "2", "3"}, 250},
		{"last page without X-Next-Page ends early", 230, 500, []string{"100", "100", "100"}, []string{"1", "2", "3"}, 230},
		{"small limit asks for that many", 1000, 5, []string{"5"}, []string{"1"}, 5},
		{"zero limit means 20", 1000, 0, []string{"20"}, []string{"1"}, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string][]http.HandlerFunc{route: times(len(tt.wantPages), pipelinePage(t, tt.total))})
			c, _ := newTestClient(t, f.srv.URL)
			ps, err := c.Pipelines(context.Background(), "g/app", ListPipelinesOptions{Limit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != tt.wantN {
				t.Fatalf("got %d pipelines, want %d", len(ps), tt.wantN)
			}
			for i, p := range ps {
				if p.ID != int64(i+1) {
					t.Fatalf("pipeline %d has id %d: pages out of order or repeated", i, p.ID)
				}
			}
			var perPage, pages []string
			for _, r := range f.requests() {
				perPage = append(perPage, r.URL.Query().Get("per_page"))
				pages = append(pages, r.URL.Query().Get("page"))
			}
			if !reflect.DeepEqual(perPage, tt.wantPerPage) || !reflect.DeepEqual(pages, tt.wantPages) {
				t.Errorf("per_page %v pages %v, want %v %v", perPage, pages, tt.wantPerPage, tt.wantPages)
			}
		})
	}
}

func TestPipelinesSendFilters(t *testing.T) {
	f := newFake(t, map[string][]http.HandlerFunc{"GET /api/v4/projects/7/pipelines": {reply(200, `[]`)}})
	c, _ := newTestClient(t, f.srv.URL)
	after := time.Date(2024, 5, 1, 14, 30, 0, 0, time.FixedZone("CEST", 2*3600))
	_, err := c.Pipelines(context.Background(), "7", ListPipelinesOptions{
		Ref: "main", Status: "failed", Source: "schedule", Username: "root", OrderBy: "updated_at", Sort: "desc",
		UpdatedAfter: after, Limit: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	q := f.requests()[0].URL.Query()
	want := map[string]string{
		"ref": "main", "status": "failed", "source": "schedule", "username": "root", "order_by": "updated_at",
		"sort": "desc", "updated_after": "2024-05-01T12:30:00.000Z", "per_page": "50", "page": "1",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("query %s = %q, want %q (query %v)", k, q.Get(k), v, q)
		}
	}
	if len(q) != len(want) {
		t.Errorf("query has unexpected parameters: %v", q)
	}
}

func TestJobsSendScopeAndIncludeRetried(t *testing.T) {
	f := newFake(t, map[string][]http.HandlerFunc{
		"GET /api/v4/projects/7/pipelines/3/jobs": {reply(200, `[{"id":1,"status":"failed","pipeline":{"id":3}}]`)},
		"GET /api/v4/projects/7/jobs":             {reply(200, `[]`)},
	})
	c, _ := newTestClient(t, f.srv.URL)
	jobs, err := c.PipelineJobs(context.Background(), "7", 3, ListJobsOptions{Scope: []Status{StatusFailed, StatusManual}, IncludeRetried: true})
	if err != nil || len(jobs) != 1 || jobs[0].PipelineID != 3 {
		t.Fatalf("got %+v, %v", jobs, err)
	}
	if _, err := c.ProjectJobs(context.Background(), "7", ListJobsOptions{Scope: []Status{StatusRunning}, Limit: 10}); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	q := reqs[0].URL.Query()
	if got := q["scope[]"]; !reflect.DeepEqual(got, []string{"failed", "manual"}) || q.Get("include_retried") != "true" || q.Get("per_page") != "100" {
		t.Errorf("pipeline jobs query = %v", q)
	}
	q = reqs[1].URL.Query()
	if got := q["scope[]"]; !reflect.DeepEqual(got, []string{"running"}) || q.Has("include_retried") || q.Get("per_page") != "10" {
		t.Errorf("project jobs query = %v", q)
	}
}

func TestMutationBodies(t *testing.T) {
	bodyOf := func(t *testing.T, r *http.Request) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil && err != io.EOF {
			t.Fatalf("decode body: %v", err)
		}
		return m
	}
	tests := []struct {
		name  string
		route string
		reply string
		call  func(c *Client) error
		want  string // JSON of the expected body; "" for none
	}{
		{
			name: "create pipeline sends ref and variables", route: "POST /api/v4/projects/g%2Fapp/pipeline", reply: pipelineJSON,
			call: func(c *Client) error {
				_, err := c.CreatePipeline(context.Background(), "g/app", "release/1.2", []Variable{{Key: "DEPLOY_ZONE", Value: "us-west1"}, {Key: "CFG", Value: "a=b", VariableType: "file"}}, nil)
				return err
			},
			want: `{"ref":"release/1.2","variables":[{"key":"DEPLOY_ZONE","value":"us-west1"},{"key":"CFG","value":"a=b","variable_type":"file"}]}`,
		},
		{
			name: "create pipeline without variables", route: "POST /api/v4/projects/g%2Fapp/pipeline", reply: pipelineJSON,
			call: func(c *Client) error {
				_, err := c.CreatePipeline(context.Background(), "g/app", "main", nil, nil)
				return err
			},
			want: `{"ref":"main"}`,
		},
		{
			name: "play job sends job variables", route: "POST /api/v4/projects/g%2Fapp/jobs/4/play", reply: `{"id":4}`,
			call: func(c *Client) error {
				_, err := c.PlayJob(context.Background(), "g/app", 4, []Variable{{Key: "CONFIRM", Value: "yes"}}, nil)
				return err
			},
			want: `{"job_variables_attributes":[{"key":"CONFIRM","value":"yes"}]}`,
		},
		{
			name: "create pipeline sends typed inputs", route: "POST /api/v4/projects/g%2Fapp/pipeline", reply: pipelineJSON,
			call: func(c *Client) error {
				_, err := c.CreatePipeline(context.Background(), "g/app", "main", nil, []Input{
					TypedInput("environment", "staging"), TypedInput("replicas", "3"), TypedInput("debug", "true"), TypedInput("zone", "007"),
				})
				return err
			},
			want: `{"ref":"main","inputs":{"environment":"staging","replicas":3,"debug":true,"zone":"007"}}`,
		},
		{
			name: "play job sends job inputs", route: "POST /api/v4/projects/g%2Fapp/jobs/4/play", reply: `{"id":4}`,
			call: func(c *Client) error {
				_, err := c.PlayJob(context.Background(), "g/app", 4, nil, []Input{TypedInput("target", "eu")})
				return err
			},
			want: `{"job_inputs":{"target":"eu"}}`,
		},
		{
			name: "retry pipeline", route: "POST /api/v4/projects/g%2Fapp/pipelines/9/retry", reply: pipelineJSON,
			call: func(c *Client) error { _, err := c.RetryPipeline(context.Background(), "g/app", 9); return err },
		},
		{
			name: "retry job", route: "POST /api/v4/projects/g%2Fapp/jobs/4/retry", reply: `{"id":5}`,
			call: func(c *Client) error { _, err := c.RetryJob(context.Background(), "g/app", 4); return err },
		},
		{
			name: "cancel job", route: "POST /api/v4/projects/g%2Fapp/jobs/4/cancel", reply: `{"id":4}`,
			call: func(c *Client) error { _, err := c.CancelJob(context.Background(), "g/app", 4); return err },
		},
		{
			name: "erase job", route: "POST /api/v4/projects/g%2Fapp/jobs/4/erase", reply: `{"id":4}`,
			call: func(c *Client) error { _, err := c.EraseJob(context.Background(), "g/app", 4); return err },
		},
		{
			name: "keep artifacts", route: "POST /api/v4/projects/g%2Fapp/jobs/4/artifacts/keep", reply: `{"id":4}`,
			call: func(c *Client) error { _, err := c.KeepArtifacts(context.Background(), "g/app", 4); return err },
		},
		{
			name: "delete pipeline answers 204", route: "DELETE /api/v4/projects/g%2Fapp/pipelines/9", reply: "",
			call: func(c *Client) error { return c.DeletePipeline(context.Background(), "g/app", 9) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]any
			status := http.StatusOK
			if tt.reply == "" {
				status = http.StatusNoContent
			}
			f := newFake(t, map[string][]http.HandlerFunc{tt.route: {func(w http.ResponseWriter, r *http.Request) {
				got = bodyOf(t, r)
				reply(status, tt.reply)(w, r)
			}}})
			c, _ := newTestClient(t, f.srv.URL)
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if tt.want != "" {
				if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body = %v, want %v", got, want)
			}
		})
	}
}

func TestPipelineVariables(t *testing.T) {
	f := newFake(t, map[string][]http.HandlerFunc{"GET /api/v4/projects/g%2Fapp/pipelines/9/variables": {
		reply(200, `[{"key":"RUN_NIGHTLY_BUILD","variable_type":"env_var","value":"true"},{"key":"foo","value":"bar","variable_type":"file"}]`),
	}})
	c, _ := newTestClient(t, f.srv.URL)
	vars, err := c.PipelineVariables(context.Background(), "g/app", 9)
	if err != nil {
		t.Fatal(err)
	}
	want := []Variable{{"RUN_NIGHTLY_BUILD", "true", "env_var"}, {"foo", "bar", "file"}}
	if !reflect.DeepEqual(vars, want) {
		t.Errorf("got %v, want %v", vars, want)
	}
}

func TestCurrentUser(t *testing.T) {
	f := newFake(t, map[string][]http.HandlerFunc{"GET /api/v4/user": {
		reply(200, `{"id":3,"username":"pipebot","name":"Pipe Bot","state":"active","web_url":"https://gitlab.example.com/pipebot","email":"bot@example.com"}`),
	}})
	c, _ := newTestClient(t, f.srv.URL)
	u, err := c.CurrentUser(context.Background())
	want := User{ID: 3, Username: "pipebot", Name: "Pipe Bot", State: "active", WebURL: "https://gitlab.example.com/pipebot", Email: "bot@example.com"}
	if err != nil || u != want {
		t.Errorf("got %+v, %v; want %+v", u, err, want)
	}
}

func TestTypedInput(t *testing.T) {
	tests := []struct {
		value string
		want  any
	}{
		{"staging", "staging"},
		{"3", json.Number("3")},
		{"-2.5", json.Number("-2.5")},
		{"1e3", json.Number("1e3")},
		{"true", true},
		{"false", false},
		{"True", "True"}, // only the JSON spellings are booleans
		{"007", "007"},   // not a JSON number: a leading zero keeps it a string
		{"0x1f", "0x1f"},
		{"1.", "1."},
		{"", ""},
		{"NaN", "NaN"},
	}
	for _, tt := range tests {
		if got := TypedInput("x", tt.value).Value; got != tt.want {
			t.Errorf("TypedInput(%q) = %#v, want %#v", tt.value, got, tt.want)
		}
	}
}

func TestInputRefusals(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []InputRefusal
	}{
		{"unknown inputs", &APIError{Status: 400, Message: "unknown input arguments: colour, size"},
			[]InputRefusal{{"colour", "no such input is defined in the CI configuration"}, {"size", "no such input is defined in the CI configuration"}}},
		{"a named input", &APIError{Status: 400, Message: "`environment` input: `prod` cannot be used because it is not in the list of allowed options"},
			[]InputRefusal{{"environment", "`prod` cannot be used because it is not in the list of allowed options"}}},
		{"two named inputs", &APIError{Status: 400, Message: "`a` input: provided value is not a number; `b` input: required value has not been provided."},
			[]InputRefusal{{"a", "provided value is not a number"}, {"b", "required value has not been provided"}}},
		{"another 400", &APIError{Status: 400, Message: "Reference not found"}, nil},
		{"not a 400", &APIError{Status: 422, Message: "`a` input: bad"}, nil},
		{"not an API error", ErrForbidden, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InputRefusals(fmt.Errorf("wrapped: %w", tt.err)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("InputRefusals = %#v, want %#v", got, tt.want)
			}
		})
	}
}
