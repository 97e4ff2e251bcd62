package simulator

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// timeLayout is how GitLab's API writes timestamps: UTC with milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z"

func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

func tsp(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

// seconds renders a duration as GitLab does (float seconds, ms precision).
func seconds(d time.Duration) float64 {
	return float64(d.Milliseconds()) / 1000
}

func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

type userBasicJSON struct {
	ID        int64  `json:"id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	State     string `json:"state"`
	AvatarURL string `json:"avatar_url"`
	WebURL    string `json:"web_url"`
}

func (s *Server) userBasic(id int64) any {
	u, ok := s.users[id]
	if !ok {
		return nil
	}
	return userBasicJSON{
		ID: u.ID, Username: u.Username, Name: u.Name, State: u.State,
		AvatarURL: avatarURL(u.Email), WebURL: s.webBase + "/" + u.Username,
	}
}

func avatarURL(email string) string {
	sum := md5.Sum([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "https://www.gravatar.com/avatar/" + hex.EncodeToString(sum[:]) + "?s=80&d=identicon"
}

// userListJSON is an entry of GET /users.
type userListJSON struct {
	ID        int64  `json:"id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	State     string `json:"state"`
	Locked    bool   `json:"locked"`
	AvatarURL string `json:"avatar_url"`
	WebURL    string `json:"web_url"`
}

func (s *Server) userList(u *User) userListJSON {
	return userListJSON{
		ID: u.ID, Username: u.Username, Name: u.Name, State: u.State, Locked: u.State == "blocked",
		AvatarURL: avatarURL(u.Email), WebURL: s.webBase + "/" + u.Username,
	}
}

// userFullJSON is the job's user and GET /user.
type userFullJSON struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Username     string `json:"username"`
	State        string `json:"state"`
	AvatarURL    string `json:"avatar_url"`
	WebURL       string `json:"web_url"`
	CreatedAt    string `json:"created_at"`
	Bio          any    `json:"bio"`
	Location     any    `json:"location"`
	PublicEmail  string `json:"public_email"`
	Skype        string `json:"skype"`
	Linkedin     string `json:"linkedin"`
	Twitter      string `json:"twitter"`
	WebsiteURL   string `json:"website_url"`
	Organization string `json:"organization"`
}

func (s *Server) userFull(id int64) *userFullJSON {
	u, ok := s.users[id]
	if !ok {
		return nil
	}
	return &userFullJSON{
		ID: u.ID, Name: u.Name, Username: u.Username, State: u.State,
		AvatarURL: avatarURL(u.Email), WebURL: s.webBase + "/" + u.Username,
		CreatedAt: ts(time.Date(2015, 12, 21, 13, 14, 24, 77e6, time.UTC)),
	}
}

// currentUserJSON is GET /user: the full user plus private fields.
type currentUserJSON struct {
	userFullJSON
	Locked           bool   `json:"locked"`
	Email            string `json:"email"`
	IsAdmin          *bool  `json:"is_admin,omitempty"`
	Bot              bool   `json:"bot"`
	TwoFactorEnabled bool   `json:"two_factor_enabled"`
}

