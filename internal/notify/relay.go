package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/state"
)

// relayStore is the handoff queue as the leader works it off.
type relayStore interface {
	Queued(limit int) ([]state.QueueItem, error)
	StartQueued(id string) (state.QueueItem, bool, error)
	FinishQueued(id, result string) error
	Listen(ctx context.Context, channel string) (<-chan struct{}, error)
}

var _ relayStore = (*state.Store)(nil)

// RelayConfig configures a Relay.
type RelayConfig struct {
	// Store is the leader's fenced store: a relay that lost the lease
	// finishes nothing.
	Store relayStore
	// Watcher is the leader's watcher.
	Watcher *Watcher
	Logger  zerolog.Logger
	// Poll is how often the queue is read when no notification arrives
	// (one lost while the listening connection was down). Default 1 s.
	Poll time.Duration
}

// Relay is the leader's side of the handoff queue: it reads the items any
// replica queued and does them, webhook deliveries through a Webhook of its
// own (coalesced as deliveries taken over HTTP are) and watches through
// Watcher, and finishes each once done. Run it for one term of leadership:
// a new term starts a new Relay, which takes up every unfinished item
// again.
type Relay struct {
	cfg   RelayConfig
	log   zerolog.Logger
	hooks *Webhook

	mu       sync.Mutex
	inflight map[string]bool
}

// NewRelay returns a Relay. It does no I/O.
func NewRelay(cfg RelayConfig) *Relay {
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	r := &Relay{cfg: cfg, log: cfg.Logger.With().Str("component", "relay").Logger(), inflight: map[string]bool{}}
	r.hooks = NewWebhook(WebhookConfig{Watcher: cfg.Watcher, Logger: cfg.Logger, Finish: r.finishHook})
	return r
}

// finishHook finishes a webhook item once processed.
func (r *Relay) finishHook(item string) {
	if err := r.cfg.Store.FinishQueued(item, ""); err != nil {
		r.log.Warn().Err(err).Str("item", item).Msg("finish handed-off delivery")
		return // left queued: this term ends, and the next one takes it up
	}
	r.done(item)
}

func (r *Relay) done(item string) {
	r.mu.Lock()
	delete(r.inflight, item)
	r.mu.Unlock()
}

// Run works the queue off until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	wake, err := r.cfg.Store.Listen(ctx, state.QueueChannel)
	if err != nil {
		r.log.Warn().Err(err).Msg("listen for queued items")
	}
	watches := make(chan state.QueueItem, 64)
	var wg sync.WaitGroup
	wg.Go(func() { r.hooks.Run(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case it := <-watches:
				r.watch(ctx, it)
			}
		}
	})
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for ctx.Err() == nil {
		r.take(ctx, watches)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-t.C:
		}
	}
	wg.Wait()
}

// take reads the queue and passes on the items not taken yet.
func (r *Relay) take(ctx context.Context, watches chan<- state.QueueItem) {
	items, err := r.cfg.Store.Queued(200)
	if err != nil {
		r.log.Warn().Err(err).Msg("read the handoff queue")
		return
	}
	for _, it := range items {
		r.mu.Lock()
		taken := r.inflight[it.ID]
		r.inflight[it.ID] = true
		r.mu.Unlock()
		if taken {
			continue
		}
		switch it.Kind {
		case itemHook:
			r.hooks.Deliver(it.Payload, it.ID)
		case itemWatch:
			select {
			case watches <- it:
			case <-ctx.Done():
				return
			default:
				r.done(it.ID) // taken next time
			}
		default:
			r.log.Warn().Str("kind", it.Kind).Msg("unknown queued item dropped")
			r.finishHook(it.ID)
		}
	}
}

// Results of a relayed watch, as the replica that queued it reads them.
const (
	watchOK              = "ok"
	watchNotInChannel    = "not_in_channel"
	watchChannelNotFound = "channel_not_found"
	watchFailed          = "failed"
)

// watch starts a watch a follower queued, and finishes it with the result
// the follower's command reports.
func (r *Relay) watch(ctx context.Context, it state.QueueItem) {
	defer r.done(it.ID)
	cur, found, err := r.cfg.Store.StartQueued(it.ID)
	if err != nil || !found {
		if err != nil {
			r.log.Warn().Err(err).Str("item", it.ID).Msg("start queued watch")
		}
		return
	}
	var req WatchRequest
	if err := json.Unmarshal(it.Payload, &req); err != nil {
		r.log.Warn().Err(err).Str("item", it.ID).Msg("queued watch dropped")
		r.finishWatch(it.ID, watchFailed)
		return
	}
	if cur.Started && req.RecoverSince.IsZero() {
		// A leader before this one began it and died: it may have posted.
		req.RecoverSince = cur.EnqueuedAt
	}
	_, err = r.cfg.Watcher.Watch(ctx, req)
	result := watchOK
	switch {
	case errLeaderLost(err) || ctx.Err() != nil:
		return // the next leader takes it up, recovering
	case errors.Is(err, ErrNotInChannel):
		result = watchNotInChannel
	case errors.Is(err, ErrChannelNotFound):
		result = watchChannelNotFound
	case err != nil:
		r.log.Warn().Err(err).Str("channel", req.Channel).Int64("pipeline_id", req.Pipeline.ID).Msg("relayed watch failed")
		result = watchFailed
	}
	r.finishWatch(it.ID, result)
}

