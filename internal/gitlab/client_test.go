package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const pipelineJSON = `{"id":5,"iid":1,"project_id":1,"status":"created","ref":"main"}`

func TestCreatePipelineRetriesOnlyOn429(t *testing.T) {
	const route = "POST /api/v4/projects/group%2Fapp/pipeline"
	tests := []struct {
		name      string
		handlers  []http.HandlerFunc
		wantCalls int
		wantErr   error
		wantWaits []time.Duration
		wantAfter time.Duration // RateLimitError.RetryAfter when wantErr is ErrRateLimited
	}{
		{
			name:      "502 is not retried: GitLab may have created the pipeline",
			handlers:  []http.HandlerFunc{reply(502, `{"message":"bad gateway"}`), reply(502, ""), reply(201, pipelineJSON)},
			wantCalls: 1,
			wantErr:   ErrUnavailable,
		},
		{
			name:      "429 with Retry-After 0 is retried at once",
			handlers:  []http.HandlerFunc{reply(429, `{"message":"Retry later"}`, "Retry-After", "0"), reply(201, pipelineJSON)},
			wantCalls: 2,
			wantWaits: []time.Duration{0},
		},
		{
			name:      "429 with Retry-After 1 waits one second",
			handlers:  []http.HandlerFunc{reply(429, "", "Retry-After", "1"), reply(201, pipelineJSON)},
			wantCalls: 2,
			wantWaits: []time.Duration{time.Second},
		},
		{
			name:      "429 three times gives a rate limit error with the wait",
			handlers:  times(3, reply(429, "", "Retry-After", "7")),
			wantCalls: 3,
			wantErr:   ErrRateLimited,
			wantWaits: []time.Duration{7 * time.Second, 7 * time.Second},
			wantAfter: 7 * time.Second,
		},
		{
			name:      "429 asking for more than MaxWait fails at once",
			handlers:  []http.HandlerFunc{reply(429, "", "Retry-After", "120"), reply(201, pipelineJSON)},
			wantCalls: 1,
			wantErr:   ErrRateLimited,
			wantAfter: 2 * time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string][]http.HandlerFunc{route: tt.handlers})
			c, clock := newTestClient(t, f.srv.URL)
			p, err := c.CreatePipeline(context.Background(), "group/app", "main", nil, nil)
			if got := f.count(route); got != tt.wantCalls {
				t.Errorf("requests = %d, want %d", got, tt.wantCalls)
			}
			if waits := clock.Waits(); !reflect.DeepEqual(waits, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", waits, tt.wantWaits)
			}
			if tt.wantErr == nil {
				if err != nil || p.ID != 5 {
					t.Fatalf("got %+v, %v; want pipeline 5", p, err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == ErrRateLimited {
				var rl *RateLimitError
				if !errors.As(err, &rl) || rl.RetryAfter != tt.wantAfter {
					t.Errorf("err = %#v, want RetryAfter %v", err, tt.wantAfter)
				}
			}
		})
	}
}

func TestOtherMutationsAreNotRetriedOn5xx(t *testing.T) {
	tests := []struct {
		name  string
		route string
		call  func(c *Client) error
	}{
		{"cancel pipeline", "POST /api/v4/projects/1/pipelines/2/cancel", func(c *Client) error {
			_, err := c.CancelPipeline(context.Background(), "1", 2)
			return err
		}},
		{"delete pipeline", "DELETE /api/v4/projects/1/pipelines/2", func(c *Client) error {
			return c.DeletePipeline(context.Background(), "1", 2)
		}},
		{"play job", "POST /api/v4/projects/1/jobs/3/play", func(c *Client) error {
			_, err := c.PlayJob(context.Background(), "1", 3, nil, nil)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string][]http.HandlerFunc{tt.route: {reply(503, ""), reply(200, "{}")}})
			c, _ := newTestClient(t, f.srv.URL)
			if err := tt.call(c); !errors.Is(err, ErrUnavailable) {
				t.Errorf("err = %v, want ErrUnavailable", err)
			}
			if n := f.count(tt.route); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
		})
	}
}

