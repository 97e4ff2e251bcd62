package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// Sentinel errors; test with errors.Is. Every error this package returns for
// a failed HTTP exchange matches exactly one of them or is an *APIError.
var (
	// ErrNotFound: 404, the object does not exist or the token cannot see it
	// (GitLab answers 404 rather than 403 for private projects).
	ErrNotFound = errors.New("gitlab: not found")
	// ErrForbidden: 403, the token lacks a permission or scope.
	ErrForbidden = errors.New("gitlab: forbidden")
	// ErrUnauthorized: 401, the token is invalid, expired or revoked.
	ErrUnauthorized = errors.New("gitlab: unauthorized")
	// ErrRateLimited: 429 still returned after retries; the error is a
	// *RateLimitError carrying the wait GitLab asked for.
	ErrRateLimited = errors.New("gitlab: rate limited")
	// ErrUnavailable: 5xx, network failure or timeout.
	ErrUnavailable = errors.New("gitlab: unavailable")
	// ErrTooLarge: a streamed body exceeded the caller's byte ceiling.
	ErrTooLarge = errors.New("gitlab: body exceeds the size limit")
)

// RateLimitError is returned when GitLab kept answering 429, or asked for a
// wait longer than Config.MaxWait. It matches ErrRateLimited.
type RateLimitError struct {
	// RetryAfter is how long GitLab asked to wait (Retry-After or
	// RateLimit-Reset), or pipebot's own backoff when it gave no hint.
	RetryAfter time.Duration
}

// Error implements error.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("gitlab: rate limited; retry after %s", e.RetryAfter)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// APIError is a 4xx answer other than 401, 403, 404 and 429, such as 400
// "Reference not found" when creating a pipeline.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Message is GitLab's message flattened to one sentence.
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("gitlab: status %d: %s", e.Status, e.Message)
}

// statusError is a 401/403/404/5xx answer; it matches its kind sentinel.
type statusError struct {
	kind    error
	status  int
	message string
}

func (e *statusError) Error() string {
	if e.message == "" {
		return fmt.Sprintf("%s (%d)", e.kind, e.status)
	}
	return fmt.Sprintf("%s (%d): %s", e.kind, e.status, e.message)
}

func (e *statusError) Is(target error) bool { return target == e.kind }

// netError is a transport failure or timeout; it matches ErrUnavailable and
// unwraps to its cause (e.g. context.DeadlineExceeded). The cause never
// holds a URL: *url.Error is unwrapped first.
type netError struct{ cause error }

func (e *netError) Error() string { return fmt.Sprintf("%s: %v", ErrUnavailable, e.cause) }

func (e *netError) Is(target error) bool { return target == ErrUnavailable }

func (e *netError) Unwrap() error { return e.cause }

// redactedError hides the tokens should one ever appear in a cause's text.
type redactedError struct {
	err    error
	tokens []string
}

func (e *redactedError) Error() string { return redact(e.err.Error(), e.tokens...) }

func (e *redactedError) Unwrap() error { return e.err }

func redact(s string, tokens ...string) string {
	for _, token := range tokens {
		if token != "" {
			s = strings.ReplaceAll(s, token, "[redacted]")
		}
	}
	return s
}

// contextError maps the caller's context ending: a deadline is GitLab being
// too slow (ErrUnavailable), a cancellation is the caller giving up.
func (c *Client) contextError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &netError{cause: err}
	}
	return fmt.Errorf("gitlab request: %w", err)
}

// mapError turns what client-go returned into pipebot's errors; bearer is
// the person's token the request carried, redacted like pipebot's.
func (c *Client) mapError(status int, header http.Header, err error, bearer string) error {
	var er *gl.ErrorResponse
	switch {
	case errors.Is(err, gl.ErrNotFound) || status == http.StatusNotFound:
		return &statusError{kind: ErrNotFound, status: http.StatusNotFound}
	case errors.As(err, &er) && er.Response != nil:
		status = er.Response.StatusCode
		msg := redact(flattenMessage(er.Body), c.token, bearer)
		if msg == "" {
			msg = http.StatusText(status)
		}
		switch {
		case status == http.StatusUnauthorized:
			return &statusError{kind: ErrUnauthorized, status: status, message: msg}
		case status == http.StatusForbidden:
			return &statusError{kind: ErrForbidden, status: status, message: msg}
		case status == http.StatusTooManyRequests:
			wait := c.retryWait(header, maxAttempts)
			return &RateLimitError{RetryAfter: wait}
		case status >= 500:
			return &statusError{kind: ErrUnavailable, status: status, message: msg}
		default:
			return &APIError{Status: status, Message: msg}
		}
	case status >= 200 && status < 300:
		// The exchange worked; decoding or writing the body failed. Keep the
		// cause (ErrTooLarge, a writer's error) for errors.Is.
		return &redactedError{err: fmt.Errorf("read response: %w", err), tokens: []string{c.token, bearer}}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &redactedError{err: &netError{cause: err}, tokens: []string{c.token, bearer}}
}

// retryWait is how long to wait before attempt+1: Retry-After (seconds or
// an HTTP date), else RateLimit-Reset (Unix time), else exponential backoff.
func (c *Client) retryWait(h http.Header, attempt int) time.Duration {
	now := c.now()
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
			return seconds(secs)
		}
		if at, err := http.ParseTime(v); err == nil {
			return max(at.Sub(now), 0)
		}
	}
	if at, ok := rateLimitReset(h); ok {
		return max(at.Sub(now), 0)
	}
	return c.backoff << min(max(attempt-1, 0), 10)
}

