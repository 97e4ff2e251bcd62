package simulator

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// JobHook renders the Job Hook delivery of a job's current state
// (doc/user/project/integrations/webhook_events.md, "Job events"): unlike a
// Pipeline Hook its fields sit at the top level (build_status, pipeline_id,
// project_id), object_kind is "build", and commit.id is the pipeline's id.
func (s *Server) JobHook(projectID, jobID int64) (Delivery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobID]
	if !ok || j.pipeline.project.ID != projectID {
		return Delivery{}, false
	}
	s.ext.hooks.seq++
	n := s.ext.hooks.seq
	body, _ := json.Marshal(s.jobHookJSON(j))
	return Delivery{
		Event:          "Job Hook",
		UUID:           fmt.Sprintf("4b5c2a7e-0000-4000-8000-%012d", n),
		IdempotencyKey: fmt.Sprintf("9d1f6e3a-0000-4000-8000-%012d", n),
		ProjectID:      projectID, PipelineID: j.pipeline.id, Status: j.status, Body: body,
	}, true
}

func isoOrNull(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Server) jobHookJSON(j *job) map[string]any {
	p := j.pipeline
	path := p.project.Path
	name := path[strings.LastIndex(path, "/")+1:]
	created := j.createdAt
	var duration, queued any
	if j.startedAt != nil {
		queued = j.startedAt.Sub(j.createdAt).Seconds()
		if j.finishedAt != nil {
			duration = j.finishedAt.Sub(*j.startedAt).Seconds()
		}
	}
	var pipeDuration any
	if p.startedAt != nil && p.finishedAt != nil {
		pipeDuration = int64(p.finishedAt.Sub(*p.startedAt).Seconds())
	}
	retries := 0
	for _, o := range p.jobs {
		if o.retried && o.spec.Name == j.spec.Name {
			retries++
		}
	}
	out := map[string]any{
		"object_kind": "build", "ref": p.ref, "tag": p.tag, "before_sha": p.sha, "sha": p.sha,
		"retries_count": retries, "build_id": j.id, "build_name": j.spec.Name, "build_stage": j.spec.Stage,
		"build_status": j.status, "build_created_at": hts(&created), "build_started_at": hts(j.startedAt),
		"build_finished_at": hts(j.finishedAt), "build_created_at_iso": isoOrNull(&created),
		"build_started_at_iso": isoOrNull(j.startedAt), "build_finished_at_iso": isoOrNull(j.finishedAt),
		"build_duration": duration, "build_queued_duration": queued, "build_allow_failure": j.spec.AllowFailure,
		"build_failure_reason": orNull(j.reason), "pipeline_id": p.id, "project_id": p.project.ID, "project_name": strings.ReplaceAll(path, "/", " / "),
		"user": s.hookUser(j.userID),
		"commit": map[string]any{
			"id": p.id, "name": nil, "sha": p.sha, "message": "change\n", "author_name": "Dev", "author_email": "dev@example.com",
			"author_url": "mailto:dev@example.com", "status": p.status, "duration": pipeDuration,
			"started_at": hts(p.startedAt), "finished_at": hts(p.finishedAt),
		},
		"repository": map[string]any{
			"name": name, "url": "git@gitlab.example.com:" + path + ".git", "description": "", "homepage": s.webBase + "/" + path,
			"git_http_url": s.webBase + "/" + path + ".git", "git_ssh_url": "git@gitlab.example.com:" + path + ".git", "visibility_level": 0,
		},
		"project": map[string]any{
			"id": p.project.ID, "name": name, "web_url": s.webBase + "/" + path, "path_with_namespace": path,
			"default_branch": p.project.DefaultBranch, "ci_config_path": "",
		},
		"runner": nil, "environment": nil,
	}
	if parent, ok := s.ext.parents[p.id]; ok {
		out["source_pipeline"] = map[string]any{
			"project":     map[string]any{"id": p.project.ID, "web_url": s.webBase + "/" + path, "path_with_namespace": path},
			"pipeline_id": parent, "job_id": 900000 + p.id,
		}
	}
	return out
}