func TestReadsRetry5xxAnd429(t *testing.T) {
	const route = "GET /api/v4/projects/1/pipelines/5"
	tests := []struct {
		name      string
		handlers  []http.HandlerFunc
		wantErr   error
		wantCalls int
		wantWaits []time.Duration
	}{
		{
			name:      "500, 500, 200 succeeds with backoff",
			handlers:  []http.HandlerFunc{reply(500, ""), reply(500, ""), reply(200, pipelineJSON)},
			wantCalls: 3,
			wantWaits: []time.Duration{500 * time.Millisecond, time.Second},
		},
		{
			name:      "three 503 give ErrUnavailable",
			handlers:  times(3, reply(503, "<html>down</html>")),
			wantErr:   ErrUnavailable,
			wantCalls: 3,
			wantWaits: []time.Duration{500 * time.Millisecond, time.Second},
		},
		{
			name: "429 honors RateLimit-Reset",
			handlers: []http.HandlerFunc{
				reply(429, "", "RateLimit-Reset", strconv.FormatInt(time.Date(2024, 5, 1, 12, 0, 5, 0, time.UTC).Unix(), 10)),
				reply(200, pipelineJSON),
			},
			wantCalls: 2,
			wantWaits: []time.Duration{5 * time.Second},
		},
		{
			name:      "501 is not retried",
			handlers:  []http.HandlerFunc{reply(501, "")},
			wantErr:   ErrUnavailable,
			wantCalls: 1,
		},
		{
			name:      "404 is not retried",
			handlers:  []http.HandlerFunc{reply(404, `{"message":"404 Not found"}`)},
			wantErr:   ErrNotFound,
			wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string][]http.HandlerFunc{route: tt.handlers})
			var mu sync.Mutex
			var observed []string
			c, clock := newTestClient(t, f.srv.URL, func(cfg *Config) {
				cfg.Observe = func(method string, status int, d time.Duration) {
					mu.Lock()
					defer mu.Unlock()
					observed = append(observed, fmt.Sprintf("%s %d", method, status))
				}
			})
			p, err := c.Pipeline(context.Background(), "1", 5)
			if tt.wantErr == nil && (err != nil || p.ID != 5) {
				t.Fatalf("got %+v, %v", p, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if n := f.count(route); n != tt.wantCalls {
				t.Errorf("requests = %d, want %d", n, tt.wantCalls)
			}
			if waits := clock.Waits(); !reflect.DeepEqual(waits, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", waits, tt.wantWaits)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(observed) != tt.wantCalls {
				t.Errorf("observed %v, want %d attempts", observed, tt.wantCalls)
			}
		})
	}
}

func TestRetryGivesUpWhenContextDeadlineIsTooClose(t *testing.T) {
	const route = "GET /api/v4/version"
	f := newFake(t, map[string][]http.HandlerFunc{route: {reply(429, "", "Retry-After", "20"), reply(200, `{"version":"17.0.0"}`)}})
	c, clock := newTestClient(t, f.srv.URL)
	c.now = time.Now // the deadline below is on the real clock
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Version(ctx)
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 20*time.Second {
		t.Fatalf("err = %v, want rate limit error with 20s", err)
	}
	if n := f.count(route); n != 1 || len(clock.Waits()) != 0 {
		t.Errorf("requests = %d, waits = %v; want 1 request and no wait", n, clock.Waits())
	}
}

func TestTransportErrorsAreUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c, clock := newTestClient(t, url)
	_, err := c.Version(context.Background())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "/api/v4") || strings.Contains(err.Error(), "http://") {
		t.Errorf("error leaks the URL: %v", err)
	}
	if len(clock.Waits()) != maxAttempts-1 {
		t.Errorf("waits = %v, want %d retries for a read", clock.Waits(), maxAttempts-1)
	}
}

