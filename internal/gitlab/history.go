package gitlab

import (
	"context"
	"fmt"
	"net/http"
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
	for page := 1; ; {
		var batch []wirePipeline
		resp, err := c.do(ctx, request{method: http.MethodGet, path: "projects/" + pp + "/pipelines", opt: opt.query(page, HistoryPageSize), out: &batch})
		if err != nil {
			return fmt.Errorf("list pipelines in %s (page %d): %w", project, page, err)
		}
		out := make([]Pipeline, len(batch))
		for i, w := range batch {
			out[i] = w.pipeline()
		}
		total := 0
		if resp != nil {
			total = int(resp.TotalItems)
		}
		if err := fn(out, total); err != nil {
			return err
		}
		if len(batch) == 0 || resp == nil || resp.NextPage <= int64(page) {
			return nil
		}
		page = int(resp.NextPage)
	}
}
