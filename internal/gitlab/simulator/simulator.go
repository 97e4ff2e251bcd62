// Package simulator owns an in-process GitLab REST v4 server: users, tokens,
// projects with members, and pipelines whose jobs move through GitLab's real
// statuses. It is an http.Handler for httptest in tests and for `pipebot demo`.
//
// Who may do what follows GitLab too: administrators and Sudo, blocked
// users and token scopes (identity.go), project visibility and public
// pipelines (visibility.go), protected branches (protected_branches.go),
// and GitLab's OAuth 2 provider under /oauth (oauth.go). POST /api/graphql
// answers the part of GitLab's GraphQL API that lists projects and their
// pipelines, with GitLab's query complexity limit (graphql.go). Projects keep
// last_activity_at as GitLab's events move it (activity.go), and
// SetRateLimit counts requests as GitLab's authenticated API throttle does
// (ratelimit.go).
//
// It is written from GitLab's API documentation (doc/api/pipelines.md,
// jobs.md, projects.md, users.md) and the fixtures in shared/fixtures, not
// from pipebot's client, so that the client is tested against GitLab's
// behaviour rather than against itself. It therefore imports nothing from
// pipebot and not client-go.
//
// Pipelines move only when told to (Advance, Finish, SetJobStatus, or the API
// actions retry/cancel/play), so tests are deterministic; AutoAdvance adds a
// wall-clock ticker for the demo.
package simulator

