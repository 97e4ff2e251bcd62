package simulator

import (
	"net/http"
	"path"
	"strings"
	"time"
)

// apiError is an API failure with GitLab's status and JSON body.
type apiError struct {
	status int
	body   any
	// authenticate, when set, is sent as WWW-Authenticate.
	authenticate string
}

func msgError(status int, msg any) *apiError {
	return &apiError{status: status, body: map[string]any{"message": msg}}
}

func paramError(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, body: map[string]any{"error": msg}}
}

var (
	errUnauthorized    = msgError(http.StatusUnauthorized, "401 Unauthorized")
	errForbidden       = msgError(http.StatusForbidden, "403 Forbidden")
	errProjectNotFound = msgError(http.StatusNotFound, "404 Project Not Found")
	// errNotFound is what GitLab answers for a missing record (pipeline, job).
	errNotFound = msgError(http.StatusNotFound, "404 Not found")
	// errFileNotFound is GitLab's not_found! for missing artifacts.
	errFileNotFound  = msgError(http.StatusNotFound, "404 Not Found")
	errRouteNotFound = &apiError{status: http.StatusNotFound, body: map[string]any{"error": "404 Not Found"}}
	errRefNotFound   = msgError(http.StatusBadRequest, map[string][]string{"base": {"Reference not found"}})
	errNoJobs        = msgError(http.StatusBadRequest, map[string][]string{"base": {
		"Pipeline will not run for the selected trigger. The rules configuration prevented any jobs from being added to the pipeline.",
	}})
)

func isComplete(status string) bool {
	switch status {
	case StatusSuccess, StatusFailed, StatusCanceled, StatusSkipped:
		return true
	}
	return false
}

func isCancelable(status string) bool {
	switch status {
	case StatusCreated, StatusPending, StatusRunning, StatusPreparing, StatusWaitingForResource, StatusScheduled, StatusManual:
		return true
	}
	return false
}

func isActive(status string) bool {
	switch status {
	case StatusCreated, StatusWaitingForResource, StatusPreparing, StatusPending, StatusRunning, StatusCanceling, StatusScheduled:
		return true
	}
	return false
}

// ignored reports a job whose state does not count towards its pipeline's
// status: an allowed failure, or a manual job that may be skipped.
func (j *job) ignored() bool {
	return j.spec.AllowFailure && (j.status == StatusFailed || j.status == StatusManual || j.status == StatusCanceled)
}

// done reports a job that no longer holds back later stages.
func (j *job) done() bool {
	return isComplete(j.status) || (j.status == StatusManual && j.spec.AllowFailure)
}

func (j *job) manual() bool { return j.spec.When == "manual" }

func (j *job) shouldFail() bool {
	return j.spec.Fail || (j.spec.Flaky && j.attempt == 1 && j.pipeline.iid%2 == 1)
}

func (p *pipeline) latest() []*job {
	out := make([]*job, 0, len(p.jobs))
	for _, j := range p.jobs {
		if !j.retried {
			out = append(out, j)
		}
	}
	return out
}

// composite derives a status from jobs the way GitLab's
// Gitlab::Ci::Status::Composite does for stages and pipelines.
func composite(jobs []*job) string {
	counts := map[string]int{}
	n := 0
	for _, j := range jobs {
		if j.ignored() {
			continue
		}
		counts[j.status]++
		n++
	}
	onlyOf := func(allowed ...string) bool {
		k := 0
		for _, a := range allowed {
			k += counts[a]
		}
		return k == n
	}
	anyOf := func(st ...string) bool {
		for _, a := range st {
			if counts[a] > 0 {
				return true
			}
		}
		return false
	}
	switch {
	case len(jobs) == 0:
		return StatusCreated
	case onlyOf(StatusSkipped):
		return StatusSkipped
	case onlyOf(StatusSuccess, StatusSkipped):
		return StatusSuccess
	case onlyOf(StatusCreated):
		return StatusCreated
	case onlyOf(StatusPreparing):
		return StatusPreparing
	case onlyOf(StatusCanceled, StatusSuccess, StatusSkipped):
		return StatusCanceled
	case onlyOf(StatusPending, StatusCreated, StatusSkipped):
		return StatusPending
	case anyOf(StatusCanceling):
		return StatusCanceling
	case anyOf(StatusRunning, StatusPending):
		return StatusRunning
	case anyOf(StatusWaitingForResource):
		return StatusWaitingForResource
	case anyOf(StatusManual):
		return StatusManual
	case anyOf(StatusScheduled):
		return StatusScheduled
	case anyOf(StatusPreparing):
		return StatusPreparing
	case anyOf(StatusCreated):
		return StatusRunning
	default:
		return StatusFailed
	}
}

// withWarnings reports a passed pipeline that has allowed failures.
func (p *pipeline) withWarnings() bool {
	for _, j := range p.latest() {
		if j.spec.AllowFailure && j.status == StatusFailed {
			return true
		}
	}
	return false
}

