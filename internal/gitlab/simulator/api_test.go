package simulator

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		header string
		value  string
		want   int
	}{
		{"missing token", "", "", http.StatusUnauthorized},
		{"unknown private token", "PRIVATE-TOKEN", "nope", http.StatusUnauthorized},
		{"unknown bearer token", "Authorization", "Bearer nope", http.StatusUnauthorized},
		{"private token", "PRIVATE-TOKEN", aliceToken, http.StatusOK},
		{"bearer token", "Authorization", "Bearer " + aliceToken, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/api/v4/user", nil)
			if tt.header != "" {
				req.Header.Set(tt.header, tt.value)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusUnauthorized && strings.TrimSpace(string(body)) != `{"message":"401 Unauthorized"}` {
				t.Fatalf("body = %s", body)
			}
			if tt.want == http.StatusOK && !strings.Contains(string(body), `"username":"alice"`) {
				t.Fatalf("GET /user = %s, want alice", body)
			}
		})
	}
}

func TestProjectLookupAndAccess(t *testing.T) {
	f := newFixture(t)
	id := f.sim.CreatePipeline(projectID, "main", "push", 1)
	tests := []struct {
		name    string
		method  string
		path    string
		token   string
		status  int
		message string
	}{
		{"numeric id", "GET", "/projects/7", aliceToken, 200, ""},
		{"url-encoded full path", "GET", "/projects/" + encPath, aliceToken, 200, ""},
		{"path is case-insensitive", "GET", "/projects/Group%2FSub%2FApp", aliceToken, 200, ""},
		{"unknown path", "GET", "/projects/group%2Fnope", aliceToken, 404, "404 Project Not Found"},
		{"unknown id", "GET", "/projects/99", aliceToken, 404, "404 Project Not Found"},
		{"non-member sees no project", "GET", "/projects/" + encPath, daveToken, 404, "404 Project Not Found"},
		{"non-member sees no pipelines", "GET", "/projects/7/pipelines", daveToken, 404, "404 Project Not Found"},
		{"guest sees the project", "GET", "/projects/7", carolToken, 200, ""},
		{"guest may not read pipelines", "GET", "/projects/7/pipelines", carolToken, 403, "403 Forbidden"},
		{"reporter reads pipelines", "GET", "/projects/7/pipelines", bobToken, 200, ""},
		{"reporter may not create", "POST", "/projects/7/pipeline?ref=main", bobToken, 403, "403 Forbidden"},
		{"reporter may not retry", "POST", fmt.Sprintf("/projects/7/pipelines/%d/retry", id), bobToken, 403, "403 Forbidden"},
		{"developer may not delete", "DELETE", fmt.Sprintf("/projects/7/pipelines/%d", id), devToken, 403, "403 Forbidden"},
		{"missing pipeline", "GET", "/projects/7/pipelines/999", aliceToken, 404, "404 Not found"},
		{"missing job", "GET", "/projects/7/jobs/999", aliceToken, 404, "404 Not found"},
		{"maintainer deletes", "DELETE", fmt.Sprintf("/projects/7/pipelines/%d", id), aliceToken, 204, ""},
		{"deleted pipeline is gone", "GET", fmt.Sprintf("/projects/7/pipelines/%d", id), aliceToken, 404, "404 Not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, tt.method, tt.path, tt.token, nil)
			if tt.message != "" {
				wantMessage(t, r, tt.status, tt.message)
				return
			}
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
		})
	}
	r := f.do(t, "GET", "/projects/"+encPath, carolToken, nil)
	p := r.object(t)
	if p["path_with_namespace"] != "group/sub/app" || p["id"] != 7.0 {
		t.Fatalf("project = %v", p)
	}
	if lvl := p["permissions"].(map[string]any)["project_access"].(map[string]any)["access_level"]; lvl != 10.0 {
		t.Fatalf("access_level = %v, want 10", lvl)
	}
	if f.sim.PipelineCount(projectID) != 0 {
		t.Fatalf("PipelineCount after delete = %d", f.sim.PipelineCount(projectID))
	}
}

