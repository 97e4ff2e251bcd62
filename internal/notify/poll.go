package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// Tick runs one poll round: the due group activity listings (signal.go),
// then one GitLab request per due hot project that is not backing off,
// then the due quiet projects, checked 30 to a GraphQL request where GitLab
// allows it (updates.go) and polled when the check reports a change, or
// polled one by one otherwise (heat.go), all within the request budget;
// then card updates for pipelines whose status changed. Errors are per
// project and logged; Tick returns the first one.
func (w *Watcher) Tick(ctx context.Context) error {
	now := w.cfg.Now()
	b := w.poll.budget
	b.startTick(now)
	mark := b.mark() // a group's rediscovery counts too
	watches, err := w.cfg.Store.Watches()
	if err != nil {
		return fmt.Errorf("list watches: %w", err)
	}
	if w.cfg.OnWatches != nil {
		w.cfg.OnWatches(len(watches))
	}
	t := &tickRound{now: now, byProject: map[int64][]state.Watch{}}
	var order []int64
	for _, wt := range watches {
		if _, ok := t.byProject[wt.ProjectID]; !ok {
			order = append(order, wt.ProjectID)
		}
		t.byProject[wt.ProjectID] = append(t.byProject[wt.ProjectID], wt)
	}
	t.subsBy, err = w.subscribedProjects(ctx)
	if err != nil {
		t.fail(fmt.Errorf("list subscriptions: %w", err))
	}
	order = appendSubscribed(order, t.byProject, t.subsBy)
	t.unfurlsBy, err = w.liveUnfurls()
	t.fail(err)
	order = appendUnfurled(order, t.unfurlsBy)
	w.housekeep()
	b.chargeSince(mark)

	watched := make(map[int64]bool, len(t.byProject)+len(t.unfurlsBy))
	keep := make(map[int64]bool, len(order))
	for _, pid := range order {
		keep[pid] = true
		_, w1 := t.byProject[pid]
		_, w2 := t.unfurlsBy[pid]
		watched[pid] = w1 || w2
	}
	w.forgetHeat(keep)
	t.fail(w.listSignals(ctx, t.subsBy, watched, now))
	checker := w.checksOn(now)
	batch := 1
	if checker != nil {
		batch = gitlab.GraphQLBatch
	}
	hot, quiet, pollMax := w.plan(order, watched, now, batch)
	if w.pollEach(ctx, t, hot) {
		w.pollEach(ctx, t, w.checkQuiet(ctx, t, checker, quiet, pollMax))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return t.err
}

// tickRound is what one tick knows of the projects it polls.
type tickRound struct {
	now       time.Time
	byProject map[int64][]state.Watch
	subsBy    map[int64][]projectSub
	unfurlsBy map[int64][]state.Unfurl
	err       error // the first error
}

func (t *tickRound) fail(err error) { t.err = first(t.err, err) }

// pollEach polls pids in order within the budget; it reports false when
// the budget or ctx stopped it before the end.
func (w *Watcher) pollEach(ctx context.Context, t *tickRound, pids []int64) bool {
	b := w.poll.budget
	for i, pid := range pids {
		if ctx.Err() != nil {
			return false
		}
		if !w.due(pid) {
			continue
		}
		if !b.allow(t.now) {
			w.log.Debug().Int("deferred", len(pids)-i).Msg("poll budget spent; the rest wait for the next tick")
			return false
		}
		mark := b.mark()
		start := time.Now()
		w.polled(pid, t.now)
		watchErr, err := w.pollProject(withPollJobs(ctx), pid, t.byProject[pid], t.subsBy[pid], t.unfurlsBy[pid])
		b.chargeSince(mark)
		if w.cfg.OnPoll != nil {
			w.cfg.OnPoll(time.Since(start), err)
		}
		w.settle(pid, err)
		if err != nil {
			var rl *gitlab.RateLimitError
			if errors.As(err, &rl) {
				b.throttled(t.now, rl.RetryAfter)
			}
			w.log.Warn().Err(err).Int64("project_id", pid).Msg("poll failed")
		} else {
			w.known(pid, t.now)
		}
		t.fail(first(err, watchErr))
	}
	return true
}

func (w *Watcher) due(pid int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.cfg.Now().Before(w.backoff[pid].until)
}

// settle records a project poll's outcome: errors back off exponentially
// from the poll interval up to MaxBackoff, or as long as GitLab's
// Retry-After / RateLimit-Reset asks.
func (w *Watcher) settle(pid int64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		delete(w.backoff, pid)
		return
	}
	b := w.backoff[pid]
	b.wait = w.nextBackoff(b.wait)
	wait := b.wait
	var rl *gitlab.RateLimitError
	if errors.As(err, &rl) && rl.RetryAfter > wait {
		wait = rl.RetryAfter
	}
	b.until = w.cfg.Now().Add(wait)
	w.backoff[pid] = b
}