func (s *Server) createPipeline(pr *project, ref, source string, userID int64, vars []Variable, given map[string]any) (*pipeline, *apiError) {
	isBranch, isTag := contains(pr.Branches, ref), contains(pr.Tags, ref)
	if ref == "" || (!isBranch && !isTag) {
		return nil, errRefNotFound
	}
	var specs []JobSpec
	for _, js := range pr.Jobs {
		if runsOn(js, ref) {
			specs = append(specs, js)
		}
	}
	if len(specs) == 0 {
		return nil, errNoJobs
	}
	inputs, errs := resolveInputs(pr.Inputs, given)
	if errs != nil {
		return nil, inputError(errs)
	}
	if source == "" {
		source = "api"
	}
	s.pipelineEvent(pr, source)
	now := s.clock()
	s.nextPipe++
	pr.nextIID++
	p := &pipeline{
		id: s.nextPipe, iid: pr.nextIID, project: pr, ref: ref, sha: fakeSHA(pr.Path, ref),
		tag: isTag && !isBranch, source: source, userID: userID, status: StatusCreated,
		createdAt: now, updatedAt: now, variables: append([]Variable(nil), vars...),
		inputs: inputs,
	}
	for _, js := range specs {
		s.newJob(p, js, 1, userID)
	}
	pr.pipelines = append(pr.pipelines, p)
	s.pipelines[p.id] = p
	s.recordHook(p)
	return p, nil
}

func runsOn(js JobSpec, ref string) bool {
	if len(js.Only) == 0 {
		return true
	}
	for _, pat := range js.Only {
		if ok, _ := path.Match(pat, ref); ok || pat == ref {
			return true
		}
	}
	return false
}

func (s *Server) newJob(p *pipeline, js JobSpec, attempt int, userID int64) *job {
	s.nextJob++
	j := &job{
		id: s.nextJob, pipeline: p, spec: js, attempt: attempt, status: StatusCreated,
		userID: userID, createdAt: s.clock(),
	}
	if len(js.Inputs) > 0 {
		j.inputs, _ = resolveInputs(js.Inputs, nil) // job inputs all have defaults
	}
	for i, st := range p.project.stages {
		if st == js.Stage {
			j.stageIdx = i
		}
	}
	p.jobs = append(p.jobs, j)
	s.jobs[j.id] = j
	return j
}

// setJob moves a job to status and keeps its timestamps and artifacts right.
func (s *Server) setJob(j *job, status, reason string) {
	now := s.clock()
	j.status = status
	j.reason = ""
	switch status {
	case StatusPending, StatusWaitingForResource, StatusPreparing:
		if j.queuedAt == nil {
			j.queuedAt = &now
		}
	case StatusRunning, StatusCanceling:
		if j.queuedAt == nil {
			j.queuedAt = &now
		}
		if j.startedAt == nil {
			j.startedAt = &now
		}
	case StatusFailed:
		if reason == "" {
			reason = j.spec.FailureReason
		}
		if reason == "" {
			reason = "script_failure"
		}
		j.reason = reason
	}
	if isComplete(status) {
		j.finishedAt = &now
		if status == StatusSuccess && j.spec.Artifacts && j.erasedAt == nil {
			j.artifacts = newArchive(j, now)
			exp := now.Add(30 * 24 * time.Hour)
			j.expireAt = &exp
		}
	} else {
		j.finishedAt = nil
	}
}

// process enqueues or skips created jobs of stages from stage on whose
// earlier stages are all done, as GitLab's pipeline processing does. It
// reports whether a job changed.
func (s *Server) process(p *pipeline, from int) bool {
	latest := p.latest()
	changed := false
	for k := from; k < len(p.project.stages); k++ {
		var prev []*job
		blocked := false
		for _, j := range latest {
			if j.stageIdx < k {
				prev = append(prev, j)
				if !j.done() {
					blocked = true
				}
			}
		}
		if blocked {
			break
		}
		prevStatus := StatusSuccess
		if len(prev) > 0 {
			prevStatus = composite(prev)
		}
		for _, j := range latest {
			if j.stageIdx != k || j.status != StatusCreated {
				continue
			}
			changed = true
			switch {
			case prevStatus != StatusSuccess && prevStatus != StatusSkipped:
				s.setJob(j, StatusSkipped, "")
			case j.manual():
				s.setJob(j, StatusManual, "")
			default:
				s.setJob(j, StatusPending, "")
			}
		}
	}
	return changed
}

