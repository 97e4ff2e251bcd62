package notify

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// WebhookConfig configures the GitLab webhook intake.
type WebhookConfig struct {
	// Secret is the expected X-Gitlab-Token (GITLAB_WEBHOOK_SECRET).
	Secret  string
	Watcher *Watcher
	// Once records a delivery key as processed (state.MarkOnce); it is
	// called once the delivery was processed, not when it is queued: the
	// queue is in memory, and a delivery lost in a crash must be taken when
	// GitLab sends it again.
	Once func(key string) (bool, error)
	// Seen reports whether a delivery key was processed already
	// (state.OnceMarked), checked when a delivery arrives. Duplicates that
	// arrive while the first is still queued are caught in memory.
	Seen func(key string) (bool, error)
	// Observe, when set, counts deliveries by event and result.
	Observe func(event, result string)
	// MaxQueue bounds the pipelines waiting to be processed; default 1000.
	MaxQueue int
	// MaxBody bounds a delivery's body; default 8 MiB.
	MaxBody int64
	Logger  zerolog.Logger
	// Handoff, when set (replicas sharing a database), takes each
	// accepted delivery into the database's queue for the leader instead
	// of the memory queue (handoff.go); Once and Seen are then unused.
	Handoff Handoff
	// Finish, when set, is told the queue items of each event once it was
	// processed: the leader's intake of handed-off deliveries (Deliver).
	Finish func(item string)
}

// Webhook is POST /gitlab/webhook: it checks the token, drops duplicate
// deliveries, queues the pipeline and answers 200 at once; Run processes the
// queue through the watcher, the same way as a poll. A delivery is recorded
// as processed (Once) only after it was: one accepted but lost in a crash is
// taken again when GitLab resends it. Events for one
// pipeline that wait in the queue are coalesced to the newest.
type Webhook struct {
	cfg    WebhookConfig
	log    zerolog.Logger
	secret [32]byte

	mu      sync.Mutex
	pending map[int64]hookEvent // pipeline id
	order   []int64
	signal  chan struct{}
	// inflight holds the delivery keys queued or being processed, not yet
	// recorded through Once.
	inflight map[string]struct{}
}

// hookEvent is one queued pipeline state from a delivery.
type hookEvent struct {
	projectID int64
	project   string
	pipeline  gitlab.Pipeline
	maxJob    int64
	// fetch: the delivery says a pipeline changed but not how (Job Hook),
	// so its state is read from GitLab.
	fetch bool
	// parentID is a child pipeline's parent in the same project, or 0.
	parentID int64
	// keys are the delivery keys of the deliveries coalesced into this event,
	// recorded as processed once it was.
	keys []string
	// items are the handoff queue items coalesced into this event (Deliver).
	items []string
}

// NewWebhook returns the intake. It does no I/O.
func NewWebhook(cfg WebhookConfig) *Webhook {
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 1000
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 8 << 20
	}
	return &Webhook{
		cfg: cfg, log: cfg.Logger.With().Str("component", "webhook").Logger(),
		secret:  sha256.Sum256([]byte(cfg.Secret)),
		pending: map[int64]hookEvent{}, signal: make(chan struct{}, 1),
		inflight: map[string]struct{}{},
	}
}

func (h *Webhook) observe(event, result string) {
	if h.cfg.Observe != nil {
		h.cfg.Observe(event, result)
	}
}

// tokenOK compares the token in constant time: both sides are hashed first,
// so neither the content nor the length of the secret leaks through timing.
func (h *Webhook) tokenOK(got string) bool {
	sum := sha256.Sum256([]byte(got))
	return h.cfg.Secret != "" && subtle.ConstantTimeCompare(sum[:], h.secret[:]) == 1
}

// ServeHTTP takes one delivery.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	event := r.Header.Get("X-Gitlab-Event")
	kind := eventKind(event)
	if !h.tokenOK(r.Header.Get("X-Gitlab-Token")) {
		h.observe(kind, "unauthorized")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if kind == "other" {
		h.observe(kind, "ignored")
		_, _ = io.WriteString(w, "ignored\n")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.cfg.MaxBody+1))
	if err != nil || int64(len(body)) > h.cfg.MaxBody {
		h.observe(kind, "bad_request")
		http.Error(w, "body unreadable or too large", http.StatusRequestEntityTooLarge)
		return
	}
	ev, err := parseHook(kind, body)
	if err != nil {
		h.observe(kind, "bad_request")
		http.Error(w, "not a pipeline or job hook", http.StatusBadRequest)
		return
	}
	if h.cfg.Handoff != nil {
		h.handOff(w, kind, body, deliveryKeys(r))
		return
	}
	if h.full(ev.pipeline.ID) {
		h.observe(kind, "busy")
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	ev.keys = deliveryKeys(r)
	if !h.enqueue(ev) {
		h.observe(kind, "duplicate")
		_, _ = io.WriteString(w, "duplicate\n")
		return
	}
	h.observe(kind, "queued")
	_, _ = io.WriteString(w, "ok\n")
}

