package notify

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// GraphQL checks of quiet projects. Polling a project costs one REST
// request, so under GitLab.com's 2,000 requests a minute the poller can
// only visit a few hundred quiet projects a minute on its half of it; a
// GraphQL query asks up to gitlab.GraphQLBatch projects at once whether
// any pipeline of theirs was updated since a time (Query.projects(ids:)
// with Project.pipelines(updatedAfter:)). So each tick the due quiet
// projects are checked in batches, and only those the check reports
// changed (or does not list) are polled, in the same tick: their poll reads
// the change as before (jobs, cards, cursors). A changed project stays hot
// until a poll has read it, so a poll the budget defers happens next tick.
//
// Where GitLab has no GraphQL API (404), refuses the query (a GraphQL
// error, 401, 403) or fails (5xx, network), quiet projects are polled one by
// one as before, and the check is tried again later: after checksOffFor
// for a refusal, after a backoff from one interval to MaxBackoff for a
// failure. A 429 stops the whole poller as for any request. Nothing is
// lost meanwhile: a project whose check did not happen stays due.

// updatesChecker is the GraphQL check.
type updatesChecker interface {
	UpdatedPipelines(ctx context.Context, projects []int64, since time.Time) ([]gitlab.ProjectUpdates, error)
}

var _ updatesChecker = (*gitlab.Client)(nil)

// checksOffFor is how long a GitLab that refused the check is polled the
// old way before the check is tried again.
const checksOffFor = 10 * time.Minute

// checkState is the GraphQL checks' availability.
type checkState struct {
	offUntil time.Time
	wait     time.Duration // the last failure's backoff
}

// checksOn returns the GraphQL check when it may be tried now, else nil.
func (w *Watcher) checksOn(now time.Time) updatesChecker {
	checker, ok := w.cfg.GitLab.(updatesChecker)
	if !ok {
		return nil
	}
	w.poll.mu.Lock()
	defer w.poll.mu.Unlock()
	if now.Before(w.poll.checks.offUntil) {
		return nil
	}
	return checker
}

// checkQuiet checks the due quiet projects with checker (checksOn: nil
// when the checks are off) and returns the ones to poll: those the checks
// report changed or do not list, those without a cursor yet (their first
// poll only records one), and, when the checks are off or fail, the ones
// not checked, no more than pollMax (polled one by one, they spread over
// the quiet interval again).
func (w *Watcher) checkQuiet(ctx context.Context, t *tickRound, checker updatesChecker, quiet []int64, pollMax int) []int64 {
	if checker == nil || len(quiet) == 0 {
		return quiet
	}
	var toPoll, check []int64
	since := map[int64]time.Time{}
	for _, pid := range quiet {
		if !w.due(pid) {
			continue
		}
		at, ok := w.knownSince(pid)
		if !ok {
			toPoll = append(toPoll, pid)
			continue
		}
		since[pid] = at
		check = append(check, pid)
	}
	// Projects known up to about the same time share a batch, so that one
	// batch's "since" (its earliest) reports few changes already read.
	sort.SliceStable(check, func(i, k int) bool { return since[check[i]].Before(since[check[k]]) })
	b := w.poll.budget
	for start := 0; start < len(check); start += gitlab.GraphQLBatch {
		batch := check[start:min(start+gitlab.GraphQLBatch, len(check))]
		if ctx.Err() != nil || !b.allow(t.now) {
			// The rest stay due; the budget is spent for polls too.
			return toPoll
		}
		from := since[batch[0]].Add(-w.cfg.Overlap)
		mark := b.mark()
		got, err := checker.UpdatedPipelines(ctx, batch, from)
		b.chargeSince(mark)
		if err != nil {
			if !w.checkFailed(err, t.now) {
				return toPoll // throttled: nothing more this tick
			}
			rest := check[start:]
			return append(toPoll, rest[:min(len(rest), max(pollMax-len(toPoll), 0))]...)
		}
		toPoll = append(toPoll, w.applyUpdates(batch, got, t.now)...)
	}
	w.poll.mu.Lock()
	w.poll.checks.wait = 0
	w.poll.mu.Unlock()
	return toPoll
}

// knownSince is the time since which a check must ask about the project:
// when every update until then was read, by a poll or a check of this
// process, else the project's cursor (the newest update_at a poll read).
// ok is false for a project without a cursor.
func (w *Watcher) knownSince(pid int64) (time.Time, bool) {
	w.poll.mu.Lock()
	at := w.heatOf(pid).knownAt
	w.poll.mu.Unlock()
	if !at.IsZero() {
		return at, true
	}
	cursor, ok, err := w.cfg.Store.Cursor(pid)
	if err != nil {
		w.log.Warn().Err(err).Int64("project_id", pid).Msg("read cursor")
		return time.Time{}, false
	}
	return cursor, ok
}

// applyUpdates records a batch's answer and returns the projects to poll:
// those with an update, flagged hot until a poll reads it, and those the
// answer leaves out (GitLab did not list them: their poll says why). The
// others are checked: known up to now and not due again for their period.
func (w *Watcher) applyUpdates(batch []int64, got []gitlab.ProjectUpdates, now time.Time) []int64 {
	listed := make(map[int64]*gitlab.PipelineUpdate, len(got))
	for _, u := range got {
		listed[u.ProjectID] = u.Latest
	}
	var toPoll []int64
	w.poll.mu.Lock()
	defer w.poll.mu.Unlock()
	for _, pid := range batch {
		latest, ok := listed[pid]
		h := w.heatOf(pid)
		switch {
		case !ok:
			toPoll = append(toPoll, pid)
		case latest != nil:
			h.flagged = true
			toPoll = append(toPoll, pid)
		default:
			h.lastPoll = now
			if now.After(h.knownAt) {
				h.knownAt = now
			}
		}
	}
	return toPoll
}

// checkFailed turns the checks off after a refusal or a failure and
// reports true, or stops the budget after a 429 and reports false.
func (w *Watcher) checkFailed(err error, now time.Time) bool {
	var rl *gitlab.RateLimitError
	if errors.As(err, &rl) {
		w.poll.budget.throttled(now, rl.RetryAfter)
		w.log.Warn().Err(err).Msg("check quiet projects")
		return false
	}
	w.poll.mu.Lock()
	off := checksOffFor
	if errors.Is(err, gitlab.ErrUnavailable) {
		// A failure, not a refusal: back off as a project's poll does.
		off = w.nextBackoff(w.poll.checks.wait)
		w.poll.checks.wait = off
	}
	w.poll.checks.offUntil = now.Add(off)
	w.poll.mu.Unlock()
	w.log.Warn().Err(err).Dur("for", off).Msg("GraphQL checks of quiet projects are off; polling them one by one")
	return true
}
