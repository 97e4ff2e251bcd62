package gitlab

import (
	"context"
	"fmt"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// HistoryPageSize is the page size EachPipelinePage asks for: GitLab's
// largest, so 1,000 pipelines cost 10 list requests.
const HistoryPageSize = maxPerPage

// EachPipelinePage lists every pipeline matching opt (opt.Limit is ignored),
// HistoryPageSize to a page, and calls fn with each page as it arrives and
// the total GitLab announced (X-Total; 0 when GitLab leaves it out, as it does
// past 10,000 results). An error from fn stops the listing and is returned.
//
// Offset pagination over a list that changes meanwhile can repeat a
// pipeline on two pages; callers dedupe by id.
func (c *Client) EachPipelinePage(ctx context.Context, project string, opt ListPipelinesOptions, fn func(page []Pipeline, total int) error) error {
	pp, err := projectPath(project)
	if err != nil {
		return fmt.Errorf("list pipelines: %w", err)
	}
	// page is the page being asked for, to name it when its request fails.
	page := 0
	var stop error
	err = eachPage(ctx, c, "projects/"+pp+"/pipelines", func(p int) any {
		page = p
		return opt.query(p, HistoryPageSize)
	}, func(batch []wirePipeline, resp *gl.Response) bool {
		out := make([]Pipeline, len(batch))
		for i, w := range batch {
			out[i] = w.pipeline()
		}
		total := 0
		if resp != nil {
			total = int(resp.TotalItems)
		}
		stop = fn(out, total)
		return stop == nil
	})
	if err != nil {
		return fmt.Errorf("list pipelines in %s (page %d): %w", project, page, err)
	}
	return stop
}
