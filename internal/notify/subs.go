package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

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
	ClaimSubCard(k state.SubCardKey, project string) (state.SubCard, bool, error)
	ClaimWatchCard(wt state.Watch) (state.SubCard, bool, error)
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
	mentions map[int64]mention   // GitLab user id
	locks    sync.Map            // state.SubCardKey -> *sync.Mutex
	parents  sync.Map            // child pipeline id -> parent pipeline id (children.go)
	orphans  sync.Map            // child pipeline id -> struct{}: no watched parent (children_watch.go)

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