func TestErrorsMapToSentinels(t *testing.T) {
	const route = "GET /api/v4/projects/1/jobs/9"
	tests := []struct {
		name     string
		status   int
		body     string
		wantErr  error
		wantAPI  *APIError
		wantUser string
	}{
		{"404 is ErrNotFound", 404, `{"message":"404 Not found"}`, ErrNotFound, nil, "GitLab: not found or pipebot cannot see it."},
		{"403 is ErrForbidden", 403, `{"message":"403 Forbidden"}`, ErrForbidden, nil, "GitLab refused: pipebot's token lacks permission."},
		{"401 is ErrUnauthorized", 401, `{"message":"401 Unauthorized"}`, ErrUnauthorized, nil, "GitLab refused: pipebot's token is invalid or expired."},
		{"400 with base message is flattened", 400, `{"message":{"base":["Reference not found"]}}`, nil,
			&APIError{Status: 400, Message: "Reference not found"}, "GitLab says: Reference not found."},
		{"400 with field messages", 400, `{"message":{"ref":["is invalid"],"base":["Pipeline failed"]}}`, nil,
			&APIError{Status: 400, Message: "Pipeline failed; ref is invalid"}, "GitLab says: Pipeline failed; ref is invalid."},
		{"422 with error key", 422, `{"error":"job is not playable"}`, nil,
			&APIError{Status: 422, Message: "job is not playable"}, "GitLab says: job is not playable."},
		{"409 with plain message", 409, `{"message":"Job is not retryable."}`, nil,
			&APIError{Status: 409, Message: "Job is not retryable."}, "GitLab says: Job is not retryable."},
		{"400 with an HTML body uses the status text", 400, `<html>bad</html>`, nil,
			&APIError{Status: 400, Message: "Bad Request"}, "GitLab says: Bad Request."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string][]http.HandlerFunc{route: {reply(tt.status, tt.body)}})
			c, _ := newTestClient(t, f.srv.URL)
			_, err := c.Job(context.Background(), "1", 9)
			if err == nil {
				t.Fatal("want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantAPI != nil {
				var api *APIError
				if !errors.As(err, &api) || *api != *tt.wantAPI {
					t.Errorf("err = %#v, want %#v", err, tt.wantAPI)
				}
			}
			for _, s := range []error{ErrNotFound, ErrForbidden, ErrUnauthorized, ErrRateLimited, ErrUnavailable} {
				if s != tt.wantErr && errors.Is(err, s) {
					t.Errorf("err %v also matches %v", err, s)
				}
			}
			if got := UserMessage(err); got != tt.wantUser {
				t.Errorf("UserMessage = %q, want %q", got, tt.wantUser)
			}
			if !strings.Contains(err.Error(), "get job 9 in 1") {
				t.Errorf("error lacks context: %v", err)
			}
		})
	}
}

func TestFlattenMessage(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"plain message", `{"message":"400 Bad request - Missing ref"}`, "400 Bad request - Missing ref"},
		{"base list", `{"message":{"base":["Reference not found"]}}`, "Reference not found"},
		{"several base entries", `{"message":{"base":["a","b"]}}`, "a; b"},
		{"field list is prefixed by its field", `{"message":{"key":["has already been taken"]}}`, "key has already been taken"},
		{"list message", `{"message":["first","second"]}`, "first; second"},
		{"oauth error prefers the description", `{"error":"insufficient_scope","error_description":"The request requires higher privileges."}`, "The request requires higher privileges."},
		{"error only", `{"error":"404 Not Found"}`, "404 Not Found"},
		{"newlines collapse into one sentence", `{"message":"line one\n  line two"}`, "line one line two"},
		{"not JSON", `<html>oops</html>`, ""},
		{"empty", ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := flattenMessage([]byte(tt.body)); got != tt.want {
				t.Errorf("flattenMessage(%s) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}

func TestUserMessage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"rate limit with a wait rounds up to seconds", fmt.Errorf("list: %w", &RateLimitError{RetryAfter: 11500 * time.Millisecond}), "GitLab is rate limiting pipebot; try again in 12s."},
		{"rate limit without a wait", &RateLimitError{}, "GitLab is rate limiting pipebot; try again shortly."},
		{"unavailable", fmt.Errorf("get: %w", &netError{cause: context.DeadlineExceeded}), "GitLab is unreachable right now."},
		{"api error keeps its punctuation", &APIError{Status: 400, Message: "Job is not retryable!"}, "GitLab says: Job is not retryable!"},
		{"too large", fmt.Errorf("download: %w", ErrTooLarge), "That is larger than pipebot's size limit."},
		{"foreign error", errors.New("disk full"), ""},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UserMessage(tt.err); got != tt.want {
				t.Errorf("UserMessage = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			// A hostile or buggy server echoing the credential back.
			msg, _ := json.Marshal(map[string]string{"message": "bad token " + r.Header.Get("Private-Token")})
			reply(status, string(msg))(w, r)
		}
	}
	tests := []struct {
		name   string
		status int
		n      int
	}{
		{"400", 400, 1}, {"401", 401, 1}, {"403", 403, 1}, {"422", 422, 1}, {"500", 500, maxAttempts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string][]http.HandlerFunc{"GET /api/v4/user": times(tt.n, echo(tt.status))})
			c, _ := newTestClient(t, f.srv.URL)
			_, err := c.CurrentUser(context.Background())
			if err == nil {
				t.Fatal("want an error")
			}
			if r := f.requests(); len(r) == 0 || r[0].Header.Get("Private-Token") != testToken {
				t.Fatal("the fake did not receive the token, so this test proves nothing")
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), UserMessage(err)} {
				if strings.Contains(s, testToken) {
					t.Errorf("token leaked: %q", s)
				}
			}
		})
	}
}

