package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// Metadata event types of subscription cards and their final replies. They
// differ from a watch's so that crash recovery never mistakes one for the other.
const (
	MetaSubCard  = "pipebot_sub_card"
	MetaSubFinal = "pipebot_sub_final"
)

// subStore is the subscriptions' slice of the state package.
type subStore interface {
	Subscriptions() ([]state.Subscription, error)
	ChannelSubscriptions(channel string) ([]state.Subscription, error)
	PutSubscription(sub state.Subscription) error
	UpdateSubscription(channel, target string, fn func(*state.Subscription) error) (state.Subscription, error)
	DeleteSubscription(channel, target string) (bool, error)
	RecordRefStatus(projectID int64, ref string, pipelineID int64, status string) (string, error)
	SubCard(k state.SubCardKey) (state.SubCard, bool, error)
	UpdateSubCard(k state.SubCardKey, fn func(*state.SubCard, bool) error) (state.SubCard, error)
	SubCards() ([]state.SubCard, error)
	PruneSubCards(cutoff time.Time) (int, error)
	GroupProjects(group string) (state.GroupProjects, bool, error)
	SetGroupProjects(g state.GroupProjects) error
}

var _ subStore = (*state.Store)(nil)

// subGitLab is what subscriptions ask GitLab beyond the watcher's calls.
type subGitLab interface {
	Project(ctx context.Context, project string) (gitlab.Project, error)
	Group(ctx context.Context, group string) (gitlab.Group, error)
	GroupProjects(ctx context.Context, group string) ([]gitlab.Project, error)
	User(ctx context.Context, id int64) (gitlab.User, error)
}

var _ subGitLab = (*gitlab.Client)(nil)

// subSlack is what subscriptions ask Slack beyond posting.
type subSlack interface {
	IsMember(ctx context.Context, channel string) (bool, error)
	UserByEmail(ctx context.Context, email string) (string, error)
}

var _ subSlack = (*Slack)(nil)

// ErrSubscriptionsOff is returned when the watcher was built without the
// subscription store or GitLab calls.
var ErrSubscriptionsOff = errors.New("subscriptions are not available")

// subState is the watcher's in-memory subscription state: what it saw of
// each pipeline (to skip unchanged ones and to order webhook events), when
// hooks last arrived per project, and the Slack user of each GitLab user.
type subState struct {
	mu       sync.Mutex
	seen     map[int64]seenState // pipeline id
	hookAt   map[int64]time.Time // project id -> last webhook
	lastPoll map[int64]time.Time // project id -> last poll
	mentions map[int64]mention   // GitLab user id
	locks    sync.Map            // state.SubCardKey -> *sync.Mutex
	parents  sync.Map            // child pipeline id -> parent pipeline id (children.go)

	lastHousekeep time.Time
}

type seenState struct {
	status gitlab.Status
	maxJob int64 // highest job id in a webhook's builds; 0 when polled
	hook   bool
	at     time.Time
}

type mention struct {
	slackID string // "" when no Slack user matched
	at      time.Time
}

const (
	mentionTTL = 6 * time.Hour
	seenTTL    = 24 * time.Hour
	// hooksWorkingFor is how long after the last webhook a project counts as
	// having working hooks and is polled less often.
	hooksWorkingFor = 30 * time.Minute
	subCardKeep     = 7 * 24 * time.Hour
)

func (w *Watcher) subsEnabled() bool { return w.subs != nil && w.sgl != nil }

// projectSub is one subscription that covers a project, with its filter.
type projectSub struct {
	sub    state.Subscription
	filter Filter
	path   string // the project's path, for cards
}

func filterOf(s state.Subscription) Filter {
	f := Filter{Refs: s.Refs, Sources: s.Sources, Users: s.Users}
	for _, e := range s.On {
		f.On = append(f.On, Event(e))
	}
	return f
}

// SubscribeRequest asks for a channel subscription to a project or a group.
type SubscribeRequest struct {
	Channel, Creator string
	Project          string // path or id; or
	Group            string // full path or id
	// Filters as typed: comma-separated lists.
	On, Ref, Source, User string
}