func TestPagination(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 45; i++ {
		f.sim.CreatePipeline(projectID, "main", "push", 1)
	}
	tests := []struct {
		name                     string
		query                    string
		page, perPage, n         string
		next, prev, total, pages string
		count                    int
		firstID                  float64
	}{
		{"defaults", "", "1", "20", "", "2", "", "45", "3", 20, 45},
		{"middle page", "?page=2&per_page=20", "2", "20", "", "3", "1", "45", "3", 20, 25},
		{"last page", "?page=3", "3", "20", "", "", "2", "45", "3", 5, 5},
		{"beyond the last page", "?page=9", "9", "20", "", "", "3", "45", "3", 0, 0},
		{"per_page clamps to 100", "?per_page=500", "1", "100", "", "", "", "45", "1", 45, 45},
		{"per_page 7", "?per_page=7&page=7", "7", "7", "", "", "6", "45", "7", 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, "GET", "/projects/7/pipelines"+tt.query, aliceToken, nil)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			for h, want := range map[string]string{
				"X-Page": tt.page, "X-Per-Page": tt.perPage, "X-Next-Page": tt.next,
				"X-Prev-Page": tt.prev, "X-Total": tt.total, "X-Total-Pages": tt.pages,
			} {
				if _, ok := r.header[http.CanonicalHeaderKey(h)]; !ok {
					t.Errorf("header %s missing", h)
				}
				if got := r.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			var list []map[string]any
			r.json(t, &list)
			if len(list) != tt.count {
				t.Fatalf("got %d items, want %d", len(list), tt.count)
			}
			if tt.count > 0 && list[0]["id"] != tt.firstID {
				t.Fatalf("first id = %v, want %v (newest first)", list[0]["id"], tt.firstID)
			}
		})
	}

	r := f.do(t, "GET", "/projects/"+encPath+"/pipelines?page=2&ref=main", aliceToken, nil)
	links := parseLinks(t, r.header.Get("Link"))
	base := f.ts.URL + "/api/v4/projects/" + encPath + "/pipelines?"
	for rel, page := range map[string]string{"prev": "1", "next": "3", "first": "1", "last": "3"} {
		u, ok := links[rel]
		if !ok {
			t.Fatalf("Link has no rel=%q: %s", rel, r.header.Get("Link"))
		}
		if !strings.HasPrefix(u, base) {
			t.Fatalf("rel=%s link %q does not start with %q", rel, u, base)
		}
		pu, _ := url.Parse(u)
		if q := pu.Query(); q.Get("page") != page || q.Get("per_page") != "20" || q.Get("ref") != "main" {
			t.Fatalf("rel=%s link query = %v, want page %s, per_page 20, ref kept", rel, q, page)
		}
	}
	r = f.do(t, "GET", "/projects/7/pipelines?page=abc", aliceToken, nil)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "page is invalid") {
		t.Fatalf("bad page = %d %s", r.status, r.body)
	}
}

var linkRe = regexp.MustCompile(`<([^>]+)>; rel="(\w+)"`)

func parseLinks(t *testing.T, h string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range linkRe.FindAllStringSubmatch(h, -1) {
		out[m[2]] = m[1]
	}
	return out
}

