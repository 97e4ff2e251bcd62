package state

import (
	"fmt"
	"sort"
	"time"
)

// The insights cache (schema v5): finished pipelines with every job attempt,
// kept so that a second CI report over the same window asks GitLab only for
// what is new, and per project and filter how far the cache is complete.
var (
	bucketInsightPipelines = []byte("insight_pipelines")
	bucketInsightSyncs     = []byte("insight_syncs")
)

func migrateInsights(tx Tx) error {
	return createBuckets(tx, bucketInsightPipelines, bucketInsightSyncs, bucketDigests)
}

// InsightJob is one job attempt of a cached pipeline.
type InsightJob struct {
	ID           int64      `json:"id"`
	Name         string     `json:"name"`
	Stage        string     `json:"stage,omitempty"`
	Status       string     `json:"status"`
	AllowFailure bool       `json:"allow_failure,omitempty"`
	DurationMS   int64      `json:"duration_ms,omitempty"`
	StartedAt    *time.Time `json:"started_at,omitempty"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
	WebURL       string     `json:"web_url,omitempty"`
}

// InsightPipeline is a finished pipeline of the insights cache with every
// attempt of its jobs.
type InsightPipeline struct {
	ProjectID int64        `json:"project_id"`
	ID        int64        `json:"id"`
	IID       int64        `json:"iid,omitempty"`
	Status    string       `json:"status"`
	Ref       string       `json:"ref"`
	SHA       string       `json:"sha"`
	Source    string       `json:"source,omitempty"`
	WebURL    string       `json:"web_url,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
	Jobs      []InsightJob `json:"jobs"`
}

// InsightSync says how far the cache holds a project's pipelines for one
// listing filter (ref and source; empty for all): every pipeline created
// since From that had finished when a pipeline last changed at Cursor
// (GitLab's updated_at, GitLab's clock) is cached.
type InsightSync struct {
	ProjectID int64     `json:"project_id"`
	Ref       string    `json:"ref,omitempty"`
	Source    string    `json:"source,omitempty"`
	From      time.Time `json:"from"`
	Cursor    time.Time `json:"cursor"`
	// UsedAt is when a report last read the project: the least recently
	// used projects are pruned first.
	UsedAt time.Time `json:"used_at"`
}

func insightPipelineKey(projectID, pipelineID int64) ([]byte, error) {
	var b keyBuilder
	return b.int("project id", projectID).int("pipeline id", pipelineID).key()
}

// insightProjectPrefix is the start of every key of a project's records in
// the insights buckets.
func insightProjectPrefix(projectID int64) ([]byte, error) {
	var b keyBuilder
	k, err := b.int("project id", projectID).key()
	return append(k, keySep), err
}

// insightSyncKey is project, then the filter with a marker so that an empty
// ref or source is still a part.
func insightSyncKey(projectID int64, ref, source string) ([]byte, error) {
	var b keyBuilder
	return b.int("project id", projectID).str("ref", "r:"+ref).str("source", "s:"+source).key()
}

