package simulator

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

func (s *Server) routeJob(c *call, idStr string, rest []string) *apiError {
	if err := c.needRead(); err != nil {
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
	if post && len(rest) == 1 && (rest[0] == "retry" || rest[0] == "cancel" || rest[0] == "play" || rest[0] == "erase") {
		if err := c.need(Developer); err != nil {
			return err
		}
		if err := s.needRefWrite(c, j.pipeline); err != nil {
			return err
		}
	}
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
		inputs, ierr := params.hash("job_inputs")
		if ierr != nil {
			return ierr
		}
		nj, aerr := s.playJob(j, c.user.ID, vars, inputs)
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
	if err := c.needRead(); err != nil {
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
	if err := c.needRead(); err != nil {
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
