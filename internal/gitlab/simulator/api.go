package simulator

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// statusRecorder remembers the status a handler wrote, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	// after, when set, runs once the server lock is released: it streams a
	// big body without blocking other requests.
	after func()
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

// tokenOf reads the token from PRIVATE-TOKEN or Authorization: Bearer.
func tokenOf(r *http.Request) string {
	if t := r.Header.Get("PRIVATE-TOKEN"); t != "" {
		return t
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// ServeHTTP answers GitLab REST v4 requests under /api/v4, GraphQL
// queries at /api/graphql (graphql.go) and OAuth under /oauth.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	token := tokenOf(r)
	id := &identity{token: token}
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, Request{
			Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
			Status: rec.status, Token: token != "", TokenValue: token, Credential: id.credential,
			TokenUserID: id.tokenUser, ActingUserID: id.acting, Sudo: id.sudo,
		})
		s.mu.Unlock()
	}()
	if s.injectFault(rec, r) || s.applyThrottle(rec, r) {
		return
	}
	if strings.HasPrefix(r.URL.Path, "/oauth/") {
		s.serveOAuth(rec, r)
		return
	}
	if r.URL.Path == "/api/graphql" {
		s.serveGraphQL(rec, r, id)
		return
	}
	s.mu.Lock()
	err := s.route(rec, r, id)
	s.mu.Unlock()
	if err != nil {
		if err.authenticate != "" {
			rec.Header().Set("WWW-Authenticate", err.authenticate)
		}
		writeJSON(rec, err.status, err.body)
	}
	if rec.after != nil {
		rec.after()
	}
}

// injectFault answers the request with a configured failure, if any. The
// fault function runs without the lock so that it may inspect the server.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	status, retry, hit := 0, time.Duration(0), false
	if s.failN > 0 {
		s.failN--
		status, retry, hit = s.failStatus, s.failRetry, true
	}
	fault := s.fault
	now := s.clock()
	s.mu.Unlock()
	if !hit && fault != nil {
		status, retry, hit = fault(r)
	}
	if !hit {
		return false
	}
	secs := int(math.Ceil(retry.Seconds()))
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	if status == http.StatusTooManyRequests {
		// GitLab's Rack::Attack throttle answers plain text with these headers
		// (doc/administration/settings/user_and_ip_rate_limits.md).
		setRateLimitHeaders(w.Header(), 60, 61, 0, now.Add(time.Duration(secs)*time.Second))
		writeRetryLater(w)
		return true
	}
	writeJSON(w, status, map[string]string{"message": fmt.Sprintf("%d %s", status, http.StatusText(status))})
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// call is one authenticated request being routed.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	user  *User
	proj  *project
	level AccessLevel
}

func (c *call) need(level AccessLevel) *apiError {
	if c.level < level {
		return errForbidden
	}
	return nil
}

// route dispatches on the escaped path, because Go decodes %2F in
// r.URL.Path and a project path like group%2Fapp must stay one segment.
func (s *Server) route(w http.ResponseWriter, r *http.Request, id *identity) *apiError {
	p := r.URL.EscapedPath()
	if !strings.HasPrefix(p, "/api/v4/") {
		return errRouteNotFound
	}
	raw := strings.Split(strings.TrimSuffix(strings.TrimPrefix(p, "/api/v4/"), "/"), "/")
	segs := make([]string, len(raw))
	for i, seg := range raw {
		v, err := url.PathUnescape(seg)
		if err != nil {
			return errRouteNotFound
		}
		segs[i] = v
	}
	if len(segs) == 4 && segs[0] == "projects" && segs[2] == "trigger" && segs[3] == "pipeline" && r.Method == http.MethodPost {
		id.credential = CredentialTrigger
		return s.triggerPipelineAPI(w, r, segs[1]) // authenticated by the trigger token
	}
	user, aerr := s.authenticate(r, id)
	if aerr != nil {
		return aerr
	}
	c := &call{w: w, r: r, user: user}
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case len(segs) == 1 && segs[0] == "version" && get:
		writeJSON(w, http.StatusOK, map[string]any{
			"version": "17.5.0", "revision": "simulator",
			"kas":        map[string]any{"enabled": false, "externalUrl": nil, "version": nil},
			"enterprise": false,
		})
		return nil
	case len(segs) == 1 && segs[0] == "user" && get:
		return s.currentUser(c)
	case len(segs) == 2 && segs[0] == "personal_access_tokens" && segs[1] == "self" && get:
		return s.tokenSelf(c, id)
	case len(segs) == 1 && segs[0] == "users" && get:
		return s.listUsers(c)
	case len(segs) >= 2 && segs[0] == "projects":
		return s.routeProject(c, segs[1], segs[2:])
	case len(segs) >= 3 && segs[0] == "groups" && segs[2] == "variables":
		return s.routeGroupCI(c, segs[1], segs[2:])
	case len(segs) >= 2 && segs[0] == "groups" && get:
		return s.routeGroup(c, segs[1], segs[2:])
	case len(segs) == 2 && segs[0] == "users" && get:
		return s.getUser(c, segs[1])
	}
	return errRouteNotFound
}

func (s *Server) lookupProject(idOrPath string) *project {
	if id, err := strconv.ParseInt(idOrPath, 10, 64); err == nil {
		return s.projects[id]
	}
	return s.byPath[strings.ToLower(idOrPath)]
}

func (s *Server) routeProject(c *call, idOrPath string, rest []string) *apiError {
	pr := s.lookupProject(idOrPath)
	if pr == nil {
		return errProjectNotFound
	}
	level, visible := s.projectAccess(pr, c.user)
	if !visible {
		return errProjectNotFound
	}
	c.proj, c.level = pr, level
	m := c.r.Method
	n := len(rest)
	at := func(i int, v string) bool { return n > i && rest[i] == v }
	switch {
	case n == 0 && m == http.MethodGet:
		writeJSON(c.w, http.StatusOK, s.projectJSON(pr, c.level))
		return nil
	case n == 1 && at(0, "pipeline") && m == http.MethodPost:
		return s.createPipelineAPI(c)
	case n == 1 && at(0, "pipelines") && m == http.MethodGet:
		return s.listPipelines(c)
	case n == 2 && at(0, "pipelines") && at(1, "latest") && m == http.MethodGet:
		return s.latestPipeline(c)
	case n >= 2 && at(0, "pipelines"):
		return s.routePipeline(c, rest[1], rest[2:])
	case n == 1 && at(0, "jobs") && m == http.MethodGet:
		return s.listProjectJobs(c)
	case n >= 4 && at(0, "jobs") && at(1, "artifacts") && m == http.MethodGet:
		return s.refArtifacts(c, rest[2:])
	case n >= 2 && at(0, "jobs"):
		return s.routeJob(c, rest[1], rest[2:])
	case n >= 1 && (at(0, "triggers") || at(0, "variables")):
		return s.routeProjectCI(c, rest)
	case n >= 1 && at(0, "pipeline_schedules"):
		return s.routeSchedules(c, rest[1:])
	case n >= 1 && at(0, "protected_branches"):
		return s.routeProtectedBranches(c, rest[1:])
	case n >= 2 && at(0, "repository"):
		return s.routeRepository(c, rest[1:])
	}
	return errRouteNotFound
}