func eventKind(event string) string {
	switch event {
	case "Pipeline Hook":
		return "pipeline"
	case "Job Hook":
		return "job"
	}
	return "other"
}

// deliveryKeys are the delivery's Idempotency-Key and X-Gitlab-Event-UUID:
// GitLab resends a delivery with the same keys.
func deliveryKeys(r *http.Request) []string {
	var keys []string
	for _, k := range []string{"idem:" + r.Header.Get("Idempotency-Key"), "uuid:" + r.Header.Get("X-Gitlab-Event-UUID")} {
		if !strings.HasSuffix(k, ":") {
			keys = append(keys, k)
		}
	}
	return keys
}

// duplicateLocked reports whether a delivery with one of keys is queued or
// being processed (in memory) or was processed (Seen). h.mu is held.
func (h *Webhook) duplicateLocked(keys []string) bool {
	for _, k := range keys {
		if _, ok := h.inflight[k]; ok {
			return true
		}
		if h.cfg.Seen == nil {
			continue
		}
		seen, err := h.cfg.Seen(k)
		if err != nil {
			h.log.Error().Err(err).Msg("dedupe marker")
			continue
		}
		if seen {
			return true
		}
	}
	return false
}

// settle ends the keys' stay in memory; when the event was processed they
// are recorded through Once, so that a later resend is a duplicate. A failed
// event's keys are not recorded: GitLab's resend is taken.
func (h *Webhook) settle(keys []string, processed bool) {
	if processed && h.cfg.Once != nil {
		for _, k := range keys {
			if _, err := h.cfg.Once(k); err != nil {
				h.log.Error().Err(err).Msg("dedupe marker")
			}
		}
	}
	h.mu.Lock()
	for _, k := range keys {
		delete(h.inflight, k)
	}
	h.mu.Unlock()
}

func (h *Webhook) full(pipelineID int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, queued := h.pending[pipelineID]
	return !queued && len(h.order) >= h.cfg.MaxQueue
}

// enqueue queues ev unless it is a duplicate delivery, and reports whether
// it did.
func (h *Webhook) enqueue(ev hookEvent) bool {
	h.mu.Lock()
	if h.duplicateLocked(ev.keys) {
		h.mu.Unlock()
		return false
	}
	for _, k := range ev.keys {
		h.inflight[k] = struct{}{}
	}
	old, queued := h.pending[ev.pipeline.ID]
	if queued {
		// Whichever state wins, both deliveries are processed with it.
		ev.keys = append(append([]string(nil), old.keys...), ev.keys...)
		old.keys = ev.keys
		ev.items = append(append([]string(nil), old.items...), ev.items...)
		old.items = ev.items
	}
	switch {
	case !queued:
		h.order = append(h.order, ev.pipeline.ID)
		h.pending[ev.pipeline.ID] = ev
	case ev.fetch:
		old.fetch = true
		h.pending[ev.pipeline.ID] = old
	case old.fetch || !staleEvent(seenState{status: old.pipeline.Status, maxJob: old.maxJob, hook: true}, ev):
		h.pending[ev.pipeline.ID] = ev
	default:
		h.pending[ev.pipeline.ID] = old // older state, its keys added
	}
	h.mu.Unlock()
	select {
	case h.signal <- struct{}{}:
	default:
	}
	return true
}

func (h *Webhook) next() (hookEvent, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.order) == 0 {
		return hookEvent{}, false
	}
	id := h.order[0]
	h.order = h.order[1:]
	ev := h.pending[id]
	delete(h.pending, id)
	return ev, true
}

// Drain processes every queued event now and returns the first error.
func (h *Webhook) Drain(ctx context.Context) error {
	var first error
	for {
		ev, ok := h.next()
		if !ok {
			return first
		}
		err := h.cfg.Watcher.hookPipeline(ctx, ev)
		h.settle(ev.keys, err == nil)
		if !errLeaderLost(err) && ctx.Err() == nil {
			// Done, or failed in a way the next poll makes good; a leader
			// that lost its lease leaves the item to the next one.
			h.finish(ev.items)
		}
		if err != nil {
			h.log.Warn().Err(err).Int64("project_id", ev.projectID).Int64("pipeline_id", ev.pipeline.ID).Msg("webhook event")
			if first == nil {
				first = err
			}
		}
	}
}