// Subscribe checks that GitLab shows pipebot the project or group and that
// pipebot is in the channel (ErrNotInChannel otherwise), then records the
// subscription, replacing the channel's earlier one to the same target.
// Nothing that ended before now is posted.
func (w *Watcher) Subscribe(ctx context.Context, req SubscribeRequest) (state.Subscription, error) {
	if !w.subsEnabled() {
		return state.Subscription{}, ErrSubscriptionsOff
	}
	f, err := ParseFilter(req.On, req.Ref, req.Source, req.User)
	if err != nil {
		return state.Subscription{}, err
	}
	sub := state.Subscription{Channel: req.Channel, Creator: req.Creator, Refs: f.Refs, Sources: f.Sources, Users: f.Users, CreatedAt: w.cfg.Now()}
	for _, e := range f.On {
		sub.On = append(sub.On, string(e))
	}
	var projects []gitlab.Project
	if req.Group != "" {
		g, err := w.sgl.Group(ctx, req.Group)
		if err != nil {
			return state.Subscription{}, fmt.Errorf("look up group %s: %w", req.Group, err)
		}
		sub.Target, sub.Group, sub.GroupID = state.GroupTarget(g.Path), g.Path, g.ID
		projects, err = w.sgl.GroupProjects(ctx, g.Path)
		if err != nil {
			return state.Subscription{}, fmt.Errorf("list projects of group %s: %w", g.Path, err)
		}
	} else {
		p, err := w.sgl.Project(ctx, req.Project)
		if err != nil {
			return state.Subscription{}, fmt.Errorf("look up project %s: %w", req.Project, err)
		}
		sub.Target, sub.ProjectID, sub.Project = state.ProjectTarget(p.ID), p.ID, p.Path
		projects = []gitlab.Project{p}
	}
	if w.sslack != nil {
		member, err := w.sslack.IsMember(ctx, req.Channel)
		if err != nil {
			return state.Subscription{}, fmt.Errorf("check channel membership: %w", err)
		}
		if !member {
			return state.Subscription{}, ErrNotInChannel
		}
	}
	if sub.Group != "" {
		if err := w.storeGroup(sub.Group, projects); err != nil {
			return state.Subscription{}, err
		}
	}
	for _, p := range projects {
		if err := w.startCursor(p.ID); err != nil {
			return state.Subscription{}, err
		}
	}
	if err := w.subs.PutSubscription(sub); err != nil {
		return state.Subscription{}, fmt.Errorf("record subscription: %w", err)
	}
	return sub, nil
}

// startCursor sets a project's poll cursor to now unless it has one, so that
// a new subscription starts from the present.
func (w *Watcher) startCursor(projectID int64) error {
	if _, ok, err := w.cfg.Store.Cursor(projectID); err != nil || ok {
		return err
	}
	if err := w.cfg.Store.SetCursor(projectID, w.cfg.Now()); err != nil {
		return fmt.Errorf("set cursor: %w", err)
	}
	return nil
}

func (w *Watcher) storeGroup(group string, projects []gitlab.Project) error {
	g := state.GroupProjects{Group: group, Projects: make(map[int64]string, len(projects)), RefreshedAt: w.cfg.Now()}
	for _, p := range projects {
		g.Projects[p.ID] = p.Path
	}
	if err := w.subs.SetGroupProjects(g); err != nil {
		return fmt.Errorf("cache group projects: %w", err)
	}
	return nil
}

// Unsubscribe removes the channel's subscription to a project (path or id)
// or a group and returns it; found is false when there was none.
func (w *Watcher) Unsubscribe(_ context.Context, channel, project, group string) (state.Subscription, bool, error) {
	if !w.subsEnabled() {
		return state.Subscription{}, false, ErrSubscriptionsOff
	}
	subs, err := w.subs.ChannelSubscriptions(channel)
	if err != nil {
		return state.Subscription{}, false, err
	}
	for _, s := range subs {
		match := false
		if group != "" {
			match = s.Group != "" && (strings.EqualFold(s.Group, group) || strconv.FormatInt(s.GroupID, 10) == group)
		} else {
			match = s.Group == "" && (strings.EqualFold(s.Project, project) || strconv.FormatInt(s.ProjectID, 10) == project)
		}
		if !match {
			continue
		}
		if _, err := w.subs.DeleteSubscription(channel, s.Target); err != nil {
			return state.Subscription{}, false, err
		}
		return s, true, nil
	}
	return state.Subscription{}, false, nil
}

