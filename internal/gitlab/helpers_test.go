package gitlab

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testToken is deliberately distinctive so that leaks are easy to spot.
const testToken = "glpat-TOPSECRET-test-token-0123"

// fixtureDir holds GitLab's documentation examples, copied into the
// repository (testdata/fixtures/README.md names each file's source).
const fixtureDir = "../../testdata/fixtures/gitlab"

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return string(b)
}

// fakeGitLab routes on method + escaped path and fails the test on any
// request it was not told about, or on more calls than a route allows.
type fakeGitLab struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	routes map[string][]http.HandlerFunc
	hits   map[string]int
	reqs   []*http.Request
}

// newFake starts a server; routes maps "GET /api/v4/…" to the handlers for
// the 1st, 2nd, … call of that route.
func newFake(t *testing.T, routes map[string][]http.HandlerFunc) *fakeGitLab {
	t.Helper()
	f := &fakeGitLab{t: t, routes: routes, hits: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGitLab) serve(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.EscapedPath()
	f.mu.Lock()
	n := f.hits[key]
	f.hits[key] = n + 1
	f.reqs = append(f.reqs, r.Clone(context.Background()))
	handlers, ok := f.routes[key]
	f.mu.Unlock()
	if !ok {
		f.t.Errorf("unexpected request %s?%s", key, r.URL.RawQuery)
		w.WriteHeader(http.StatusTeapot)
		return
	}
	if n >= len(handlers) {
		f.t.Errorf("request %s made %d times, want at most %d", key, n+1, len(handlers))
		w.WriteHeader(http.StatusTeapot)
		return
	}
	handlers[n](w, r)
}

func (f *fakeGitLab) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[key]
}

func (f *fakeGitLab) requests() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.reqs...)
}

// reply answers with status, a JSON body and header pairs.
func reply(status int, body string, headerPairs ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headerPairs); i += 2 {
			w.Header().Set(headerPairs[i], headerPairs[i+1])
		}
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// times repeats h n times.
func times(n int, h http.HandlerFunc) []http.HandlerFunc {
	hs := make([]http.HandlerFunc, n)
	for i := range hs {
		hs[i] = h
	}
	return hs
}

// testClock is a fixed clock whose sleeps are recorded, not slept.
type testClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (k *testClock) Now() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.now
}

func (k *testClock) Sleep(ctx context.Context, d time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.waits = append(k.waits, d)
	k.now = k.now.Add(d)
	return ctx.Err()
}

func (k *testClock) Waits() []time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]time.Duration(nil), k.waits...)
}

// newTestClient returns a client for baseURL with an injected clock.
func newTestClient(t *testing.T, baseURL string, edit ...func(*Config)) (*Client, *testClock) {
	t.Helper()
	cfg := Config{BaseURL: baseURL, Token: testToken}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	clock := &testClock{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	c.now, c.sleep = clock.Now, clock.Sleep
	return c, clock
}