// Run processes queued events until ctx ends.
func (h *Webhook) Run(ctx context.Context) {
	for {
		_ = h.Drain(ctx)
		select {
		case <-ctx.Done():
			return
		case <-h.signal:
		}
	}
}

// hookTime reads GitLab's webhook timestamps ("2016-08-12 15:23:28 UTC";
// some events use ISO 8601) and null.
type hookTime struct{ t *time.Time }

var hookLayouts = []string{"2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700", time.RFC3339Nano}

func (h *hookTime) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == nil || *s == "" {
		return nil
	}
	for _, l := range hookLayouts {
		if t, err := time.Parse(l, *s); err == nil {
			t = t.UTC()
			h.t = &t
			return nil
		}
	}
	return fmt.Errorf("unknown time format %q", *s)
}

// hookPayload is the part of a Pipeline Hook or Job Hook pipebot reads
// (doc/user/project/integrations/webhook_events.md). The pipeline's
// variables are deliberately not decoded: their values never go further.
type hookPayload struct {
	ObjectKind string `json:"object_kind"`
	Attrs      struct {
		ID             int64    `json:"id"`
		IID            int64    `json:"iid"`
		Ref            string   `json:"ref"`
		SHA            string   `json:"sha"`
		Source         string   `json:"source"`
		Status         string   `json:"status"`
		CreatedAt      hookTime `json:"created_at"`
		FinishedAt     hookTime `json:"finished_at"`
		Duration       *float64 `json:"duration"`
		QueuedDuration *float64 `json:"queued_duration"`
		URL            string   `json:"url"`
		Name           *string  `json:"name"`
	} `json:"object_attributes"`
	User *struct {
		ID       int64  `json:"id"`
		Name     string `json:"name"`
		Username string `json:"username"`
		Email    string `json:"email"`
	} `json:"user"`
	Project struct {
		ID                int64  `json:"id"`
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
	Builds []struct {
		ID int64 `json:"id"`
	} `json:"builds"`
	// A child pipeline's parent.
	SourcePipeline *struct {
		PipelineID int64 `json:"pipeline_id"`
		Project    struct {
			ID int64 `json:"id"`
		} `json:"project"`
	} `json:"source_pipeline"`
	// Job Hook fields.
	PipelineID  int64  `json:"pipeline_id"`
	ProjectID   int64  `json:"project_id"`
	ProjectName string `json:"project_name"`
}

var errNotAHook = errors.New("not a pipeline or job hook")

func parseHook(kind string, body []byte) (hookEvent, error) {
	var p hookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return hookEvent{}, fmt.Errorf("decode hook: %w", err)
	}
	if kind == "job" || p.ObjectKind == "build" {
		if p.ProjectID <= 0 || p.PipelineID <= 0 {
			return hookEvent{}, errNotAHook
		}
		ev := hookEvent{projectID: p.ProjectID, pipeline: gitlab.Pipeline{ID: p.PipelineID, ProjectID: p.ProjectID}, fetch: true}
		if sp := p.SourcePipeline; sp != nil && sp.PipelineID > 0 && (sp.Project.ID == 0 || sp.Project.ID == p.ProjectID) {
			ev.parentID = sp.PipelineID
		}
		return ev, nil
	}
	a := p.Attrs
	if p.ObjectKind != "pipeline" || a.ID <= 0 || p.Project.ID <= 0 || a.Status == "" {
		return hookEvent{}, errNotAHook
	}
	pl := gitlab.Pipeline{
		ID: a.ID, IID: a.IID, ProjectID: p.Project.ID, Status: gitlab.Status(a.Status), Source: a.Source,
		Ref: a.Ref, SHA: a.SHA, WebURL: a.URL, FinishedAt: a.FinishedAt.t,
	}
	if a.Name != nil {
		pl.Name = *a.Name
	}
	if a.CreatedAt.t != nil {
		pl.CreatedAt = *a.CreatedAt.t
	}
	if a.Duration != nil && *a.Duration > 0 {
		pl.Duration = time.Duration(*a.Duration * float64(time.Second))
	}
	if p.User != nil {
		pl.User = gitlab.User{ID: p.User.ID, Username: p.User.Username, Name: p.User.Name, Email: p.User.Email}
	}
	var maxJob int64
	for _, b := range p.Builds {
		maxJob = max(maxJob, b.ID)
	}
	ev := hookEvent{projectID: p.Project.ID, project: p.Project.PathWithNamespace, pipeline: pl, maxJob: maxJob}
	if sp := p.SourcePipeline; sp != nil && sp.PipelineID > 0 && (sp.Project.ID == 0 || sp.Project.ID == p.Project.ID) {
		ev.parentID = sp.PipelineID
	}
	return ev, nil
}

