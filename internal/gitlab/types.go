package gitlab

import (
	"math"
	"time"
)

// Status is the status of a pipeline or job as GitLab spells it.
type Status string

// Pipeline and job statuses: https://docs.gitlab.com/api/pipelines/
const (
	StatusCreated            Status = "created"
	StatusWaitingForResource Status = "waiting_for_resource"
	StatusPreparing          Status = "preparing"
	StatusPending            Status = "pending"
	StatusRunning            Status = "running"
	StatusSuccess            Status = "success"
	StatusFailed             Status = "failed"
	StatusCanceled           Status = "canceled"
	StatusCanceling          Status = "canceling"
	StatusSkipped            Status = "skipped"
	StatusManual             Status = "manual"
	StatusScheduled          Status = "scheduled"
)

// Finished reports whether the status is final: success, failed, canceled
// or skipped.
func (s Status) Finished() bool {
	switch s {
	case StatusSuccess, StatusFailed, StatusCanceled, StatusSkipped:
		return true
	}
	return false
}

// Active reports whether the pipeline or job is queued or running (created
// through running, and canceling). Manual and scheduled are neither active
// nor finished: they wait for a person or a time.
func (s Status) Active() bool {
	switch s {
	case StatusCreated, StatusWaitingForResource, StatusPreparing, StatusPending, StatusRunning, StatusCanceling:
		return true
	}
	return false
}

// User is a GitLab user as embedded in pipelines and jobs, or the token's
// owner for CurrentUser.
type User struct {
	ID                                   int64
	Username, Name, State, WebURL, Email string
	// IsAdmin is set only when an administrator reads a user (or
	// themselves with GET /user).
	IsAdmin bool
}

// Project is a GitLab project.
type Project struct {
	ID int64
	// Path is path_with_namespace, e.g. "group/sub/app".
	Path, Name, WebURL, DefaultBranch string
}

// Pipeline is a GitLab pipeline. Lists carry fewer fields than a single
// pipeline (no user, durations or detailed status); absent fields are zero.
type Pipeline struct {
	ID, IID, ProjectID             int64
	Status                         Status
	Source, Ref, SHA, Name, WebURL string
	User                           User
	CreatedAt, UpdatedAt           time.Time
	StartedAt, FinishedAt          *time.Time
	Duration, QueuedDuration       time.Duration
	YAMLErrors                     string
	// DetailedStatus is detailed_status.text when present, e.g. "passed",
	// "blocked" (waiting for a manual job), "delayed".
	DetailedStatus string
}

// Job is a GitLab CI job.
type Job struct {
	ID                                                 int64
	Name, Stage                                        string
	Status                                             Status
	Ref                                                string
	PipelineID                                         int64
	WebURL, FailureReason                              string
	AllowFailure                                       bool
	Duration                                           time.Duration
	CreatedAt                                          time.Time
	StartedAt, FinishedAt, ErasedAt, ArtifactsExpireAt *time.Time
	User                                               User
	// HasArtifacts reports that an "archive" artifact exists, the one that
	// JobArtifacts downloads; ArtifactsSize is its size in bytes.
	HasArtifacts  bool
	ArtifactsSize int64
}

// Variable is a pipeline variable, or a variable passed when creating a
// pipeline or playing a manual job. VariableType is "env_var" (GitLab's
// default when empty) or "file".
type Variable struct{ Key, Value, VariableType string }

// ListPipelinesOptions filters Pipelines. Empty fields are not sent.
type ListPipelinesOptions struct {
	Ref, Status, Source, Username string
	// OrderBy is id, status, ref, updated_at or user_id; Sort is asc or desc.
	OrderBy, Sort string
	// UpdatedAfter, when not zero, returns only pipelines updated after it.
	UpdatedAfter time.Time
	// CreatedAfter and CreatedBefore, when not zero, bound created_at
	// (GitLab's created_after/created_before, both inclusive).
	CreatedAfter, CreatedBefore time.Time
	// Limit is the most pipelines returned; 0 means 20.
	Limit int
}

// ListJobsOptions filters PipelineJobs and ProjectJobs.
type ListJobsOptions struct {
	// Scope keeps only jobs in these statuses; empty means all.
	Scope []Status
	// IncludeRetried also returns jobs that were retried (pipeline jobs only).
	IncludeRetried bool
	// Limit is the most jobs returned; 0 means 100.
	Limit int
}

const (
	defaultPipelineLimit = 20
	defaultJobLimit      = 100
)

// Wire shapes: decoded by us rather than by client-go's structs because
// GitLab sends some numbers as floats that client-go declares as integers
// (pipeline queued_duration 0.010 in the API docs).

type wireUser struct {
	ID          int64  `json:"id"`
	Username    string `json:"username"`
	Name        string `json:"name"`
	State       string `json:"state"`
	WebURL      string `json:"web_url"`
	Email       string `json:"email"`
	PublicEmail string `json:"public_email"`
	IsAdmin     bool   `json:"is_admin"`
}