func TestPipelineListFilters(t *testing.T) {
	f := newFixture(t, JobSpec{Name: "a", Stage: "build"}, JobSpec{Name: "b", Stage: "test", Only: []string{"main"}, Fail: true})
	t0 := f.clock.Now()
	p1 := f.sim.CreatePipeline(projectID, "main", "push", 1) // failed at t0+...
	f.sim.Finish(projectID, p1)
	f.clock.Add(time.Minute)
	p2 := f.sim.CreatePipeline(projectID, "develop", "web", 2) // success
	f.sim.Finish(projectID, p2)
	f.clock.Add(time.Minute)
	p3 := f.sim.CreatePipeline(projectID, "v1.0", "push", 1) // created, tag
	f.clock.Add(time.Minute)
	p4 := f.sim.CreatePipeline(projectID, "develop", "schedule", 5) // running
	f.sim.Advance(projectID, p4)
	f.sim.Advance(projectID, p4)
	p4Updated := f.pipeline(t, p4).UpdatedAt

	tests := []struct {
		name  string
		query string
		want  []int64
	}{
		{"all newest first", "", []int64{p4, p3, p2, p1}},
		{"status", "status=success", []int64{p2}},
		{"ref", "ref=develop", []int64{p4, p2}},
		{"ref and status", "ref=develop&status=running", []int64{p4}},
		{"source", "source=schedule", []int64{p4}},
		{"username", "username=bob", []int64{p2}},
		{"sha", "sha=" + fakeSHA("group/sub/app", "main"), []int64{p1}},
		{"scope finished", "scope=finished", []int64{p2, p1}},
		{"scope tags", "scope=tags", []int64{p3}},
		{"scope running", "scope=running", []int64{p4}},
		{"updated_after is inclusive", "updated_after=" + url.QueryEscape(p4Updated.Format(time.RFC3339Nano)), []int64{p4}},
		{"updated_after excludes older", "updated_after=" + url.QueryEscape(t0.Add(90*time.Second).Format(time.RFC3339)), []int64{p4, p3}},
		{"updated_before", "updated_before=" + url.QueryEscape(t0.Add(30*time.Second).Format(time.RFC3339)), []int64{p1}},
		{"created_after is inclusive", "created_after=" + url.QueryEscape(t0.Add(time.Minute).Format(time.RFC3339)), []int64{p4, p3, p2}},
		{"created_before is inclusive", "created_before=" + url.QueryEscape(t0.Add(time.Minute).Format(time.RFC3339)), []int64{p2, p1}},
		{"created window", "created_after=" + url.QueryEscape(t0.Add(time.Minute).Format(time.RFC3339)) +
			"&created_before=" + url.QueryEscape(t0.Add(2*time.Minute).Format(time.RFC3339)), []int64{p3, p2}},
		{"sort asc", "sort=asc", []int64{p1, p2, p3, p4}},
		{"order by ref", "order_by=ref&sort=asc", []int64{p2, p4, p1, p3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, "GET", "/projects/7/pipelines?"+tt.query, aliceToken, nil)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var list []struct {
				ID int64 `json:"id"`
			}
			r.json(t, &list)
			got := []int64{}
			for _, p := range list {
				got = append(got, p.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
		})
	}
	for _, q := range []string{"status=bogus", "scope=bogus", "order_by=name", "sort=up", "updated_after=yesterday", "created_after=soon", "created_before=later"} {
		if r := f.do(t, "GET", "/projects/7/pipelines?"+q, aliceToken, nil); r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, r.status)
		}
	}
}

