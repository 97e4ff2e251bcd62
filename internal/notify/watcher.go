// Package notify owns what pipebot tells Slack on its own: the watcher that
// follows pipelines and keeps one card per pipeline up to date, the pipeline
// card and its final thread reply, and Slack posting with rate limits.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// gitlabAPI is what the watcher asks GitLab.
type gitlabAPI interface {
	Pipelines(ctx context.Context, project string, opt gitlab.ListPipelinesOptions) ([]gitlab.Pipeline, error)
	Pipeline(ctx context.Context, project string, id int64) (gitlab.Pipeline, error)
	PipelineJobs(ctx context.Context, project string, id int64, opt gitlab.ListJobsOptions) ([]gitlab.Job, error)
	tracer
}

var _ gitlabAPI = (*gitlab.Client)(nil)

// poster is what the watcher tells Slack.
type poster interface {
	Post(ctx context.Context, channel string, m Message) (string, error)
	Update(ctx context.Context, channel, ts string, m Message) error
	FindByMetadata(ctx context.Context, channel, threadTS string, oldest time.Time, eventType, key, value string) (string, bool, error)
}

var _ poster = (*Slack)(nil)

// store is the watcher's slice of the state package.
type store interface {
	PutWatch(w state.Watch) error
	Watch(k state.WatchKey) (state.Watch, bool, error)
	UpdateWatch(k state.WatchKey, fn func(*state.Watch) error) (state.Watch, error)
	DeleteWatch(k state.WatchKey) error
	Watches() ([]state.Watch, error)
	Cursor(projectID int64) (time.Time, bool, error)
	SetCursor(projectID int64, t time.Time) error
}

var _ store = (*state.Store)(nil)

// Config configures a Watcher.
type Config struct {
	GitLab   gitlabAPI
	Slack    poster
	Store    store
	Interval time.Duration // poll period; default 15 s
	// Overlap is how far before the last seen updated_at each poll asks
	// again, so a pipeline updated while the previous poll ran is not missed.
	Overlap time.Duration
	// MaxBackoff caps the wait after repeated GitLab errors. Default 5 min.
	MaxBackoff time.Duration
	// MaxAge ends a watch whose pipeline has not changed for this long
	// after it started (a pipeline left blocked on a manual job, say).
	// Default 7 days.
	MaxAge time.Duration
	Now    func() time.Time
	Logger zerolog.Logger
	// OnPoll, when set, is told each project poll's duration and error.
	OnPoll func(d time.Duration, err error)
	// OnWatches, when set, is told the number of watches after each tick.
	OnWatches func(n int)
	// HookSlowdown multiplies the poll period of a project whose webhooks
	// work (heat.go). Default 4.
	HookSlowdown int
	// QuietInterval is how often a project without running or recently
	// updated pipelines is polled, and so the longest a new pipeline there
	// goes unnoticed while the budget allows (heat.go). Default four
	// intervals, at most 60 s (but never below Interval).
	QuietInterval time.Duration
	// HotFor is how long after a pipeline's last update its project is
	// polled every tick (a retry, the next push). Default 2 QuietIntervals.
	HotFor time.Duration
	// PromoteFor is how long a project whose last_activity_at moved is
	// polled every tick (signal.go). Default 2 QuietIntervals.
	PromoteFor time.Duration
	// SignalInterval is how often a subscribed group's projects are listed
	// by last_activity_at (signal.go). Default two intervals, at most half
	// of QuietInterval (but never below Interval).
	SignalInterval time.Duration
	// PollShare is the part of GitLab's announced rate limit the poller may
	// use; the rest is left to commands, unfurls and webhooks (budget.go).
	// Default 0.5.
	PollShare float64
	// AssumedRateLimit is the requests per minute taken as GitLab's limit
	// while it announces none. Default 2,000 (GitLab.com's authenticated
	// API limit).
	AssumedRateLimit int
	// GroupRefresh is how often a subscribed group's projects are
	// rediscovered. Default 5 min.
	GroupRefresh time.Duration
	// JobPreview renders a job link's preview (the same one a pasted link
	// first unfurled into); nil leaves job previews as first posted.
	JobPreview func(project string, j gitlab.Job) Message
	// OnHomeChange, when set, is told each new status of a watched
	// pipeline that has a requester (home.go); it must not block.
	OnHomeChange func(ctx context.Context, c HomeChange)
}