func (w *wireUser) user() User {
	if w == nil {
		return User{}
	}
	email := w.Email
	if email == "" {
		email = w.PublicEmail
	}
	return User{ID: w.ID, Username: w.Username, Name: w.Name, State: w.State, WebURL: w.WebURL, Email: email, IsAdmin: w.IsAdmin}
}

type wireProject struct {
	ID                int64  `json:"id"`
	PathWithNamespace string `json:"path_with_namespace"`
	Name              string `json:"name"`
	WebURL            string `json:"web_url"`
	DefaultBranch     string `json:"default_branch"`
}

func (w wireProject) project() Project {
	return Project{ID: w.ID, Path: w.PathWithNamespace, Name: w.Name, WebURL: w.WebURL, DefaultBranch: w.DefaultBranch}
}

type wirePipeline struct {
	ID             int64      `json:"id"`
	IID            int64      `json:"iid"`
	ProjectID      int64      `json:"project_id"`
	Status         string     `json:"status"`
	Source         string     `json:"source"`
	Ref            string     `json:"ref"`
	SHA            string     `json:"sha"`
	Name           string     `json:"name"`
	WebURL         string     `json:"web_url"`
	User           *wireUser  `json:"user"`
	CreatedAt      *time.Time `json:"created_at"`
	UpdatedAt      *time.Time `json:"updated_at"`
	StartedAt      *time.Time `json:"started_at"`
	FinishedAt     *time.Time `json:"finished_at"`
	Duration       *float64   `json:"duration"`
	QueuedDuration *float64   `json:"queued_duration"`
	YAMLErrors     *string    `json:"yaml_errors"`
	DetailedStatus *struct {
		Text string `json:"text"`
	} `json:"detailed_status"`
}

func (w wirePipeline) pipeline() Pipeline {
	p := Pipeline{
		ID: w.ID, IID: w.IID, ProjectID: w.ProjectID, Status: Status(w.Status),
		Source: w.Source, Ref: w.Ref, SHA: w.SHA, Name: w.Name, WebURL: w.WebURL,
		User:      w.User.user(),
		CreatedAt: deref(w.CreatedAt), UpdatedAt: deref(w.UpdatedAt),
		StartedAt: w.StartedAt, FinishedAt: w.FinishedAt,
		Duration: secs(w.Duration), QueuedDuration: secs(w.QueuedDuration),
	}
	if w.YAMLErrors != nil {
		p.YAMLErrors = *w.YAMLErrors
	}
	if w.DetailedStatus != nil {
		p.DetailedStatus = w.DetailedStatus.Text
	}
	return p
}

type wireJob struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	Stage         string `json:"stage"`
	Status        string `json:"status"`
	Ref           string `json:"ref"`
	WebURL        string `json:"web_url"`
	FailureReason string `json:"failure_reason"`
	AllowFailure  bool   `json:"allow_failure"`
	Pipeline      *struct {
		ID int64 `json:"id"`
	} `json:"pipeline"`
	Duration          *float64   `json:"duration"`
	CreatedAt         *time.Time `json:"created_at"`
	StartedAt         *time.Time `json:"started_at"`
	FinishedAt        *time.Time `json:"finished_at"`
	ErasedAt          *time.Time `json:"erased_at"`
	ArtifactsExpireAt *time.Time `json:"artifacts_expire_at"`
	User              *wireUser  `json:"user"`
	Artifacts         []struct {
		FileType string `json:"file_type"`
		Size     int64  `json:"size"`
	} `json:"artifacts"`
	ArtifactsFile *struct {
		Filename string `json:"filename"`
		Size     int64  `json:"size"`
	} `json:"artifacts_file"`
}

func (w wireJob) job() Job {
	j := Job{
		ID: w.ID, Name: w.Name, Stage: w.Stage, Status: Status(w.Status), Ref: w.Ref,
		WebURL: w.WebURL, FailureReason: w.FailureReason, AllowFailure: w.AllowFailure,
		Duration: secs(w.Duration), CreatedAt: deref(w.CreatedAt),
		StartedAt: w.StartedAt, FinishedAt: w.FinishedAt, ErasedAt: w.ErasedAt,
		ArtifactsExpireAt: w.ArtifactsExpireAt, User: w.User.user(),
	}
	if w.Pipeline != nil {
		j.PipelineID = w.Pipeline.ID
	}
	for _, a := range w.Artifacts {
		if a.FileType == "archive" {
			j.HasArtifacts, j.ArtifactsSize = true, a.Size
		}
	}
	// Older GitLab versions only report artifacts_file for the archive.
	if !j.HasArtifacts && w.ArtifactsFile != nil && w.ArtifactsFile.Filename != "" {
		j.HasArtifacts, j.ArtifactsSize = true, w.ArtifactsFile.Size
	}
	return j
}

type wireVariable struct {
	Key          string `json:"key"`
	Value        string `json:"value"`
	VariableType string `json:"variable_type,omitempty"`
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// secs converts GitLab's seconds (integer or float, possibly null).
func secs(f *float64) time.Duration {
	if f == nil || *f <= 0 || math.IsNaN(*f) {
		return 0
	}
	if *f > float64(math.MaxInt64/int64(time.Second)) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Round(*f * float64(time.Second)))
}