func TestCreatePipelineAPI(t *testing.T) {
	f := newFixture(t, JobSpec{Name: "a", Stage: "build"}, JobSpec{Name: "release", Stage: "deploy", Only: []string{"v*"}})
	f.sim.AddProject(Project{ID: 8, Path: "group/tagsonly", Members: map[int64]AccessLevel{1: Owner},
		Jobs: []JobSpec{{Name: "release", Only: []string{"v*"}}}})

	r := f.do(t, "POST", "/projects/"+encPath+"/pipeline", devToken, map[string]any{
		"ref": "develop",
		"variables": []map[string]string{
			{"key": "DEPLOY_ZONE", "value": "us-west1"},
			{"key": "CFG", "value": "x=1", "variable_type": "file"},
		},
	})
	if r.status != http.StatusCreated {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	p := r.object(t)
	id := int64(p["id"].(float64))
	wantURL := fmt.Sprintf("%s/group/sub/app/-/pipelines/%d", DefaultWebBaseURL, id)
	if p["source"] != "api" || p["ref"] != "develop" || p["status"] != "created" || p["web_url"] != wantURL || p["tag"] != false {
		t.Fatalf("created pipeline = %v", p)
	}
	if u := p["user"].(map[string]any); u["username"] != "devon" {
		t.Fatalf("user = %v, want devon", u)
	}
	if jobs := f.pipeline(t, id).Jobs; len(jobs) != 1 || jobs[0].Name != "a" {
		t.Fatalf("jobs = %+v, want only a (release runs on tags)", jobs)
	}

	r = f.do(t, "GET", fmt.Sprintf("/projects/7/pipelines/%d/variables", id), devToken, nil)
	var vars []map[string]any
	r.json(t, &vars)
	want := []map[string]any{
		{"key": "DEPLOY_ZONE", "value": "us-west1", "variable_type": "env_var"},
		{"key": "CFG", "value": "x=1", "variable_type": "file"},
	}
	if fmt.Sprint(vars) != fmt.Sprint(want) {
		t.Fatalf("variables = %v, want %v", vars, want)
	}

	r = f.do(t, "POST", "/projects/7/pipeline", aliceToken, "ref=v1.0&variables[][key]=A&variables[][value]=1&variables[][key]=B&variables[][value]=2")
	if r.status != http.StatusCreated {
		t.Fatalf("form create = %d %s", r.status, r.body)
	}
	fp := r.object(t)
	if fp["tag"] != true || len(f.pipeline(t, int64(fp["id"].(float64))).Jobs) != 2 {
		t.Fatalf("tag pipeline = %v", fp)
	}
	r = f.do(t, "GET", fmt.Sprintf("/projects/7/pipelines/%v/variables", fp["id"]), aliceToken, nil)
	r.json(t, &vars)
	if len(vars) != 2 || vars[0]["key"] != "A" || vars[1]["value"] != "2" {
		t.Fatalf("form variables = %v", vars)
	}

	before := f.sim.PipelineCount(projectID)
	r = f.do(t, "POST", "/projects/7/pipeline", aliceToken, map[string]any{"ref": "nope"})
	if r.status != 400 || strings.TrimSpace(string(r.body)) != `{"message":{"base":["Reference not found"]}}` {
		t.Fatalf("unknown ref = %d %s", r.status, r.body)
	}
	r = f.do(t, "POST", "/projects/8/pipeline", aliceToken, map[string]any{"ref": "main"})
	if r.status != 400 || !strings.Contains(string(r.body), `"base":["Pipeline will not run`) {
		t.Fatalf("no jobs = %d %s", r.status, r.body)
	}
	r = f.do(t, "POST", "/projects/7/pipeline", aliceToken, map[string]any{})
	if r.status != 400 || !strings.Contains(string(r.body), "ref is missing") {
		t.Fatalf("missing ref = %d %s", r.status, r.body)
	}
	r = f.do(t, "POST", "/projects/7/pipeline", aliceToken, map[string]any{"ref": "main", "variables": []map[string]string{{"key": "A", "variable_type": "weird"}}})
	if r.status != 400 {
		t.Fatalf("bad variable_type = %d %s", r.status, r.body)
	}
	if got := f.sim.PipelineCount(projectID); got != before {
		t.Fatalf("failed creates made pipelines: %d -> %d", before, got)
	}
}

func TestJobEndpoints(t *testing.T) {
	f := newFixture(t,
		JobSpec{Name: "build", Stage: "build", Artifacts: true},
		JobSpec{Name: "test", Stage: "test", Fail: true, FailureReason: "script_failure"},
		JobSpec{Name: "custom", Stage: "test", Log: "hello\nworld\n"},
	)
	id := f.sim.CreatePipeline(projectID, "main", "push", 1)
	f.sim.Finish(projectID, id)
	info := f.pipeline(t, id)
	build, test, custom := jobID(t, info, "build"), jobID(t, info, "test"), jobID(t, info, "custom")
	jp := func(jid int64, suffix string) string {
		return fmt.Sprintf("/projects/%s/jobs/%d%s", encPath, jid, suffix)
	}

	r := f.do(t, "GET", jp(test, "/trace"), bobToken, nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("trace = %d %s", r.status, r.header.Get("Content-Type"))
	}
	for _, want := range []string{"section_start:", "section_end:", "\x1b[", "ERROR: Job failed"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("log lacks %q:\n%s", want, r.body)
		}
	}
	if r := f.do(t, "GET", jp(custom, "/trace"), bobToken, nil); string(r.body) != "hello\nworld\n" {
		t.Fatalf("custom log = %q", r.body)
	}
	f.sim.SetJobLog(projectID, custom, "replaced")
	if r := f.do(t, "GET", jp(custom, "/trace"), bobToken, nil); string(r.body) != "replaced" {
		t.Fatalf("SetJobLog log = %q", r.body)
	}

	r = f.do(t, "GET", jp(build, "/artifacts"), bobToken, nil)
	if r.status != 200 {
		t.Fatalf("artifacts = %d %s", r.status, r.body)
	}
	zr, err := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body)))
	if err != nil {
		t.Fatalf("artifacts are not a zip: %v", err)
	}
	var names []string
	for _, zf := range zr.File {
		names = append(names, zf.Name)
	}
	if fmt.Sprint(names) != "[README.txt build/build.txt]" {
		t.Fatalf("zip files = %v", names)
	}
	if r := f.do(t, "GET", jp(build, "/artifacts/README.txt"), bobToken, nil); r.status != 200 || !strings.Contains(string(r.body), "artifacts of job build") {
		t.Fatalf("single artifact = %d %q", r.status, r.body)
	}
	if r := f.do(t, "GET", "/projects/7/jobs/artifacts/main/download?job=build", bobToken, nil); r.status != 200 || !bytes.HasPrefix(r.body, []byte("PK")) {
		t.Fatalf("ref artifacts = %d", r.status)
	}
	wantMessage(t, f.do(t, "GET", jp(test, "/artifacts"), bobToken, nil), 404, "404 Not Found")
	wantMessage(t, f.do(t, "POST", jp(test, "/artifacts/keep"), devToken, nil), 404, "404 Not Found")

	r = f.do(t, "GET", jp(build, ""), bobToken, nil)
	if r.object(t)["artifacts_expire_at"] == nil {
		t.Fatal("artifacts_expire_at is null before keep")
	}
	r = f.do(t, "POST", jp(build, "/artifacts/keep"), devToken, nil)
	if r.status != 200 || r.object(t)["artifacts_expire_at"] != nil {
		t.Fatalf("keep = %d %s", r.status, r.body)
	}

	wantMessage(t, f.do(t, "POST", jp(build, "/erase"), devToken, nil), 403, "403 Forbidden")
	r = f.do(t, "POST", jp(build, "/erase"), aliceToken, nil)
	if r.status != 201 || r.object(t)["erased_at"] == nil {
		t.Fatalf("erase = %d %s", r.status, r.body)
	}
	wantMessage(t, f.do(t, "GET", jp(build, "/artifacts"), bobToken, nil), 404, "404 Not Found")
	if r := f.do(t, "GET", jp(build, "/trace"), bobToken, nil); len(r.body) != 0 {
		t.Fatalf("erased log = %q", r.body)
	}

	r = f.do(t, "GET", "/projects/7/jobs?scope[]=failed&scope[]=success", bobToken, nil)
	var jobs []map[string]any
	r.json(t, &jobs)
	if len(jobs) != 3 || jobs[0]["id"].(float64) < jobs[2]["id"].(float64) {
		t.Fatalf("project jobs = %d, want 3 newest first", len(jobs))
	}
	r = f.do(t, "GET", fmt.Sprintf("/projects/7/pipelines/%d/jobs?scope[]=failed", id), bobToken, nil)
	r.json(t, &jobs)
	if len(jobs) != 1 || jobs[0]["name"] != "test" || jobs[0]["failure_reason"] != "script_failure" {
		t.Fatalf("failed jobs = %v", jobs)
	}

	r = f.do(t, "POST", jp(test, "/retry"), devToken, nil)
	if r.status != 201 {
		t.Fatalf("job retry = %d %s", r.status, r.body)
	}
	nj := r.object(t)
	if nj["id"].(float64) == float64(test) || nj["status"] != "pending" || nj["name"] != "test" {
		t.Fatalf("retried job = %v", nj)
	}
	if got := f.pipeline(t, id).Status; got != StatusRunning {
		t.Fatalf("pipeline after job retry = %q", got)
	}
	wantMessage(t, f.do(t, "POST", jp(test, "/retry"), devToken, nil), 403, "403 Forbidden  - Job is not retryable")

	r = f.do(t, "POST", fmt.Sprintf("/projects/7/jobs/%v/cancel", nj["id"]), devToken, nil)
	if r.status != 201 || r.object(t)["status"] != "canceled" {
		t.Fatalf("job cancel = %d %s", r.status, r.body)
	}
	if got := f.pipeline(t, id).Status; got != StatusCanceled {
		t.Fatalf("pipeline after job cancel = %q, want canceled (only passed and canceled jobs left)", got)
	}

	if r := f.do(t, "GET", fmt.Sprintf("/projects/7/pipelines/%d/bridges", id), bobToken, nil); r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("bridges = %d %s", r.status, r.body)
	}
}