// rateLimitReset reads RateLimit-Reset, the Unix time GitLab's rate limit
// window ends.
func rateLimitReset(h http.Header) (time.Time, bool) {
	unix, err := strconv.ParseInt(strings.TrimSpace(h.Get("RateLimit-Reset")), 10, 64)
	if err != nil || unix <= 0 {
		return time.Time{}, false
	}
	return time.Unix(unix, 0), true
}

// seconds converts without overflowing on absurd header values.
func seconds(s int64) time.Duration {
	if s <= 0 {
		return 0
	}
	if s > int64(math.MaxInt64/int64(time.Second)) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(s) * time.Second
}

// maxMessage bounds a flattened message; GitLab sometimes returns long lists.
const maxMessage = 300

// flattenMessage extracts GitLab's error message as one sentence. GitLab
// answers {"message":"..."}, {"message":{"base":["..."],"ref":["..."]}},
// {"message":["..."]} or {"error":"...","error_description":"..."}, and
// its GraphQL endpoint {"errors":[{"message":"..."}]}.
// Non-JSON bodies (proxies' HTML pages) yield "".
func flattenMessage(body []byte) string {
	var raw any
	if len(body) == 0 || json.Unmarshal(body, &raw) != nil {
		return ""
	}
	var msg string
	if m, ok := raw.(map[string]any); ok {
		msg = graphqlMessages(m["errors"])
		for _, k := range []string{"message", "error_description", "error"} {
			if msg != "" {
				break
			}
			if v, ok := m[k]; ok && v != nil {
				if msg = flattenValue(v); msg != "" {
					break
				}
			}
		}
	} else {
		msg = flattenValue(raw)
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > maxMessage {
		msg = strings.TrimSpace(msg[:maxMessage]) + "…"
	}
	return msg
}

// graphqlMessages joins the messages of GraphQL's "errors":
// [{"message": "…"}, …], "" when v is not that.
func graphqlMessages(v any) string {
	list, ok := v.([]any)
	if !ok {
		return ""
	}
	var parts []string
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			if s, ok := m["message"].(string); ok && s != "" {
				parts = append(parts, s)
			}
		}
	}
	return strings.Join(parts, "; ")
}

func flattenValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			if s := flattenValue(e); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "; ")
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		// "base" holds whole-object messages; put them first, unprefixed.
		sort.SliceStable(keys, func(i, j int) bool { return keys[i] == "base" && keys[j] != "base" })
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			s := flattenValue(v[k])
			if s == "" {
				continue
			}
			if k != "base" {
				s = k + " " + s
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, "; ")
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// UserMessage returns one clear sentence about a GitLab error for a Slack
// user, or "" when err is not an error of this package.
func UserMessage(err error) string {
	if err == nil {
		return ""
	}
	var rl *RateLimitError
	var api *APIError
	switch {
	case errors.As(err, &rl):
		if rl.RetryAfter <= 0 {
			return "GitLab is rate limiting pipebot; try again shortly."
		}
		return fmt.Sprintf("GitLab is rate limiting pipebot; try again in %s.", roundUp(rl.RetryAfter))
	case errors.Is(err, ErrRateLimited):
		return "GitLab is rate limiting pipebot; try again shortly."
	case errors.As(err, &api):
		msg := strings.TrimSpace(api.Message)
		if msg == "" {
			msg = http.StatusText(api.Status)
		}
		if !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "!") && !strings.HasSuffix(msg, "?") {
			msg += "."
		}
		return "GitLab says: " + msg
	case errors.Is(err, ErrNotFound):
		return "GitLab: not found or pipebot cannot see it."
	case errors.Is(err, ErrForbidden):
		return "GitLab refused: pipebot's token lacks permission."
	case errors.Is(err, ErrUnauthorized):
		return "GitLab refused: pipebot's token is invalid or expired."
	case errors.Is(err, ErrUnavailable):
		return "GitLab is unreachable right now."
	case errors.Is(err, ErrTooLarge):
		return "That is larger than pipebot's size limit."
	}
	return ""
}

// roundUp renders a wait as whole seconds (12s, 2m5s), never "0s".
func roundUp(d time.Duration) time.Duration {
	r := d.Truncate(time.Second)
	if r < d {
		r += time.Second
	}
	return r
}
