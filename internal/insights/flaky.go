package insights

import (
	"sort"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// FlakyJob is a job that failed and then passed on the same commit.
type FlakyJob struct {
	Name string
	// Count is how many times it happened: once per pipeline in which the
	// job failed before passing on a retry of that pipeline or on a later
	// pipeline of the same commit.
	Count int
	// WebURL links the most recent failed attempt that turned out flaky.
	WebURL string
	lastID int64
}

// DetectFlaky finds flaky jobs among runs (DESIGN §9): a job that failed and
// then passed on a retry of the same pipeline, or failed in one pipeline and
// passed in a later pipeline of the same commit (the same SHA on any ref).
// A failure is a failed attempt that is not allowed to fail; canceled and
// skipped attempts are not failures, and a job that always fails is broken,
// not flaky. The result is sorted by count, then name.
func DetectFlaky(runs []Run) []FlakyJob {
	found := map[string]*FlakyJob{}
	note := func(name string, failed gitlab.Job) {
		f := found[name]
		if f == nil {
			f = &FlakyJob{Name: name}
			found[name] = f
		}
		f.Count++
		if failed.ID > f.lastID {
			f.lastID, f.WebURL = failed.ID, failed.WebURL
		}
	}
	// Within a pipeline: a failed attempt with a later passing attempt.
	counted := map[int64]map[string]bool{} // pipeline id -> job names already counted
	for _, r := range runs {
		byName := map[string][]gitlab.Job{}
		for _, j := range r.Jobs {
			byName[j.Name] = append(byName[j.Name], j)
		}
		for name, attempts := range byName {
			sort.Slice(attempts, func(a, b int) bool { return attempts[a].ID < attempts[b].ID })
			for i, a := range attempts {
				if !isFailure(a) || !passedAfter(attempts[i+1:]) {
					continue
				}
				note(name, a)
				if counted[r.Pipeline.ID] == nil {
					counted[r.Pipeline.ID] = map[string]bool{}
				}
				counted[r.Pipeline.ID][name] = true
				break
			}
		}
	}
	// Across pipelines of one commit: the job's final attempt failed in one
	// pipeline and passed in a later one.
	bySHA := map[string][]Run{}
	for _, r := range runs {
		if r.Pipeline.SHA != "" {
			bySHA[r.Pipeline.SHA] = append(bySHA[r.Pipeline.SHA], r)
		}
	}
	for _, group := range bySHA {
		if len(group) < 2 {
			continue
		}
		sort.Slice(group, func(a, b int) bool {
			pa, pb := group[a].Pipeline, group[b].Pipeline
			if !pa.CreatedAt.Equal(pb.CreatedAt) {
				return pa.CreatedAt.Before(pb.CreatedAt)
			}
			return pa.ID < pb.ID
		})
		finals := make([]map[string]gitlab.Job, len(group))
		for i, r := range group {
			finals[i] = latestAttempts(r.Jobs)
		}
		for i, r := range group {
			for name, j := range finals[i] {
				if !isFailure(j) || counted[r.Pipeline.ID][name] {
					continue
				}
				for _, later := range finals[i+1:] {
					if l, ok := later[name]; ok && l.Status == gitlab.StatusSuccess {
						note(name, j)
						break
					}
				}
			}
		}
	}
	out := make([]FlakyJob, 0, len(found))
	for _, f := range found {
		out = append(out, *f)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Count != out[b].Count {
			return out[a].Count > out[b].Count
		}
		return out[a].Name < out[b].Name
	})
	return out
}

func passedAfter(attempts []gitlab.Job) bool {
	for _, a := range attempts {
		if a.Status == gitlab.StatusSuccess {
			return true
		}
	}
	return false
}