import (
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// AccessLevel is a project member's role, with GitLab's numeric values.
type AccessLevel int

// Access levels as GitLab numbers them (doc/api/members.md).
const (
	NoAccess   AccessLevel = 0
	Guest      AccessLevel = 10
	Reporter   AccessLevel = 20
	Developer  AccessLevel = 30
	Maintainer AccessLevel = 40
	Owner      AccessLevel = 50
)

// Pipeline and job statuses as GitLab names them.
const (
	StatusCreated            = "created"
	StatusWaitingForResource = "waiting_for_resource"
	StatusPreparing          = "preparing"
	StatusPending            = "pending"
	StatusRunning            = "running"
	StatusSuccess            = "success"
	StatusFailed             = "failed"
	StatusCanceled           = "canceled"
	StatusCanceling          = "canceling"
	StatusSkipped            = "skipped"
	StatusManual             = "manual"
	StatusScheduled          = "scheduled"
)

// DefaultWebBaseURL is used for web_url fields when Options.WebBaseURL is empty.
const DefaultWebBaseURL = "https://gitlab.example.com"

// Options configures a Server.
type Options struct {
	// WebBaseURL is used for web_url fields; default "https://gitlab.example.com".
	WebBaseURL string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// User is a GitLab user known to the simulator.
type User struct {
	ID       int64
	Username string
	Name     string
	Email    string
	// PublicEmail is the email the user made public (GET /users/:id).
	PublicEmail string
	// State defaults to "active"; "blocked" users cannot act.
	State string
	// IsAdmin makes the user an administrator: every project at Owner
	// level, and Sudo.
	IsAdmin bool
}

// JobSpec is one job of a project's CI configuration.
type JobSpec struct {
	Name  string
	Stage string
	// When is "on_success" (default) or "manual".
	When string
	// AllowFailure lets the pipeline pass when this job fails; a manual job
	// with AllowFailure does not block the pipeline.
	AllowFailure bool
	// Fail makes the job fail whenever it runs.
	Fail bool
	// Flaky makes the job fail on its first attempt in pipelines with an odd
	// iid and pass on every retry.
	Flaky bool
	// FailureReason is reported when the job fails; default "script_failure".
	FailureReason string
	// Log is the whole job log; when empty a short log with ANSI colors and
	// section markers is generated.
	Log string
	// Artifacts gives the job a small zip archive when it succeeds.
	Artifacts bool
	// ArtifactBytes adds a generated file of that many bytes (PayloadName,
	// stored uncompressed) to the archive; it is produced while it is sent.
	ArtifactBytes int64
	// LogBytes, when Log is empty, makes the job's log exactly that many
	// bytes of hostile lines (ANSI, sections, \r overwrites, invalid UTF-8,
	// Slack markup, code fences) generated while it is sent, ending with
	// "ERROR: Job failed: exit code 1" or "Job succeeded".
	LogBytes int64
	// Only lists the refs the job runs on; empty means every ref.
	Only []string
	// Inputs are the job's inputs (the inputs: keyword), which a manual job
	// may be given when it is played (job_inputs).
	Inputs []InputSpec
}

// Project is a GitLab project known to the simulator.
type Project struct {
	ID int64
	// Path is the full path, e.g. "group/app".
	Path string
	// DefaultBranch defaults to "main" and is always a branch.
	DefaultBranch string
	Branches      []string
	// Tags are refs that create tag pipelines (tag: true).
	Tags []string
	// Members maps user IDs to their access level; without one the project
	// is invisible (404) to that user.
	Members map[int64]AccessLevel
	// Jobs is the CI configuration; stage order is the order of first
	// appearance.
	Jobs []JobSpec
	// PipelineName is the pipeline "name" (workflow:name); empty means null.
	PipelineName string
	// Visibility is VisibilityPrivate (the default), VisibilityInternal or
	// VisibilityPublic: a public or internal project is readable by every
	// signed-in user (visibility.go).
	Visibility string
	// PublicPipelines is GitLab's "Public pipelines" (public_builds): guests,
	// and non-members of a public or internal project, may read pipelines,
	// jobs and logs. GitLab enables it by default; the simulator does not, so
	// that a plain Project keeps CI to Reporter and up.
	PublicPipelines bool
	// Inputs is the configuration's spec:inputs: inputs given when a
	// pipeline is created are checked against it as GitLab does, and a
	// required input left out refuses the pipeline.
	Inputs []InputSpec
}

// JobInfo is a snapshot of one job.
type JobInfo struct {
	ID            int64
	Name          string
	Stage         string
	Status        string
	FailureReason string
	Retried       bool
}

// PipelineInfo is a snapshot of one pipeline; Jobs excludes retried jobs.
type PipelineInfo struct {
	ID        int64
	IID       int64
	Status    string
	Ref       string
	SHA       string
	Source    string
	UserID    int64
	UpdatedAt time.Time
	Jobs      []JobInfo
}

// Request is one recorded API request.
type Request struct {
	Method string
	// Path is the escaped path, e.g. /api/v4/projects/group%2Fapp.
	Path     string
	RawQuery string
	Status   int
	// Token reports whether a token was sent.
	Token bool
	// TokenValue is the token sent (this is the simulator's own test API).
	TokenValue string
	// Credential is the kind of token that authenticated: CredentialPAT,
	// CredentialOAuth, CredentialTrigger or "" (none or unknown).
	Credential string
	// TokenUserID owns the token; ActingUserID is who the request acted as
	// (the Sudo target when Sudo is set); both 0 when unauthenticated.
	TokenUserID, ActingUserID int64
	Sudo                      bool
}

// Variable is a CI/CD variable passed to a pipeline or a manual job.
type Variable struct {
	Key          string `json:"key"`
	Value        string `json:"value"`
	VariableType string `json:"variable_type"`
}

type project struct {
	Project
	createdAt time.Time
	nextIID   int64
	stages    []string
	pipelines []*pipeline // ascending id

	// lastActivityAt is last_activity_at: created_at, then moved by events
	// at most once an hour (activity.go).
	lastActivityAt time.Time
}

type pipeline struct {
	id, iid    int64
	project    *project
	ref, sha   string
	tag        bool
	source     string
	userID     int64
	status     string
	createdAt  time.Time
	updatedAt  time.Time
	startedAt  *time.Time
	finishedAt *time.Time
	variables  []Variable
	inputs     map[string]any // spec:inputs with defaults filled in
	jobs       []*job         // ascending id, retried included
}

type job struct {
	id         int64
	pipeline   *pipeline
	spec       JobSpec
	stageIdx   int
	attempt    int
	status     string
	reason     string
	retried    bool
	userID     int64
	createdAt  time.Time
	queuedAt   *time.Time
	startedAt  *time.Time
	finishedAt *time.Time
	erasedAt   *time.Time
	artifacts  *archive
	expireAt   *time.Time
	log        *string // overrides the spec/generated log (SetJobLog)
	variables  []Variable
	inputs     map[string]any // job inputs with defaults filled in
}

// Server is an in-process GitLab REST v4 API. It is safe for concurrent use.
type Server struct {
	mu        sync.Mutex
	webBase   string
	now       func() time.Time
	users     map[int64]*User
	userOrder []int64
	tokens    map[string]int64
	// tokenScopes restricts personal access tokens (SetTokenScopes).
	tokenScopes map[string][]string
	projects    map[int64]*project
	byPath      map[string]*project
	pipelines   map[int64]*pipeline
	jobs        map[int64]*job
	nextUser    int64
	nextProj    int64
	nextPipe    int64
	nextJob     int64
	sched       scheduleState

	failN      int
	failStatus int
	failRetry  time.Duration
	fault      func(r *http.Request) (int, time.Duration, bool)
	throttle   throttleState // API rate limit (ratelimit.go)

	ci ciState // triggers, CI/CD variables, groups (ci.go)

	requests []Request

	oauth    oauthState                   // OAuth 2 provider (oauth.go)
	prot     map[int64][]*protectedBranch // protected branches by project (protected_branches.go)
	nextProt int64

	// groups, child pipelines and webhook deliveries (groups.go, hooks.go)
	ext         extState
	storageURL  string // RedirectArtifacts
	storageKey  string
	storageReqs []StorageRequest
}

// New returns an empty simulator.
func New(opts Options) *Server {
	s := &Server{
		webBase:   strings.TrimRight(opts.WebBaseURL, "/"),
		now:       opts.Now,
		users:     map[int64]*User{},
		tokens:    map[string]int64{},
		projects:  map[int64]*project{},
		byPath:    map[string]*project{},
		pipelines: map[int64]*pipeline{},
		jobs:      map[int64]*job{},
	}
	if s.webBase == "" {
		s.webBase = DefaultWebBaseURL
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

func (s *Server) clock() time.Time { return s.now().UTC() }

// AddUser registers u (an ID of 0 picks the next free one) and, when token is
// not empty, a personal access token for it. Adding an existing ID replaces
// the user and adds the token.
func (s *Server) AddUser(u User, token string) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == 0 {
		u.ID = s.nextUser + 1
	}
	if u.ID > s.nextUser {
		s.nextUser = u.ID
	}
	if u.State == "" {
		u.State = "active"
	}
	if u.Name == "" {
		u.Name = u.Username
	}
	if u.Email == "" {
		u.Email = u.Username + "@example.com"
	}
	if _, ok := s.users[u.ID]; !ok {
		s.userOrder = append(s.userOrder, u.ID)
	}
	cp := u
	s.users[u.ID] = &cp
	if token != "" {
		s.tokens[token] = u.ID
	}
	return u
}

// AddProject registers p (an ID of 0 picks the next free one) and returns it
// with defaults filled in.
func (s *Server) AddProject(p Project) Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.ID == 0 {
		p.ID = s.nextProj + 1
	}
	if p.ID > s.nextProj {
		s.nextProj = p.ID
	}
	if p.DefaultBranch == "" {
		p.DefaultBranch = "main"
	}
	if !contains(p.Branches, p.DefaultBranch) {
		p.Branches = append([]string{p.DefaultBranch}, p.Branches...)
	}
	members := make(map[int64]AccessLevel, len(p.Members))
	for id, l := range p.Members {
		members[id] = l
	}
	p.Members = members
	p.Jobs = append([]JobSpec(nil), p.Jobs...)
	for i := range p.Jobs {
		if p.Jobs[i].When == "" {
			p.Jobs[i].When = "on_success"
		}
		if p.Jobs[i].Stage == "" {
			p.Jobs[i].Stage = "test"
		}
	}
	pr := &project{Project: p, createdAt: s.clock()}
	pr.lastActivityAt = pr.createdAt
	for _, j := range p.Jobs {
		if !contains(pr.stages, j.Stage) {
			pr.stages = append(pr.stages, j.Stage)
		}
	}
	if old, ok := s.projects[p.ID]; ok {
		delete(s.byPath, strings.ToLower(old.Path))
		pr.pipelines = old.pipelines
		pr.nextIID = old.nextIID
		pr.createdAt, pr.lastActivityAt = old.createdAt, old.lastActivityAt
	}
	s.projects[p.ID] = pr
	s.byPath[strings.ToLower(p.Path)] = pr
	return p
}

// SetMember gives userID the access level on a project; NoAccess removes it.
func (s *Server) SetMember(projectID, userID int64, level AccessLevel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, ok := s.projects[projectID]
	if !ok {
		return
	}
	if level == NoAccess {
		delete(pr.Members, userID)
		return
	}
	pr.Members[userID] = level
}

// SetJobLog replaces a job's log (for example with a large one).
func (s *Server) SetJobLog(projectID, jobID int64, log string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j, ok := s.jobs[jobID]; ok && j.pipeline.project.ID == projectID {
		j.log = &log
	}
}

// CreatePipeline creates a pipeline as the API would, for setup. It returns 0
// when the project or ref is unknown or no job runs for the ref.
func (s *Server) CreatePipeline(projectID int64, ref, source string, userID int64) (pipelineID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, ok := s.projects[projectID]
	if !ok {
		return 0
	}
	p, err := s.createPipeline(pr, ref, source, userID, nil, nil)
	if err != nil {
		return 0
	}
	return p.id
}

// Advance moves the pipeline one deterministic step: created jobs of the
// next stage become pending, pending jobs start running, running jobs finish
// (and the following stage is enqueued or, after a failure, skipped). It
// returns the pipeline status afterwards, or "" for an unknown pipeline.
func (s *Server) Advance(projectID, pipelineID int64) (status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.findPipeline(projectID, pipelineID)
	if p == nil {
		return ""
	}
	s.step(p)
	return p.status
}

// Finish advances the pipeline until it rests (success, failed, canceled,
// skipped or manual) and returns that status.
func (s *Server) Finish(projectID, pipelineID int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.findPipeline(projectID, pipelineID)
	if p == nil {
		return ""
	}
	for i := 0; i < 1000 && s.step(p); i++ {
	}
	return p.status
}

// SetJobStatus forces a job into status (with failureReason when failed) and
// recomputes its pipeline: later stages are enqueued or skipped as GitLab
// would when the job completes.
func (s *Server) SetJobStatus(projectID, jobID int64, status, failureReason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobID]
	if !ok || j.pipeline.project.ID != projectID {
		return
	}
	s.setJob(j, status, failureReason)
	if isComplete(status) {
		s.process(j.pipeline, j.stageIdx+1)
	}
	s.recompute(j.pipeline)
}

// Pipeline returns a snapshot of a pipeline.
func (s *Server) Pipeline(projectID, pipelineID int64) (PipelineInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.findPipeline(projectID, pipelineID)
	if p == nil {
		return PipelineInfo{}, false
	}
	info := PipelineInfo{
		ID: p.id, IID: p.iid, Status: p.status, Ref: p.ref, SHA: p.sha,
		Source: p.source, UserID: p.userID, UpdatedAt: p.updatedAt,
	}
	for _, j := range p.jobs {
		if j.retried {
			continue
		}
		info.Jobs = append(info.Jobs, j.info())
	}
	return info, true
}

// Jobs returns snapshots of every job of a pipeline, retried ones included.
func (s *Server) Jobs(projectID, pipelineID int64) []JobInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.findPipeline(projectID, pipelineID)
	if p == nil {
		return nil
	}
	out := make([]JobInfo, 0, len(p.jobs))
	for _, j := range p.jobs {
		out = append(out, j.info())
	}
	return out
}

