package simulator

import (
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RateLimit configures the simulator's "authenticated API" throttle, as
// GitLab's Rack::Attack throttle_authenticated_api counts it
// (doc/administration/settings/user_and_ip_rate_limits.md): every API
// request of a user counts in fixed windows of Period aligned to the Unix
// epoch, and a request past Limit in its window is answered 429 with
// Retry-After and RateLimit-* headers (throttled requests count too).
type RateLimit struct {
	// Limit is the requests a user may make per Period; 0 turns the
	// throttle off (GitLab's self-managed default).
	Limit int
	// Period is the window; default one minute (GitLab.com's).
	Period time.Duration
	// HeadersOnSuccess adds the RateLimit-* headers to every response, as
	// GitLab does since 18.6 (feature flag
	// rate_limiting_headers_for_unthrottled_requests, on at GitLab.com);
	// otherwise only a 429 carries them.
	HeadersOnSuccess bool
}

// throttleState is the throttle's configuration and counters.
type throttleState struct {
	cfg       RateLimit
	counts    map[throttleKey]int
	peak      int
	throttled int
}

type throttleKey struct {
	user   int64
	window int64
}

// SetRateLimit installs (or, with Limit 0, removes) the API throttle and
// clears its counters.
func (s *Server) SetRateLimit(rl RateLimit) {
	if rl.Period < time.Second {
		rl.Period = time.Minute
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = throttleState{cfg: rl, counts: map[throttleKey]int{}}
}

// RateLimitStats reports the throttle's work so far: the most requests one
// user made in one window (throttled ones included, as GitLab counts them)
// and how many requests it answered 429.
func (s *Server) RateLimitStats() (peak, throttled int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttle.peak, s.throttle.throttled
}

// throttleUser identifies the user a request's token belongs to, as the
// throttle does before the request reaches the API; ok is false for an
// unauthenticated request or an unknown token (the authenticated throttle
// does not count those). s.mu is held.
func (s *Server) throttleUser(r *http.Request) (int64, bool) {
	token := tokenOf(r)
	if token == "" {
		return 0, false
	}
	uid, _, ok := s.tokenOwner(r, token)
	return uid, ok
}

// applyThrottle counts an API request and answers 429 when it is past the
// limit, returning true; otherwise it may add the RateLimit-* headers and
// returns false. The headers follow
// Gitlab::RackAttack.throttled_response_headers: RateLimit-Limit is the
// limit per minute (rounded up), Observed and Remaining count the window,
// Reset is the window's end.
func (s *Server) applyThrottle(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		return false
	}
	s.mu.Lock()
	cfg := s.throttle.cfg
	uid, ok := s.throttleUser(r)
	if cfg.Limit <= 0 || !ok {
		s.mu.Unlock()
		return false
	}
	period := int64(cfg.Period / time.Second)
	now := s.clock().Unix()
	win := now / period
	k := throttleKey{user: uid, window: win}
	s.throttle.counts[k]++
	count := s.throttle.counts[k]
	s.throttle.peak = max(s.throttle.peak, count)
	for old := range s.throttle.counts {
		if old.window < win {
			delete(s.throttle.counts, old)
		}
	}
	throttled := count > cfg.Limit
	if throttled {
		s.throttle.throttled++
	}
	s.mu.Unlock()
	if !throttled && !cfg.HeadersOnSuccess {
		return false
	}
	perMinute := int(math.Ceil(float64(cfg.Limit) * 60 / float64(period)))
	setRateLimitHeaders(w.Header(), perMinute, count, max(cfg.Limit-count, 0), time.Unix((win+1)*period, 0))
	if !throttled {
		return false
	}
	w.Header().Set("Retry-After", strconv.FormatInt(period-now%period, 10))
	writeRetryLater(w)
	return true
}

// setRateLimitHeaders sets the RateLimit-* headers of
// Gitlab::RackAttack.throttled_response_headers for the authenticated API
// throttle.
func setRateLimitHeaders(h http.Header, limit, observed, remaining int, reset time.Time) {
	h.Set("RateLimit-Name", "throttle_authenticated_api")
	h.Set("RateLimit-Limit", strconv.Itoa(limit))
	h.Set("RateLimit-Observed", strconv.Itoa(observed))
	h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("RateLimit-ResetTime", reset.UTC().Format(http.TimeFormat))
}

// writeRetryLater answers 429 as GitLab's Rack::Attack throttle does: plain
// text (doc/administration/settings/user_and_ip_rate_limits.md).
func writeRetryLater(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = io.WriteString(w, "Retry later\n")
}
