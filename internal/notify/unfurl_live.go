package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// unfurlStore is the live unfurls' slice of the state package.
type unfurlStore interface {
	PutUnfurl(u state.Unfurl) error
	Unfurls() ([]state.Unfurl, error)
	DeleteUnfurl(k state.UnfurlKey) error
}

var _ unfurlStore = (*state.Store)(nil)

// unfurlSlack attaches previews to shared links.
type unfurlSlack interface {
	Unfurl(ctx context.Context, to UnfurlTarget, unfurls map[string]Message) error
}

var _ unfurlSlack = (*Slack)(nil)

// ErrUnfurlsOff is returned by TrackUnfurl when the watcher was built
// without the unfurl store or Slack call.
var ErrUnfurlsOff = errors.New("live unfurls are not available")

// LiveUnfurl is a link preview just posted that should follow its pipeline.
type LiveUnfurl struct {
	Channel, TS, URL string // the posted message and the link as Slack sent it
	ProjectID        int64
	Project          string // path, for the preview
	Pipeline         gitlab.Pipeline
	// Job is set for a job link: its preview follows the job, not the
	// pipeline, and ends when the job ends.
	Job *gitlab.Job
}

// TrackUnfurl records a preview posted on a message so that the watcher's
// poll keeps it up to date with another chat.unfurl on the same message
// until its pipeline (or job) ends. A finished one needs nothing and is not
// recorded, nor is a link only in the composer (it has no message to update).
func (w *Watcher) TrackUnfurl(_ context.Context, u LiveUnfurl) (bool, error) {
	if w.unfurls == nil || w.unfurler == nil {
		return false, ErrUnfurlsOff
	}
	status := u.Pipeline.Status
	rec := state.Unfurl{Channel: u.Channel, TS: u.TS, URL: u.URL, ProjectID: u.ProjectID, Project: u.Project, PipelineID: u.Pipeline.ID}
	if u.Job != nil {
		status, rec.JobID, rec.PipelineID = u.Job.Status, u.Job.ID, u.Job.PipelineID
	}
	rec.LastStatus = string(status)
	if status.Finished() || u.Channel == "" || u.TS == "" || u.Channel == composerChannel {
		return false, nil
	}
	w.unfurlMu.Lock()
	err := w.unfurls.PutUnfurl(rec)
	w.unfurlMu.Unlock()
	if err != nil {
		return false, fmt.Errorf("record unfurl: %w", err)
	}
	// A job link carries no pipeline timestamps; now less the overlap
	// covers the time since its preview was read.
	if err := w.lowerCursor(u.ProjectID, u.Pipeline.UpdatedAt); err != nil {
		return true, err
	}
	return true, nil
}

// composerChannel is what link_shared carries as the channel of a link
// still in the message composer.
const composerChannel = "COMPOSER"

// hookUnfurls brings the live previews of a pipeline a webhook reported up
// to date, as a poll would. Failures are logged: the poll tries again.
func (w *Watcher) hookUnfurls(ctx context.Context, pid int64, p gitlab.Pipeline) {
	if w.unfurls == nil || w.unfurler == nil {
		return
	}
	if err := w.refreshUnfurls(ctx, pid, map[int64]gitlab.Pipeline{p.ID: p}); err != nil {
		w.log.Warn().Err(err).Int64("project_id", pid).Int64("pipeline_id", p.ID).Msg("live unfurls from webhook")
	}
}

// liveUnfurls lists the live unfurls by project.
func (w *Watcher) liveUnfurls() (map[int64][]state.Unfurl, error) {
	if w.unfurls == nil || w.unfurler == nil {
		return nil, nil
	}
	us, err := w.unfurls.Unfurls()
	if err != nil {
		return nil, fmt.Errorf("list unfurls: %w", err)
	}
	by := map[int64][]state.Unfurl{}
	for _, u := range us {
		by[u.ProjectID] = append(by[u.ProjectID], u)
	}
	return by, nil
}

// appendUnfurled adds the projects that only live unfurls need polled.
func appendUnfurled(order []int64, unfurls map[int64][]state.Unfurl) []int64 {
	in := make(map[int64]bool, len(order))
	for _, pid := range order {
		in[pid] = true
	}
	var extra []int64
	for pid := range unfurls {
		if !in[pid] {
			extra = append(extra, pid)
		}
	}
	sort.Slice(extra, func(i, k int) bool { return extra[i] < extra[k] })
	return append(order, extra...)
}

// unfurlBatch is the previews of one message that changed this poll.
type unfurlBatch struct {
	channel, ts string
	previews    map[string]Message
	recs        []state.Unfurl // with the status each preview now shows
}

