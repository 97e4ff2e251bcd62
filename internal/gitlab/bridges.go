package gitlab

import (
	"context"
	"fmt"
)

// Bridge is a trigger job of a pipeline: it starts a downstream pipeline,
// a child pipeline when the trigger includes configuration of the same
// project (GET /projects/:id/pipelines/:pipeline_id/bridges).
type Bridge struct {
	ID     int64
	Name   string
	Stage  string
	Status Status
	// Downstream is the pipeline the bridge started; nil until it exists.
	Downstream *Pipeline
}

type wireBridge struct {
	ID                 int64         `json:"id"`
	Name               string        `json:"name"`
	Stage              string        `json:"stage"`
	Status             string        `json:"status"`
	DownstreamPipeline *wirePipeline `json:"downstream_pipeline"`
}

// PipelineBridges lists the trigger jobs of a pipeline with their
// downstream pipelines, up to 100.
func (c *Client) PipelineBridges(ctx context.Context, project string, id int64) ([]Bridge, error) {
	pp, err := pipelinePath(project, id)
	if err != nil {
		return nil, fmt.Errorf("list pipeline bridges: %w", err)
	}
	ws, err := paginate[wireBridge](ctx, c, pp+"/bridges", defaultJobLimit, func(page, perPage int) any {
		return &jobsQuery{PerPage: perPage, Page: page}
	})
	if err != nil {
		return nil, fmt.Errorf("list bridges of pipeline %d in %s: %w", id, project, err)
	}
	out := make([]Bridge, len(ws))
	for i, w := range ws {
		out[i] = Bridge{ID: w.ID, Name: w.Name, Stage: w.Stage, Status: Status(w.Status)}
		if w.DownstreamPipeline != nil && w.DownstreamPipeline.ID > 0 {
			p := w.DownstreamPipeline.pipeline()
			out[i].Downstream = &p
		}
	}
	return out, nil
}
