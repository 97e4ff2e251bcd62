package gitlab

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestClientKeepsTheRateLimitGitLabAnnouncedLast(t *testing.T) {
	reset := time.Date(2024, 5, 1, 12, 1, 0, 0, time.UTC)
	f := newFake(t, map[string][]http.HandlerFunc{
		"GET /api/v4/projects/1": {
			reply(200, `{"id":1}`), // no headers: an instance without a throttle
			reply(200, `{"id":1}`, "RateLimit-Name", "throttle_authenticated_api", "RateLimit-Limit", "2000",
				"RateLimit-Observed", "12", "RateLimit-Remaining", "1988", "RateLimit-Reset", "1714564860"),
			// Older GitLab: RateLimit-ResetTime only, no Observed.
			reply(200, `{"id":1}`, "RateLimit-Limit", "120", "RateLimit-Remaining", "7000", "RateLimit-ResetTime", reset.Format(http.TimeFormat)),
			reply(200, `{"id":1}`, "RateLimit-Limit", "junk", "RateLimit-Remaining", "1"),
		},
	})
	c, _ := newTestClient(t, f.srv.URL)
	ctx := context.Background()
	if _, ok := c.RateLimit(); ok {
		t.Fatal("a rate limit before any response")
	}
	if _, err := c.Project(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.RateLimit(); ok || c.Requests() != 1 {
		t.Fatalf("after a response without headers: ok %v, requests %d", ok, c.Requests())
	}
	if _, err := c.Project(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	rl, ok := c.RateLimit()
	if !ok || rl.Limit != 2000 || rl.Observed != 12 || rl.Remaining != 1988 || !rl.Reset.Equal(reset) ||
		rl.Name != "throttle_authenticated_api" || rl.Requests != 2 || rl.Window() != 2000 {
		t.Errorf("rate limit = %+v (window %d)", rl, rl.Window())
	}
	if _, err := c.Project(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	rl, _ = c.RateLimit()
	if rl.Limit != 120 || rl.Observed != -1 || rl.Remaining != 7000 || !rl.Reset.Equal(reset) || rl.Window() != 120 {
		t.Errorf("older headers = %+v (window %d)", rl, rl.Window())
	}
	if _, err := c.Project(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if rl2, _ := c.RateLimit(); rl2 != rl || c.Requests() != 4 {
		t.Errorf("a malformed RateLimit-Limit replaced the last good one: %+v; requests %d", rl2, c.Requests())
	}
}

func TestRequestsCountsRetriesAndFailures(t *testing.T) {
	f := newFake(t, map[string][]http.HandlerFunc{
		"GET /api/v4/projects/1": {
			reply(429, ``, "Retry-After", "1", "RateLimit-Limit", "60", "RateLimit-Remaining", "0", "RateLimit-Observed", "61"),
			reply(502, `{"message":"bad gateway"}`),
			reply(200, `{"id":1}`),
		},
	})
	c, _ := newTestClient(t, f.srv.URL)
	if _, err := c.Project(context.Background(), "1"); err != nil {
		t.Fatal(err)
	}
	if c.Requests() != 3 {
		t.Errorf("requests = %d, want 3 (two retries)", c.Requests())
	}
	// A throttled answer's Window is its per-minute limit: Remaining is 0.
	if rl, ok := c.RateLimit(); !ok || rl.Remaining != 0 || rl.Window() != 60 {
		t.Errorf("rate limit after 429 = %+v, %v", rl, ok)
	}
}
