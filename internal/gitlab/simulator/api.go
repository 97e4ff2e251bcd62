package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
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

// ServeHTTP answers GitLab REST v4 requests under /api/v4.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	token := tokenOf(r)
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, Request{
			Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
			Status: rec.status, Token: token != "",
		})
		s.mu.Unlock()
	}()
	if s.injectFault(rec, r) {
		return
	}
	s.mu.Lock()
	err := s.route(rec, r, token)
	s.mu.Unlock()
	if err != nil {
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
		reset := now.Add(time.Duration(secs) * time.Second)
		h := w.Header()
		h.Set("RateLimit-Name", "throttle_authenticated_api")
		h.Set("RateLimit-Limit", "60")
		h.Set("RateLimit-Observed", "61")
		h.Set("RateLimit-Remaining", "0")
		h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		h.Set("RateLimit-ResetTime", reset.UTC().Format(http.TimeFormat))
		h.Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "Retry later\n")
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
func (s *Server) route(w http.ResponseWriter, r *http.Request, token string) *apiError {
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
		return s.triggerPipelineAPI(w, r, segs[1]) // authenticated by the trigger token
	}
	uid, ok := s.tokens[token]
	if token == "" || !ok {
		return errUnauthorized
	}
	user, ok := s.users[uid]
	if !ok || user.State == "blocked" {
		return errUnauthorized
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
		writeJSON(w, http.StatusOK, currentUserJSON{
			userFullJSON: *s.userFull(user.ID), Locked: user.State == "blocked", Email: user.Email,
		})
		return nil
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
	c.proj, c.level = pr, pr.Members[c.user.ID]
	if c.level < Guest {
		return errProjectNotFound
	}
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
	}
	return errRouteNotFound
}

func (s *Server) routePipeline(c *call, idStr string, rest []string) *apiError {
	if err := c.need(Reporter); err != nil {
		return err
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil {
		return paramError("pipeline_id is invalid")
	}
	p := s.findPipeline(c.proj.ID, id)
	if p == nil {
		return errNotFound
	}
	m := c.r.Method
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		writeJSON(c.w, http.StatusOK, s.pipelineFull(p))
	case len(rest) == 0 && m == http.MethodDelete:
		if err := c.need(Maintainer); err != nil {
			return err
		}
		s.deletePipeline(p)
		c.w.WriteHeader(http.StatusNoContent)
	case len(rest) == 1 && rest[0] == "retry" && m == http.MethodPost:
		if err := c.need(Developer); err != nil {
			return err
		}
		s.retryPipeline(p, c.user.ID)
		writeJSON(c.w, http.StatusCreated, s.pipelineFull(p))
	case len(rest) == 1 && rest[0] == "cancel" && m == http.MethodPost:
		if err := c.need(Developer); err != nil {
			return err
		}
		s.cancelPipeline(p)
		writeJSON(c.w, http.StatusCreated, s.pipelineFull(p))
	case len(rest) == 1 && rest[0] == "variables" && m == http.MethodGet:
		if err := c.need(Developer); err != nil {
			return err
		}
		out := make([]pipelineVariableJSON, 0, len(p.variables))
		for _, v := range p.variables {
			out = append(out, pipelineVariableJSON{Key: v.Key, VariableType: v.VariableType, Value: v.Value})
		}
		return writePage(c, out)
	case len(rest) == 1 && rest[0] == "jobs" && m == http.MethodGet:
		return s.listPipelineJobs(c, p)
	case len(rest) == 1 && rest[0] == "bridges" && m == http.MethodGet:
		// Bridges are the trigger jobs of child pipelines (CreateChildPipeline).
		return writePage(c, s.bridgesOf(p))
	default:
		return errRouteNotFound
	}
	return nil
}