// InsightPipelines returns a project's cached pipelines created at or after
// since, by id.
func (s *Store) InsightPipelines(projectID int64, since time.Time) ([]InsightPipeline, error) {
	prefix, err := insightProjectPrefix(projectID)
	if err != nil {
		return nil, fmt.Errorf("read insights of project %d: %w", projectID, err)
	}
	var out []InsightPipeline
	err = s.db.View(func(tx Tx) error {
		out = nil
		return scan(tx, bucketInsightPipelines, prefix, false, func(_ []byte, p InsightPipeline) error {
			if !p.CreatedAt.Before(since) {
				out = append(out, p)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read insights of project %d: %w", projectID, err)
	}
	return out, nil
}

// PutInsightPipelines stores finished pipelines in one transaction,
// replacing the records of the same ids.
func (s *Store) PutInsightPipelines(ps []InsightPipeline) error {
	if len(ps) == 0 {
		return nil
	}
	err := s.db.Update(func(tx Tx) error {
		for _, p := range ps {
			key, err := insightPipelineKey(p.ProjectID, p.ID)
			if err != nil {
				return err
			}
			p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
			if err := put(tx, bucketInsightPipelines, key, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %d insight pipelines: %w", len(ps), err)
	}
	return nil
}

// DeleteInsightPipelines forgets cached pipelines (ones that were retried
// and are running again).
func (s *Store) DeleteInsightPipelines(projectID int64, ids []int64) error {
	err := s.db.Update(func(tx Tx) error {
		for _, id := range ids {
			key, err := insightPipelineKey(projectID, id)
			if err != nil {
				return err
			}
			if _, err := del(tx, bucketInsightPipelines, key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete insight pipelines of project %d: %w", projectID, err)
	}
	return nil
}

// InsightSync returns the sync record of a project and filter.
func (s *Store) InsightSync(projectID int64, ref, source string) (InsightSync, bool, error) {
	key, err := insightSyncKey(projectID, ref, source)
	if err != nil {
		return InsightSync{}, false, fmt.Errorf("read insight sync of project %d: %w", projectID, err)
	}
	var v InsightSync
	var found bool
	err = s.db.View(func(tx Tx) error {
		found, err = get(tx, bucketInsightSyncs, key, &v)
		return err
	})
	if err != nil {
		return InsightSync{}, false, fmt.Errorf("read insight sync of project %d: %w", projectID, err)
	}
	return v, found, nil
}

// PutInsightSync stores a sync record.
func (s *Store) PutInsightSync(v InsightSync) error {
	key, err := insightSyncKey(v.ProjectID, v.Ref, v.Source)
	if err != nil {
		return fmt.Errorf("store insight sync of project %d: %w", v.ProjectID, err)
	}
	v.From, v.Cursor, v.UsedAt = v.From.UTC(), v.Cursor.UTC(), v.UsedAt.UTC()
	err = s.db.Update(func(tx Tx) error {
		return put(tx, bucketInsightSyncs, key, v)
	})
	if err != nil {
		return fmt.Errorf("store insight sync of project %d: %w", v.ProjectID, err)
	}
	return nil
}

// PruneInsights bounds the cache by days × projects: it removes pipelines
// created before before (and moves every sync's From up to it), then, past
// maxProjects projects, every record of the least recently used ones. It
// returns how many pipelines it removed.
//
// The syncs are narrowed first, in one transaction, so that no sync ever
// claims pipelines that are gone; the pipelines are then removed in chunks
// of short transactions (prune), so a large cache never holds one
// transaction past the operation timeout on PostgreSQL. A crash between the
// two leaves only extra pipelines, which the next prune removes.
func (s *Store) PruneInsights(before time.Time, maxProjects int) (removed int, err error) {
	before = before.UTC()
	var evict map[int64]bool
	err = s.db.Update(func(tx Tx) error {
		evict = map[int64]bool{}
		lastUse := map[int64]time.Time{}
		var syncs []InsightSync
		if err := each(tx, bucketInsightSyncs, func(v InsightSync) error {
			syncs = append(syncs, v)
			if v.UsedAt.After(lastUse[v.ProjectID]) || lastUse[v.ProjectID].IsZero() {
				lastUse[v.ProjectID] = v.UsedAt
			}
			return nil
		}); err != nil {
			return err
		}
		if maxProjects > 0 && len(lastUse) > maxProjects {
			ids := make([]int64, 0, len(lastUse))
			for id := range lastUse {
				ids = append(ids, id)
			}
			sort.Slice(ids, func(a, b int) bool { return lastUse[ids[a]].After(lastUse[ids[b]]) })
			for _, id := range ids[maxProjects:] {
				evict[id] = true
			}
		}
		for _, v := range syncs {
			key, err := insightSyncKey(v.ProjectID, v.Ref, v.Source)
			if err != nil {
				return err
			}
			switch {
			case evict[v.ProjectID]:
				if _, err := del(tx, bucketInsightSyncs, key); err != nil {
					return err
				}
			case v.From.Before(before):
				v.From = before
				if err := put(tx, bucketInsightSyncs, key, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune insight syncs: %w", err)
	}
	removed, err = prune(s, bucketInsightPipelines, func(p InsightPipeline) bool {
		return p.CreatedAt.Before(before) || evict[p.ProjectID]
	})
	if err != nil {
		return removed, fmt.Errorf("prune insights: %w", err)
	}
	return removed, nil
}
