package simulator

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRateLimitThrottlesPerUserAndWindowLikeRackAttack(t *testing.T) {
	f := newFixture(t)
	// 12:00:00 + 45 s: the one-minute window ends in 15 s.
	f.clock.Add(45 * time.Second)
	f.sim.SetRateLimit(RateLimit{Limit: 3, HeadersOnSuccess: true})
	path := fmt.Sprintf("/projects/%d", projectID)
	reset := fmt.Sprint(time.Date(2024, 5, 1, 12, 1, 0, 0, time.UTC).Unix())
	for i, want := range []string{"2", "1", "0"} {
		r := f.do(t, "GET", path, aliceToken, nil)
		if r.status != http.StatusOK {
			t.Fatalf("request %d: %d, want 200", i+1, r.status)
		}
		h := r.header
		if h.Get("RateLimit-Limit") != "3" || h.Get("RateLimit-Remaining") != want || h.Get("RateLimit-Observed") != fmt.Sprint(i+1) ||
			h.Get("RateLimit-Reset") != reset || h.Get("RateLimit-Name") != "throttle_authenticated_api" || h.Get("Retry-After") != "" {
			t.Errorf("request %d headers: %v", i+1, h)
		}
	}
	r := f.do(t, "GET", path, aliceToken, nil)
	if r.status != http.StatusTooManyRequests || strings.TrimSpace(string(r.body)) != "Retry later" {
		t.Fatalf("4th request: %d %q, want 429 Retry later", r.status, r.body)
	}
	if h := r.header; h.Get("Retry-After") != "15" || h.Get("RateLimit-Remaining") != "0" || h.Get("RateLimit-Observed") != "4" || h.Get("RateLimit-Reset") != reset {
		t.Errorf("429 headers: %v", h)
	}
	if r := f.do(t, "GET", path, bobToken, nil); r.status != http.StatusOK {
		t.Errorf("another user is throttled too: %d", r.status)
	}
	if r := f.do(t, "GET", "/version", "", nil); r.status == http.StatusTooManyRequests {
		t.Error("an unauthenticated request was counted against the authenticated throttle")
	}
	f.clock.Add(15 * time.Second) // the next window
	if r := f.do(t, "GET", path, aliceToken, nil); r.status != http.StatusOK || r.header.Get("RateLimit-Remaining") != "2" {
		t.Errorf("next window: %d, remaining %q", r.status, r.header.Get("RateLimit-Remaining"))
	}
	if peak, throttled := f.sim.RateLimitStats(); peak != 4 || throttled != 1 {
		t.Errorf("stats: peak %d throttled %d, want 4 and 1", peak, throttled)
	}
}

func TestRateLimitHeadersFollowGitLabForLongPeriodsAndOldVersions(t *testing.T) {
	f := newFixture(t)
	path := fmt.Sprintf("/projects/%d", projectID)
	if r := f.do(t, "GET", path, aliceToken, nil); r.header.Get("RateLimit-Limit") != "" {
		t.Errorf("no throttle configured, yet RateLimit-Limit = %q", r.header.Get("RateLimit-Limit"))
	}
	// 7,200 an hour: RateLimit-Limit is the per-minute figure, Remaining the
	// hour's.
	f.sim.SetRateLimit(RateLimit{Limit: 7200, Period: time.Hour, HeadersOnSuccess: true})
	r := f.do(t, "GET", path, aliceToken, nil)
	if r.header.Get("RateLimit-Limit") != "120" || r.header.Get("RateLimit-Remaining") != "7199" {
		t.Errorf("hourly throttle headers: %v", r.header)
	}
	// Before GitLab 18.6 only a throttled response carries the headers.
	f.sim.SetRateLimit(RateLimit{Limit: 1})
	if r := f.do(t, "GET", path, aliceToken, nil); r.status != http.StatusOK || r.header.Get("RateLimit-Limit") != "" {
		t.Errorf("unthrottled response without HeadersOnSuccess: %d %v", r.status, r.header)
	}
	if r := f.do(t, "GET", path, aliceToken, nil); r.status != http.StatusTooManyRequests || r.header.Get("RateLimit-Limit") != "1" {
		t.Errorf("throttled response: %d %v", r.status, r.header)
	}
}