func (s *Server) routeJob(c *call, idStr string, rest []string) *apiError {
	if err := c.need(Reporter); err != nil {
		return err
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil {
		return paramError("job_id is invalid")
	}
	j, ok := s.jobs[id]
	if !ok || j.pipeline.project != c.proj {
		return errNotFound
	}
	m := c.r.Method
	post := m == http.MethodPost
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		writeJSON(c.w, http.StatusOK, s.jobJSON(j))
	case len(rest) == 1 && rest[0] == "trace" && m == http.MethodGet:
		serveTrace(c.w, j)
	case len(rest) == 1 && rest[0] == "retry" && post:
		if err := c.need(Developer); err != nil {
			return err
		}
		if j.retried || !isComplete(j.status) || j.status == StatusSkipped {
			return msgError(http.StatusForbidden, "403 Forbidden  - Job is not retryable")
		}
		writeJSON(c.w, http.StatusCreated, s.jobJSON(s.retryJob(j, c.user.ID, nil)))
	case len(rest) == 1 && rest[0] == "cancel" && post:
		if err := c.need(Developer); err != nil {
			return err
		}
		s.cancelJob(j)
		writeJSON(c.w, http.StatusCreated, s.jobJSON(j))
	case len(rest) == 1 && rest[0] == "play" && post:
		if err := c.need(Developer); err != nil {
			return err
		}
		params, perr := readParams(c.r)
		if perr != nil {
			return perr
		}
		vars, verr := params.variables("job_variables_attributes")
		if verr != nil {
			return verr
		}
		nj, aerr := s.playJob(j, c.user.ID, vars)
		if aerr != nil {
			return aerr
		}
		writeJSON(c.w, http.StatusOK, s.jobJSON(nj))
	case len(rest) == 1 && rest[0] == "erase" && post:
		if err := c.need(Maintainer); err != nil {
			return err
		}
		if err := s.eraseJob(j); err != nil {
			return err
		}
		writeJSON(c.w, http.StatusCreated, s.jobJSON(j))
	case len(rest) == 2 && rest[0] == "artifacts" && rest[1] == "keep" && post:
		if err := c.need(Developer); err != nil {
			return err
		}
		if j.artifacts == nil {
			return errFileNotFound
		}
		j.expireAt = nil
		writeJSON(c.w, http.StatusOK, s.jobJSON(j))
	case len(rest) == 1 && rest[0] == "artifacts" && m == http.MethodGet:
		return s.serveArchive(c.w, c.r, j)
	case len(rest) >= 2 && rest[0] == "artifacts" && m == http.MethodGet:
		return s.serveArtifactFile(c.w, c.r, j, strings.Join(rest[1:], "/"))
	default:
		return errRouteNotFound
	}
	return nil
}

// refArtifacts serves GET /projects/:id/jobs/artifacts/:ref/download?job=
// and .../artifacts/:ref/raw/*path?job= from the latest successful job of
// that name on the ref.
func (s *Server) refArtifacts(c *call, rest []string) *apiError {
	if err := c.need(Reporter); err != nil {
		return err
	}
	name := c.r.URL.Query().Get("job")
	if name == "" {
		return paramError("job is missing")
	}
	var ref, file string
	switch {
	case rest[len(rest)-1] == "download":
		ref = strings.Join(rest[:len(rest)-1], "/")
	default:
		i := indexOf(rest, "raw")
		if i < 1 || i == len(rest)-1 {
			return errRouteNotFound
		}
		ref, file = strings.Join(rest[:i], "/"), strings.Join(rest[i+1:], "/")
	}
	for k := len(c.proj.pipelines) - 1; k >= 0; k-- {
		p := c.proj.pipelines[k]
		if p.ref != ref {
			continue
		}
		for _, j := range p.latest() {
			if j.spec.Name == name && j.status == StatusSuccess && j.artifacts != nil {
				if file != "" {
					return s.serveArtifactFile(c.w, c.r, j, file)
				}
				return s.serveArchive(c.w, c.r, j)
			}
		}
	}
	return errFileNotFound
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

func (s *Server) deletePipeline(p *pipeline) {
	pr := p.project
	for i, x := range pr.pipelines {
		if x == p {
			pr.pipelines = append(pr.pipelines[:i:i], pr.pipelines[i+1:]...)
			break
		}
	}
	for _, j := range p.jobs {
		delete(s.jobs, j.id)
	}
	delete(s.pipelines, p.id)
}

func (s *Server) listUsers(c *call) *apiError {
	username := c.r.URL.Query().Get("username")
	out := []userListJSON{}
	for i := len(s.userOrder) - 1; i >= 0; i-- {
		u := s.users[s.userOrder[i]]
		if username != "" && !strings.EqualFold(u.Username, username) {
			continue
		}
		out = append(out, s.userList(u))
	}
	return writePage(c, out)
}

func (s *Server) createPipelineAPI(c *call) *apiError {
	if err := c.need(Developer); err != nil {
		return err
	}
	params, err := readParams(c.r)
	if err != nil {
		return err
	}
	ref := params.get("ref")
	if ref == "" {
		return paramError("ref is missing")
	}
	vars, err := params.variables("variables")
	if err != nil {
		return err
	}
	if err := s.checkOverrideRole(c.proj, c.user.ID, vars); err != nil {
		return err
	}
	p, err := s.createPipeline(c.proj, ref, "api", c.user.ID, vars)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, s.pipelineFull(p))
	return nil
}

