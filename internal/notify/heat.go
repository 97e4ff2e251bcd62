package notify

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// Polling by heat. A project is
//
//   - hot, polled every tick: it has a watch or a live unfurl, a pipeline
//     that is queued or running, a pipeline updated in the last HotFor, or
//     a group listing just saw its last_activity_at move (signal.go);
//   - quiet, checked every QuietInterval (at most 60 s at the default
//     interval), so a new pipeline there is noticed within it: by one
//     GraphQL request for up to 30 quiet projects where GitLab serves its
//     GraphQL API (updates.go), else by the project's own poll;
//   - cold: quiet, but a group's activity listing covers it and its
//     last_activity_at is more than an hour old, so the next push, merge
//     request or comment moves it and promotes the project at once. Cold
//     projects are polled on the same QuietInterval; only when the budget
//     cannot poll every quiet project that often do they wait longer than
//     quiet ones (coldLag), because pipelines started without a Git event
//     (API, triggers, schedules) are the only ones the listing misses.
//
// Working webhooks multiply a project's period by HookSlowdown. Under a
// budget too small for every due project, hot ones go first and the quiet
// ones that waited longest next; every project stays in the rotation. A
// project that a GraphQL check reports changed is hot until its own poll
// has read the change.
//
// Heat lives in memory: after a restart (or a new leader) every project is
// due at once and the first ticks rebuild it; the poll cursors in the store
// make sure nothing that happened meanwhile is missed, only seen later.
type heatClass int

const (
	heatHot heatClass = iota
	heatQuiet
	heatCold
)

const (
	// activityThrottle is GitLab's Event::RESET_PROJECT_ACTIVITY_INTERVAL:
	// last_activity_at moves at most once an hour, so for an hour after it
	// moved a listing cannot see the next event.
	activityThrottle = time.Hour
	// activeStale bounds how long a queued or running pipeline that stopped
	// changing keeps its project hot (a pipeline stuck pending without a
	// runner, or deleted while running).
	activeStale = 3 * time.Hour
)

// projectHeat is what the poller remembers of one project.
type projectHeat struct {
	lastPoll time.Time
	hotUntil time.Time
	// active holds the queued or running pipelines last seen, with their
	// updated_at.
	active map[int64]time.Time
	// activity is last_activity_at as last listed; listedAt is when a group
	// listing last covered the project.
	activity, listedAt time.Time
	// knownAt is the latest time (the watcher's clock) up to which every
	// pipeline update of the project is known: its last successful poll or
	// GraphQL check. GraphQL checks ask for updates since then.
	knownAt time.Time
	// flagged: a GraphQL check saw an update that no poll has read yet.
	flagged bool
}

// pollState is the poller's in-memory scheduling state.
type pollState struct {
	mu       sync.Mutex
	projects map[int64]*projectHeat
	groups   map[string]*groupSignal // signal.go
	budget   *budget
	checks   checkState // GraphQL checks (updates.go)
}

func (w *Watcher) heatOf(pid int64) *projectHeat {
	h, ok := w.poll.projects[pid]
	if !ok {
		h = &projectHeat{}
		w.poll.projects[pid] = h
	}
	return h
}

// sawPipelines updates a project's heat from pipelines a poll or a webhook
// saw: queued and running ones keep it hot, and every pipeline keeps it hot
// for HotFor after its last update.
func (w *Watcher) sawPipelines(pid int64, pipes ...gitlab.Pipeline) {
	if len(pipes) == 0 {
		return
	}
	now := w.cfg.Now()
	w.poll.mu.Lock()
	defer w.poll.mu.Unlock()
	h := w.heatOf(pid)
	for _, p := range pipes {
		at := p.UpdatedAt
		if at.IsZero() || at.After(now) {
			at = now
		}
		if p.Status.Active() {
			if h.active == nil {
				h.active = map[int64]time.Time{}
			}
			h.active[p.ID] = at
		} else if p.Status != "" {
			delete(h.active, p.ID)
		}
		if until := at.Add(w.cfg.HotFor); until.After(h.hotUntil) {
			h.hotUntil = until
		}
	}
}

// promote makes a project hot for d from now.
func (w *Watcher) promote(pid int64, d time.Duration) {
	w.poll.mu.Lock()
	defer w.poll.mu.Unlock()
	h := w.heatOf(pid)
	if until := w.cfg.Now().Add(d); until.After(h.hotUntil) {
		h.hotUntil = until
	}
}

// class is a project's heat now; watched covers watches, cards being
// posted and live unfurls. poll.mu is held.
func (w *Watcher) class(h *projectHeat, now time.Time, watched bool) heatClass {
	if watched || h.flagged || now.Before(h.hotUntil) {
		return heatHot
	}
	for id, at := range h.active {
		if now.Sub(at) < activeStale {
			return heatHot
		}
		delete(h.active, id)
	}
	fresh := !h.listedAt.IsZero() && now.Sub(h.listedAt) <= 2*w.cfg.SignalInterval+w.cfg.Interval
	if fresh && !h.activity.IsZero() && now.Sub(h.activity) >= activityThrottle {
		return heatCold
	}
	return heatQuiet
}

// period is how often a project of class c is polled.
func (w *Watcher) period(c heatClass, hooked bool) time.Duration {
	d := w.cfg.Interval
	if c != heatHot {
		d = w.cfg.QuietInterval
	}
	if hooked {
		d *= time.Duration(w.cfg.HookSlowdown)
	}
	return d
}