// ChannelSubscriptions lists a channel's subscriptions.
func (w *Watcher) ChannelSubscriptions(channel string) ([]state.Subscription, error) {
	if !w.subsEnabled() {
		return nil, ErrSubscriptionsOff
	}
	return w.subs.ChannelSubscriptions(channel)
}

// subscribedProjects maps each project with at least one active
// subscription to those subscriptions, expanding groups through the
// discovery cache, which is refreshed every GroupRefresh (a new project in
// the group starts from now).
func (w *Watcher) subscribedProjects(ctx context.Context) (map[int64][]projectSub, error) {
	if !w.subsEnabled() {
		return nil, nil
	}
	subs, err := w.subs.Subscriptions()
	if err != nil {
		return nil, err
	}
	out := map[int64][]projectSub{}
	groups := map[string]state.GroupProjects{}
	for _, s := range subs {
		if s.Paused {
			continue
		}
		f := filterOf(s)
		if s.Group == "" {
			out[s.ProjectID] = append(out[s.ProjectID], projectSub{sub: s, filter: f, path: s.Project})
			continue
		}
		g, ok := groups[s.Group]
		if !ok {
			g = w.groupProjects(ctx, s.Group)
			groups[s.Group] = g
		}
		for id, path := range g.Projects {
			out[id] = append(out[id], projectSub{sub: s, filter: f, path: path})
		}
	}
	return out, nil
}

// groupProjects returns a group's cached projects, refreshing the cache
// from GitLab when it is older than GroupRefresh. A failed refresh keeps the
// old list.
func (w *Watcher) groupProjects(ctx context.Context, group string) state.GroupProjects {
	g, found, err := w.subs.GroupProjects(group)
	if err != nil {
		w.log.Warn().Err(err).Str("group", group).Msg("read group cache")
	}
	if found && w.cfg.Now().Sub(g.RefreshedAt) < w.cfg.GroupRefresh {
		return g
	}
	projects, err := w.sgl.GroupProjects(ctx, group)
	if err != nil {
		w.log.Warn().Err(err).Str("group", group).Msg("discover group projects")
		return g
	}
	for _, p := range projects {
		if _, known := g.Projects[p.ID]; !known {
			if err := w.startCursor(p.ID); err != nil {
				w.log.Warn().Err(err).Int64("project_id", p.ID).Msg("start cursor of new group project")
			}
		}
	}
	if err := w.storeGroup(group, projects); err != nil {
		w.log.Warn().Err(err).Str("group", group).Msg("cache group projects")
	}
	g, _, _ = w.subs.GroupProjects(group)
	return g
}

// pollDue reports whether a project is due for a poll: always, unless its
// webhooks work, in which case every HookSlowdown intervals — never not at
// all, so that a disabled hook is still caught.
func (w *Watcher) pollDue(pid int64) bool {
	w.ss.mu.Lock()
	defer w.ss.mu.Unlock()
	now := w.cfg.Now()
	if hook, ok := w.ss.hookAt[pid]; ok && now.Sub(hook) < hooksWorkingFor {
		if last, ok := w.ss.lastPoll[pid]; ok && now.Sub(last) < time.Duration(w.cfg.HookSlowdown)*w.cfg.Interval {
			return false
		}
	}
	w.ss.lastPoll[pid] = now
	return true
}

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
	jobs, err := w.cfg.GitLab.PipelineJobs(ctx, idString(pid), p.ID, gitlab.ListJobsOptions{Limit: 100})
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
		in.LogTails = FailedJobTails(ctx, w.cfg.GitLab, idString(pid), jobs)
	}
	status := cardStatus(in)

	if !found || card.CardPending {
		lookup := found
		if !found {
			card, err = w.subs.UpdateSubCard(k, func(c *state.SubCard, _ bool) error {
				c.Project, c.CardPending = subs[0].path, true
				return nil
			})
			if err != nil {
				return fmt.Errorf("record card intent: %w", err)
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
