package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Delivery is one webhook request GitLab would send: the event name for
// X-Gitlab-Event, its UUID (X-Gitlab-Event-UUID), the Idempotency-Key and
// the JSON body (doc/user/project/integrations/webhook_events.md).
type Delivery struct {
	Event          string
	UUID           string
	IdempotencyKey string
	ProjectID      int64
	PipelineID     int64
	Status         string
	Body           []byte
}

type hookState struct {
	on     bool
	seq    int
	outbox []Delivery
}

// RecordHooks turns on (or off) webhook recording: from now on each
// pipeline status change adds a Pipeline Hook delivery to the outbox, to be
// sent with TakeHooks and Send in whatever order, as often as a test likes.
func (s *Server) RecordHooks(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ext.hooks.on = on
}

// TakeHooks returns the recorded deliveries and empties the outbox.
func (s *Server) TakeHooks() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.ext.hooks.outbox
	s.ext.hooks.outbox = nil
	return out
}

// PipelineHook renders the Pipeline Hook delivery of a pipeline's current
// state, whether or not recording is on.
func (s *Server) PipelineHook(projectID, pipelineID int64) (Delivery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.findPipeline(projectID, pipelineID)
	if p == nil {
		return Delivery{}, false
	}
	return s.delivery(p), true
}

func (s *Server) recordHook(p *pipeline) {
	if !s.ext.hooks.on {
		return
	}
	s.ext.hooks.outbox = append(s.ext.hooks.outbox, s.delivery(p))
}

func (s *Server) delivery(p *pipeline) Delivery {
	s.ext.hooks.seq++
	body, _ := json.Marshal(s.pipelineHookJSON(p))
	n := s.ext.hooks.seq
	return Delivery{
		Event:          "Pipeline Hook",
		UUID:           fmt.Sprintf("4b5c2a7e-0000-4000-8000-%012d", n),
		IdempotencyKey: fmt.Sprintf("9d1f6e3a-0000-4000-8000-%012d", n),
		ProjectID:      p.project.ID, PipelineID: p.id, Status: p.status, Body: body,
	}
}

// Send posts d to url as GitLab does, with X-Gitlab-Token set to token, and
// returns the HTTP status.
func Send(ctx context.Context, client *http.Client, url, token string, d Delivery) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitLab/17.5.0")
	req.Header.Set("X-Gitlab-Event", d.Event)
	req.Header.Set("X-Gitlab-Token", token)
	req.Header.Set("X-Gitlab-Event-UUID", d.UUID)
	req.Header.Set("X-Gitlab-Webhook-UUID", "00000000-0000-4000-8000-000000000001")
	req.Header.Set("Idempotency-Key", d.IdempotencyKey)
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// hookTimeLayout is how webhook payloads write timestamps ("2016-08-12
// 15:23:28 UTC"), unlike the REST API.
const hookTimeLayout = "2006-01-02 15:04:05 MST"

func hts(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(hookTimeLayout)
}

type hookUserJSON struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Username  string `json:"username"`
	AvatarURL string `json:"avatar_url"`
	Email     string `json:"email"`
}

type hookBuildJSON struct {
	ID             int64          `json:"id"`
	Stage          string         `json:"stage"`
	Name           string         `json:"name"`
	Status         string         `json:"status"`
	CreatedAt      any            `json:"created_at"`
	StartedAt      any            `json:"started_at"`
	FinishedAt     any            `json:"finished_at"`
	Duration       any            `json:"duration"`
	QueuedDuration any            `json:"queued_duration"`
	FailureReason  any            `json:"failure_reason"`
	When           string         `json:"when"`
	Manual         bool           `json:"manual"`
	AllowFailure   bool           `json:"allow_failure"`
	User           *hookUserJSON  `json:"user"`
	Runner         any            `json:"runner"`
	ArtifactsFile  map[string]any `json:"artifacts_file"`
	Environment    any            `json:"environment"`
}