// PipelineIDs returns the ids of a project's pipelines, oldest first.
func (s *Server) PipelineIDs(projectID int64) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, ok := s.projects[projectID]
	if !ok {
		return nil
	}
	out := make([]int64, 0, len(pr.pipelines))
	for _, p := range pr.pipelines {
		out = append(out, p.id)
	}
	return out
}

// PipelineCount returns how many pipelines a project has.
func (s *Server) PipelineCount(projectID int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, ok := s.projects[projectID]
	if !ok {
		return 0
	}
	return len(pr.pipelines)
}

// FailNext makes the next n API requests answer status; a 429 carries
// Retry-After (whole seconds, rounded up) and RateLimit-* headers.
func (s *Server) FailNext(n int, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus, s.failRetry = n, status, retryAfter
}

// SetFault installs a function consulted on every request (after FailNext):
// when it returns ok, the request answers status with Retry-After set from
// retryAfter when positive. nil clears it.
func (s *Server) SetFault(f func(r *http.Request) (status int, retryAfter time.Duration, ok bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Requests returns a copy of the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests clears the request log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// CountRequests counts logged requests with the method ("" for any) whose
// escaped path starts with pathPrefix.
func (s *Server) CountRequests(method, pathPrefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if (method == "" || strings.EqualFold(method, r.Method)) && strings.HasPrefix(r.Path, pathPrefix) {
			n++
		}
	}
	return n
}

func (s *Server) findPipeline(projectID, pipelineID int64) *pipeline {
	p, ok := s.pipelines[pipelineID]
	if !ok || p.project.ID != projectID {
		return nil
	}
	return p
}

func (j *job) info() JobInfo {
	return JobInfo{ID: j.id, Name: j.spec.Name, Stage: j.spec.Stage, Status: j.status, FailureReason: j.reason, Retried: j.retried}
}

// fakeSHA gives every project/ref a stable commit id.
func fakeSHA(path, ref string) string {
	sum := sha1.Sum([]byte(path + "\x00" + ref))
	return hex.EncodeToString(sum[:])
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func sortedKeys(m map[int64]*project) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, k int) bool { return out[i] < out[k] })
	return out
}