// keysOf returns the sorted keys of a JSON object.
func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func readFixture(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "fixtures", "gitlab", name))
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
}

// sameKeys checks that got has every key of want and nothing beyond want
// and extra.
func sameKeys(t *testing.T, what string, got, want map[string]any, extra ...string) {
	t.Helper()
	allowed := map[string]bool{}
	for _, k := range extra {
		allowed[k] = true
	}
	for k := range want {
		allowed[k] = true
		if _, ok := got[k]; !ok {
			t.Errorf("%s: key %q missing (have %v)", what, k, keysOf(got))
		}
	}
	for k := range got {
		if !allowed[k] {
			t.Errorf("%s: key %q is not in the fixture", what, k)
		}
	}
}

var timeRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestResponsesMatchFixtureShapes(t *testing.T) {
	f := newFixture(t,
		JobSpec{Name: "build", Stage: "build", Artifacts: true},
		JobSpec{Name: "rspec", Stage: "test", Fail: true},
	)
	id := f.sim.CreatePipeline(projectID, "main", "push", 1)
	f.sim.Finish(projectID, id)
	info := f.pipeline(t, id)

	var fxGet, fxCancel map[string]any
	readFixture(t, "pipeline_get.json", &fxGet)
	readFixture(t, "pipeline_cancel.json", &fxCancel)
	r := f.do(t, "GET", fmt.Sprintf("/projects/7/pipelines/%d", id), aliceToken, nil)
	got := r.object(t)
	sameKeys(t, "pipeline get", got, fxGet)
	sameKeys(t, "pipeline get user", got["user"].(map[string]any), fxGet["user"].(map[string]any))
	sameKeys(t, "pipeline detailed_status", got["detailed_status"].(map[string]any), fxGet["detailed_status"].(map[string]any))
	sameKeys(t, "pipeline get vs cancel fixture", got, fxCancel, "name", "source", "detailed_status")
	for _, k := range []string{"created_at", "updated_at", "started_at", "finished_at"} {
		if s, _ := got[k].(string); !timeRe.MatchString(s) {
			t.Errorf("%s = %v, want RFC 3339 UTC with milliseconds", k, got[k])
		}
	}

	var fxList []map[string]any
	readFixture(t, "pipelines_list.json", &fxList)
	r = f.do(t, "GET", "/projects/7/pipelines", aliceToken, nil)
	var list []map[string]any
	r.json(t, &list)
	sameKeys(t, "pipelines list", list[0], fxList[0])

	var fxJobs []map[string]any
	var fxJob map[string]any
	readFixture(t, "pipeline_jobs.json", &fxJobs)
	readFixture(t, "job_get.json", &fxJob)
	r = f.do(t, "GET", fmt.Sprintf("/projects/7/pipelines/%d/jobs", id), aliceToken, nil)
	var jobs []map[string]any
	r.json(t, &jobs)
	byName := map[string]map[string]any{}
	for _, j := range jobs {
		byName[j["name"].(string)] = j
	}
	jobExtra := []string{"archived", "source", "erased_at", "runner_manager"} // present in job_get.json
	sameKeys(t, "failed job in list", byName["rspec"], fxJobs[0], jobExtra...)
	delete(fxJobs[1], "failure_reason")
	sameKeys(t, "job with artifacts in list", byName["build"], fxJobs[1], jobExtra...)
	for _, name := range []string{"rspec", "build"} {
		j := byName[name]
		sameKeys(t, name+" pipeline", j["pipeline"].(map[string]any), fxJobs[0]["pipeline"].(map[string]any))
		sameKeys(t, name+" commit", j["commit"].(map[string]any), fxJobs[0]["commit"].(map[string]any))
		sameKeys(t, name+" user", j["user"].(map[string]any), fxJobs[0]["user"].(map[string]any))
	}

	r = f.do(t, "GET", fmt.Sprintf("/projects/7/jobs/%d", jobID(t, info, "rspec")), aliceToken, nil)
	job := r.object(t)
	sameKeys(t, "job get", job, fxJob, "failure_reason")
	wantWeb := fmt.Sprintf("%s/group/sub/app/-/jobs/%d", DefaultWebBaseURL, jobID(t, info, "rspec"))
	if job["web_url"] != wantWeb || job["failure_reason"] != "script_failure" || job["status"] != "failed" {
		t.Fatalf("job = web_url %v failure_reason %v status %v", job["web_url"], job["failure_reason"], job["status"])
	}
	if p := job["pipeline"].(map[string]any); p["status"] != "failed" || p["id"] != float64(id) {
		t.Fatalf("job pipeline = %v", p)
	}
}