func (s *Server) latestPipeline(c *call) *apiError {
	if err := c.need(Reporter); err != nil {
		return err
	}
	ref := c.r.URL.Query().Get("ref")
	if ref == "" {
		ref = c.proj.DefaultBranch
	}
	for k := len(c.proj.pipelines) - 1; k >= 0; k-- {
		if p := c.proj.pipelines[k]; p.ref == ref {
			writeJSON(c.w, http.StatusOK, s.pipelineFull(p))
			return nil
		}
	}
	return errNotFound
}

var pipelineStatuses = []string{
	StatusCreated, StatusWaitingForResource, StatusPreparing, StatusPending, StatusRunning,
	StatusSuccess, StatusFailed, StatusCanceled, StatusCanceling, StatusSkipped, StatusManual, StatusScheduled,
}

// parseISOTime accepts the ISO 8601 forms GitLab's API takes.
func parseISOTime(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (s *Server) listPipelines(c *call) *apiError {
	if err := c.need(Reporter); err != nil {
		return err
	}
	q := c.r.URL.Query()
	var filters []func(*pipeline) bool
	if v := q.Get("scope"); v != "" {
		switch v {
		case "running", "pending":
			filters = append(filters, func(p *pipeline) bool { return p.status == v })
		case "finished":
			filters = append(filters, func(p *pipeline) bool {
				return p.status == StatusSuccess || p.status == StatusFailed || p.status == StatusCanceled || p.status == StatusSkipped
			})
		case "branches":
			filters = append(filters, func(p *pipeline) bool { return !p.tag })
		case "tags":
			filters = append(filters, func(p *pipeline) bool { return p.tag })
		default:
			return paramError("scope does not have a valid value")
		}
	}
	if v := q.Get("status"); v != "" {
		if !contains(pipelineStatuses, v) {
			return paramError("status does not have a valid value")
		}
		filters = append(filters, func(p *pipeline) bool { return p.status == v })
	}
	for _, f := range []struct {
		key string
		get func(*pipeline) string
	}{
		{"source", func(p *pipeline) string { return p.source }},
		{"ref", func(p *pipeline) string { return p.ref }},
		{"sha", func(p *pipeline) string { return p.sha }},
		{"name", func(p *pipeline) string { return p.project.PipelineName }},
		{"username", func(p *pipeline) string {
			if u, ok := s.users[p.userID]; ok {
				return u.Username
			}
			return ""
		}},
	} {
		if v := q.Get(f.key); v != "" {
			get := f.get
			filters = append(filters, func(p *pipeline) bool { return get(p) == v })
		}
	}
	// updated_after/updated_before are inclusive, like GitLab's
	// UpdatedAtFilterable scopes.
	if v := q.Get("updated_after"); v != "" {
		t, ok := parseISOTime(v)
		if !ok {
			return paramError("updated_after is invalid")
		}
		filters = append(filters, func(p *pipeline) bool { return !p.updatedAt.Before(t) })
	}
	if v := q.Get("updated_before"); v != "" {
		t, ok := parseISOTime(v)
		if !ok {
			return paramError("updated_before is invalid")
		}
		filters = append(filters, func(p *pipeline) bool { return !p.updatedAt.After(t) })
	}
	orderBy := q.Get("order_by")
	if orderBy == "" {
		orderBy = "id"
	}
	if !contains([]string{"id", "status", "ref", "updated_at", "user_id"}, orderBy) {
		return paramError("order_by does not have a valid value")
	}
	dir := q.Get("sort")
	if dir == "" {
		dir = "desc"
	}
	if dir != "asc" && dir != "desc" {
		return paramError("sort does not have a valid value")
	}
	var list []*pipeline
	for _, p := range c.proj.pipelines {
		keep := true
		for _, f := range filters {
			if !f(p) {
				keep = false
				break
			}
		}
		if keep {
			list = append(list, p)
		}
	}
	less := func(a, b *pipeline) int {
		switch orderBy {
		case "status":
			return strings.Compare(a.status, b.status)
		case "ref":
			return strings.Compare(a.ref, b.ref)
		case "updated_at":
			return a.updatedAt.Compare(b.updatedAt)
		case "user_id":
			return cmpInt(a.userID, b.userID)
		}
		return 0
	}
	sort.SliceStable(list, func(i, k int) bool {
		c := less(list[i], list[k])
		if c == 0 {
			c = cmpInt(list[i].id, list[k].id)
		}
		if dir == "desc" {
			return c > 0
		}
		return c < 0
	})
	out := make([]pipelineBasicJSON, 0, len(list))
	for _, p := range list {
		out = append(out, s.pipelineBasic(p))
	}
	return writePage(c, out)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var jobScopes = []string{
	StatusCreated, StatusPending, StatusRunning, StatusFailed, StatusSuccess, StatusCanceled, StatusCanceling,
	StatusSkipped, StatusWaitingForResource, StatusManual, StatusPreparing, StatusScheduled,
}

// jobScopeFilter reads scope[] (or scope) as GitLab's jobs API does.
func jobScopeFilter(q url.Values) (func(*job) bool, *apiError) {
	scopes := append(append([]string(nil), q["scope[]"]...), q["scope"]...)
	if len(scopes) == 0 {
		return func(*job) bool { return true }, nil
	}
	for _, sc := range scopes {
		if !contains(jobScopes, sc) {
			return nil, paramError("scope does not have a valid value")
		}
	}
	return func(j *job) bool { return contains(scopes, j.status) }, nil
}

func (s *Server) listPipelineJobs(c *call, p *pipeline) *apiError {
	q := c.r.URL.Query()
	match, err := jobScopeFilter(q)
	if err != nil {
		return err
	}
	includeRetried := q.Get("include_retried") == "true"
	out := []jobJSON{}
	for _, j := range p.jobs {
		if (j.retried && !includeRetried) || !match(j) {
			continue
		}
		out = append(out, s.jobJSON(j))
	}
	return writePage(c, out)
}

func (s *Server) listProjectJobs(c *call) *apiError {
	if err := c.need(Reporter); err != nil {
		return err
	}
	match, err := jobScopeFilter(c.r.URL.Query())
	if err != nil {
		return err
	}
	out := []jobJSON{}
	for i := len(c.proj.pipelines) - 1; i >= 0; i-- {
		jobs := c.proj.pipelines[i].jobs
		for k := len(jobs) - 1; k >= 0; k-- {
			if match(jobs[k]) {
				out = append(out, s.jobJSON(jobs[k]))
			}
		}
	}
	sort.SliceStable(out, func(i, k int) bool { return out[i].ID > out[k].ID })
	return writePage(c, out)
}

// writePage writes one page of items with GitLab's offset pagination
// headers (doc/api/rest/index.md#pagination).
func writePage[T any](c *call, items []T) *apiError {
	q := c.r.URL.Query()
	page, perPage := 1, 20
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return paramError("page is invalid")
		}
		if n > 1 {
			page = n
		}
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return paramError("per_page is invalid")
		}
		if n > 0 {
			perPage = min(n, 100)
		}
	}
	total := len(items)
	totalPages := max(1, (total+perPage-1)/perPage)
	h := c.w.Header()
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Total", strconv.Itoa(total))
	h.Set("X-Total-Pages", strconv.Itoa(totalPages))
	h.Set("X-Next-Page", "")
	h.Set("X-Prev-Page", "")
	if page < totalPages {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
	}
	if page > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(min(page-1, totalPages)))
	}
	link := func(n int, rel string) string {
		lq := c.r.URL.Query()
		lq.Set("page", strconv.Itoa(n))
		lq.Set("per_page", strconv.Itoa(perPage))
		return fmt.Sprintf("<%s%s?%s>; rel=%q", baseURL(c.r), c.r.URL.EscapedPath(), lq.Encode(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(min(page-1, totalPages), "prev"))
	}
	if page < totalPages {
		links = append(links, link(page+1, "next"))
	}
	links = append(links, link(1, "first"), link(totalPages, "last"))
	h.Set("Link", strings.Join(links, ", "))
	start := min((page-1)*perPage, total)
	end := min(start+perPage, total)
	out := items[start:end]
	if out == nil {
		out = []T{}
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// baseURL is the scheme and host the request was sent to.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

// params are a request's parameters from the query, a form body or a JSON
// body, the ways GitLab's Grape API accepts them.
type params struct {
	values url.Values
	json   map[string]json.RawMessage
}

func readParams(r *http.Request) (*params, *apiError) {
	p := &params{values: r.URL.Query()}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			return nil, paramError("body is invalid")
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &p.json); err != nil {
				return nil, msgError(http.StatusBadRequest, "400 Bad request - JSON body is invalid")
			}
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(10 << 20); err != nil && err != http.ErrNotMultipart {
			return nil, paramError("body is invalid")
		}
		for k, v := range r.PostForm {
			p.values[k] = v
		}
	}
	return p, nil
}

