package notify

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// A watch's card folds child pipelines in as a subscription card does
// (children.go): the card lists its pipeline's children with their status,
// and a watch's LastStatus is the card's cardStatus, "running;12=created",
// so that what the card shows survives a restart. Bridges are read only
// when the card changes: when the watched pipeline's status changed, or
// when a child pipeline changed (it was listed by a poll or came as a
// webhook with a status the card does not show). An unchanged pipeline
// with unchanged children costs no request.

// shownStatus is the pipeline's own status in a card's cardStatus.
func shownStatus(last string) string {
	s, _, _ := strings.Cut(last, ";")
	return s
}

// shownChild is the status a card's cardStatus shows for child, if any.
func shownChild(last string, child int64) (gitlab.Status, bool) {
	want := ";" + strconv.FormatInt(child, 10) + "="
	i := strings.Index(last, want)
	if i < 0 {
		return "", false
	}
	rest := last[i+len(want):]
	if j := strings.IndexByte(rest, ';'); j >= 0 {
		rest = rest[:j]
	}
	return gitlab.Status(rest), true
}

// foldChildIntoWatches brings up to date the watch cards of child's parent
// in project pid. watches are the project's watches; byID the pipelines a
// poll listed (the parent may be among them), nil for a webhook.
func (w *Watcher) foldChildIntoWatches(ctx context.Context, pid int64, watches []state.Watch, child gitlab.Pipeline, byID map[int64]gitlab.Pipeline) error {
	if child.Source != SourceParent || len(watches) == 0 {
		return nil
	}
	parentID, err := w.watchedParentOf(ctx, pid, watches, child)
	if err != nil || parentID == 0 {
		return err
	}
	var parent *gitlab.Pipeline
	if p, ok := byID[parentID]; ok {
		parent = &p
	}
	var firstFail error
	for _, wt := range watches {
		if wt.PipelineID != parentID || wt.CardPending || wt.MessageTS == "" {
			continue
		}
		err := w.each(ctx, wt, func() error {
			return w.withLock(ctx, wt.Key(), func(cur state.Watch) error {
				if st, ok := shownChild(cur.LastStatus, child.ID); ok && st == child.Status {
					return nil // the card shows it already (a poll's overlap)
				}
				if cur.MessageTS == "" || cur.CardPending {
					return nil
				}
				if parent == nil {
					p, err := w.cfg.GitLab.Pipeline(ctx, idString(pid), parentID)
					if err != nil {
						return fmt.Errorf("parent pipeline %d: %w", parentID, err)
					}
					parent = &p
				}
				return w.renderCard(ctx, cur, *parent)
			})
		})
		firstFail = first(firstFail, err)
	}
	return firstFail
}

// watchedParentOf finds which watched pipeline is child's parent, or 0:
// the card that shows the child, else a parent learnt from bridges or a
// webhook, else the bridges of the project's watched pipelines older than
// the child (newest first, at most maxFoldCandidates), once per child.
func (w *Watcher) watchedParentOf(ctx context.Context, pid int64, watches []state.Watch, child gitlab.Pipeline) (int64, error) {
	for _, wt := range watches {
		if _, ok := shownChild(wt.LastStatus, child.ID); ok {
			return wt.PipelineID, nil
		}
	}
	if v, ok := w.ss.parents.Load(child.ID); ok {
		return v.(int64), nil
	}
	if _, ok := w.ss.orphans.Load(child.ID); ok {
		return 0, nil
	}
	var cands []int64
	seen := map[int64]bool{}
	for _, wt := range watches {
		if wt.PipelineID < child.ID && !seen[wt.PipelineID] {
			seen[wt.PipelineID] = true
			cands = append(cands, wt.PipelineID)
		}
	}
	sort.Slice(cands, func(i, k int) bool { return cands[i] > cands[k] })
	for i, id := range cands {
		if i == maxFoldCandidates {
			break
		}
		if _, err := w.listChildren(ctx, pid, gitlab.Pipeline{ID: id}); err != nil {
			return 0, fmt.Errorf("bridges of pipeline %d: %w", id, err)
		}
		if v, ok := w.ss.parents.Load(child.ID); ok {
			return v.(int64), nil
		}
	}
	w.ss.orphans.Store(child.ID, struct{}{})
	return 0, nil
}
