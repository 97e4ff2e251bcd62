package notify

import (
	"context"
	"fmt"
	"sort"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// changed reports whether p's status differs from what was last delivered.
// It records nothing: markSeen does, once the state is delivered, so that a
// delivery that failed (Slack 5xx, a timeout) is tried again next poll.
func (w *Watcher) changed(p gitlab.Pipeline) bool {
	w.ss.mu.Lock()
	defer w.ss.mu.Unlock()
	old, ok := w.ss.seen[p.ID]
	return !ok || old.status != p.Status
}

// markSeen records p's status as delivered.
func (w *Watcher) markSeen(p gitlab.Pipeline) {
	w.ss.mu.Lock()
	defer w.ss.mu.Unlock()
	old := w.ss.seen[p.ID]
	w.ss.seen[p.ID] = seenState{status: p.Status, maxJob: old.maxJob, at: w.cfg.Now()}
}

func (w *Watcher) pruneSeen() {
	w.ss.mu.Lock()
	defer w.ss.mu.Unlock()
	cutoff := w.cfg.Now().Add(-seenTTL)
	for id, s := range w.ss.seen {
		if s.at.Before(cutoff) {
			delete(w.ss.seen, id)
		}
	}
}

// fanOutPolled feeds the pipelines one poll listed to the project's
// subscriptions; unchanged pipelines are skipped. A pipeline counts as seen
// only once it was delivered: on an error it is fed again next poll (the
// cursor does not move either).
func (w *Watcher) fanOutPolled(ctx context.Context, pid int64, subs []projectSub, pipes []gitlab.Pipeline) error {
	for _, p := range pipes {
		if !w.changed(p) {
			continue
		}
		if err := w.feedSubs(ctx, pid, subs, p); err != nil {
			return err
		}
		w.markSeen(p)
	}
	return nil
}

// feedSubs delivers one pipeline state to the subscriptions of its project:
// one card per channel, posted when the state is an event a subscription in
// the channel asks for, then updated in place; the end goes into its thread.
func (w *Watcher) feedSubs(ctx context.Context, pid int64, subs []projectSub, p gitlab.Pipeline) error {
	if p.Source == SourceParent {
		// A child's status shows on its parent's card.
		if err := w.foldChild(ctx, pid, subs, p); err != nil {
			w.log.Warn().Err(err).Int64("pipeline_id", p.ID).Msg("fold child pipeline into its parent")
		}
	}
	prev := ""
	// A child's result says nothing about its ref: it is not fixed or broken.
	if p.Source != SourceParent && (p.Status == gitlab.StatusSuccess || p.Status == gitlab.StatusFailed) {
		var err error
		if prev, err = w.subs.RecordRefStatus(pid, p.Ref, p.ID, string(p.Status)); err != nil {
			return err
		}
	}
	events := EventsOf(p.Status, prev)
	var cands []projectSub
	needUser := p.User.ID == 0
	for _, s := range subs {
		if s.sub.Paused || !s.filter.MatchRef(p.Ref) || !s.filter.MatchSource(p.Source) {
			continue
		}
		cands = append(cands, s)
	}
	if len(cands) == 0 {
		return nil
	}
	if needUser {
		// Lists carry no user; the user filter and the mention need it.
		full, err := w.cfg.GitLab.Pipeline(ctx, idString(pid), p.ID)
		if err != nil {
			return fmt.Errorf("pipeline %d: %w", p.ID, err)
		}
		if full.Status == p.Status {
			p = full
		} else {
			p.User = full.User
		}
	}
	type channelSubs struct {
		want bool
		subs []projectSub
	}
	byChannel := map[string]*channelSubs{}
	var channels []string
	for _, s := range cands {
		if !s.filter.MatchUser(p.User.Username) {
			continue
		}
		cs, ok := byChannel[s.sub.Channel]
		if !ok {
			cs = &channelSubs{}
			byChannel[s.sub.Channel] = cs
			channels = append(channels, s.sub.Channel)
		}
		cs.subs = append(cs.subs, s)
		if s.filter.Wants(events) {
			cs.want = true
		}
	}
	sort.Strings(channels)
	var first error
	for _, ch := range channels {
		cs := byChannel[ch]
		// A watch in the channel already keeps a card for this pipeline.
		if _, watched, err := w.cfg.Store.Watch(state.WatchKey{Channel: ch, ProjectID: pid, PipelineID: p.ID}); err == nil && watched {
			continue
		}
		if err := w.deliverSubCard(ctx, ch, cs.subs, pid, p, cs.want); err != nil {
			w.log.Warn().Err(err).Str("channel", ch).Int64("pipeline_id", p.ID).Msg("subscription card")
			if first == nil {
				first = err
			}
		}
	}
	return first
}