// Watcher follows the pipelines pipebot started or was asked to watch and
// keeps one card per pipeline and channel up to date. A project's poll is
// one request (list pipelines with updated_after), not one per pipeline;
// busy projects are polled every tick and quiet ones less often, within a
// budget under GitLab's rate limit (heat.go), and jobs are fetched only for
// pipelines whose status changed.
//
// Every transition is delivered once across crashes: the card and the final
// thread reply carry Slack message metadata, intent is recorded in bbolt
// before posting, and an unconfirmed post is looked up in Slack before it is
// posted again.
type Watcher struct {
	cfg Config
	log zerolog.Logger

	mu      sync.Mutex
	backoff map[int64]projectBackoff
	// per-watch lock so a command's Watch and a tick never post the same
	// card concurrently
	locks sync.Map

	// subscriptions (subs.go); nil when the store or client lacks them
	subs   subStore
	sgl    subGitLab
	sslack subSlack
	ss     subState

	// live unfurls (unfurl_live.go); nil when the store or client lacks them
	unfurls  unfurlStore
	unfurler unfurlSlack
	unfurlMu sync.Mutex // serializes live unfurl updates (polls, webhooks, new links)

	poll pollState // heat, group signals and the request budget (heat.go)
}

type projectBackoff struct {
	until time.Time
	wait  time.Duration
}

