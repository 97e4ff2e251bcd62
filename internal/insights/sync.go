package insights

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// sync brings the cache up to date for q's filter from need on:
//
//   - without a sync record, every pipeline created since need is listed;
//   - with one, only pipelines updated since its cursor (less SyncOverlap),
//     plus, when need reaches further back than the record, the older
//     range once;
//   - a listed pipeline that finished and is cached with the same
//     updated_at costs nothing; a finished one that is new or changed (a
//     retry) costs one jobs request; an unfinished one is kept without jobs
//     until it is listed again.
//
// The cursor moves only once everything listed is cached, so a failure
// half-way (GitLab down, the command's time up) loses nothing: what was read
// is kept and the next report asks for the rest.
//
// It returns the project's pipelines created since need as the cache now
// holds them, so that the report needs no second read of the store.
func (b *Builder) sync(ctx context.Context, proj gitlab.Project, q Query, need time.Time, progress Progress) ([]state.InsightPipeline, Fetched, error) {
	var f Fetched
	ref, source := q.Ref, q.Source
	rec, found, err := b.cfg.Store.InsightSync(proj.ID, ref, source)
	if err != nil {
		return nil, f, err
	}
	if ref != "" || source != "" {
		// A record over all pipelines serves a filtered report too.
		if all, ok, err := b.cfg.Store.InsightSync(proj.ID, "", ""); err != nil {
			return nil, f, err
		} else if ok && !all.From.After(need) {
			rec, found, ref, source = all, true, "", ""
		}
	}
	cached, err := b.cfg.Store.InsightPipelines(proj.ID, need)
	if err != nil {
		return nil, f, err
	}
	byID := make(map[int64]state.InsightPipeline, len(cached))
	have := make(map[int64]time.Time, len(cached))
	for _, c := range cached {
		byID[c.ID] = c
		if len(c.Jobs) > 0 || !gitlab.Status(c.Status).Finished() {
			have[c.ID] = c.UpdatedAt
		}
	}
	base := gitlab.ListPipelinesOptions{Ref: ref, Source: source, OrderBy: "id", Sort: "desc"}
	var listings []gitlab.ListPipelinesOptions
	switch {
	case !found:
		o := base
		o.CreatedAfter = need
		listings = append(listings, o)
	default:
		if need.Before(rec.From) {
			o := base
			o.CreatedAfter, o.CreatedBefore = need, rec.From
			listings = append(listings, o)
		}
		o := base
		o.CreatedAfter = later(need, rec.From)
		if !rec.Cursor.IsZero() {
			o.UpdatedAfter = rec.Cursor.Add(-SyncOverlap)
		}
		listings = append(listings, o)
	}
	cursor := rec.Cursor
	seen := map[int64]bool{}
	var toRead []gitlab.Pipeline
	var unfinished []state.InsightPipeline
	var gone []int64
	for _, opt := range listings {
		err := b.client(q).EachPipelinePage(ctx, proj.Path, opt, func(page []gitlab.Pipeline, _ int) error {
			f.ListPage++
			for _, p := range page {
				if seen[p.ID] || p.CreatedAt.Before(need) {
					continue
				}
				seen[p.ID] = true
				f.Listed++
				cursor = later(cursor, p.UpdatedAt)
				at, ok := have[p.ID]
				switch {
				case ok && at.Equal(p.UpdatedAt):
				case p.Status.Finished():
					toRead = append(toRead, p)
				default:
					// Running, or retried since it was cached: kept as
					// it is now, jobs read once it has finished.
					if ok {
						gone = append(gone, p.ID)
					}
					unfinished = append(unfinished, record(proj.ID, p, nil))
				}
			}
			return nil
		})
		if err != nil {
			return nil, f, err
		}
	}
	if err := b.cfg.Store.DeleteInsightPipelines(proj.ID, gone); err != nil {
		return nil, f, err
	}
	if err := b.cfg.Store.PutInsightPipelines(unfinished); err != nil {
		return nil, f, err
	}
	read, err := b.readJobs(ctx, b.client(q), proj, toRead, progress, &f)
	if err != nil {
		return nil, f, err
	}
	from := need
	if found && !rec.From.After(need) {
		from = rec.From
	}
	if err := b.cfg.Store.PutInsightSync(state.InsightSync{
		ProjectID: proj.ID, Ref: ref, Source: source, From: from, Cursor: cursor, UsedAt: b.cfg.Now(),
	}); err != nil {
		return nil, f, err
	}
	for _, recs := range [][]state.InsightPipeline{unfinished, read} {
		for _, r := range recs {
			byID[r.ID] = r
		}
	}
	out := make([]state.InsightPipeline, 0, len(byID))
	for _, r := range byID {
		out = append(out, r)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out, f, nil
}

// readJobs reads every attempt of the jobs of ps, Concurrency at a time,
// and stores them in batches as they arrive.
func (b *Builder) readJobs(ctx context.Context, gl gitlabAPI, proj gitlab.Project, ps []gitlab.Pipeline, progress Progress, f *Fetched) ([]state.InsightPipeline, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	if progress != nil {
		progress(0, len(ps))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan gitlab.Pipeline)
	results := make(chan state.InsightPipeline)
	errc := make(chan error, b.cfg.Concurrency)
	var wg sync.WaitGroup
	for range min(b.cfg.Concurrency, len(ps)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				jobs, err := gl.PipelineJobs(ctx, proj.Path, p.ID, gitlab.ListJobsOptions{IncludeRetried: true, Limit: 10000})
				if err != nil {
					errc <- fmt.Errorf("read jobs of pipeline %d: %w", p.ID, err)
					cancel()
					return
				}
				select {
				case results <- record(proj.ID, p, jobs):
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(work)
		for _, p := range ps {
			select {
			case work <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	var batch, all []state.InsightPipeline
	var saveErr error
	for rec := range results {
		f.Jobs++
		batch = append(batch, rec)
		all = append(all, rec)
		if len(batch) == saveBatch {
			saveErr = first(saveErr, b.cfg.Store.PutInsightPipelines(batch))
			batch = nil
		}
		if progress != nil {
			progress(f.Jobs, len(ps))
		}
	}
	saveErr = first(saveErr, b.cfg.Store.PutInsightPipelines(batch))
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	if saveErr != nil {
		return nil, saveErr
	}
	return all, ctx.Err()
}

func first(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
