package notify

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// activityLister is the cheap signal: a group's projects by
// last_activity_at, one request for a hundred projects.
type activityLister interface {
	GroupActivity(ctx context.Context, group string, subgroups bool, since time.Time) ([]gitlab.ProjectActivity, error)
}

var _ activityLister = (*gitlab.Client)(nil)

// groupSignal is one group (or namespace) whose activity listing covers
// subscribed projects.
type groupSignal struct {
	cursor   time.Time // newest last_activity_at listed
	listedAt time.Time
	// notGroupUntil: GitLab did not list it (a user's namespace, or gone);
	// not asked again before then.
	notGroupUntil time.Time
}

// signalTarget is a listing to make and the subscribed projects it covers.
type signalTarget struct {
	group     string
	subgroups bool
	projects  []int64
	// children are listed instead when GitLab does not list the group
	// (signalTargets lists the parent of sibling targets).
	children []signalTarget
}

// signalTargets are the listings that cover subscribed projects: each
// subscribed group (with its subgroups; a group inside another subscribed
// group is covered by the outer one) and each namespace holding project
// subscriptions that no group covers. Targets that share a parent group
// are listed through the parent, one request instead of one each ("projects
// that share a group"), falling back to their own listings when GitLab does
// not list the parent. A listing that would cover a single project is left
// out: polling that project is as cheap.
func signalTargets(subsBy map[int64][]projectSub) []signalTarget {
	groups := map[string]map[int64]bool{}
	spaces := map[string]map[int64]bool{}
	add := func(m map[string]map[int64]bool, key string, pid int64) {
		if m[key] == nil {
			m[key] = map[int64]bool{}
		}
		m[key][pid] = true
	}
	inGroup := map[int64]bool{}
	for pid, subs := range subsBy {
		for _, s := range subs {
			if s.sub.Group != "" {
				add(groups, strings.ToLower(s.sub.Group), pid)
				inGroup[pid] = true
			}
		}
	}
	for pid, subs := range subsBy {
		if inGroup[pid] {
			continue
		}
		for _, s := range subs {
			if i := strings.LastIndex(s.path, "/"); i > 0 {
				add(spaces, strings.ToLower(s.path[:i]), pid)
				break
			}
		}
	}
	// outer is the outermost subscribed group containing path, or "".
	outer := func(path string) string {
		best := ""
		for g := range groups {
			if strings.HasPrefix(path, g+"/") && (best == "" || len(g) < len(best)) {
				best = g
			}
		}
		return best
	}
	merged := map[string]map[int64]bool{}
	for g, ps := range groups {
		if o := outer(g); o != "" {
			g = o // a subgroup of a subscribed group: the outer listing covers it
		}
		for pid := range ps {
			add(merged, g, pid)
		}
	}
	var cands []signalTarget
	for g, ps := range merged {
		cands = append(cands, signalTarget{group: g, subgroups: true, projects: sortedIDs(ps)})
	}
	for ns, ps := range spaces {
		if outer(ns) == "" && merged[ns] == nil {
			cands = append(cands, signalTarget{group: ns, projects: sortedIDs(ps)})
		}
	}
	sortTargets(cands)
	byParent := map[string][]signalTarget{}
	var out []signalTarget
	for _, t := range cands {
		i := strings.LastIndex(t.group, "/")
		if i <= 0 || merged[t.group[:i]] != nil || spaces[t.group[:i]] != nil {
			out = append(out, t)
			continue
		}
		byParent[t.group[:i]] = append(byParent[t.group[:i]], t)
	}
	for parent, kids := range byParent {
		if len(kids) == 1 {
			out = append(out, kids[0])
			continue
		}
		all := map[int64]bool{}
		for _, k := range kids {
			for _, pid := range k.projects {
				all[pid] = true
			}
		}
		out = append(out, signalTarget{group: parent, subgroups: true, projects: sortedIDs(all), children: pruneLone(kids)})
	}
	out = pruneLone(out)
	sortTargets(out)
	return out
}

// pruneLone drops the targets that cover a single project.
func pruneLone(ts []signalTarget) []signalTarget {
	var out []signalTarget
	for _, t := range ts {
		if len(t.projects) >= 2 {
			out = append(out, t)
		}
	}
	return out
}

func sortTargets(ts []signalTarget) {
	sort.Slice(ts, func(i, k int) bool { return ts[i].group < ts[k].group })
}

func sortedIDs(m map[int64]bool) []int64 {
	out := make([]int64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, k int) bool { return out[i] < out[k] })
	return out
}

