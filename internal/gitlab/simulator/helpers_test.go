package simulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	aliceToken = "alice-token" // maintainer
	devToken   = "dev-token"   // developer
	bobToken   = "bob-token"   // reporter
	carolToken = "carol-token" // guest
	daveToken  = "dave-token"  // no membership
	projectID  = 7
	encPath    = "group%2Fsub%2Fapp"
)

type fixture struct {
	sim   *Server
	clock *fakeClock
	ts    *httptest.Server
}

// newFixture starts a simulator with users of every access level on project
// group/sub/app (id 7) whose CI config is jobs.
func newFixture(t *testing.T, jobs ...JobSpec) *fixture {
	t.Helper()
	clock := &fakeClock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	sim := New(Options{Now: clock.Now})
	sim.AddUser(User{ID: 1, Username: "alice", Name: "Alice"}, aliceToken)
	sim.AddUser(User{ID: 2, Username: "bob", Name: "Bob"}, bobToken)
	sim.AddUser(User{ID: 3, Username: "carol", Name: "Carol"}, carolToken)
	sim.AddUser(User{ID: 4, Username: "dave", Name: "Dave"}, daveToken)
	sim.AddUser(User{ID: 5, Username: "devon", Name: "Devon"}, devToken)
	if len(jobs) == 0 {
		jobs = []JobSpec{
			{Name: "build", Stage: "build", Artifacts: true},
			{Name: "test", Stage: "test"},
			{Name: "deploy", Stage: "deploy"},
		}
	}
	sim.AddProject(Project{
		ID: projectID, Path: "group/sub/app", Branches: []string{"develop"}, Tags: []string{"v1.0"},
		Members: map[int64]AccessLevel{1: Maintainer, 2: Reporter, 3: Guest, 5: Developer},
		Jobs:    jobs,
	})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return &fixture{sim: sim, clock: clock, ts: ts}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	return m
}

// do sends a request; path is relative to /api/v4 and may contain %2F.
func (f *fixture) do(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/x-www-form-urlencoded"
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(buf), "application/json"
	}
	req, err := http.NewRequest(method, f.ts.URL+"/api/v4"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

func (f *fixture) pipeline(t *testing.T, id int64) PipelineInfo {
	t.Helper()
	info, ok := f.sim.Pipeline(projectID, id)
	if !ok {
		t.Fatalf("pipeline %d missing", id)
	}
	return info
}

// jobStatuses maps job name to status for the latest jobs.
func jobStatuses(info PipelineInfo) map[string]string {
	out := map[string]string{}
	for _, j := range info.Jobs {
		out[j.Name] = j.Status
	}
	return out
}

func jobID(t *testing.T, info PipelineInfo, name string) int64 {
	t.Helper()
	for _, j := range info.Jobs {
		if j.Name == name {
			return j.ID
		}
	}
	t.Fatalf("no job %q in %+v", name, info.Jobs)
	return 0
}

func wantMessage(t *testing.T, r response, status int, message string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	var m map[string]any
	r.json(t, &m)
	if got, _ := m["message"].(string); got != message {
		t.Fatalf("message = %q, want %q", m["message"], message)
	}
}