func TestProjectPathIsEncodedOnTheWire(t *testing.T) {
	tests := []struct {
		project, route string
	}{
		{"group/app", "GET /api/v4/projects/group%2Fapp"},
		{"group/sub/my.app", "GET /api/v4/projects/group%2Fsub%2Fmy%2Eapp"},
		{"42", "GET /api/v4/projects/42"},
	}
	for _, tt := range tests {
		t.Run(tt.project, func(t *testing.T) {
			body := `{"id":42,"path_with_namespace":"` + tt.project + `","name":"app","web_url":"https://gitlab.example.com/x","default_branch":"main"}`
			f := newFake(t, map[string][]http.HandlerFunc{tt.route: {reply(200, body)}})
			c, _ := newTestClient(t, f.srv.URL, func(cfg *Config) { cfg.UserAgent = "pipebot-test" })
			p, err := c.Project(context.Background(), tt.project)
			if err != nil {
				t.Fatal(err)
			}
			want := Project{ID: 42, Path: tt.project, Name: "app", WebURL: "https://gitlab.example.com/x", DefaultBranch: "main"}
			if p != want {
				t.Errorf("got %+v, want %+v", p, want)
			}
			r := f.requests()[0]
			if r.Header.Get("Private-Token") != testToken || r.Header.Get("User-Agent") != "pipebot-test" {
				t.Errorf("headers = %v", r.Header)
			}
		})
	}
}

func TestEmptyProjectIsRejectedWithoutARequest(t *testing.T) {
	f := newFake(t, nil)
	c, _ := newTestClient(t, f.srv.URL)
	if _, err := c.Pipelines(context.Background(), " ", ListPipelinesOptions{}); err == nil {
		t.Error("want an error for an empty project")
	}
	if _, err := c.CreatePipeline(context.Background(), "g/app", "", nil, nil); err == nil {
		t.Error("want an error for an empty ref")
	}
}

func TestNewBaseURL(t *testing.T) {
	f := newFake(t, map[string][]http.HandlerFunc{
		"GET /api/v4/version":        {reply(200, `{"version":"17.1.0"}`), reply(200, `{"version":"17.1.0"}`)},
		"GET /gitlab/api/v4/version": {reply(200, `{"version":"17.2.0"}`)},
	})
	tests := []struct {
		name, base, want string
	}{
		{"api suffix is added", f.srv.URL, "17.1.0"},
		{"existing api suffix is kept once", f.srv.URL + "/api/v4", "17.1.0"},
		{"relative URL root is kept", f.srv.URL + "/gitlab", "17.2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestClient(t, tt.base)
			v, err := c.Version(context.Background())
			if err != nil || v != tt.want {
				t.Errorf("Version = %q, %v; want %q", v, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"ftp://gitlab.example.com", "gitlab.example.com", "https://", "https://user:pw@gitlab.example.com", "https://gitlab.example.com/?private_token=x"} {
		t.Run("rejects "+bad, func(t *testing.T) {
			if _, err := New(Config{BaseURL: bad, Token: testToken}); err == nil {
				t.Error("want an error")
			} else if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), "pw") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestRedirectsKeepTheTokenOnTheSameHostOnly(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]http.Header{}
	record := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[name] = r.Header.Clone()
			mu.Unlock()
			_, _ = w.Write([]byte("PK-zip-bytes"))
		}
	}
	storage := newFake(t, map[string][]http.HandlerFunc{"GET /bucket/artifacts.zip": {record("other host")}})
	var gitlab *fakeGitLab
	gitlab = newFake(t, map[string][]http.HandlerFunc{
		"GET /api/v4/projects/1/jobs/7/artifacts": {func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, storage.srv.URL+"/bucket/artifacts.zip?X-Amz-Signature=abc", http.StatusFound)
		}},
		"GET /api/v4/projects/1/jobs/8/artifacts": {func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, gitlab.srv.URL+"/local/artifacts.zip", http.StatusFound)
		}},
		"GET /local/artifacts.zip": {record("same host")},
	})
	c, _ := newTestClient(t, gitlab.srv.URL)
	tests := []struct {
		name      string
		job       int64
		wantToken bool
	}{
		{"other host", 7, false},
		{"same host", 8, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf strings.Builder
			n, err := c.JobArtifacts(context.Background(), "1", tt.job, &buf, 0)
			if err != nil || n != 12 || buf.String() != "PK-zip-bytes" {
				t.Fatalf("got %d %q %v", n, buf.String(), err)
			}
			mu.Lock()
			h := seen[tt.name]
			mu.Unlock()
			if got := h.Get("Private-Token") == testToken; got != tt.wantToken {
				t.Errorf("token forwarded = %v, want %v (headers %v)", got, tt.wantToken, h)
			}
			if !tt.wantToken && h.Get("Authorization") != "" {
				t.Errorf("authorization forwarded to another host")
			}
		})
	}
}