// listSignals lists the groups whose listing is due (every
// SignalInterval), within the budget, and promotes each covered project
// whose last_activity_at moved. A listing is skipped while every project it
// covers is hot anyway. It returns the first error.
func (w *Watcher) listSignals(ctx context.Context, subsBy map[int64][]projectSub, watched map[int64]bool, now time.Time) error {
	lister, ok := w.cfg.GitLab.(activityLister)
	if !ok {
		return nil
	}
	var targets []signalTarget
	for _, t := range signalTargets(subsBy) {
		if len(t.children) > 0 && w.notGroup(t.group, now) {
			targets = append(targets, t.children...)
			continue
		}
		targets = append(targets, t)
	}
	live := make(map[string]bool, len(targets))
	var firstErr error
	for _, t := range targets {
		live[t.group] = true
		g, due := w.signalDue(t, watched, now)
		if !due {
			continue
		}
		if !w.poll.budget.allow(now) {
			break
		}
		mark := w.poll.budget.mark()
		list, err := lister.GroupActivity(ctx, t.group, t.subgroups, g.cursor)
		w.poll.budget.chargeSince(mark)
		if err != nil {
			firstErr = first(firstErr, w.signalFailed(t.group, g, err, now))
			continue
		}
		w.applyActivity(t, g, list, now)
	}
	w.poll.mu.Lock()
	for name, g := range w.poll.groups {
		if !live[name] && !now.Before(g.notGroupUntil) {
			delete(w.poll.groups, name)
		}
	}
	w.poll.mu.Unlock()
	return firstErr
}

// notGroup reports whether GitLab refused to list group lately.
func (w *Watcher) notGroup(group string, now time.Time) bool {
	w.poll.mu.Lock()
	defer w.poll.mu.Unlock()
	g, ok := w.poll.groups[group]
	return ok && now.Before(g.notGroupUntil)
}

// signalDue returns the target's state and whether its listing is due.
func (w *Watcher) signalDue(t signalTarget, watched map[int64]bool, now time.Time) (*groupSignal, bool) {
	w.poll.mu.Lock()
	defer w.poll.mu.Unlock()
	g, ok := w.poll.groups[t.group]
	if !ok {
		g = &groupSignal{}
		w.poll.groups[t.group] = g
	}
	if now.Before(g.notGroupUntil) || (!g.listedAt.IsZero() && now.Sub(g.listedAt) < w.cfg.SignalInterval) {
		return g, false
	}
	for _, pid := range t.projects {
		if w.class(w.heatOf(pid), now, watched[pid]) != heatHot {
			return g, true
		}
	}
	return g, false
}

// signalFailed handles a failed listing: a namespace GitLab does not list
// as a group (a user's namespace) is left alone for GroupRefresh; a 429
// stops the poller's budget.
func (w *Watcher) signalFailed(group string, g *groupSignal, err error, now time.Time) error {
	var rl *gitlab.RateLimitError
	switch {
	case errors.Is(err, gitlab.ErrNotFound) || errors.Is(err, gitlab.ErrForbidden):
		w.poll.mu.Lock()
		g.notGroupUntil = now.Add(w.cfg.GroupRefresh)
		w.poll.mu.Unlock()
		w.log.Debug().Err(err).Str("group", group).Msg("no activity listing for this namespace")
		return nil
	case errors.As(err, &rl):
		w.poll.budget.throttled(now, rl.RetryAfter)
	}
	w.log.Warn().Err(err).Str("group", group).Msg("list group activity")
	return err
}

// applyActivity records a listing. The first listing of a group only
// learns each project's last_activity_at; later ones promote every covered
// project whose last_activity_at moved since (or, for a project not seen
// before, that is at least as new as the cursor): an event happened there,
// most likely a push whose pipeline is about to start.
func (w *Watcher) applyActivity(t signalTarget, g *groupSignal, list []gitlab.ProjectActivity, now time.Time) {
	covered := make(map[int64]bool, len(t.projects))
	for _, pid := range t.projects {
		covered[pid] = true
	}
	w.poll.mu.Lock()
	first := g.listedAt.IsZero()
	cursor := g.cursor
	var promote []int64
	for _, a := range list {
		if a.LastActivityAt.After(g.cursor) {
			g.cursor = a.LastActivityAt
		}
		if !covered[a.ID] {
			continue
		}
		h := w.heatOf(a.ID)
		moved := !first && (h.activity.IsZero() && !a.LastActivityAt.Before(cursor) ||
			!h.activity.IsZero() && a.LastActivityAt.After(h.activity))
		if a.LastActivityAt.After(h.activity) {
			h.activity = a.LastActivityAt
		}
		if moved {
			promote = append(promote, a.ID)
		}
	}
	g.listedAt = now
	for pid := range covered {
		w.heatOf(pid).listedAt = now
	}
	w.poll.mu.Unlock()
	for _, pid := range promote {
		w.promote(pid, w.cfg.PromoteFor)
	}
	if len(promote) > 0 {
		w.log.Debug().Str("group", t.group).Int("projects", len(promote)).Msg("activity promoted projects")
	}
}