// nextBackoff is the wait after a failure that follows one whose wait was
// prev (0 for the first): the poll interval, doubled at each failure, up to
// MaxBackoff. Project polls and the GraphQL checks (updates.go) back off so.
func (w *Watcher) nextBackoff(prev time.Duration) time.Duration {
	if prev == 0 {
		return min(w.cfg.Interval, w.cfg.MaxBackoff)
	}
	return min(2*prev, w.cfg.MaxBackoff)
}

// pollProject polls one project, updates its watches and live unfurls and
// fans its pipelines out to the project's subscriptions. err is a failure of the
// project's poll (it backs the project off); watchErr is the first failure
// of a single watch, which is logged and retried next tick without holding
// up the others.
func (w *Watcher) pollProject(ctx context.Context, pid int64, watches []state.Watch, subs []projectSub, unfurls []state.Unfurl) (watchErr, err error) {
	// Watches whose card is not yet confirmed are finished first: they need
	// no poll to know what to do.
	for _, wt := range watches {
		if !wt.CardPending {
			continue
		}
		watchErr = first(watchErr, w.each(ctx, wt, func() error {
			p, err := w.cfg.GitLab.Pipeline(ctx, idString(pid), wt.PipelineID)
			if err != nil {
				return fmt.Errorf("pipeline %d: %w", wt.PipelineID, err)
			}
			return w.withLock(ctx, wt.Key(), func(cur state.Watch) error {
				if !cur.CardPending {
					return nil
				}
				in, err := w.watchInput(ctx, cur, p)
				if err != nil {
					return err
				}
				cur, err = w.postCard(ctx, cur, in, true)
				if err != nil {
					return err
				}
				return w.render(ctx, cur, p)
			})
		}))
	}

	cursor, ok, err := w.cfg.Store.Cursor(pid)
	if err != nil {
		return watchErr, fmt.Errorf("read cursor: %w", err)
	}
	if !ok && len(watches) == 0 && len(unfurls) == 0 {
		// Only subscriptions, and no cursor: start from now rather than
		// posting the project's history.
		return watchErr, w.startCursor(pid)
	}
	pipes, newest, err := w.listUpdated(ctx, pid, cursor, ok)
	if err != nil {
		return watchErr, err
	}
	w.sawPipelines(pid, pipes...)
	byID := make(map[int64]gitlab.Pipeline, len(pipes))
	for _, p := range pipes {
		byID[p.ID] = p
	}
	for _, wt := range watches {
		if wt.CardPending {
			continue
		}
		p, changed := byID[wt.PipelineID]
		if wt.FinalState != state.FinalPending && !(changed && p.Status.Finished()) && w.cfg.Now().Sub(wt.CreatedAt) > w.cfg.MaxAge {
			w.drop(wt, "watched for too long")
			continue
		}
		if !changed && wt.FinalState != state.FinalPending {
			continue
		}
		watchErr = first(watchErr, w.each(ctx, wt, func() error {
			if !changed {
				var err error
				if p, err = w.cfg.GitLab.Pipeline(ctx, idString(pid), wt.PipelineID); err != nil {
					return fmt.Errorf("pipeline %d: %w", wt.PipelineID, err)
				}
			}
			return w.withLock(ctx, wt.Key(), func(cur state.Watch) error {
				return w.render(ctx, cur, p)
			})
		}))
	}
	for _, p := range pipes {
		if p.Source == SourceParent {
			watchErr = first(watchErr, w.foldChildIntoWatches(ctx, pid, watches, p, byID))
		}
	}
	if len(unfurls) > 0 {
		watchErr = first(watchErr, w.refreshUnfurls(ctx, pid, byID))
	}
	if len(subs) > 0 {
		if err := w.fanOutPolled(ctx, pid, subs, pipes); err != nil {
			return watchErr, err
		}
	}
	if newest.After(cursor) {
		if err := w.cfg.Store.SetCursor(pid, newest); err != nil {
			return watchErr, fmt.Errorf("save cursor: %w", err)
		}
	}
	return watchErr, nil
}