type pipelineBasicJSON struct {
	ID        int64  `json:"id"`
	IID       int64  `json:"iid"`
	ProjectID int64  `json:"project_id"`
	Status    string `json:"status"`
	Source    string `json:"source"`
	Ref       string `json:"ref"`
	SHA       string `json:"sha"`
	Name      any    `json:"name"`
	WebURL    string `json:"web_url"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func (s *Server) pipelineWebURL(p *pipeline) string {
	return fmt.Sprintf("%s/%s/-/pipelines/%d", s.webBase, p.project.Path, p.id)
}

func (s *Server) pipelineBasic(p *pipeline) pipelineBasicJSON {
	return pipelineBasicJSON{
		ID: p.id, IID: p.iid, ProjectID: p.project.ID, Status: p.status, Source: p.source,
		Ref: p.ref, SHA: p.sha, Name: orNull(p.project.PipelineName), WebURL: s.pipelineWebURL(p),
		CreatedAt: ts(p.createdAt), UpdatedAt: ts(p.updatedAt),
	}
}

type detailedStatusJSON struct {
	Icon         string `json:"icon"`
	Text         string `json:"text"`
	Label        string `json:"label"`
	Group        string `json:"group"`
	Tooltip      string `json:"tooltip"`
	HasDetails   bool   `json:"has_details"`
	DetailsPath  string `json:"details_path"`
	Illustration any    `json:"illustration"`
	Favicon      string `json:"favicon"`
}

// detailedStatus mirrors GitLab's Gitlab::Ci::Status presenters.
func detailedStatus(status string, warnings bool, detailsPath string) detailedStatusJSON {
	icon, text, label, group := "status_"+status, status, status, status
	switch status {
	case StatusSuccess:
		text, label = "passed", "passed"
		if warnings {
			icon, text, label, group = "status_warning", "warning", "passed with warnings", "success-with-warnings"
		}
	case StatusManual:
		text, label = "blocked", "waiting for manual action"
	case StatusScheduled:
		text, label = "delayed", "waiting for delayed job"
	case StatusWaitingForResource:
		icon, text, label, group = "status_pending", "waiting", "waiting for resource", "waiting-for-resource"
	case StatusCanceling:
		icon = "status_canceled"
	}
	return detailedStatusJSON{
		Icon: icon, Text: text, Label: label, Group: group, Tooltip: label, HasDetails: true,
		DetailsPath: detailsPath, Favicon: "/assets/ci_favicons/favicon_" + icon + ".png",
	}
}

type pipelineJSON struct {
	ID             int64              `json:"id"`
	IID            int64              `json:"iid"`
	ProjectID      int64              `json:"project_id"`
	Name           any                `json:"name"`
	SHA            string             `json:"sha"`
	Ref            string             `json:"ref"`
	Status         string             `json:"status"`
	Source         string             `json:"source"`
	CreatedAt      string             `json:"created_at"`
	UpdatedAt      string             `json:"updated_at"`
	WebURL         string             `json:"web_url"`
	BeforeSHA      string             `json:"before_sha"`
	Tag            bool               `json:"tag"`
	YAMLErrors     any                `json:"yaml_errors"`
	User           any                `json:"user"`
	StartedAt      any                `json:"started_at"`
	FinishedAt     any                `json:"finished_at"`
	CommittedAt    any                `json:"committed_at"`
	Duration       any                `json:"duration"`
	QueuedDuration any                `json:"queued_duration"`
	Coverage       any                `json:"coverage"`
	DetailedStatus detailedStatusJSON `json:"detailed_status"`
}

func (s *Server) pipelineFull(p *pipeline) pipelineJSON {
	out := pipelineJSON{
		ID: p.id, IID: p.iid, ProjectID: p.project.ID, Name: orNull(p.project.PipelineName),
		SHA: p.sha, Ref: p.ref, Status: p.status, Source: p.source,
		CreatedAt: ts(p.createdAt), UpdatedAt: ts(p.updatedAt), WebURL: s.pipelineWebURL(p),
		BeforeSHA: "0000000000000000000000000000000000000000", Tag: p.tag,
		User: s.userBasic(p.userID), StartedAt: tsp(p.startedAt), FinishedAt: tsp(p.finishedAt),
		DetailedStatus: detailedStatus(p.status, p.withWarnings(),
			fmt.Sprintf("/%s/-/pipelines/%d", p.project.Path, p.id)),
	}
	if p.startedAt != nil {
		out.QueuedDuration = seconds(p.startedAt.Sub(p.createdAt))
		if p.finishedAt != nil {
			out.Duration = int64(p.finishedAt.Sub(*p.startedAt).Seconds())
		}
	}
	return out
}

type commitJSON struct {
	AuthorEmail string `json:"author_email"`
	AuthorName  string `json:"author_name"`
	CreatedAt   string `json:"created_at"`
	ID          string `json:"id"`
	Message     string `json:"message"`
	ShortID     string `json:"short_id"`
	Title       string `json:"title"`
}

type jobPipelineJSON struct {
	ID        int64  `json:"id"`
	ProjectID int64  `json:"project_id"`
	Ref       string `json:"ref"`
	SHA       string `json:"sha"`
	Status    string `json:"status"`
}

type artifactJSON struct {
	FileType   string `json:"file_type"`
	Size       int    `json:"size"`
	Filename   string `json:"filename"`
	FileFormat any    `json:"file_format"`
}

type artifactsFileJSON struct {
	Filename string `json:"filename"`
	Size     int    `json:"size"`
}

type jobJSON struct {
	Commit            commitJSON         `json:"commit"`
	Coverage          any                `json:"coverage"`
	Archived          bool               `json:"archived"`
	Source            string             `json:"source"`
	AllowFailure      bool               `json:"allow_failure"`
	CreatedAt         string             `json:"created_at"`
	StartedAt         any                `json:"started_at"`
	FinishedAt        any                `json:"finished_at"`
	ErasedAt          any                `json:"erased_at"`
	Duration          any                `json:"duration"`
	QueuedDuration    any                `json:"queued_duration"`
	ArtifactsFile     *artifactsFileJSON `json:"artifacts_file,omitempty"`
	Artifacts         []artifactJSON     `json:"artifacts"`
	ArtifactsExpireAt any                `json:"artifacts_expire_at"`
	TagList           []string           `json:"tag_list"`
	ID                int64              `json:"id"`
	Name              string             `json:"name"`
	Pipeline          jobPipelineJSON    `json:"pipeline"`
	Ref               string             `json:"ref"`
	Runner            any                `json:"runner"`
	RunnerManager     any                `json:"runner_manager"`
	Stage             string             `json:"stage"`
	Status            string             `json:"status"`
	FailureReason     string             `json:"failure_reason,omitempty"`
	Tag               bool               `json:"tag"`
	WebURL            string             `json:"web_url"`
	Project           map[string]bool    `json:"project"`
	User              *userFullJSON      `json:"user"`
}

func (s *Server) jobJSON(j *job) jobJSON {
	p := j.pipeline
	now := s.clock()
	out := jobJSON{
		Commit: commitJSON{
			AuthorEmail: "admin@example.com", AuthorName: "Administrator", CreatedAt: ts(p.createdAt),
			ID: p.sha, Message: "Update " + p.ref, ShortID: p.sha[:8], Title: "Update " + p.ref,
		},
		Source: p.source, AllowFailure: j.spec.AllowFailure, CreatedAt: ts(j.createdAt),
		StartedAt: tsp(j.startedAt), FinishedAt: tsp(j.finishedAt), ErasedAt: tsp(j.erasedAt),
		Artifacts: []artifactJSON{}, ArtifactsExpireAt: tsp(j.expireAt), TagList: []string{"docker"},
		ID: j.id, Name: j.spec.Name,
		Pipeline: jobPipelineJSON{ID: p.id, ProjectID: p.project.ID, Ref: p.ref, SHA: p.sha, Status: p.status},
		Ref:      p.ref, Stage: j.spec.Stage, Status: j.status, FailureReason: j.reason, Tag: p.tag,
		WebURL:  fmt.Sprintf("%s/%s/-/jobs/%d", s.webBase, p.project.Path, j.id),
		Project: map[string]bool{"ci_job_token_scope_enabled": false},
		User:    s.userFull(j.userID),
	}
	if j.status != StatusFailed {
		out.FailureReason = ""
	}
	if j.startedAt != nil {
		end := now
		if j.finishedAt != nil {
			end = *j.finishedAt
		}
		out.Duration = seconds(end.Sub(*j.startedAt))
	}
	if j.queuedAt != nil {
		end := now
		if j.startedAt != nil {
			end = *j.startedAt
		}
		out.QueuedDuration = seconds(end.Sub(*j.queuedAt))
	}
	if j.artifacts != nil {
		out.ArtifactsFile = &artifactsFileJSON{Filename: "artifacts.zip", Size: int(j.artifacts.size)}
		out.Artifacts = append(out.Artifacts, artifactJSON{FileType: "archive", Size: int(j.artifacts.size), Filename: "artifacts.zip", FileFormat: "zip"})
	}
	if isComplete(j.status) && j.startedAt != nil && j.erasedAt == nil {
		out.Artifacts = append(out.Artifacts, artifactJSON{FileType: "trace", Size: int(j.logSize()), Filename: "job.log"})
	}
	return out
}

type namespaceJSON struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Path      string `json:"path"`
	Kind      string `json:"kind"`
	FullPath  string `json:"full_path"`
	ParentID  any    `json:"parent_id"`
	AvatarURL any    `json:"avatar_url"`
	WebURL    string `json:"web_url"`
}

type projectAccessJSON struct {
	AccessLevel       int `json:"access_level"`
	NotificationLevel int `json:"notification_level"`
}

type permissionsJSON struct {
	ProjectAccess *projectAccessJSON `json:"project_access"`
	GroupAccess   any                `json:"group_access"`
}

type projectJSON struct {
	ID                int64           `json:"id"`
	Description       any             `json:"description"`
	Name              string          `json:"name"`
	NameWithNamespace string          `json:"name_with_namespace"`
	Path              string          `json:"path"`
	PathWithNamespace string          `json:"path_with_namespace"`
	CreatedAt         string          `json:"created_at"`
	DefaultBranch     string          `json:"default_branch"`
	TagList           []string        `json:"tag_list"`
	Topics            []string        `json:"topics"`
	SSHURLToRepo      string          `json:"ssh_url_to_repo"`
	HTTPURLToRepo     string          `json:"http_url_to_repo"`
	WebURL            string          `json:"web_url"`
	ReadmeURL         any             `json:"readme_url"`
	AvatarURL         any             `json:"avatar_url"`
	ForksCount        int             `json:"forks_count"`
	StarCount         int             `json:"star_count"`
	LastActivityAt    string          `json:"last_activity_at"`
	Namespace         namespaceJSON   `json:"namespace"`
	Visibility        string          `json:"visibility"`
	Archived          bool            `json:"archived"`
	EmptyRepo         bool            `json:"empty_repo"`
	JobsEnabled       bool            `json:"jobs_enabled"`
	BuildsAccessLevel string          `json:"builds_access_level"`
	CIConfigPath      any             `json:"ci_config_path"`
	Permissions       permissionsJSON `json:"permissions"`
}

func (s *Server) projectJSON(pr *project, level AccessLevel) projectJSON {
	parts := strings.Split(pr.Path, "/")
	name := parts[len(parts)-1]
	nsPath := strings.Join(parts[:len(parts)-1], "/")
	nsName := parts[0]
	if len(parts) > 1 {
		nsName = parts[len(parts)-2]
	}
	host := strings.TrimPrefix(strings.TrimPrefix(s.webBase, "https://"), "http://")
	return projectJSON{
		ID: pr.ID, Name: name, NameWithNamespace: strings.Join(parts, " / "), Path: name,
		PathWithNamespace: pr.Path, CreatedAt: ts(pr.createdAt), DefaultBranch: pr.DefaultBranch,
		TagList: []string{}, Topics: []string{},
		SSHURLToRepo:  "git@" + host + ":" + pr.Path + ".git",
		HTTPURLToRepo: s.webBase + "/" + pr.Path + ".git",
		WebURL:        s.webBase + "/" + pr.Path, LastActivityAt: ts(pr.lastActivityAt),
		Namespace: namespaceJSON{
			ID: 1000 + pr.ID, Name: nsName, Path: nsName, Kind: "group", FullPath: nsPath,
			WebURL: s.webBase + "/groups/" + nsPath,
		},
		Visibility: pr.visibility(), JobsEnabled: true, BuildsAccessLevel: "enabled",
		Permissions: permissionsJSON{ProjectAccess: &projectAccessJSON{AccessLevel: int(level), NotificationLevel: 3}},
	}
}

type pipelineVariableJSON struct {
	Key          string `json:"key"`
	VariableType string `json:"variable_type"`
	Value        string `json:"value"`
}