func TestFaultInjection(t *testing.T) {
	f := newFixture(t)
	f.sim.FailNext(2, http.StatusTooManyRequests, 2500*time.Millisecond)
	for i := 0; i < 2; i++ {
		r := f.do(t, "GET", "/projects/7/pipelines", aliceToken, nil)
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("request %d: status %d, want 429", i, r.status)
		}
		if got := r.header.Get("Retry-After"); got != "3" {
			t.Fatalf("Retry-After = %q, want 3", got)
		}
		if r.header.Get("RateLimit-Remaining") != "0" || r.header.Get("RateLimit-Reset") == "" || r.header.Get("RateLimit-Limit") == "" {
			t.Fatalf("RateLimit headers = %v", r.header)
		}
	}
	if r := f.do(t, "GET", "/projects/7/pipelines", aliceToken, nil); r.status != 200 {
		t.Fatalf("third request = %d, want 200", r.status)
	}

	f.sim.FailNext(1, http.StatusBadGateway, 0)
	before := f.sim.PipelineCount(projectID)
	r := f.do(t, "POST", "/projects/7/pipeline?ref=main", aliceToken, nil)
	wantMessage(t, r, http.StatusBadGateway, "502 Bad Gateway")
	if f.sim.PipelineCount(projectID) != before {
		t.Fatal("a failed request created a pipeline")
	}

	f.sim.SetFault(func(r *http.Request) (int, time.Duration, bool) {
		return http.StatusServiceUnavailable, time.Second, strings.Contains(r.URL.EscapedPath(), "/jobs")
	})
	if r := f.do(t, "GET", "/projects/7/jobs", aliceToken, nil); r.status != 503 || r.header.Get("Retry-After") != "1" {
		t.Fatalf("faulted path = %d %v", r.status, r.header.Get("Retry-After"))
	}
	if r := f.do(t, "GET", "/projects/7/pipelines", aliceToken, nil); r.status != 200 {
		t.Fatalf("other path = %d", r.status)
	}
	f.sim.SetFault(nil)
	if r := f.do(t, "GET", "/projects/7/jobs", aliceToken, nil); r.status != 200 {
		t.Fatalf("after SetFault(nil) = %d", r.status)
	}
}

