package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// ChildPipeline is a downstream pipeline shown on its parent's card.
type ChildPipeline struct {
	ID     int64
	Name   string // the trigger job's name
	Status gitlab.Status
	WebURL string
}

// bridgeLister is the GitLab call that finds a pipeline's children.
type bridgeLister interface {
	PipelineBridges(ctx context.Context, project string, id int64) ([]gitlab.Bridge, error)
}

var _ bridgeLister = (*gitlab.Client)(nil)

// maxFoldCandidates bounds the parents tried for a child pipeline whose
// parent is not known (after a restart, polled).
const maxFoldCandidates = 10

// childLine renders the children of a pipeline for its card; "" when it
// has none.
func childLine(children []ChildPipeline) string {
	if len(children) == 0 {
		return ""
	}
	parts := make([]string, 0, len(children))
	for _, c := range children {
		parts = append(parts, fmt.Sprintf("%s %s %s %s", StatusEmoji(c.Status), Escape(c.Name),
			Link(c.WebURL, "#"+idString(c.ID)), Escape(StatusWord(c.Status))))
	}
	return "Child pipelines: " + strings.Join(parts, " · ")
}

// cardStatus is what a card shows that can change: the pipeline's status
// and its children's. A card is updated when it differs from the stored one.
func cardStatus(in CardInput) string {
	s := string(in.Pipeline.Status)
	for _, c := range in.Children {
		s += fmt.Sprintf(";%d=%s", c.ID, c.Status)
	}
	return s
}

// children lists p's child pipelines (bridges with a downstream pipeline in
// the same project) and remembers each child's parent. Without the call,
// or when GitLab refuses it, a card shows no children.
func (w *Watcher) children(ctx context.Context, pid int64, p gitlab.Pipeline) []ChildPipeline {
	out, err := w.listChildren(ctx, pid, p)
	if err != nil {
		w.log.Debug().Err(err).Int64("pipeline_id", p.ID).Msg("list bridges")
		return nil
	}
	return out
}

// listChildren is children with GitLab's error.
func (w *Watcher) listChildren(ctx context.Context, pid int64, p gitlab.Pipeline) ([]ChildPipeline, error) {
	bl, ok := w.cfg.GitLab.(bridgeLister)
	if !ok || p.Source == SourceParent {
		return nil, nil
	}
	bridges, err := bl.PipelineBridges(ctx, idString(pid), p.ID)
	if err != nil {
		return nil, err
	}
	var out []ChildPipeline
	for _, b := range bridges {
		d := b.Downstream
		if d == nil || (d.ProjectID != 0 && d.ProjectID != pid) {
			continue
		}
		w.ss.parents.Store(d.ID, p.ID)
		out = append(out, ChildPipeline{ID: d.ID, Name: b.Name, Status: d.Status, WebURL: d.WebURL})
	}
	sort.Slice(out, func(i, k int) bool { return out[i].ID < out[k].ID })
	return out, nil
}

// parentOf finds a child pipeline's parent: remembered from a webhook or an
// earlier bridges call, else looked for among the project's recent cards.
func (w *Watcher) parentOf(ctx context.Context, pid int64, child gitlab.Pipeline) (int64, bool, error) {
	if v, ok := w.ss.parents.Load(child.ID); ok {
		return v.(int64), true, nil
	}
	cards, err := w.subs.SubCards()
	if err != nil {
		return 0, false, err
	}
	// Newest parents first; a child is never older than its parent.
	var cands []int64
	seen := map[int64]bool{}
	for _, c := range cards {
		if c.ProjectID == pid && c.PipelineID < child.ID && !seen[c.PipelineID] {
			seen[c.PipelineID] = true
			cands = append(cands, c.PipelineID)
		}
	}
	sort.Slice(cands, func(i, k int) bool { return cands[i] > cands[k] })
	for i, id := range cands {
		if i == maxFoldCandidates {
			break
		}
		if _, known := w.ss.parents.Load(child.ID); known {
			break
		}
		parent, err := w.cfg.GitLab.Pipeline(ctx, idString(pid), id)
		if err != nil {
			continue
		}
		w.children(ctx, pid, parent)
	}
	if v, ok := w.ss.parents.Load(child.ID); ok {
		return v.(int64), true, nil
	}
	return 0, false, nil
}

// foldChild brings the cards of a child pipeline's parent up to date: a
// child has no card of its own (unless a subscription names its source),
// its status shows on the parent's.
func (w *Watcher) foldChild(ctx context.Context, pid int64, subs []projectSub, child gitlab.Pipeline) error {
	parentID, ok, err := w.parentOf(ctx, pid, child)
	if err != nil || !ok {
		return err
	}
	cards, err := w.subs.SubCards()
	if err != nil {
		return err
	}
	var parent *gitlab.Pipeline
	var first error
	for _, c := range cards {
		if c.ProjectID != pid || c.PipelineID != parentID || c.CardPending || c.MessageTS == "" {
			continue
		}
		var chSubs []projectSub
		for _, s := range subs {
			if s.sub.Channel == c.Channel {
				chSubs = append(chSubs, s)
			}
		}
		if len(chSubs) == 0 {
			continue
		}
		if parent == nil {
			p, err := w.cfg.GitLab.Pipeline(ctx, idString(pid), parentID)
			if errors.Is(err, gitlab.ErrNotFound) || errors.Is(err, gitlab.ErrForbidden) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("parent pipeline %d: %w", parentID, err)
			}
			parent = &p
		}
		if _, watched, err := w.cfg.Store.Watch(state.WatchKey{Channel: c.Channel, ProjectID: pid, PipelineID: parentID}); err == nil && watched {
			continue
		}
		if err := w.deliverSubCard(ctx, c.Channel, chSubs, pid, *parent, false); err != nil && first == nil {
			first = err
		}
	}
	return first
}
