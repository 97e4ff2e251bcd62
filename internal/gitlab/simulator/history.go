package simulator

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	mrand "math/rand/v2"
	"sort"
	"time"
)

// History describes CI history for GenerateHistory: finished pipelines
// spread over the Days before End, with realistic job durations, real
// failures, retried jobs, flaky jobs and pipelines that run a commit again.
// The same History (Seed included) on the same project always generates the
// same pipelines, so tests can compute exact figures.
type History struct {
	// Days is how far back the history reaches from End; default 14.
	Days int
	// Pipelines is how many pipelines to generate; default 10 a day. They
	// are spread evenly over the days, with jitter.
	Pipelines int
	// Refs are the refs pipelines run on, picked at random; default the
	// project's branches.
	Refs []string
	Seed uint64
	// End bounds created_at from above; default the simulator's clock.
	End time.Time
	// FailRate is a job's chance to fail for real: every attempt fails, a
	// retry too (default 0.02). Jobs with JobSpec.Fail always fail.
	FailRate float64
	// FlakyRate is a JobSpec.Flaky job's chance to fail one attempt
	// (default 0.3); its next attempt rolls again.
	FlakyRate float64
	// RetryRate is the chance a failed job is retried in its pipeline, up to
	// two retries (default 0.5).
	RetryRate float64
	// RerunRate is the chance a pipeline runs the commit of an earlier
	// pipeline, on any ref (a merge request pipeline after a branch one, a
	// re-run): default 0.15.
	RerunRate float64
	// CancelRate is the chance a pipeline is canceled while it runs
	// (default 0.03).
	CancelRate float64
	// UserID starts the pipelines; default the first project member found.
	UserID int64
}

// GenerateHistory adds finished pipelines to a project as History says and
// returns their ids, oldest first. Manual jobs run as if played. Generate
// history before creating other pipelines on the project: ids grow with
// created_at, as GitLab's do.
func (s *Server) GenerateHistory(projectID int64, h History) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, ok := s.projects[projectID]
	if !ok {
		return nil
	}
	h = h.withDefaults(pr, s.clock())
	rng := mrand.New(mrand.NewPCG(h.Seed, h.Seed^0x5851f42d4c957f2d))
	// Each job has its own typical duration, 20 s to about 8 min.
	base := make([]time.Duration, len(pr.Jobs))
	for i := range base {
		base[i] = time.Duration(20+rng.ExpFloat64()*90) * time.Second
		if base[i] > 8*time.Minute {
			base[i] = 8 * time.Minute
		}
	}
	start := h.End.Add(-time.Duration(h.Days) * 24 * time.Hour)
	span := h.End.Sub(start)
	created := make([]time.Time, h.Pipelines)
	for i := range created {
		slot := span / time.Duration(h.Pipelines)
		created[i] = start.Add(slot*time.Duration(i) + time.Duration(rng.Float64()*float64(slot)))
		created[i] = created[i].Truncate(time.Millisecond)
	}
	sort.Slice(created, func(a, b int) bool { return created[a].Before(created[b]) })
	var ids []int64
	var made []*pipeline
	for i, at := range created {
		ref := h.Refs[rng.IntN(len(h.Refs))]
		sha := historySHA(h.Seed, pr.ID, i)
		source := "push"
		if len(made) > 0 && rng.Float64() < h.RerunRate {
			earlier := made[len(made)-1-rng.IntN(min(len(made), 5))]
			sha = earlier.sha
			if ref != earlier.ref {
				source = "merge_request_event"
			}
		}
		p := s.historyPipeline(pr, h, rng, base, ref, sha, source, at, float64(at.Sub(start))/float64(span))
		if p == nil {
			continue
		}
		made = append(made, p)
		ids = append(ids, p.id)
	}
	return ids
}

func (h History) withDefaults(pr *project, now time.Time) History {
	if h.Days <= 0 {
		h.Days = 14
	}
	if h.Pipelines <= 0 {
		h.Pipelines = 10 * h.Days
	}
	if len(h.Refs) == 0 {
		h.Refs = pr.Branches
	}
	if h.End.IsZero() {
		h.End = now
	}
	h.End = h.End.UTC()
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&h.FailRate, 0.02)
	def(&h.FlakyRate, 0.3)
	def(&h.RetryRate, 0.5)
	def(&h.RerunRate, 0.15)
	def(&h.CancelRate, 0.03)
	if h.UserID == 0 {
		for id := range pr.Members {
			if h.UserID == 0 || id < h.UserID {
				h.UserID = id
			}
		}
	}
	return h
}

