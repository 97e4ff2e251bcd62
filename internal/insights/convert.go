package insights

import (
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// record turns a pipeline and its jobs into the cache's record.
func record(projectID int64, p gitlab.Pipeline, jobs []gitlab.Job) state.InsightPipeline {
	rec := state.InsightPipeline{
		ProjectID: projectID, ID: p.ID, IID: p.IID, Status: string(p.Status), Ref: p.Ref, SHA: p.SHA,
		Source: p.Source, WebURL: p.WebURL, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
	for _, j := range jobs {
		rec.Jobs = append(rec.Jobs, state.InsightJob{
			ID: j.ID, Name: j.Name, Stage: j.Stage, Status: string(j.Status), AllowFailure: j.AllowFailure,
			DurationMS: j.Duration.Milliseconds(), StartedAt: utc(j.StartedAt), FinishedAt: utc(j.FinishedAt), WebURL: j.WebURL,
		})
	}
	return rec
}

// fromRecord turns a cached record back into a Run.
func fromRecord(rec state.InsightPipeline) Run {
	r := Run{Pipeline: gitlab.Pipeline{
		ID: rec.ID, IID: rec.IID, ProjectID: rec.ProjectID, Status: gitlab.Status(rec.Status), Ref: rec.Ref,
		SHA: rec.SHA, Source: rec.Source, WebURL: rec.WebURL, CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt,
	}}
	r.Jobs = make([]gitlab.Job, len(rec.Jobs))
	for i, j := range rec.Jobs {
		r.Jobs[i] = gitlab.Job{
			ID: j.ID, Name: j.Name, Stage: j.Stage, Status: gitlab.Status(j.Status), AllowFailure: j.AllowFailure,
			Duration: time.Duration(j.DurationMS) * time.Millisecond, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
			WebURL: j.WebURL, PipelineID: rec.ID, Ref: rec.Ref,
		}
	}
	return r
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
