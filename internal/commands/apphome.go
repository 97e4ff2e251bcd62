package commands

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/state"
)

// homeStore is the App Home's slice of the state package.
type homeStore interface {
	Home(user string) (state.Home, bool, error)
	MarkHomeOpened(user, dm string) (state.Home, error)
	AddHomePipeline(user string, p state.HomePipeline) (state.Home, error)
	SetHomePipelineStatus(user string, projectID, pipelineID int64, status string) (state.Home, bool, error)
	Subscriptions() ([]state.Subscription, error)
}

var _ homeStore = (*state.Store)(nil)

// homeSlack is how the App Home reaches Slack: it publishes the view and
// answers clicks in the user's DM (a Home view has no channel and its
// clicks no response_url).
type homeSlack interface {
	PublishHome(ctx context.Context, user string, view slack.HomeTabViewRequest) error
	Post(ctx context.Context, channel string, m notify.Message) (string, error)
}

var _ homeSlack = (*notify.Slack)(nil)

// DefaultHomeCoalesce is the least time between two publishes of one
// user's Home caused by pipeline changes.
const DefaultHomeCoalesce = 3 * time.Second

// homeTab coalesces Home publishes: at most one per user per interval for
// pipeline changes, and one user's publishes one at a time, so an older
// view never replaces a newer one.
type homeTab struct {
	interval time.Duration
	after    func(d time.Duration, f func())

	mu      sync.Mutex
	stopped bool                 // StopHome: scheduled publishes do nothing
	last    map[string]time.Time // user -> last publish
	pending map[string]bool      // user -> a publish is scheduled
	locks   map[string]*sync.Mutex
}