func first(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// listUpdated lists the project's pipelines updated since its cursor (less the
// overlap) and returns them by id with the new cursor. Usually that is one
// request; a busy project's full page is followed by the next ones (up to
// 500 pipelines a tick), so a burst of other pipelines never hides a watched
// one behind a cursor that cannot move.
func (w *Watcher) listUpdated(ctx context.Context, pid int64, cursor time.Time, ok bool) ([]gitlab.Pipeline, time.Time, error) {
	opt := gitlab.ListPipelinesOptions{OrderBy: "updated_at", Sort: "asc", Limit: 500}
	if ok {
		opt.UpdatedAfter = cursor.Add(-w.cfg.Overlap)
	}
	pipes, err := w.cfg.GitLab.Pipelines(ctx, idString(pid), opt)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("list pipelines: %w", err)
	}
	newest := cursor
	for _, p := range pipes {
		if p.UpdatedAt.After(newest) {
			newest = p.UpdatedAt
		}
	}
	return pipes, newest, nil
}

// each runs one watch's work. Its failure is logged and does not stop the
// other watches of the project; a watch that can never succeed (its card
// or channel is gone, the pipeline was deleted) is dropped.
func (w *Watcher) each(ctx context.Context, wt state.Watch, fn func() error) error {
	err := fn()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrMessageNotFound), errors.Is(err, ErrNotInChannel), errors.Is(err, ErrChannelNotFound):
		w.drop(wt, "its card or channel is gone")
	case errors.Is(err, gitlab.ErrNotFound):
		w.drop(wt, "the pipeline is gone")
	default:
		w.log.Warn().Err(err).Int64("project_id", wt.ProjectID).Int64("pipeline_id", wt.PipelineID).Str("channel", wt.Channel).Msg("watch update failed")
	}
	return err
}

func (w *Watcher) drop(wt state.Watch, why string) {
	if err := w.cfg.Store.DeleteWatch(wt.Key()); err != nil {
		w.log.Error().Err(err).Msg("drop watch")
		return
	}
	w.locks.Delete(wt.Key())
	w.log.Info().Int64("project_id", wt.ProjectID).Int64("pipeline_id", wt.PipelineID).Str("channel", wt.Channel).Str("why", why).Msg("watch dropped")
}

// withLock runs fn on the current stored watch under the watch's lock; a
// watch that ended meanwhile is skipped.
func (w *Watcher) withLock(ctx context.Context, k state.WatchKey, fn func(state.Watch) error) error {
	unlock := w.lock(k)
	defer unlock()
	cur, ok, err := w.cfg.Store.Watch(k)
	if err != nil {
		return fmt.Errorf("read watch: %w", err)
	}
	if !ok {
		return nil
	}
	return fn(cur)
}

// Run polls every Interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		_ = w.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