func TestRequestLogRecordsEveryCall(t *testing.T) {
	f := newFixture(t)
	f.do(t, "GET", "/projects/"+encPath+"/pipelines?ref=main&per_page=5", aliceToken, nil)
	f.do(t, "GET", "/version", "", nil)
	f.sim.FailNext(1, 500, 0)
	f.do(t, "POST", "/projects/7/pipeline?ref=main", aliceToken, nil)
	f.do(t, "POST", "/projects/7/pipeline?ref=main", aliceToken, nil)
	f.do(t, "GET", "/projects/7/nothing-here", aliceToken, nil)

	want := []Request{
		{Method: "GET", Path: "/api/v4/projects/" + encPath + "/pipelines", RawQuery: "ref=main&per_page=5", Status: 200, Token: true,
			TokenValue: aliceToken, Credential: CredentialPAT, TokenUserID: 1, ActingUserID: 1},
		{Method: "GET", Path: "/api/v4/version", Status: 401},
		// A fault answers before authentication: the token is recorded, no user.
		{Method: "POST", Path: "/api/v4/projects/7/pipeline", RawQuery: "ref=main", Status: 500, Token: true, TokenValue: aliceToken},
		{Method: "POST", Path: "/api/v4/projects/7/pipeline", RawQuery: "ref=main", Status: 201, Token: true,
			TokenValue: aliceToken, Credential: CredentialPAT, TokenUserID: 1, ActingUserID: 1},
		{Method: "GET", Path: "/api/v4/projects/7/nothing-here", Status: 404, Token: true,
			TokenValue: aliceToken, Credential: CredentialPAT, TokenUserID: 1, ActingUserID: 1},
	}
	got := f.sim.Requests()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("requests =\n%v\nwant\n%v", got, want)
	}
	for _, tt := range []struct {
		method, prefix string
		want           int
	}{
		{"POST", "/api/v4/projects/7/pipeline", 2},
		{"GET", "/api/v4/projects/", 2},
		{"", "/api/v4/", 5},
		{"DELETE", "/api/v4/", 0},
	} {
		if n := f.sim.CountRequests(tt.method, tt.prefix); n != tt.want {
			t.Errorf("CountRequests(%q, %q) = %d, want %d", tt.method, tt.prefix, n, tt.want)
		}
	}
	f.sim.ResetRequests()
	if n := len(f.sim.Requests()); n != 0 {
		t.Fatalf("after reset %d requests", n)
	}
}