// hooked reports whether the project's webhooks worked lately.
func (w *Watcher) hooked(pid int64, now time.Time) bool {
	w.ss.mu.Lock()
	defer w.ss.mu.Unlock()
	hook, ok := w.ss.hookAt[pid]
	return ok && now.Sub(hook) < hooksWorkingFor
}

type pollCandidate struct {
	pid     int64
	watched bool
	key     time.Time // quiet and cold: when it is due (cold: plus coldLag)
	last    time.Time
}

// plan returns the projects this tick polls, in the order to poll them:
// hot ones (watched first, then the least recently polled), then the quiet
// and cold ones that are due, most overdue first, no more of them than one
// tick's share of all quiet projects (plus a quarter, to catch up) so that
// they spread over the quiet interval. A hot project without working hooks
// is due on every tick, however close together ticks come. The budget may
// stop the tick before the end of either list. When quiet projects are
// checked batch at a time (updates.go), their share is rounded up to whole
// batches: a batch costs one request however few projects fill it; pollMax
// is the unrounded share, for polling them one by one when the check fails.
func (w *Watcher) plan(projects []int64, watched map[int64]bool, now time.Time, batch int) (hotIDs, quietIDs []int64, pollMax int) {
	hooked := make(map[int64]bool, len(projects))
	for _, pid := range projects {
		hooked[pid] = w.hooked(pid, now)
	}
	w.poll.mu.Lock()
	defer w.poll.mu.Unlock()
	coldLag := 2 * w.cfg.QuietInterval
	var hot, quiet []pollCandidate
	share := 0.0
	for _, pid := range projects {
		h := w.heatOf(pid)
		c := w.class(h, now, watched[pid])
		every := w.period(c, hooked[pid])
		cand := pollCandidate{pid: pid, watched: watched[pid], last: h.lastPoll}
		if c == heatHot {
			if !hooked[pid] || h.lastPoll.IsZero() || !now.Before(h.lastPoll.Add(every)) {
				hot = append(hot, cand)
			}
			continue
		}
		share += float64(w.cfg.Interval) / float64(every)
		due := h.lastPoll.Add(every)
		if h.lastPoll.IsZero() {
			due = time.Time{}
		}
		if now.Before(due) {
			continue
		}
		cand.key = due
		if c == heatCold {
			cand.key = due.Add(coldLag)
		}
		quiet = append(quiet, cand)
	}
	sort.SliceStable(hot, func(i, k int) bool {
		a, b := hot[i], hot[k]
		if a.watched != b.watched {
			return a.watched
		}
		if !a.last.Equal(b.last) {
			return a.last.Before(b.last)
		}
		return a.pid < b.pid
	})
	sort.SliceStable(quiet, func(i, k int) bool {
		if !quiet[i].key.Equal(quiet[k].key) {
			return quiet[i].key.Before(quiet[k].key)
		}
		return quiet[i].pid < quiet[k].pid
	})
	pollMax = int(math.Ceil(share * 1.25))
	limit := pollMax
	if batch > 1 {
		limit = (limit + batch - 1) / batch * batch
	}
	if len(quiet) > limit {
		quiet = quiet[:limit]
	}
	hotIDs = make([]int64, 0, len(hot))
	for _, c := range hot {
		hotIDs = append(hotIDs, c.pid)
	}
	quietIDs = make([]int64, 0, len(quiet))
	for _, c := range quiet {
		quietIDs = append(quietIDs, c.pid)
	}
	return hotIDs, quietIDs, pollMax
}

// polled records a poll attempt.
func (w *Watcher) polled(pid int64, now time.Time) {
	w.poll.mu.Lock()
	w.heatOf(pid).lastPoll = now
	w.poll.mu.Unlock()
}

// known records a successful poll that started at or after at: every
// update until then has been read.
func (w *Watcher) known(pid int64, at time.Time) {
	w.poll.mu.Lock()
	defer w.poll.mu.Unlock()
	h := w.heatOf(pid)
	if at.After(h.knownAt) {
		h.knownAt = at
	}
	h.flagged = false
}

// forgetHeat drops the heat of projects nothing polls any more.
func (w *Watcher) forgetHeat(keep map[int64]bool) {
	w.poll.mu.Lock()
	defer w.poll.mu.Unlock()
	for pid := range w.poll.projects {
		if !keep[pid] {
			delete(w.poll.projects, pid)
		}
	}
}

// pollDefaults fills in the heat and budget settings of cfg, whose
// Interval is set.
func pollDefaults(cfg Config) Config {
	if cfg.QuietInterval <= 0 {
		cfg.QuietInterval = min(4*cfg.Interval, time.Minute)
	}
	cfg.QuietInterval = max(cfg.QuietInterval, cfg.Interval)
	if cfg.HotFor <= 0 {
		cfg.HotFor = 2 * cfg.QuietInterval
	}
	if cfg.PromoteFor <= 0 {
		cfg.PromoteFor = 2 * cfg.QuietInterval
	}
	if cfg.SignalInterval <= 0 {
		cfg.SignalInterval = min(2*cfg.Interval, cfg.QuietInterval/2)
	}
	cfg.SignalInterval = max(cfg.SignalInterval, cfg.Interval)
	if cfg.PollShare <= 0 || cfg.PollShare > 1 {
		cfg.PollShare = 0.5
	}
	if cfg.AssumedRateLimit <= 0 {
		cfg.AssumedRateLimit = 2000
	}
	return cfg
}