func newHomeTab(interval time.Duration, after func(time.Duration, func())) *homeTab {
	if interval <= 0 {
		interval = DefaultHomeCoalesce
	}
	if after == nil {
		after = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	return &homeTab{interval: interval, after: after, last: map[string]time.Time{}, pending: map[string]bool{}, locks: map[string]*sync.Mutex{}}
}

func (h *homeTab) lock(user string) func() {
	h.mu.Lock()
	m := h.locks[user]
	if m == nil {
		m = &sync.Mutex{}
		h.locks[user] = m
	}
	h.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func (h *homeTab) published(user string, at time.Time) {
	h.mu.Lock()
	h.last[user] = at
	h.mu.Unlock()
}

// schedule arranges one publish for user no sooner than interval after the
// last; it does nothing while one is already scheduled (that one will show
// the newest state).
func (h *homeTab) schedule(user string, now time.Time, publish func()) {
	h.mu.Lock()
	if h.pending[user] {
		h.mu.Unlock()
		return
	}
	h.pending[user] = true
	wait := max(h.last[user].Add(h.interval).Sub(now), 0)
	h.mu.Unlock()
	h.after(wait, func() {
		h.mu.Lock()
		delete(h.pending, user)
		stopped := h.stopped
		h.mu.Unlock()
		if !stopped {
			publish()
		}
	})
}

// StopHome drops the App Home publishes still scheduled, so none runs
// after shutdown closes the store.
func (r *Router) StopHome() {
	r.home.mu.Lock()
	r.home.stopped = true
	r.home.mu.Unlock()
}

// homeParts returns the store and Slack the App Home needs; ok is false
// when the wiring lacks them (the Home tab is then off).
func (r *Router) homeParts() (homeStore, homeSlack, bool) {
	hs, ok1 := r.deps.Store.(homeStore)
	sl, ok2 := r.deps.Slack.(homeSlack)
	return hs, sl, ok1 && ok2
}

// openHome answers app_home_opened on the Home tab: the user is remembered
// (their DM too) and gets their Home published. The Messages tab needs
// nothing.
func (r *Router) openHome(ctx context.Context, team string, ev *slackevents.AppHomeOpenedEvent) {
	hs, _, ok := r.homeParts()
	if !ok || ev.User == "" || (ev.Tab != "" && ev.Tab != "home") {
		return
	}
	if _, err := hs.MarkHomeOpened(ev.User, ev.Channel); err != nil {
		r.log.Error().Err(err).Str("user", ev.User).Msg("remember home opened")
	}
	r.publishHome(ctx, team, ev.User, "")
	r.observe("app_home", "ok")
}

// publishHome renders user's Home from the store (no GitLab request but
// the bot identity, cached) and publishes it.
func (r *Router) publishHome(ctx context.Context, team, user, notice string) {
	hs, sl, ok := r.homeParts()
	if !ok {
		return
	}
	unlock := r.home.lock(user)
	defer unlock()
	log := r.log.With().Str("user", user).Str("event", "app_home").Logger()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	role, err := r.roleOf(user)
	if err != nil {
		log.Error().Err(err).Msg("home role")
		return
	}
	h, _, err := hs.Home(user)
	if err != nil {
		log.Error().Err(err).Msg("home record")
		return
	}
	subs, err := hs.Subscriptions()
	if err != nil {
		log.Error().Err(err).Msg("home subscriptions")
		return
	}
	id, err := r.identityOf(ctx, team, user)
	if err != nil {
		// The line then names pipebot's token without its username.
		log.Warn().Err(err).Msg("home identity")
	}
	view := homeView(homeInput{User: user, Role: role, Identity: id, Pipelines: h.Pipelines, Subs: subs, Notice: notice, Now: r.deps.Now()})
	if err := sl.PublishHome(ctx, user, view); err != nil {
		log.Warn().Err(err).Msg("views.publish")
		return
	}
	r.home.published(user, r.deps.Now())
}

// HomePipelineChanged records a watched pipeline's new status for the user
// who started it and, if they have opened their Home, re-publishes it
// (coalesced). It is the watcher's OnHomeChange: it only touches the store
// and a timer, never GitLab.
func (r *Router) HomePipelineChanged(_ context.Context, c notify.HomeChange) {
	hs, _, ok := r.homeParts()
	if !ok || c.User == "" {
		return
	}
	h, changed, err := hs.SetHomePipelineStatus(c.User, c.ProjectID, c.Pipeline.ID, string(c.Pipeline.Status))
	if err != nil {
		r.log.Error().Err(err).Str("user", c.User).Msg("home pipeline status")
		return
	}
	if changed && h.Opened() {
		r.scheduleHome(c.User)
	}
}

func (r *Router) scheduleHome(user string) {
	r.home.schedule(user, r.deps.Now(), func() { r.publishHome(context.Background(), "", user, "") })
}

// rememberHomePipeline adds a pipeline the user started from Slack to
// their Home (a watch of someone else's pipeline is not theirs).
func (r *Router) rememberHomePipeline(c *Call, proj gitlab.Project, p gitlab.Pipeline) {
	hs, _, ok := r.homeParts()
	if !ok || c.Req.UserID == "" || c.Cmd == nil || c.Cmd.Name == "pipeline watch" {
		return
	}
	h, err := hs.AddHomePipeline(c.Req.UserID, state.HomePipeline{
		ProjectID: proj.ID, Project: proj.Path, PipelineID: p.ID, Ref: p.Ref, Status: string(p.Status), WebURL: p.WebURL,
	})
	if err != nil {
		r.log.Error().Err(err).Str("user", c.Req.UserID).Msg("remember home pipeline")
		return
	}
	if h.Opened() {
		r.scheduleHome(c.Req.UserID)
	}
}

// handleHomeAction runs a click on the App Home. Refresh re-publishes it;
// any other button is a command, run through the router as the clicker
// (role checked) with the user's DM as its channel, so its answer, and the
// card of a pipeline it starts, go there. The Home is then re-published.
func (r *Router) handleHomeAction(ctx context.Context, req slackapp.Request) {
	if req.UserID == "" {
		return
	}
	if req.ActionID == homeRefreshAction {
		r.publishHome(ctx, req.TeamID, req.UserID, "")
		return
	}
	hs, sl, ok := r.homeParts()
	if !ok {
		return
	}
	h, _, err := hs.Home(req.UserID)
	if err != nil {
		r.log.Error().Err(err).Str("user", req.UserID).Msg("home record")
		return
	}
	// chat.postMessage to a user id posts in pipebot's DM with them too,
	// for the rare click whose app_home_opened was never recorded.
	dm := h.DMChannel
	if dm == "" {
		dm = req.UserID
	}
	req.ChannelID = dm
	ctx = withRequestID(ctx, newRef())
	reply := r.Dispatch(ctx, req)
	if reply.None {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	notice := ":envelope_with_arrow: I answered your click in our DM (Messages tab)."
	if _, err := sl.Post(dctx, dm, reply.Message); err != nil {
		r.log.Warn().Err(err).Str("req_id", requestID(ctx)).Str("user", req.UserID).Msg("deliver home reply")
		notice = fmt.Sprintf(":warning: I could not send you the answer (ref `%s`).", requestID(ctx))
	}
	r.publishHome(ctx, req.TeamID, req.UserID, notice)
}