func TestUsersEndpoints(t *testing.T) {
	f := newFixture(t)
	r := f.do(t, "GET", "/users?username=bob", carolToken, nil)
	var users []map[string]any
	r.json(t, &users)
	if len(users) != 1 || users[0]["id"] != 2.0 || users[0]["username"] != "bob" || users[0]["state"] != "active" {
		t.Fatalf("users = %v", users)
	}
	r = f.do(t, "GET", "/users?username=nobody", carolToken, nil)
	if strings.TrimSpace(string(r.body)) != "[]" || r.header.Get("X-Total") != "0" {
		t.Fatalf("no users = %s total %q", r.body, r.header.Get("X-Total"))
	}
	r = f.do(t, "GET", "/version", carolToken, nil)
	if v := r.object(t)["version"]; v == nil {
		t.Fatalf("version = %s", r.body)
	}
}

func TestDemo(t *testing.T) {
	sim := NewDemo(Options{})
	seen := map[string]bool{}
	for _, id := range sim.PipelineIDs(DemoWebappID) {
		info, _ := sim.Pipeline(DemoWebappID, id)
		seen[info.Status] = true
	}
	for _, st := range []string{StatusSuccess, StatusFailed, StatusManual, StatusCanceled} {
		if !seen[st] {
			t.Errorf("demo/webapp has no %s pipeline (have %v)", st, seen)
		}
	}
	if sim.PipelineCount(DemoAPIID) == 0 {
		t.Error("demo/api has no pipeline")
	}

	req, _ := http.NewRequest("GET", "/api/v4/projects/demo%2Fwebapp/pipelines", nil)
	req.Header.Set("PRIVATE-TOKEN", DemoToken)
	rec := newRecorder()
	sim.ServeHTTP(rec, req)
	if rec.status != 200 || rec.header.Get("X-Total") != "5" {
		t.Fatalf("demo list = %d total %q", rec.status, rec.header.Get("X-Total"))
	}

	id := sim.CreatePipeline(DemoWebappID, "main", "api", DemoUserID)
	for i := 0; i < 20; i++ {
		sim.advanceAll()
	}
	info, _ := sim.Pipeline(DemoWebappID, id)
	if info.Status != StatusManual {
		t.Fatalf("new demo pipeline after advancing = %q, want manual (blocked on deploy)", info.Status)
	}
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder                    { return &recorder{header: http.Header{}} }
func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.status = code }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

func TestAutoAdvanceRunsAlongsideRequestsUntilCanceled(t *testing.T) {
	sim := NewDemo(Options{})
	ts := httptest.NewServer(sim)
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		sim.AutoAdvance(ctx, time.Millisecond)
		close(done)
	}()
	id := sim.CreatePipeline(DemoAPIID, "main", "api", DemoUserID)
	for i := 0; i < 20; i++ {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v4/projects/demo%%2Fapi/pipelines/%d", ts.URL, id), nil)
		req.Header.Set("Authorization", "Bearer "+DemoToken)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d during AutoAdvance", resp.StatusCode)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("AutoAdvance did not return after ctx was canceled")
	}
	if got := sim.Finish(DemoAPIID, id); got != StatusSuccess {
		t.Fatalf("demo/api pipeline = %q, want success", got)
	}
}