// step is one Advance; it reports whether anything changed.
func (s *Server) step(p *pipeline) bool {
	latest := p.latest()
	var running, queued, scheduled []*job
	for _, j := range latest {
		switch j.status {
		case StatusRunning, StatusCanceling:
			running = append(running, j)
		case StatusPending, StatusPreparing, StatusWaitingForResource:
			queued = append(queued, j)
		case StatusScheduled:
			scheduled = append(scheduled, j)
		}
	}
	changed := true
	switch {
	case len(running) > 0:
		for _, j := range running {
			switch {
			case j.status == StatusCanceling:
				s.setJob(j, StatusCanceled, "")
			case j.shouldFail():
				s.setJob(j, StatusFailed, "")
			default:
				s.setJob(j, StatusSuccess, "")
			}
		}
		s.process(p, 0)
	case len(queued) > 0:
		for _, j := range queued {
			s.setJob(j, StatusRunning, "")
		}
	case len(scheduled) > 0:
		for _, j := range scheduled {
			s.setJob(j, StatusPending, "")
		}
	default:
		changed = s.process(p, 0)
	}
	if changed {
		s.recompute(p)
	}
	return changed
}

// recompute derives the pipeline status from its jobs and touches
// updated_at, since a job of it changed.
func (s *Server) recompute(p *pipeline) {
	now := s.clock()
	p.updatedAt = now
	st := composite(p.latest())
	if st == p.status {
		return
	}
	p.status = st
	if (st == StatusRunning || st == StatusCanceling) && p.startedAt == nil {
		p.startedAt = &now
	}
	if isComplete(st) {
		p.finishedAt = &now
	} else {
		p.finishedAt = nil
	}
	s.recordHook(p)
}

func (s *Server) cancelPipeline(p *pipeline) {
	for _, j := range p.latest() {
		if isCancelable(j.status) {
			s.setJob(j, StatusCanceled, "")
		}
	}
	s.recompute(p)
}

// retryPipeline retries the failed and canceled jobs (the old ones stay as
// retried), resets the skipped ones, and enqueues what can run.
func (s *Server) retryPipeline(p *pipeline, userID int64) {
	for _, j := range p.latest() {
		switch j.status {
		case StatusFailed, StatusCanceled:
			j.retried = true
			s.newJob(p, j.spec, j.attempt+1, userID)
		case StatusSkipped:
			s.setJob(j, StatusCreated, "")
		}
	}
	s.process(p, 0)
	s.recompute(p)
}

func (s *Server) resetSkippedAfter(p *pipeline, stageIdx int) {
	for _, j := range p.latest() {
		if j.stageIdx > stageIdx && j.status == StatusSkipped {
			s.setJob(j, StatusCreated, "")
		}
	}
}

// retryJob replaces a finished job with a new attempt.
func (s *Server) retryJob(j *job, userID int64, vars []Variable) *job {
	p := j.pipeline
	j.retried = true
	nj := s.newJob(p, j.spec, j.attempt+1, userID)
	if j.inputs != nil {
		nj.inputs = copyInputs(j.inputs) // a retry keeps the inputs the job ran with
	}
	if vars != nil {
		nj.variables = vars
	} else {
		nj.variables = j.variables
	}
	s.resetSkippedAfter(p, j.stageIdx)
	if nj.manual() && vars != nil {
		s.setJob(nj, StatusPending, "")
	}
	s.process(p, 0)
	s.recompute(p)
	return nj
}

// playJob starts a manual job, or re-runs a finished manual one.
func (s *Server) playJob(j *job, userID int64, vars []Variable, given map[string]any) (*job, *apiError) {
	if !j.manual() || j.retried {
		return nil, msgError(http.StatusBadRequest, "400 Bad request - Unplayable Job")
	}
	var inputs map[string]any
	if given != nil {
		var errs []string
		if inputs, errs = resolveInputs(j.spec.Inputs, given); errs != nil {
			return nil, msgError(http.StatusBadRequest, strings.Join(errs, "; "))
		}
	}
	switch j.status {
	case StatusManual, StatusScheduled:
		j.userID = userID
		j.variables = vars
		if inputs != nil {
			j.inputs = inputs
		}
		s.setJob(j, StatusPending, "")
		s.recompute(j.pipeline)
		return j, nil
	case StatusSuccess, StatusFailed, StatusCanceled:
		if vars == nil {
			vars = []Variable{}
		}
		nj := s.retryJob(j, userID, vars)
		if inputs != nil {
			nj.inputs = inputs
		}
		return nj, nil
	}
	return nil, msgError(http.StatusBadRequest, "400 Bad request - Unplayable Job")
}

func (s *Server) cancelJob(j *job) {
	if j.retried || !isCancelable(j.status) {
		return
	}
	s.setJob(j, StatusCanceled, "")
	s.process(j.pipeline, j.stageIdx+1)
	s.recompute(j.pipeline)
}

func (s *Server) eraseJob(j *job) *apiError {
	if !isComplete(j.status) || j.erasedAt != nil || j.startedAt == nil {
		return msgError(http.StatusForbidden, "403 Forbidden  - Job is not erasable!")
	}
	now := s.clock()
	empty := ""
	j.erasedAt = &now
	j.artifacts = nil
	j.expireAt = nil
	j.log = &empty
	j.pipeline.updatedAt = now
	return nil
}