// New returns a Watcher. It does no I/O.
func New(cfg Config) *Watcher {
	if cfg.Interval <= 0 {
		cfg.Interval = 15 * time.Second
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = 30 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HookSlowdown <= 0 {
		cfg.HookSlowdown = 4
	}
	if cfg.GroupRefresh <= 0 {
		cfg.GroupRefresh = 5 * time.Minute
	}
	cfg = pollDefaults(cfg)
	w := &Watcher{cfg: cfg, log: cfg.Logger.With().Str("component", "watcher").Logger(), backoff: map[int64]projectBackoff{}}
	w.subs, _ = cfg.Store.(subStore)
	w.sgl, _ = cfg.GitLab.(subGitLab)
	w.sslack, _ = cfg.Slack.(subSlack)
	w.unfurls, _ = cfg.Store.(unfurlStore)
	w.unfurler, _ = cfg.Slack.(unfurlSlack)
	w.ss = subState{seen: map[int64]seenState{}, hookAt: map[int64]time.Time{}, mentions: map[int64]mention{}}
	rates, _ := cfg.GitLab.(rateSource)
	w.poll = pollState{projects: map[int64]*projectHeat{}, groups: map[string]*groupSignal{},
		budget: newBudget(rates, cfg.PollShare, cfg.AssumedRateLimit, cfg.Interval)}
	return w
}

// WatchRequest asks the watcher to follow a pipeline in a channel.
type WatchRequest struct {
	Project   gitlab.Project
	Pipeline  gitlab.Pipeline
	Channel   string
	Requester string
	// CardTS, when set, is a message that already shows this pipeline's
	// card (a Retry click on a finished card): it is brought up to date in
	// place instead of posting a second card. If it cannot be updated (it is
	// ephemeral or gone), a new card is posted.
	CardTS string
	// RecoverSince, when set, says that an earlier attempt at this request
	// since then (by a leader that died, relay.go) may have posted the
	// card and the final reply: Slack is asked before posting either.
	RecoverSince time.Time `json:",omitzero"`
}

// Watch records a watch, posts its card and returns it. A pipeline already
// watched in the channel keeps its card, which is brought up to date (a
// retried pipeline starts over). ErrNotInChannel means Slack refused the post
// and nothing was recorded.
func (w *Watcher) Watch(ctx context.Context, req WatchRequest) (state.Watch, error) {
	key := state.WatchKey{Channel: req.Channel, ProjectID: req.Project.ID, PipelineID: req.Pipeline.ID}
	unlock := w.lock(key)
	defer unlock()

	now := w.cfg.Now()
	existing, ok, err := w.cfg.Store.Watch(key)
	if err != nil {
		return state.Watch{}, fmt.Errorf("read watch: %w", err)
	}
	recovering := !req.RecoverSince.IsZero()
	if ok && existing.MessageTS != "" && recovering {
		// The earlier attempt recorded the watch: it goes on as it is.
		return existing, w.render(ctx, existing, req.Pipeline)
	}
	if ok && existing.MessageTS != "" {
		existing, err = w.cfg.Store.UpdateWatch(key, func(wt *state.Watch) error {
			wt.FinalState = ""
			wt.LastStatus = ""
			if req.Requester != "" {
				wt.Requester = req.Requester
			}
			wt.UpdatedAt = now
			return nil
		})
		if err != nil {
			return state.Watch{}, fmt.Errorf("reset watch: %w", err)
		}
		if err := w.lowerCursor(req.Project.ID, req.Pipeline.UpdatedAt); err != nil {
			return state.Watch{}, err
		}
		return existing, w.render(ctx, existing, req.Pipeline)
	}

	if req.CardTS == "" {
		if wt, ok, err := w.adoptSubCard(ctx, req, now); ok || err != nil {
			return wt, err
		}
	}
	if req.CardTS != "" {
		wt, err := w.reuseCard(ctx, req, now)
		if err == nil || !errors.Is(err, ErrMessageNotFound) {
			return wt, err
		}
	}
	wt := state.Watch{
		ProjectID: req.Project.ID, Project: req.Project.Path, PipelineID: req.Pipeline.ID,
		Channel: req.Channel, Requester: req.Requester, CardPending: true,
		CreatedAt: now, UpdatedAt: now, RecoverFinal: recovering,
	}
	if recovering {
		wt.CreatedAt = req.RecoverSince // the card lookup starts there
	}
	in, err := w.watchInput(ctx, wt, req.Pipeline)
	if err != nil {
		return state.Watch{}, err
	}
	claimed, err := w.claimWatch(wt)
	if err != nil {
		return state.Watch{}, fmt.Errorf("record watch: %w", err)
	}
	if !claimed {
		// A subscription card for the pipeline was recorded meanwhile.
		if adopted, ok, err := w.adoptSubCard(ctx, req, now); ok || err != nil {
			return adopted, err
		}
		if err := w.takeOverCard(wt); err != nil {
			return state.Watch{}, fmt.Errorf("record watch: %w", err)
		}
	}
	if err := w.lowerCursor(req.Project.ID, req.Pipeline.UpdatedAt); err != nil {
		return state.Watch{}, err
	}
	wt, err = w.postCard(ctx, wt, in, recovering)
	if errors.Is(err, ErrNotInChannel) || errors.Is(err, ErrChannelNotFound) {
		if derr := w.cfg.Store.DeleteWatch(key); derr != nil {
			w.log.Error().Err(derr).Msg("drop watch after refused post")
		}
		return state.Watch{}, err
	}
	if err != nil {
		// The watch stays with CardPending; the next tick retries.
		return wt, err
	}
	if req.Pipeline.Status.Finished() {
		return wt, w.deliverFinal(ctx, wt, in)
	}
	return wt, nil
}

// reuseCard starts a watch on an existing card, updating it in place. On
// ErrMessageNotFound the watch is gone again and the caller posts a card.
func (w *Watcher) reuseCard(ctx context.Context, req WatchRequest, now time.Time) (state.Watch, error) {
	wt := state.Watch{
		ProjectID: req.Project.ID, Project: req.Project.Path, PipelineID: req.Pipeline.ID,
		Channel: req.Channel, Requester: req.Requester, MessageTS: req.CardTS,
		CreatedAt: now, UpdatedAt: now, RecoverFinal: !req.RecoverSince.IsZero(),
	}
	if err := w.cfg.Store.PutWatch(wt); err != nil {
		return state.Watch{}, fmt.Errorf("record watch: %w", err)
	}
	if err := w.lowerCursor(req.Project.ID, req.Pipeline.UpdatedAt); err != nil {
		return state.Watch{}, err
	}
	err := w.render(ctx, wt, req.Pipeline)
	if errors.Is(err, ErrMessageNotFound) {
		if derr := w.cfg.Store.DeleteWatch(wt.Key()); derr != nil {
			return state.Watch{}, fmt.Errorf("drop watch: %w", derr)
		}
	}
	return wt, err
}

// lowerCursor makes sure the project's poll cursor is no later than t, so the
// new watch's next change is seen.
func (w *Watcher) lowerCursor(projectID int64, t time.Time) error {
	if t.IsZero() {
		t = w.cfg.Now()
	}
	cur, ok, err := w.cfg.Store.Cursor(projectID)
	if err != nil {
		return fmt.Errorf("read cursor: %w", err)
	}
	if ok && !cur.After(t) {
		return nil
	}
	if err := w.cfg.Store.SetCursor(projectID, t); err != nil {
		return fmt.Errorf("set cursor: %w", err)
	}
	return nil
}

func (w *Watcher) lock(k state.WatchKey) func() {
	m, _ := w.locks.LoadOrStore(k, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func idString(id int64) string { return strconv.FormatInt(id, 10) }

func cardMeta(wt state.Watch) *slack.SlackMetadata {
	return &slack.SlackMetadata{EventType: MetaCard, EventPayload: map[string]any{
		"project_id": idString(wt.ProjectID), "pipeline_id": idString(wt.PipelineID),
	}}
}

func finalMeta(wt state.Watch) *slack.SlackMetadata {
	return &slack.SlackMetadata{EventType: MetaFinal, EventPayload: map[string]any{
		"project_id": idString(wt.ProjectID), "pipeline_id": idString(wt.PipelineID),
	}}
}

// postCard posts the card of a watch whose CardPending intent is recorded
// and records its ts and the status it shows. With lookup, an earlier attempt
// may have posted it (a crash between posting and saving the ts), so Slack is
// asked first.
func (w *Watcher) postCard(ctx context.Context, wt state.Watch, in CardInput, lookup bool) (state.Watch, error) {
	var ts string
	found := false
	if lookup {
		var err error
		ts, found, err = w.cfg.Slack.FindByMetadata(ctx, wt.Channel, "", wt.CreatedAt.Add(-time.Minute), MetaCard, "pipeline_id", idString(wt.PipelineID))
		if err != nil {
			return wt, fmt.Errorf("look up card: %w", err)
		}
	}
	if !found {
		msg := PipelineCard(in)
		msg.Metadata = cardMeta(wt)
		var err error
		ts, err = w.cfg.Slack.Post(ctx, wt.Channel, msg)
		if err != nil {
			return wt, fmt.Errorf("post card: %w", err)
		}
	}
	return w.cfg.Store.UpdateWatch(wt.Key(), func(x *state.Watch) error {
		x.MessageTS = ts
		x.CardPending = false
		if !found {
			x.LastStatus = cardStatus(in)
		}
		x.UpdatedAt = w.cfg.Now()
		return nil
	})
}

// watchInput is a watch card's input: cardInput and the pipeline's child
// pipelines, folded in as on a subscription card (children_watch.go).
func (w *Watcher) watchInput(ctx context.Context, wt state.Watch, p gitlab.Pipeline) (CardInput, error) {
	in, err := w.cardInput(ctx, wt, p)
	if err == nil {
		in.Children = w.children(ctx, wt.ProjectID, p)
	}
	return in, err
}

func (w *Watcher) cardInput(ctx context.Context, wt state.Watch, p gitlab.Pipeline) (CardInput, error) {
	jobs, err := w.pipelineJobs(ctx, wt.ProjectID, p.ID)
	if err != nil {
		return CardInput{}, fmt.Errorf("jobs of pipeline %d: %w", p.ID, err)
	}
	in := CardInput{Project: wt.Project, Pipeline: p, Jobs: jobs, Requester: wt.Requester, Now: w.cfg.Now()}
	if p.Status == gitlab.StatusFailed {
		in.LogTails = w.failedTails(ctx, wt.ProjectID, p.ID, jobs)
	}
	return in, nil
}

// render brings a watch's card up to date with p (fetching jobs and child
// pipelines) when p's status changed and, when p has ended, delivers the
// final thread reply once. An unchanged pipeline costs no request.
func (w *Watcher) render(ctx context.Context, wt state.Watch, p gitlab.Pipeline) error {
	if wt.MessageTS == "" {
		return nil
	}
	if shownStatus(wt.LastStatus) == string(p.Status) && wt.FinalState != "pending" && !p.Status.Finished() {
		return nil
	}
	return w.renderCard(ctx, wt, p)
}

// renderCard is render without the status check: a child pipeline that
// changed under an unchanged parent (children.go) comes here directly.
func (w *Watcher) renderCard(ctx context.Context, wt state.Watch, p gitlab.Pipeline) error {
	if wt.MessageTS == "" {
		return nil
	}
	in, err := w.watchInput(ctx, wt, p)
	if err != nil {
		return err
	}
	// LastStatus is what the card shows (cardStatus: the pipeline's status
	// and its children's), so a child's change is a change of the card.
	status := cardStatus(in)
	if wt.LastStatus != status {
		card := PipelineCard(in)
		card.Metadata = cardMeta(wt)
		if err := w.cfg.Slack.Update(ctx, wt.Channel, wt.MessageTS, card); err != nil {
			return fmt.Errorf("update card: %w", err)
		}
		w.homeChanged(ctx, wt, p)
	}
	if !p.Status.Finished() {
		_, err := w.cfg.Store.UpdateWatch(wt.Key(), func(x *state.Watch) error {
			x.LastStatus = status
			x.UpdatedAt = w.cfg.Now()
			return nil
		})
		return err
	}
	return w.deliverFinal(ctx, wt, in)
}

// deliverFinal posts the final thread reply exactly once: the intent is
// recorded first; an intent found from an earlier attempt means Slack is
// asked whether the reply already exists before posting.
func (w *Watcher) deliverFinal(ctx context.Context, wt state.Watch, in CardInput) error {
	retrying := wt.FinalState == "pending" || wt.RecoverFinal
	wt, err := w.cfg.Store.UpdateWatch(wt.Key(), func(x *state.Watch) error {
		x.FinalState = "pending"
		x.LastStatus = cardStatus(in)
		x.UpdatedAt = w.cfg.Now()
		return nil
	})
	if err != nil {
		return fmt.Errorf("record final intent: %w", err)
	}
	found := false
	if retrying {
		_, found, err = w.cfg.Slack.FindByMetadata(ctx, wt.Channel, wt.MessageTS, time.Time{}, MetaFinal, "pipeline_id", idString(wt.PipelineID))
		if err != nil {
			return fmt.Errorf("look up final reply: %w", err)
		}
	}
	if !found {
		msg := FinalReply(in)
		msg.ThreadTS = wt.MessageTS
		msg.Broadcast = wt.Broadcast && in.Pipeline.Status == gitlab.StatusFailed
		msg.Metadata = finalMeta(wt)
		if _, err := w.cfg.Slack.Post(ctx, wt.Channel, msg); err != nil {
			return fmt.Errorf("post final reply: %w", err)
		}
	}
	w.handOverToSubs(wt, cardStatus(in))
	if err := w.cfg.Store.DeleteWatch(wt.Key()); err != nil {
		return fmt.Errorf("close watch: %w", err)
	}
	w.locks.Delete(wt.Key())
	w.log.Info().Int64("project_id", wt.ProjectID).Int64("pipeline_id", wt.PipelineID).
		Str("status", string(in.Pipeline.Status)).Msg("watch ended")
	return nil
}
