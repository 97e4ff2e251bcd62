package gitlab

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RateLimit is what GitLab last announced about the token's API rate limit,
// from the RateLimit-* headers of a response. GitLab computes them in
// Gitlab::RackAttack.throttled_response_headers: RateLimit-Limit is the
// quota rounded to one minute (ceil(limit*60/period)), RateLimit-Observed
// and RateLimit-Remaining count the requests of the current window of
// `period` seconds, and RateLimit-Reset is the Unix time that window ends.
// GitLab sends them on a 429, and on every response since GitLab 18.6
// (feature flag rate_limiting_headers_for_unthrottled_requests); an instance
// without rate limits sends none.
// https://docs.gitlab.com/administration/settings/user_and_ip_rate_limits/#response-headers
type RateLimit struct {
	// Name is the throttle, e.g. "throttle_authenticated_api".
	Name string
	// Limit is the quota per minute.
	Limit int
	// Observed is the requests counted in the window; -1 when not sent.
	Observed int
	// Remaining is the quota left in the window.
	Remaining int
	// Reset is when the window ends.
	Reset time.Time
	// Requests is Client.Requests when the response arrived, so that a
	// reader can tell how many requests left since.
	Requests uint64
}

// Window is the window's whole quota: Observed+Remaining when GitLab sent
// both and is not throttling, else Limit (a one-minute window).
func (r RateLimit) Window() int {
	if r.Observed >= 0 && r.Remaining > 0 {
		return r.Observed + r.Remaining
	}
	return r.Limit
}

// rateState is a Client's request counter and last announced rate limit.
type rateState struct {
	requests atomic.Uint64
	mu       sync.Mutex
	last     RateLimit
	ok       bool
}

// Requests returns how many HTTP requests the client has sent (retries and
// redirect hops included): every one counts against GitLab's rate limit.
func (c *Client) Requests() uint64 { return c.rate.requests.Load() }

// RateLimit returns the rate limit GitLab announced last; ok is false until
// a response carried RateLimit-Limit.
func (c *Client) RateLimit() (RateLimit, bool) {
	c.rate.mu.Lock()
	defer c.rate.mu.Unlock()
	return c.rate.last, c.rate.ok
}

// record counts one request and keeps the rate limit its response
// announced, if any.
func (s *rateState) record(resp *http.Response) {
	n := s.requests.Add(1)
	if resp == nil {
		return
	}
	rl, ok := parseRateLimit(resp.Header)
	if !ok {
		return
	}
	rl.Requests = n
	s.mu.Lock()
	// Responses may arrive out of order; keep the one sent last.
	if !s.ok || n >= s.last.Requests {
		s.last, s.ok = rl, true
	}
	s.mu.Unlock()
}

// parseRateLimit reads the RateLimit-* headers; ok needs a positive
// RateLimit-Limit and a RateLimit-Remaining.
func parseRateLimit(h http.Header) (RateLimit, bool) {
	limit, err := strconv.Atoi(strings.TrimSpace(h.Get("RateLimit-Limit")))
	if err != nil || limit <= 0 {
		return RateLimit{}, false
	}
	remaining, err := strconv.Atoi(strings.TrimSpace(h.Get("RateLimit-Remaining")))
	if err != nil || remaining < 0 {
		return RateLimit{}, false
	}
	rl := RateLimit{Name: h.Get("RateLimit-Name"), Limit: limit, Remaining: remaining, Observed: -1}
	if v, err := strconv.Atoi(strings.TrimSpace(h.Get("RateLimit-Observed"))); err == nil && v >= 0 {
		rl.Observed = v
	}
	if at, ok := rateLimitReset(h); ok {
		rl.Reset = at
	} else if t, err := http.ParseTime(h.Get("RateLimit-ResetTime")); err == nil {
		rl.Reset = t
	}
	return rl, true
}

// rateTransport feeds every response's headers to the client's rateState.
type rateTransport struct {
	next  http.RoundTripper
	state *rateState
}

func (t rateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		resp = nil
	}
	t.state.record(resp)
	return resp, err
}