// statusRank orders a pipeline's statuses along its life, for telling an
// old event that arrived late from a new one.
func statusRank(s gitlab.Status) int {
	switch s {
	case gitlab.StatusCreated:
		return 0
	case gitlab.StatusWaitingForResource, gitlab.StatusPreparing, gitlab.StatusPending:
		return 1
	case gitlab.StatusRunning:
		return 2
	case gitlab.StatusManual, gitlab.StatusScheduled:
		return 3
	case gitlab.StatusCanceling:
		return 4
	}
	return 5 // finished
}

// staleEvent reports whether ev is provably older than what was seen: a
// retry adds jobs, so fewer jobs is older; with the same jobs, an earlier
// status is older.
func staleEvent(old seenState, ev hookEvent) bool {
	if old.maxJob > 0 && ev.maxJob > 0 && ev.maxJob != old.maxJob {
		return ev.maxJob < old.maxJob
	}
	return old.hook && statusRank(ev.pipeline.Status) < statusRank(old.status)
}

// hookPipeline feeds one webhook event to the watches and subscriptions of
// its pipeline, as a poll would. An event older than what was seen is
// dropped; one that may be older (it disagrees with a poll) is checked
// against GitLab.
func (w *Watcher) hookPipeline(ctx context.Context, ev hookEvent) error {
	pid := ev.projectID
	if ev.parentID > 0 {
		w.ss.parents.Store(ev.pipeline.ID, ev.parentID)
	}
	w.ss.mu.Lock()
	w.ss.hookAt[pid] = w.cfg.Now()
	old, seen := w.ss.seen[ev.pipeline.ID]
	w.ss.mu.Unlock()
	fetch := ev.fetch
	if seen && !fetch {
		switch {
		case staleEvent(old, ev):
			return nil
		case !old.hook && statusRank(ev.pipeline.Status) < statusRank(old.status):
			fetch = true // a poll saw a later state, or the pipeline was retried
		case old.status == ev.pipeline.Status && (ev.maxJob == 0 || ev.maxJob == old.maxJob):
			return nil
		}
	}
	p := ev.pipeline
	if fetch {
		full, err := w.cfg.GitLab.Pipeline(ctx, idString(pid), p.ID)
		if errors.Is(err, gitlab.ErrNotFound) || errors.Is(err, gitlab.ErrForbidden) {
			return nil // pipebot does not see it (any more)
		}
		if err != nil {
			return fmt.Errorf("pipeline %d: %w", p.ID, err)
		}
		if seen && old.status == full.Status {
			return nil
		}
		if full.User.Email == "" && p.User.ID == full.User.ID {
			full.User.Email = p.User.Email
		}
		p = full
	}
	w.sawPipelines(pid, p)
	// Recorded only once delivered: when Slack fails, the next poll (or
	// delivery) still sees a change and tries again.
	done := func() {
		w.ss.mu.Lock()
		defer w.ss.mu.Unlock()
		if cur, ok := w.ss.seen[p.ID]; ok != seen || cur != old {
			return // delivered meanwhile by a poll or another event: theirs stands
		}
		w.ss.seen[p.ID] = seenState{status: p.Status, maxJob: max(ev.maxJob, old.maxJob), hook: !fetch, at: w.cfg.Now()}
	}

	// The card, subscription cards and live unfurls share one jobs read.
	ctx = withPollJobs(ctx)
	watches, err := w.cfg.Store.Watches()
	if err != nil {
		return fmt.Errorf("list watches: %w", err)
	}
	var mine []state.Watch
	for _, wt := range watches {
		if wt.ProjectID != pid {
			continue
		}
		mine = append(mine, wt)
		if wt.PipelineID != p.ID || wt.CardPending {
			continue
		}
		if err := w.withLock(ctx, wt.Key(), func(cur state.Watch) error { return w.render(ctx, cur, p) }); err != nil {
			return err
		}
	}
	if err := w.foldChildIntoWatches(ctx, pid, mine, p, nil); err != nil {
		return err
	}
	subs, err := w.subscribedProjects(ctx)
	if err != nil {
		return err
	}
	if len(subs[pid]) > 0 {
		if err := w.feedSubs(ctx, pid, subs[pid], p); err != nil {
			return err
		}
	}
	w.hookUnfurls(ctx, pid, p)
	done()
	return nil
}
