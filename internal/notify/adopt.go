package notify

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

// A channel gets one card per pipeline even when a subscription and a
// watch both follow it: a watch started on a pipeline whose subscription
// card is in the channel adopts that card; while the watch lives, the
// subscription leaves the channel alone (feedSubs); when the watch ends, it
// hands the card back (handOverToSubs), so the subscription neither posts a
// second card nor a second final reply, and takes over again only if the
// pipeline is retried.

// claimWatch records a new watch's card intent unless a subscription card
// for the pipeline is recorded (false: adopt it). The store decides in one
// transaction (state.ClaimWatchCard, which a subscription's
// state.ClaimSubCard mirrors), so a watch and a subscription event racing
// on one pipeline never both post. Taking the card's subscription lock
// first lets a subscription post in flight finish, so its card is found
// with its ts.
func (w *Watcher) claimWatch(wt state.Watch) (bool, error) {
	if !w.subsEnabled() {
		return true, w.cfg.Store.PutWatch(wt)
	}
	unlock := w.lockSub(state.SubCardKey(wt.Key()))
	defer unlock()
	card, claimed, err := w.subs.ClaimWatchCard(wt)
	if err != nil || claimed {
		return claimed, err
	}
	if card.MessageTS != "" && !card.CardPending {
		return false, nil
	}
	// An intent without a message (its post failed, or a crash): under the
	// lock no delivery is posting it, and a watched pipeline's subscription
	// stays away, so the watch posts; the subscription takes the watch's
	// card when it ends (handOverToSubs).
	return true, w.cfg.Store.PutWatch(wt)
}

// takeOverCard records a watch that posts a card of its own although a
// subscription card is recorded (it is gone from Slack).
func (w *Watcher) takeOverCard(wt state.Watch) error {
	unlock := w.lockSub(state.SubCardKey(wt.Key()))
	defer unlock()
	return w.cfg.Store.PutWatch(wt)
}

// adoptSubCard starts req's watch on the channel's subscription card for
// the pipeline. ok is false when there is no such card (or it is gone from
// Slack) and the caller posts a card of its own.
func (w *Watcher) adoptSubCard(ctx context.Context, req WatchRequest, now time.Time) (wt state.Watch, ok bool, err error) {
	if !w.subsEnabled() {
		return state.Watch{}, false, nil
	}
	k := state.SubCardKey{Channel: req.Channel, ProjectID: req.Project.ID, PipelineID: req.Pipeline.ID}
	unlock := w.lockSub(k)
	card, found, err := w.subs.SubCard(k)
	unlock()
	if err != nil || !found || card.CardPending || card.MessageTS == "" {
		return state.Watch{}, false, err
	}
	p := req.Pipeline
	if p.Status.Finished() && card.FinalState == state.FinalPosted && strings.HasPrefix(card.LastStatus, string(p.Status)) {
		// This end is already in the card's thread: show the card as a
		// watch's, without a watch that would post the end again.
		wt = state.Watch{ProjectID: req.Project.ID, Project: req.Project.Path, PipelineID: p.ID, Channel: req.Channel,
			Requester: req.Requester, MessageTS: card.MessageTS, LastStatus: string(p.Status), CreatedAt: now, UpdatedAt: now}
		in, err := w.watchInput(ctx, wt, p)
		if err != nil {
			return state.Watch{}, true, err
		}
		msg := PipelineCard(in)
		msg.Metadata = cardMeta(wt)
		err = w.cfg.Slack.Update(ctx, req.Channel, card.MessageTS, msg)
		if errors.Is(err, ErrMessageNotFound) {
			return state.Watch{}, false, nil
		}
		return wt, true, err
	}
	req.CardTS = card.MessageTS
	wt, err = w.reuseCard(ctx, req, now)
	if errors.Is(err, ErrMessageNotFound) {
		return state.Watch{}, false, nil
	}
	return wt, true, err
}

// handOverToSubs records, when a watch has posted its pipeline's end, that
// the channel's subscription card for the pipeline is that watch's card
// with its end posted. It does nothing in a channel without subscriptions.
func (w *Watcher) handOverToSubs(wt state.Watch, status string) {
	if !w.subsEnabled() || wt.MessageTS == "" {
		return
	}
	subs, err := w.subs.ChannelSubscriptions(wt.Channel)
	if err != nil || len(subs) == 0 {
		return
	}
	k := state.SubCardKey{Channel: wt.Channel, ProjectID: wt.ProjectID, PipelineID: wt.PipelineID}
	unlock := w.lockSub(k)
	defer unlock()
	_, err = w.subs.UpdateSubCard(k, func(c *state.SubCard, found bool) error {
		if found && c.MessageTS != "" && c.MessageTS != wt.MessageTS && !c.CardPending {
			return nil // the subscription has a card of its own; it keeps it
		}
		if c.Project == "" {
			c.Project = wt.Project
		}
		c.MessageTS, c.CardPending = wt.MessageTS, false
		c.LastStatus, c.FinalState = status, state.FinalPosted
		return nil
	})
	if err != nil {
		w.log.Warn().Err(err).Int64("pipeline_id", wt.PipelineID).Msg("hand watch card to subscription")
	}
}