// refreshUnfurls re-unfurls the project's live previews whose pipeline the
// poll saw change (byID), one chat.unfurl per message. Pipelines and jobs
// come from the poll and the poll's shared jobs read: several previews of
// one pipeline cost one jobs read, and none costs a request of its own. A
// preview that reached its end is unfurled once more and forgotten.
//
// The records are read under unfurlMu, so a poll and a webhook never update
// the same preview at once (nor bring back one the other just ended).
func (w *Watcher) refreshUnfurls(ctx context.Context, pid int64, byID map[int64]gitlab.Pipeline) error {
	w.unfurlMu.Lock()
	defer w.unfurlMu.Unlock()
	all, err := w.unfurls.Unfurls()
	if err != nil {
		return fmt.Errorf("list unfurls: %w", err)
	}
	var us []state.Unfurl
	for _, u := range all {
		if u.ProjectID == pid {
			us = append(us, u)
		}
	}
	var firstErr error
	batches := map[[2]string]*unfurlBatch{}
	var order [][2]string
	fetched := map[int64]gitlab.Pipeline{}
	for _, u := range us {
		if w.cfg.Now().Sub(u.CreatedAt) > w.cfg.MaxAge {
			w.dropUnfurl(u, "live for too long")
			continue
		}
		p, changed := byID[u.PipelineID]
		if !changed && u.Stale {
			// An update that failed is retried with the pipeline read once
			// for all its stale previews.
			p, changed = fetched[u.PipelineID]
		}
		if !changed && u.Stale {
			var err error
			if p, err = w.cfg.GitLab.Pipeline(ctx, idString(pid), u.PipelineID); err != nil {
				if errors.Is(err, gitlab.ErrNotFound) || errors.Is(err, gitlab.ErrForbidden) {
					w.dropUnfurl(u, "the pipeline is gone")
					continue
				}
				firstErr = first(firstErr, fmt.Errorf("pipeline %d: %w", u.PipelineID, err))
				continue
			}
			changed = true
			fetched[u.PipelineID] = p
		}
		if !changed || (u.JobID > 0 && !u.Stale && !p.UpdatedAt.IsZero() && !p.UpdatedAt.After(u.PipelineUpdatedAt)) {
			continue
		}
		m, status, ok, err := w.unfurlPreview(ctx, pid, u, p)
		switch {
		case errors.Is(err, gitlab.ErrNotFound) || errors.Is(err, gitlab.ErrForbidden):
			w.dropUnfurl(u, "the pipeline is gone")
			continue
		case err != nil:
			w.markStale(u)
			firstErr = first(firstErr, err)
			continue
		case !ok:
			// A retried job leaves the list: nothing to show until the
			// pipeline ends, then the preview stays as it was.
			if p.Status.Finished() {
				w.dropUnfurl(u, "the job is no longer in its pipeline")
			}
			continue
		case string(status) == u.LastStatus && !u.Stale:
			if u.JobID > 0 {
				u.PipelineUpdatedAt = p.UpdatedAt
				if err := w.unfurls.PutUnfurl(u); err != nil {
					firstErr = first(firstErr, fmt.Errorf("save unfurl: %w", err))
				}
			}
			continue
		}
		k := [2]string{u.Channel, u.TS}
		b := batches[k]
		if b == nil {
			b = &unfurlBatch{channel: u.Channel, ts: u.TS, previews: map[string]Message{}}
			batches[k] = b
			order = append(order, k)
		}
		u.LastStatus, u.Stale = string(status), false
		if u.JobID > 0 {
			u.PipelineUpdatedAt = p.UpdatedAt
		}
		b.previews[u.URL] = m
		b.recs = append(b.recs, u)
	}
	for _, k := range order {
		firstErr = first(firstErr, w.deliverUnfurls(ctx, batches[k]))
	}
	return firstErr
}

// unfurlPreview renders u's preview from p; ok is false when a job link's
// job is not among its pipeline's jobs.
func (w *Watcher) unfurlPreview(ctx context.Context, pid int64, u state.Unfurl, p gitlab.Pipeline) (Message, gitlab.Status, bool, error) {
	if u.JobID == 0 {
		if string(p.Status) == u.LastStatus && !u.Stale {
			return Message{}, p.Status, true, nil
		}
		in, err := w.cardInput(ctx, state.Watch{ProjectID: pid, Project: u.Project}, p)
		if err != nil {
			return Message{}, "", false, err
		}
		return PipelineCard(in), p.Status, true, nil
	}
	if w.cfg.JobPreview == nil {
		return Message{}, "", false, nil
	}
	jobs, err := w.pipelineJobs(ctx, pid, p.ID)
	if err != nil {
		return Message{}, "", false, fmt.Errorf("jobs of pipeline %d: %w", p.ID, err)
	}
	for _, j := range jobs {
		if j.ID == u.JobID {
			return w.cfg.JobPreview(u.Project, j), j.Status, true, nil
		}
	}
	return Message{}, "", false, nil
}