func TestCheckRedirectStripsEveryCredentialHeader(t *testing.T) {
	tests := []struct {
		name, from, to string
		wantKept       bool
	}{
		{"same host keeps", "https://gitlab.example.com/api/v4/x", "https://gitlab.example.com/y", true},
		{"other host strips", "https://gitlab.example.com/api/v4/x", "https://storage.example.net/y", false},
		{"other port strips", "https://gitlab.example.com/api/v4/x", "https://gitlab.example.com:8443/y", false},
		{"downgrade to http strips", "https://gitlab.example.com/api/v4/x", "http://gitlab.example.com/y", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			via, _ := http.NewRequest(http.MethodGet, tt.from, nil)
			req, _ := http.NewRequest(http.MethodGet, tt.to, nil)
			for _, h := range []string{"PRIVATE-TOKEN", "JOB-TOKEN", "Authorization"} {
				req.Header.Set(h, "secret")
			}
			if err := checkRedirect(req, []*http.Request{via}); err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"PRIVATE-TOKEN", "JOB-TOKEN", "Authorization"} {
				if kept := req.Header.Get(h) != ""; kept != tt.wantKept {
					t.Errorf("%s kept = %v, want %v", h, kept, tt.wantKept)
				}
			}
		})
	}
	t.Run("too many redirects stop", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "https://a/", nil)
		if err := checkRedirect(req, make([]*http.Request, maxRedirects)); err == nil {
			t.Error("want an error")
		}
	})
}

func TestRetryWaitReadsGitLabHeaders(t *testing.T) {
	c, clock := newTestClient(t, "https://gitlab.example.com")
	now := clock.Now()
	tests := []struct {
		name    string
		header  http.Header
		attempt int
		want    time.Duration
	}{
		{"Retry-After seconds", http.Header{"Retry-After": {"12"}}, 1, 12 * time.Second},
		{"Retry-After HTTP date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 1, 90 * time.Second},
		{"Retry-After wins over RateLimit-Reset", http.Header{"Retry-After": {"2"}, "Ratelimit-Reset": {strconv.FormatInt(now.Unix()+40, 10)}}, 1, 2 * time.Second},
		{"RateLimit-Reset in the future", http.Header{"Ratelimit-Reset": {strconv.FormatInt(now.Unix()+40, 10)}}, 1, 40 * time.Second},
		{"RateLimit-Reset in the past", http.Header{"Ratelimit-Reset": {strconv.FormatInt(now.Unix()-40, 10)}}, 1, 0},
		{"absurd Retry-After does not overflow", http.Header{"Retry-After": {"99999999999999999"}}, 1, time.Duration(1<<63 - 1)},
		{"no header: first backoff", nil, 1, 500 * time.Millisecond},
		{"no header: backoff doubles", nil, 2, time.Second},
		{"garbage header falls back to backoff", http.Header{"Retry-After": {"soon"}}, 1, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.retryWait(tt.header, tt.attempt); got != tt.want {
				t.Errorf("retryWait = %v, want %v", got, tt.want)
			}
		})
	}
}