func (p *params) get(key string) string {
	if raw, ok := p.json[key]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return strings.Trim(string(raw), `"`)
	}
	return p.values.Get(key)
}

var formVarRe = regexp.MustCompile(`^(\w+)\[(\d*)\]\[(\w+)\]$`)

// variables reads an array of {key, value, variable_type} from JSON or from
// form fields like variables[][key]=K&variables[][value]=V. It returns nil
// when the parameter is absent.
func (p *params) variables(name string) ([]Variable, *apiError) {
	var vars []Variable
	if raw, ok := p.json[name]; ok {
		if err := json.Unmarshal(raw, &vars); err != nil {
			return nil, paramError(name + " is invalid")
		}
	} else {
		byIndex := map[string]map[string][]string{}
		var order []string
		for k, vs := range p.values {
			m := formVarRe.FindStringSubmatch(k)
			if m == nil || m[1] != name {
				continue
			}
			if _, ok := byIndex[m[2]]; !ok {
				byIndex[m[2]] = map[string][]string{}
				order = append(order, m[2])
			}
			byIndex[m[2]][m[3]] = vs
		}
		sort.Slice(order, func(i, k int) bool {
			a, _ := strconv.Atoi(order[i])
			b, _ := strconv.Atoi(order[k])
			return a < b
		})
		for _, idx := range order {
			fields := byIndex[idx]
			for i, key := range fields["key"] {
				v := Variable{Key: key}
				if i < len(fields["value"]) {
					v.Value = fields["value"][i]
				}
				if i < len(fields["variable_type"]) {
					v.VariableType = fields["variable_type"][i]
				}
				vars = append(vars, v)
			}
		}
		if len(order) == 0 {
			return nil, nil
		}
	}
	for i := range vars {
		if vars[i].Key == "" {
			return nil, paramError(name + "[key] is missing")
		}
		switch vars[i].VariableType {
		case "":
			vars[i].VariableType = "env_var"
		case "env_var", "file":
		default:
			return nil, paramError(name + "[variable_type] does not have a valid value")
		}
	}
	if vars == nil {
		vars = []Variable{}
	}
	return vars, nil
}