// deliverUnfurls sends one message's new previews. A refusal from Slack (the
// message was deleted, the link can no longer be unfurled, pipebot left the
// channel) drops the records: they can never succeed. Other failures keep
// them for the next poll.
func (w *Watcher) deliverUnfurls(ctx context.Context, b *unfurlBatch) error {
	err := w.unfurler.Unfurl(ctx, UnfurlTarget{Channel: b.channel, TS: b.ts}, b.previews)
	if err != nil {
		if slackRefused(err) {
			for _, u := range b.recs {
				w.dropUnfurl(u, "slack refused the update")
			}
			return nil
		}
		for _, u := range b.recs {
			w.markStale(u)
		}
		w.log.Warn().Err(err).Str("channel", b.channel).Int("links", len(b.previews)).Msg("live unfurl update failed")
		return fmt.Errorf("update unfurl: %w", err)
	}
	var firstErr error
	for _, u := range b.recs {
		if gitlab.Status(u.LastStatus).Finished() {
			w.dropUnfurl(u, "ended")
			continue
		}
		if err := w.unfurls.PutUnfurl(u); err != nil {
			firstErr = first(firstErr, fmt.Errorf("save unfurl: %w", err))
		}
	}
	return firstErr
}

// slackRefused reports whether Slack answered with an error of its own
// (not a rate limit, an outage or a network failure), which retrying the
// same call will not mend.
func slackRefused(err error) bool {
	if errors.Is(err, ErrMessageNotFound) || errors.Is(err, ErrNotInChannel) || errors.Is(err, ErrChannelNotFound) || errors.Is(err, ErrMessageTooLong) {
		return true
	}
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		return false
	}
	switch se.Err {
	case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
		return false
	}
	return true
}

func (w *Watcher) markStale(u state.Unfurl) {
	if u.Stale {
		return
	}
	u.Stale = true
	if err := w.unfurls.PutUnfurl(u); err != nil {
		w.log.Error().Err(err).Msg("mark unfurl stale")
	}
}

func (w *Watcher) dropUnfurl(u state.Unfurl, why string) {
	if err := w.unfurls.DeleteUnfurl(u.Key()); err != nil {
		w.log.Error().Err(err).Msg("drop unfurl")
		return
	}
	w.log.Info().Int64("project_id", u.ProjectID).Int64("pipeline_id", u.PipelineID).Int64("job_id", u.JobID).
		Str("channel", u.Channel).Str("why", why).Msg("live unfurl ended")
}

// pollJobs shares one poll's jobs reads: the card of a watch, a
// subscription card and every live unfurl of a pipeline read its jobs once.
type pollJobs struct {
	mu    sync.Mutex
	jobs  map[int64][]gitlab.Job
	tails map[int64]map[int64][]string
}

type pollJobsKey struct{}

func withPollJobs(ctx context.Context) context.Context {
	return context.WithValue(ctx, pollJobsKey{}, &pollJobs{jobs: map[int64][]gitlab.Job{}, tails: map[int64]map[int64][]string{}})
}

// pipelineJobs reads a pipeline's jobs, once per poll when ctx carries one.
func (w *Watcher) pipelineJobs(ctx context.Context, pid, pipelineID int64) ([]gitlab.Job, error) {
	pj, _ := ctx.Value(pollJobsKey{}).(*pollJobs)
	if pj != nil {
		pj.mu.Lock()
		defer pj.mu.Unlock()
		if jobs, ok := pj.jobs[pipelineID]; ok {
			return jobs, nil
		}
	}
	jobs, err := w.cfg.GitLab.PipelineJobs(ctx, idString(pid), pipelineID, gitlab.ListJobsOptions{Limit: 100})
	if err != nil {
		return nil, err
	}
	if pj != nil {
		pj.jobs[pipelineID] = jobs
	}
	return jobs, nil
}

// failedTails reads the failed jobs' log tails, once per poll when ctx
// carries one.
func (w *Watcher) failedTails(ctx context.Context, pid, pipelineID int64, jobs []gitlab.Job) map[int64][]string {
	pj, _ := ctx.Value(pollJobsKey{}).(*pollJobs)
	if pj != nil {
		pj.mu.Lock()
		defer pj.mu.Unlock()
		if t, ok := pj.tails[pipelineID]; ok {
			return t
		}
	}
	t := FailedJobTails(ctx, w.cfg.GitLab, idString(pid), jobs)
	if pj != nil {
		pj.tails[pipelineID] = t
	}
	return t
}