func (r *Relay) finishWatch(id, result string) {
	if err := r.cfg.Store.FinishQueued(id, result); err != nil {
		r.log.Warn().Err(err).Str("item", id).Msg("finish queued watch")
	}
}

// relayQueue is the handoff queue as a replica's commands use it.
type relayQueue interface {
	Enqueue(kind string, payload []byte, namespace string, keys []string, ttl time.Duration) (string, bool, error)
	QueueResult(id string) (string, bool, error)
	Listen(ctx context.Context, channel string) (<-chan struct{}, error)
}

var _ relayQueue = (*state.Store)(nil)

// WatchRelayConfig configures a WatchRelay.
type WatchRelayConfig struct {
	// Leader is this process's watcher, used while it leads (Leading).
	Leader  *Watcher
	Leading func() bool
	// Store is the replica's (unfenced) store.
	Store relayQueue
	// Wait is how long a command waits for the leader to answer a queued
	// watch (to learn, say, that pipebot is not in the channel); after it
	// the watch counts as accepted. Default 5 s.
	Wait   time.Duration
	Logger zerolog.Logger
}

// WatchRelay starts watches on whichever replica leads: here while this
// process leads, else through the handoff queue. It is what the commands
// of a replica call Watch on.
type WatchRelay struct {
	cfg WatchRelayConfig

	mu      sync.Mutex
	results chan struct{} // closed and replaced at each result notification
}

// NewWatchRelay returns a WatchRelay. It does no I/O.
func NewWatchRelay(cfg WatchRelayConfig) *WatchRelay {
	if cfg.Wait <= 0 {
		cfg.Wait = 5 * time.Second
	}
	return &WatchRelay{cfg: cfg, results: make(chan struct{})}
}

// Watch starts req's watch. A follower's Watch queues it for the leader
// and returns its answer, or a Watch without a card once Wait has passed
// (the leader posts it when it gets to it).
func (r *WatchRelay) Watch(ctx context.Context, req WatchRequest) (state.Watch, error) {
	if r.cfg.Leading() {
		// Taken before the attempt: whatever it posted comes after it, so
		// the next leader's look in Slack starts early enough however long
		// the attempt ran.
		began := time.Now().UTC()
		wt, err := r.cfg.Leader.Watch(ctx, req)
		if !errLeaderLost(err) {
			return wt, err
		}
		// Leadership passed while it worked: the next leader finishes,
		// asking Slack what this one posted.
		req.RecoverSince = began
	}
	return r.relay(ctx, req)
}

func (r *WatchRelay) relay(ctx context.Context, req WatchRequest) (state.Watch, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return state.Watch{}, fmt.Errorf("encode watch request: %w", err)
	}
	wake := r.nextResult()
	id, _, err := r.cfg.Store.Enqueue(itemWatch, payload, "", nil, 0)
	if err != nil {
		return state.Watch{}, fmt.Errorf("hand the watch to the leader: %w", err)
	}
	wt := state.Watch{ProjectID: req.Project.ID, Project: req.Project.Path, PipelineID: req.Pipeline.ID,
		Channel: req.Channel, Requester: req.Requester}
	deadline := time.NewTimer(r.cfg.Wait)
	defer deadline.Stop()
	for {
		res, found, err := r.cfg.Store.QueueResult(id)
		switch {
		case err != nil:
			return wt, nil // queued: the leader does it whatever this replica reads
		case found && res == watchNotInChannel:
			return state.Watch{}, ErrNotInChannel
		case found && res == watchChannelNotFound:
			return state.Watch{}, ErrChannelNotFound
		case found && res == watchFailed:
			return state.Watch{}, errors.New("the leader could not start the watch (see its log)")
		case found:
			return wt, nil
		}
		select {
		case <-ctx.Done():
			return wt, nil
		case <-deadline.C:
			return wt, nil
		case <-wake:
			wake = r.nextResult()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// nextResult returns a channel closed at the next result notification.
func (r *WatchRelay) nextResult() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.results
}

// Run listens for the leader's results until ctx ends, waking every
// waiting command at once; without it commands read the result every
// 250 ms.
func (r *WatchRelay) Run(ctx context.Context) {
	ch, err := r.cfg.Store.Listen(ctx, state.ResultChannel)
	if err != nil {
		r.cfg.Logger.Warn().Err(err).Msg("listen for watch results")
		return
	}
	for range ch {
		r.mu.Lock()
		close(r.results)
		r.results = make(chan struct{})
		r.mu.Unlock()
	}
}
