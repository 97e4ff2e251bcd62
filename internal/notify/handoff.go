package notify

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

// Replicas sharing a database hand the leader what needs its watcher
// through the database's queue (state.Store.Enqueue): a webhook delivery
// any replica accepted (here), a watch a command started on a follower
// (relay.go). An item stays queued until the leader has done it, so a
// replica that dies loses nothing; its delivery keys are unique in the
// database, so a redelivery reaching another replica is dropped.

// Handoff is the database queue a webhook delivery is handed off through.
type Handoff interface {
	Enqueue(kind string, payload []byte, namespace string, keys []string, ttl time.Duration) (id string, queued bool, err error)
}

var _ Handoff = (*state.Store)(nil)

// Queue item kinds.
const (
	itemHook  = "hook"
	itemWatch = "watch"
)

// hookDedupeTTL is how long a webhook delivery's keys are remembered.
const hookDedupeTTL = 24 * time.Hour

// hookItem is a handed-off webhook delivery: its kind and body as GitLab
// sent them, parsed again by the leader.
type hookItem struct {
	Kind string          `json:"kind"`
	Body json.RawMessage `json:"body"`
}

// handOff queues a delivery that parsed, and answers GitLab only once it
// is stored: 200 queued or duplicate, 503 when the database cannot take it
// (GitLab sends it again later).
func (h *Webhook) handOff(w http.ResponseWriter, kind string, body []byte, keys []string) {
	payload, err := json.Marshal(hookItem{Kind: kind, Body: body})
	if err != nil {
		h.observe(kind, "bad_request")
		http.Error(w, "not a pipeline or job hook", http.StatusBadRequest)
		return
	}
	_, queued, err := h.cfg.Handoff.Enqueue(itemHook, payload, "gitlab-hook", keys, hookDedupeTTL)
	switch {
	case err != nil:
		h.log.Error().Err(err).Str("event", kind).Msg("hand off webhook delivery")
		h.observe(kind, "unavailable")
		http.Error(w, "database unavailable, send again later", http.StatusServiceUnavailable)
	case !queued:
		h.observe(kind, "duplicate")
		_, _ = io.WriteString(w, "duplicate\n")
	default:
		h.observe(kind, "queued")
		_, _ = io.WriteString(w, "ok\n")
	}
}

// Deliver queues a handed-off delivery (the payload of a queue item) in
// memory, for Run to process like a delivery taken over HTTP; item is
// passed to Finish once it was processed, or at once when the payload does
// not parse. Deduplication happened when it was queued.
func (h *Webhook) Deliver(payload []byte, item string) {
	var hi hookItem
	err := json.Unmarshal(payload, &hi)
	var ev hookEvent
	if err == nil {
		ev, err = parseHook(hi.Kind, hi.Body)
	}
	if err != nil {
		h.log.Warn().Err(err).Str("item", item).Msg("handed-off delivery dropped")
		h.finish([]string{item})
		return
	}
	ev.items = []string{item}
	h.enqueue(ev)
}

// finish tells Finish of processed items.
func (h *Webhook) finish(items []string) {
	if h.cfg.Finish == nil {
		return
	}
	for _, it := range items {
		h.cfg.Finish(it)
	}
}

// errLeaderLost reports whether err means this process stopped leading
// while it worked: what it did not finish is left for the next leader.
func errLeaderLost(err error) bool {
	return errors.Is(err, state.ErrFenced) || errors.Is(err, state.ErrNotLeader)
}