func (s *Server) hookUser(id int64) *hookUserJSON {
	u, ok := s.users[id]
	if !ok {
		return nil
	}
	return &hookUserJSON{ID: u.ID, Name: u.Name, Username: u.Username, AvatarURL: avatarURL(u.Email), Email: u.Email}
}

func (s *Server) pipelineHookJSON(p *pipeline) map[string]any {
	created := p.createdAt
	attrs := map[string]any{
		"id": p.id, "iid": p.iid, "name": orNull(p.project.PipelineName), "ref": p.ref, "tag": p.tag,
		"sha": p.sha, "before_sha": p.sha, "source": p.source, "status": p.status,
		"detailed_status": detailedStatus(p.status, p.withWarnings(), "").Text,
		"stages":          p.project.stages, "created_at": hts(&created), "finished_at": hts(p.finishedAt),
		"duration": nil, "queued_duration": nil, "url": s.pipelineWebURL(p),
	}
	vars := []map[string]string{}
	for _, v := range p.variables {
		vars = append(vars, map[string]string{"key": v.Key, "value": v.Value})
	}
	attrs["variables"] = vars
	if p.startedAt != nil {
		attrs["queued_duration"] = int64(p.startedAt.Sub(p.createdAt).Seconds())
		if p.finishedAt != nil {
			attrs["duration"] = int64(p.finishedAt.Sub(*p.startedAt).Seconds())
		}
	}
	builds := []hookBuildJSON{}
	for i := len(p.jobs) - 1; i >= 0; i-- {
		j := p.jobs[i]
		if j.retried {
			continue
		}
		jc := j.createdAt
		b := hookBuildJSON{
			ID: j.id, Stage: j.spec.Stage, Name: j.spec.Name, Status: j.status,
			CreatedAt: hts(&jc), StartedAt: hts(j.startedAt), FinishedAt: hts(j.finishedAt),
			FailureReason: orNull(j.reason), When: j.spec.When, Manual: j.spec.When == "manual",
			AllowFailure: j.spec.AllowFailure, User: s.hookUser(j.userID),
			ArtifactsFile: map[string]any{"filename": nil, "size": nil},
		}
		if j.startedAt != nil && j.finishedAt != nil {
			b.Duration = j.finishedAt.Sub(*j.startedAt).Seconds()
		}
		builds = append(builds, b)
	}
	name := p.project.Path[strings.LastIndex(p.project.Path, "/")+1:]
	ns := ""
	if i := strings.LastIndex(p.project.Path, "/"); i > 0 {
		ns = p.project.Path[:i]
	}
	out := map[string]any{
		"object_kind":       "pipeline",
		"object_attributes": attrs,
		"merge_request":     nil,
		"user":              s.hookUser(p.userID),
		"project": map[string]any{
			"id": p.project.ID, "name": name, "description": "", "web_url": s.webBase + "/" + p.project.Path,
			"avatar_url": nil, "git_ssh_url": "git@gitlab.example.com:" + p.project.Path + ".git",
			"git_http_url": s.webBase + "/" + p.project.Path + ".git", "namespace": ns, "visibility_level": 0,
			"path_with_namespace": p.project.Path, "default_branch": p.project.DefaultBranch, "ci_config_path": nil,
		},
		"commit": map[string]any{
			"id": p.sha, "message": "change\n", "title": "change", "timestamp": created.Format(time.RFC3339),
			"url":    s.webBase + "/" + p.project.Path + "/-/commit/" + p.sha,
			"author": map[string]string{"name": "Dev", "email": "dev@example.com"},
		},
		"builds": builds,
	}
	if parent, ok := s.ext.parents[p.id]; ok {
		out["source_pipeline"] = map[string]any{
			"project":     map[string]any{"id": p.project.ID, "web_url": s.webBase + "/" + p.project.Path, "path_with_namespace": p.project.Path},
			"pipeline_id": parent, "job_id": 900000 + p.id,
		}
	}
	return out
}
