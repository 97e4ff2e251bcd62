package insights

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// gitlabAPI is what building a report asks GitLab.
type gitlabAPI interface {
	Project(ctx context.Context, project string) (gitlab.Project, error)
	EachPipelinePage(ctx context.Context, project string, opt gitlab.ListPipelinesOptions, fn func(page []gitlab.Pipeline, total int) error) error
	PipelineJobs(ctx context.Context, project string, id int64, opt gitlab.ListJobsOptions) ([]gitlab.Job, error)
}

var _ gitlabAPI = (*gitlab.Client)(nil)

// Reader is what a report reads GitLab with (Query.GitLab).
type Reader = gitlabAPI

// cache is the store's insights cache.
type cache interface {
	InsightPipelines(projectID int64, since time.Time) ([]state.InsightPipeline, error)
	PutInsightPipelines(ps []state.InsightPipeline) error
	DeleteInsightPipelines(projectID int64, ids []int64) error
	InsightSync(projectID int64, ref, source string) (state.InsightSync, bool, error)
	PutInsightSync(v state.InsightSync) error
	PruneInsights(before time.Time, maxProjects int) (int, error)
}

var _ cache = (*state.Store)(nil)

// Builder defaults.
const (
	// SyncOverlap is how far before the newest updated_at seen a later
	// listing starts again: a pipeline GitLab commits a little late is not
	// missed, and one seen twice costs nothing (same updated_at).
	SyncOverlap = time.Minute
	// DefaultMaxProjects bounds the projects the cache keeps.
	DefaultMaxProjects = 50
	defaultConcurrency = 4
	saveBatch          = 50
	pruneEvery         = time.Hour
	projectTTL         = time.Hour
)

// Config configures a Builder.
type Config struct {
	GitLab gitlabAPI
	Store  cache
	Now    func() time.Time
	// Concurrency is how many jobs requests run at once (default 4).
	Concurrency int
	// MaxProjects bounds the cache (default DefaultMaxProjects); pipelines
	// older than twice MaxDays are pruned too.
	MaxProjects int
	Logger      zerolog.Logger
}

// Builder builds reports, reading from GitLab only what its cache lacks:
// the pipelines listed since the cache's cursor (100 to a request) and the
// jobs of finished pipelines it has not seen.
type Builder struct {
	cfg Config
	log zerolog.Logger

	mu        sync.Mutex
	locks     map[int64]*sync.Mutex // one report at a time per project
	projects  map[string]projectEntry
	lastPrune time.Time
}

type projectEntry struct {
	p  gitlab.Project
	at time.Time
}

// NewBuilder returns a Builder. It does no I/O.
func NewBuilder(cfg Config) *Builder {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = defaultConcurrency
	}
	if cfg.MaxProjects <= 0 {
		cfg.MaxProjects = DefaultMaxProjects
	}
	return &Builder{cfg: cfg, log: cfg.Logger.With().Str("component", "insights").Logger(),
		locks: map[int64]*sync.Mutex{}, projects: map[string]projectEntry{}}
}

// Progress is told, while a report reads jobs of pipelines it has not seen,
// how many it has read of how many.
type Progress func(read, total int)

// Fetched says what building a report asked GitLab.
type Fetched struct {
	Listed   int // pipelines listed
	ListPage int // list requests
	Jobs     int // pipelines whose jobs were read (one request each, up to 100 jobs)
}

// Build reads what is new for q from GitLab into the cache and computes the
// report from the cache. q.Project is a path or id; q.Now defaults to the
// clock; q.Days must be 1..MaxDays. toRead, when set, is told first how many
// pipelines' jobs must be read (before any is), then progress as they are.
func (b *Builder) Build(ctx context.Context, q Query, progress Progress) (Report, Fetched, error) {
	if q.Days < 1 || q.Days > MaxDays {
		return Report{}, Fetched{}, fmt.Errorf("report over %d days: must be 1 to %d", q.Days, MaxDays)
	}
	if q.Now.IsZero() {
		q.Now = b.cfg.Now()
	}
	var proj gitlab.Project
	var err error
	if q.GitLab != nil {
		// A person's report: their own look-up is their access check,
		// never answered from what another identity saw.
		proj, err = q.GitLab.Project(ctx, q.Project)
	} else {
		proj, err = b.project(ctx, q.Project)
	}
	if err != nil {
		return Report{}, Fetched{}, err
	}
	q.Project, q.ProjectURL = proj.Path, proj.WebURL
	lock := b.lock(proj.ID)
	lock.Lock()
	defer lock.Unlock()

	_, _, need := q.Window()
	recs, f, err := b.sync(ctx, proj, q, need, progress)
	if err != nil {
		return Report{}, f, err
	}
	runs := make([]Run, len(recs))
	for i, rec := range recs {
		runs[i] = fromRecord(rec)
	}
	b.maybePrune()
	return Compute(q, runs), f, nil
}

// project looks the project up, remembering it for a while: a report
// repeated soon after costs no request for it.
func (b *Builder) project(ctx context.Context, path string) (gitlab.Project, error) {
	now := b.cfg.Now()
	b.mu.Lock()
	e, ok := b.projects[path]
	b.mu.Unlock()
	if ok && now.Sub(e.at) < projectTTL {
		return e.p, nil
	}
	p, err := b.cfg.GitLab.Project(ctx, path)
	if err != nil {
		return gitlab.Project{}, err
	}
	b.mu.Lock()
	b.projects[path] = projectEntry{p: p, at: now}
	b.mu.Unlock()
	return p, nil
}

func (b *Builder) lock(projectID int64) *sync.Mutex {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.locks[projectID]
	if l == nil {
		l = &sync.Mutex{}
		b.locks[projectID] = l
	}
	return l
}

// maybePrune bounds the cache at most once an hour; a failure is logged
// and tried again next time.
func (b *Builder) maybePrune() {
	now := b.cfg.Now()
	b.mu.Lock()
	due := now.Sub(b.lastPrune) >= pruneEvery
	if due {
		b.lastPrune = now
	}
	b.mu.Unlock()
	if !due {
		return
	}
	n, err := b.cfg.Store.PruneInsights(now.Add(-2*MaxDays*24*time.Hour), b.cfg.MaxProjects)
	if err != nil {
		b.log.Warn().Err(err).Msg("prune insights cache")
		return
	}
	if n > 0 {
		b.log.Info().Int("removed", n).Msg("pruned insights cache")
	}
}

// client is what q reads GitLab with.
func (b *Builder) client(q Query) gitlabAPI {
	if q.GitLab != nil {
		return q.GitLab
	}
	return b.cfg.GitLab
}
