// Package insights owns pipebot's CI insights (DESIGN §9): the report of a
// project's pipelines over a window (pass rate, durations, slowest, failing
// and flaky jobs, each against the previous period), the chart drawn from it,
// the cache of finished pipelines that keeps a second report cheap on GitLab,
// and the digest runner that posts reports on a cron schedule. It knows
// GitLab's types but nothing of Slack: rendering and posting are the
// caller's.
package insights

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// Run is one pipeline with every attempt of its jobs (GitLab's
// include_retried=true), in any order.
type Run struct {
	Pipeline gitlab.Pipeline
	Jobs     []gitlab.Job
}

// Duration is how long the pipeline ran, as GitLab counts it: the union of
// its jobs' running periods (Gitlab::Ci::Pipeline::Duration), so queueing
// before the first job and gaps between stages do not count. GitLab's
// pipeline list carries no duration; this needs no extra request.
func (r Run) Duration() time.Duration {
	type span struct{ from, to time.Time }
	var spans []span
	for _, j := range r.Jobs {
		if j.StartedAt == nil || j.FinishedAt == nil || !j.FinishedAt.After(*j.StartedAt) {
			continue
		}
		spans = append(spans, span{*j.StartedAt, *j.FinishedAt})
	}
	sort.Slice(spans, func(a, b int) bool { return spans[a].from.Before(spans[b].from) })
	var total time.Duration
	var cur span
	for i, s := range spans {
		switch {
		case i == 0:
			cur = s
		case !s.from.After(cur.to):
			if s.to.After(cur.to) {
				cur.to = s.to
			}
		default:
			total += cur.to.Sub(cur.from)
			cur = s
		}
	}
	if len(spans) > 0 {
		total += cur.to.Sub(cur.from)
	}
	return total
}

// latestAttempts returns, per job name, the attempt with the highest id:
// GitLab's job API has no "retried" flag, a later attempt of the same name
// in the same pipeline replaces the earlier ones.
func latestAttempts(jobs []gitlab.Job) map[string]gitlab.Job {
	out := make(map[string]gitlab.Job, len(jobs))
	for _, j := range jobs {
		if cur, ok := out[j.Name]; !ok || j.ID > cur.ID {
			out[j.Name] = j
		}
	}
	return out
}

// isFailure reports an attempt that counts as a failure: failed and not
// allowed to fail. Canceled and skipped are not failures.
func isFailure(j gitlab.Job) bool {
	return j.Status == gitlab.StatusFailed && !j.AllowFailure
}

// ran reports an attempt that ran to an end worth timing.
func ran(j gitlab.Job) bool {
	return (j.Status == gitlab.StatusSuccess || j.Status == gitlab.StatusFailed) && j.Duration > 0
}

// Median is the middle value of ds (the mean of the two middle ones for an
// even count); 0 for none. ds is sorted in place.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

// P95 is the 95th percentile of ds by the nearest-rank method: the smallest
// value with at least 95 % of ds at or below it; 0 for none. ds is sorted in
// place.
func P95(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(math.Ceil(0.95 * float64(len(ds))))
	return ds[max(rank, 1)-1]
}

// PassRate is success / (success + failed); NaN when both are 0.
func PassRate(success, failed int) float64 {
	if success+failed == 0 {
		return math.NaN()
	}
	return float64(success) / float64(success+failed)
}