// historyPipeline builds one finished pipeline, stage after stage. progress
// (0 at the history's start, 1 at its end) makes jobs a little slower over
// time, as real projects do.
func (s *Server) historyPipeline(pr *project, h History, rng *mrand.Rand, base []time.Duration,
	ref, sha, source string, at time.Time, progress float64) *pipeline {
	var specs []int
	for i, js := range pr.Jobs {
		if runsOn(js, ref) {
			specs = append(specs, i)
		}
	}
	if len(specs) == 0 {
		return nil
	}
	s.nextPipe++
	pr.nextIID++
	p := &pipeline{
		id: s.nextPipe, iid: pr.nextIID, project: pr, ref: ref, sha: sha,
		tag: contains(pr.Tags, ref) && !contains(pr.Branches, ref), source: source, userID: h.UserID,
		createdAt: at, updatedAt: at,
	}
	queue := func() time.Duration { return time.Duration(2000+rng.IntN(18000)) * time.Millisecond }
	cancelStage := -1
	if rng.Float64() < h.CancelRate {
		cancelStage = rng.IntN(len(pr.stages))
	}
	t := at
	broken := false
	for stage := range pr.stages {
		stageEnd := t
		for _, i := range specs {
			js := pr.Jobs[i]
			if js.Stage != pr.stages[stage] {
				continue
			}
			// After a failure later stages are skipped; after a cancel the
			// jobs that had not started are canceled.
			if broken || cancelStage >= 0 && stage > cancelStage {
				j := s.historyJob(p, js, 1, at)
				j.status = StatusCanceled
				if broken {
					j.status = StatusSkipped
				}
				continue
			}
			// A real failure belongs to the commit: a rerun of it fails too.
			realFail := js.Fail || commitRoll(sha, js.Name) < h.FailRate
			begin := t
			for attempt := 1; ; attempt++ {
				j := s.historyJob(p, js, attempt, begin)
				started := begin.Add(queue())
				scale := 0.8 + 0.4*rng.Float64() + 0.15*progress
				if rng.Float64() < 0.05 {
					scale *= 2 // the odd slow run
				}
				d := time.Duration(float64(base[i]) * scale).Truncate(time.Millisecond)
				finished := started.Add(d)
				j.queuedAt, j.startedAt, j.finishedAt = &begin, ptr(started), ptr(finished)
				if stage == cancelStage {
					cut := started.Add(time.Duration(float64(d) * rng.Float64()).Truncate(time.Millisecond))
					j.finishedAt = &cut
					j.status = StatusCanceled
					stageEnd = latestOf(stageEnd, cut)
					break
				}
				failed := realFail || js.Flaky && rng.Float64() < h.FlakyRate
				stageEnd = latestOf(stageEnd, finished)
				if !failed {
					j.status = StatusSuccess
					break
				}
				j.status, j.reason = StatusFailed, js.FailureReason
				if j.reason == "" {
					j.reason = "script_failure"
				}
				if js.AllowFailure || attempt > 2 || rng.Float64() >= h.RetryRate {
					if !js.AllowFailure {
						broken = true
					}
					break
				}
				j.retried = true
				begin = finished
			}
		}
		t = stageEnd
	}
	latest := p.latest()
	p.status = composite(latest)
	var first, last *time.Time
	for _, j := range p.jobs {
		if j.startedAt != nil && (first == nil || j.startedAt.Before(*first)) {
			first = j.startedAt
		}
		if j.finishedAt != nil && (last == nil || j.finishedAt.After(*last)) {
			last = j.finishedAt
		}
	}
	p.startedAt, p.finishedAt = first, last
	if last != nil {
		p.updatedAt = *last
	}
	pr.pipelines = append(pr.pipelines, p)
	s.pipelines[p.id] = p
	return p
}

func (s *Server) historyJob(p *pipeline, js JobSpec, attempt int, at time.Time) *job {
	j := s.newJob(p, js, attempt, p.userID)
	j.createdAt = at
	return j
}

func ptr(t time.Time) *time.Time { return &t }

func latestOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// historySHA is a stable commit id for the i-th generated pipeline.
func historySHA(seed uint64, projectID int64, i int) string {
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], seed)
	binary.BigEndian.PutUint64(b[8:], uint64(projectID))
	binary.BigEndian.PutUint64(b[16:], uint64(i))
	sum := sha1.Sum(b[:])
	return hex.EncodeToString(sum[:])
}

// commitRoll is a number in [0, 1) fixed by a commit and a job name.
func commitRoll(sha, name string) float64 {
	sum := sha1.Sum([]byte(sha + "\x00" + name))
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}

// HistoryJob is a snapshot of one job of a generated (or any) pipeline with
// its timing, for tests that compute figures on their own.
type HistoryJob struct {
	ID                    int64
	Name, Status          string
	AllowFailure, Retried bool
	StartedAt, FinishedAt time.Time // zero when the job never ran
}

// HistoryPipeline is a snapshot of one pipeline with every job, retried ones
// included.
type HistoryPipeline struct {
	ID                   int64
	Status, Ref, SHA     string
	Source               string
	CreatedAt, UpdatedAt time.Time
	Jobs                 []HistoryJob
}

// HistoryOf returns snapshots of a project's pipelines, oldest first.
func (s *Server) HistoryOf(projectID int64) []HistoryPipeline {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, ok := s.projects[projectID]
	if !ok {
		return nil
	}
	out := make([]HistoryPipeline, 0, len(pr.pipelines))
	for _, p := range pr.pipelines {
		hp := HistoryPipeline{ID: p.id, Status: p.status, Ref: p.ref, SHA: p.sha, Source: p.source,
			CreatedAt: p.createdAt, UpdatedAt: p.updatedAt}
		for _, j := range p.jobs {
			hj := HistoryJob{ID: j.id, Name: j.spec.Name, Status: j.status, AllowFailure: j.spec.AllowFailure, Retried: j.retried}
			if j.startedAt != nil {
				hj.StartedAt = *j.startedAt
			}
			if j.finishedAt != nil {
				hj.FinishedAt = *j.finishedAt
			}
			hp.Jobs = append(hp.Jobs, hj)
		}
		out = append(out, hp)
	}
	return out
}
