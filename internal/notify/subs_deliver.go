package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

func (w *Watcher) lockSub(k state.SubCardKey) func() {
	m, _ := w.ss.locks.LoadOrStore(k, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func subCardMeta(c state.SubCard) *slack.SlackMetadata {
	return &slack.SlackMetadata{EventType: MetaSubCard, EventPayload: map[string]any{
		"project_id": idString(c.ProjectID), "pipeline_id": idString(c.PipelineID),
	}}
}

func subFinalKey(c state.SubCard) string { return idString(c.PipelineID) + ":" + c.FinalKey }

func subFinalMeta(c state.SubCard) *slack.SlackMetadata {
	return &slack.SlackMetadata{EventType: MetaSubFinal, EventPayload: map[string]any{
		"project_id": idString(c.ProjectID), "pipeline_id": idString(c.PipelineID), "final_key": subFinalKey(c),
	}}
}

// deliverSubCard brings the channel's card for p up to date, posting it
// first when want says the state is an event the channel asked for.
func (w *Watcher) deliverSubCard(ctx context.Context, channel string, subs []projectSub, pid int64, p gitlab.Pipeline, want bool) error {
	k := state.SubCardKey{Channel: channel, ProjectID: pid, PipelineID: p.ID}
	unlock := w.lockSub(k)
	defer unlock()
	card, found, err := w.subs.SubCard(k)
	if err != nil {
		return err
	}
	if !found && !want {
		// No card, none wanted: keep no lock for it either.
		w.ss.locks.Delete(k)
		return nil
	}
	if _, watched, err := w.cfg.Store.Watch(state.WatchKey(k)); err != nil {
		return err
	} else if watched {
		// A watch keeps the pipeline's card in this channel (it may have
		// claimed it a moment ago): the subscription takes it when it ends.
		return nil
	}
	jobs, err := w.pipelineJobs(ctx, pid, p.ID)
	if errors.Is(err, gitlab.ErrNotFound) || errors.Is(err, gitlab.ErrForbidden) {
		// Re-checked at fan-out: pipebot no longer sees the project.
		w.log.Info().Int64("project_id", pid).Msg("project no longer visible; not posting")
		return nil
	}
	if err != nil {
		return fmt.Errorf("jobs of pipeline %d: %w", p.ID, err)
	}
	in := CardInput{Project: subs[0].path, Pipeline: p, Jobs: jobs, Now: w.cfg.Now(), Children: w.children(ctx, pid, p)}
	if p.Status == gitlab.StatusFailed {
		in.LogTails = w.failedTails(ctx, pid, p.ID, jobs)
	}
	status := cardStatus(in)

	if !found || card.CardPending {
		lookup := found
		if !found {
			// Atomic with a watch's claim (adopt.go): one card per pipeline.
			var claimed bool
			card, claimed, err = w.subs.ClaimSubCard(k, subs[0].path)
			if err != nil {
				return fmt.Errorf("record card intent: %w", err)
			}
			if !claimed {
				return nil
			}
		}
		if card, err = w.postSubCard(ctx, card, in, lookup, subs); err != nil {
			return err
		}
	} else if card.LastStatus != status {
		reopen := card.FinalState == state.FinalPosted && !p.Status.Finished()
		msg := PipelineCard(in)
		msg.Metadata = subCardMeta(card)
		if err := w.update(ctx, channel, card.MessageTS, msg, in); err != nil && !errors.Is(err, ErrMessageNotFound) {
			return w.slackFailed(ctx, channel, subs, err)
		}
		card, err = w.subs.UpdateSubCard(k, func(c *state.SubCard, _ bool) error {
			c.LastStatus = status
			if reopen {
				// Retried after it ended: its next end gets its own reply.
				c.FinalState = ""
				n, _ := strconv.Atoi(c.FinalKey)
				c.FinalKey = strconv.Itoa(n + 1)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if p.Status.Finished() && card.FinalState != state.FinalPosted {
		if err := w.deliverSubFinal(ctx, card, in, subs); err != nil {
			return err
		}
		// Done until a retry reopens it: its lock goes, as a watch's does
		// when it ends.
		w.ss.locks.Delete(k)
	}
	return nil
}

// update updates a card, falling back to the short card when Slack finds
// the full one too long.
func (w *Watcher) update(ctx context.Context, channel, ts string, msg Message, in CardInput) error {
	err := w.cfg.Slack.Update(ctx, channel, ts, msg)
	if errors.Is(err, ErrMessageTooLong) {
		short := ShortCard(in)
		short.Metadata = msg.Metadata
		err = w.cfg.Slack.Update(ctx, channel, ts, short)
	}
	return err
}

func (w *Watcher) postSubCard(ctx context.Context, card state.SubCard, in CardInput, lookup bool, subs []projectSub) (state.SubCard, error) {
	var ts string
	found := false
	if lookup {
		var err error
		ts, found, err = w.cfg.Slack.FindByMetadata(ctx, card.Channel, "", card.CreatedAt.Add(-time.Minute), MetaSubCard, "pipeline_id", idString(card.PipelineID))
		if err != nil {
			return card, w.slackFailed(ctx, card.Channel, subs, fmt.Errorf("look up card: %w", err))
		}
	}
	if !found {
		msg := PipelineCard(in)
		msg.Metadata = subCardMeta(card)
		var err error
		ts, err = w.cfg.Slack.Post(ctx, card.Channel, msg)
		if errors.Is(err, ErrMessageTooLong) {
			short := ShortCard(in)
			short.Metadata = msg.Metadata
			ts, err = w.cfg.Slack.Post(ctx, card.Channel, short)
		}
		if err != nil {
			return card, w.slackFailed(ctx, card.Channel, subs, fmt.Errorf("post card: %w", err))
		}
	}
	return w.subs.UpdateSubCard(card.Key(), func(c *state.SubCard, _ bool) error {
		c.MessageTS, c.CardPending = ts, false
		c.LastStatus = cardStatus(in)
		if found {
			c.LastStatus = "" // the found card may be stale: update it next
		}
		return nil
	})
}

// deliverSubFinal posts the end of a pipeline into its card's thread once:
// intent first, and a retry after a crash looks the reply up before posting.
func (w *Watcher) deliverSubFinal(ctx context.Context, card state.SubCard, in CardInput, subs []projectSub) error {
	retrying := card.FinalState == state.FinalPending
	card, err := w.subs.UpdateSubCard(card.Key(), func(c *state.SubCard, _ bool) error {
		c.FinalState = state.FinalPending
		return nil
	})
	if err != nil {
		return fmt.Errorf("record final intent: %w", err)
	}
	found := false
	if retrying {
		_, found, err = w.cfg.Slack.FindByMetadata(ctx, card.Channel, card.MessageTS, time.Time{}, MetaSubFinal, "final_key", subFinalKey(card))
		if err != nil {
			return w.slackFailed(ctx, card.Channel, subs, fmt.Errorf("look up final reply: %w", err))
		}
	}
	if !found {
		in.Requester = w.mention(ctx, in.Pipeline.User)
		msg := FinalReply(in)
		msg.ThreadTS = card.MessageTS
		msg.Broadcast = in.Pipeline.Status == gitlab.StatusFailed
		msg.Metadata = subFinalMeta(card)
		if _, err := w.cfg.Slack.Post(ctx, card.Channel, msg); err != nil {
			return w.slackFailed(ctx, card.Channel, subs, fmt.Errorf("post final reply: %w", err))
		}
	}
	_, err = w.subs.UpdateSubCard(card.Key(), func(c *state.SubCard, _ bool) error {
		c.FinalState = state.FinalPosted
		c.LastStatus = cardStatus(in)
		return nil
	})
	return err
}

// slackFailed pauses the channel's subscriptions when Slack says pipebot
// cannot post there (not_in_channel, channel_not_found) and tells whoever
// made them; it returns err.
func (w *Watcher) slackFailed(ctx context.Context, channel string, subs []projectSub, err error) error {
	if !errors.Is(err, ErrNotInChannel) && !errors.Is(err, ErrChannelNotFound) {
		return err
	}
	reason := "pipebot is not in the channel"
	if errors.Is(err, ErrChannelNotFound) {
		reason = "the channel was not found or is archived"
	}
	for _, s := range subs {
		paused := false
		_, uerr := w.subs.UpdateSubscription(channel, s.sub.Target, func(x *state.Subscription) error {
			paused = !x.Paused
			x.Paused, x.PausedReason = true, reason
			return nil
		})
		if uerr != nil || !paused || s.sub.Creator == "" {
			continue
		}
		what := s.sub.Project
		if s.sub.Group != "" {
			what = "group " + s.sub.Group
		}
		text := fmt.Sprintf(":pause_button: I paused the subscription of <#%s> to %s: %s. Invite me with `/invite @pipebot` there, then run `/ci subscribe` again.",
			channel, Escape(what), reason)
		if _, perr := w.cfg.Slack.Post(ctx, s.sub.Creator, Message{Text: text, Blocks: []slack.Block{Section(text)}}); perr != nil {
			w.log.Warn().Err(perr).Str("channel", channel).Msg("tell creator about paused subscription")
		}
	}
	return err
}

// mention returns the Slack user id of a GitLab user, matched by email
// (the pipeline's, from a webhook, or GET /users/:id, which shows only a
// public email to a non-admin token) through users.lookupByEmail; "" when
// there is no match, and the card shows the GitLab username instead.
func (w *Watcher) mention(ctx context.Context, u gitlab.User) string {
	if u.ID == 0 || w.sslack == nil {
		return ""
	}
	now := w.cfg.Now()
	w.ss.mu.Lock()
	m, ok := w.ss.mentions[u.ID]
	w.ss.mu.Unlock()
	if ok && now.Sub(m.at) < mentionTTL {
		return m.slackID
	}
	email := u.Email
	if email == "" {
		full, err := w.sgl.User(ctx, u.ID)
		if err != nil {
			w.log.Debug().Err(err).Int64("gitlab_user", u.ID).Msg("look up gitlab user")
		}
		email = full.Email
	}
	id := ""
	if email != "" {
		var err error
		id, err = w.sslack.UserByEmail(ctx, email)
		if err != nil && !errors.Is(err, ErrUserNotFound) {
			// Not cached: try again next time.
			w.log.Debug().Err(err).Msg("look up slack user")
			return ""
		}
	}
	w.ss.mu.Lock()
	w.ss.mentions[u.ID] = mention{slackID: id, at: now}
	w.ss.mu.Unlock()
	return id
}

// ShortCard is the fallback card when Slack refuses the full one as too
// long (msg_too_long): status, ref and a link, no jobs.
func ShortCard(in CardInput) Message {
	p := in.Pipeline
	text := fmt.Sprintf("%s *%s* %s · %s · ref `%s`", StatusEmoji(p.Status), Link(p.WebURL, "#"+idString(p.ID)),
		Escape(StatusWord(p.Status)), Escape(in.Project), Code(truncate(p.Ref, 200)))
	return Message{
		Text:   fmt.Sprintf("Pipeline #%d %s (%s)", p.ID, StatusWord(p.Status), in.Project),
		Blocks: []slack.Block{Section(text)},
	}
}

// appendSubscribed adds the subscribed projects that no watch covers to the
// poll order, in id order: one poll per project serves both.
func appendSubscribed(order []int64, watched map[int64][]state.Watch, subs map[int64][]projectSub) []int64 {
	var extra []int64
	for pid := range subs {
		if _, ok := watched[pid]; !ok {
			extra = append(extra, pid)
		}
	}
	sort.Slice(extra, func(i, k int) bool { return extra[i] < extra[k] })
	return append(order, extra...)
}

// housekeep forgets old in-memory pipeline states and prunes finished
// subscription cards, at most once an hour.
func (w *Watcher) housekeep() {
	if !w.subsEnabled() {
		return
	}
	w.ss.mu.Lock()
	now := w.cfg.Now()
	due := now.Sub(w.ss.lastHousekeep) >= time.Hour
	if due {
		w.ss.lastHousekeep = now
	}
	w.ss.mu.Unlock()
	if !due {
		return
	}
	w.pruneSeen()
	if _, err := w.subs.PruneSubCards(now.Add(-subCardKeep)); err != nil {
		w.log.Warn().Err(err).Msg("prune subscription cards")
	}
	w.pruneSubLocks()
}

// pruneSubLocks forgets the locks of cards that are gone or whose final
// reply is posted, which deliverSubCard missed (it returned early on an
// error).
func (w *Watcher) pruneSubLocks() {
	w.ss.locks.Range(func(key, _ any) bool {
		k := key.(state.SubCardKey)
		c, found, err := w.subs.SubCard(k)
		if err == nil && (!found || c.FinalState == state.FinalPosted) {
			w.ss.locks.Delete(k)
		}
		return true
	})
}
