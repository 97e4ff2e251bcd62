package insights

import (
	"sort"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// Report limits and defaults (DESIGN §9).
const (
	DefaultDays       = 14 // stats
	DefaultDigestDays = 7  // digests
	MaxDays           = 90
	// MinTrend is the fewest finished (passed or failed) pipelines a period
	// needs before its figures are compared with another period's.
	MinTrend = 10
	// TopJobs is how many jobs each list of the report shows.
	TopJobs = 5
)

// Query is what a report covers.
type Query struct {
	Project    string // path, for display
	ProjectURL string // web URL of the project, for links
	Ref        string // only this ref; "" for all
	Source     string // only this pipeline source; "" for all
	Days       int    // the window: the last Days×24 h by created_at
	Now        time.Time
	// Loc is the zone whose calendar days the chart shows; nil is UTC.
	Loc *time.Location
	// GitLab, when set, is the client this report reads GitLab with: the
	// identity of the person who asked (DESIGN §7). nil is the builder's
	// own client (digests, background work).
	GitLab Reader
}

// Window returns the report's period [from, to) and the previous one of the
// same length.
func (q Query) Window() (from, to, prevFrom time.Time) {
	length := time.Duration(q.Days) * 24 * time.Hour
	to = q.Now
	from = to.Add(-length)
	return from, to, from.Add(-length)
}

// Matches reports whether a pipeline is one the query asks about.
func (q Query) Matches(p gitlab.Pipeline) bool {
	return (q.Ref == "" || p.Ref == q.Ref) && (q.Source == "" || p.Source == q.Source)
}

// Period is the pipeline figures of one period.
type Period struct {
	From, To time.Time
	// Pipelines counts every pipeline created in the period, running ones
	// included.
	Pipelines                                  int
	Success, Failed, Canceled, Skipped, Others int
	// PassRate is Success / (Success + Failed); NaN without either.
	PassRate float64
	// Median and P95 are over the durations of passed and failed pipelines.
	Median, P95 time.Duration
}

// Finished is how many pipelines passed or failed: what the rates and
// durations are computed over.
func (p Period) Finished() int { return p.Success + p.Failed }

// JobStat is one job name's figures over the report's window.
type JobStat struct {
	Name string
	// Runs counts attempts that passed or failed; Failures the failed ones
	// not allowed to fail.
	Runs, Failures int
	Median         time.Duration
	// WebURL links the job's latest attempt that matters to the list: the
	// slowest list links the latest run, the failing list the latest failure.
	WebURL string
}

// Day is one calendar day of the window, for the chart.
type Day struct {
	Start           time.Time // midnight in the query's zone
	Pipelines       int
	Success, Failed int
	PassRate        float64       // NaN when nothing passed or failed
	Median          time.Duration // of passed and failed pipelines; 0 for none
}

// Report is the CI report of DESIGN §9.
type Report struct {
	Query             Query
	Current, Previous Period
	Slowest, Failing  []JobStat
	Flaky             []FlakyJob
	Days              []Day
}

// Trend reports whether both periods have enough finished pipelines to be
// compared.
func (r Report) Trend() bool {
	return r.Current.Finished() >= MinTrend && r.Previous.Finished() >= MinTrend
}

// Compute builds the report from runs, which may hold pipelines outside the
// query (other refs, older ones): they are filtered here.
func Compute(q Query, runs []Run) Report {
	if q.Loc == nil {
		q.Loc = time.UTC
	}
	from, to, prevFrom := q.Window()
	var cur, prev []Run
	for _, r := range runs {
		if !q.Matches(r.Pipeline) {
			continue
		}
		at := r.Pipeline.CreatedAt
		switch {
		case !at.Before(from) && at.Before(to):
			cur = append(cur, r)
		case !at.Before(prevFrom) && at.Before(from):
			prev = append(prev, r)
		}
	}
	sort.Slice(cur, func(a, b int) bool { return cur[a].Pipeline.ID < cur[b].Pipeline.ID })
	rep := Report{Query: q, Current: period(from, to, cur), Previous: period(prevFrom, from, prev)}
	rep.Slowest, rep.Failing = jobStats(cur)
	rep.Flaky = DetectFlaky(cur)
	rep.Days = days(q, from, to, cur)
	return rep
}

func period(from, to time.Time, runs []Run) Period {
	p := Period{From: from, To: to, Pipelines: len(runs)}
	var ds []time.Duration
	for _, r := range runs {
		switch r.Pipeline.Status {
		case gitlab.StatusSuccess:
			p.Success++
		case gitlab.StatusFailed:
			p.Failed++
		case gitlab.StatusCanceled:
			p.Canceled++
		case gitlab.StatusSkipped:
			p.Skipped++
		default:
			p.Others++
			continue
		}
		if r.Pipeline.Status == gitlab.StatusSuccess || r.Pipeline.Status == gitlab.StatusFailed {
			if d := r.Duration(); d > 0 {
				ds = append(ds, d)
			}
		}
	}
	p.PassRate = PassRate(p.Success, p.Failed)
	p.Median, p.P95 = Median(ds), P95(ds)
	return p
}

// jobStats returns the slowest jobs by median duration (each linking its
// latest run) and the jobs that failed most (each linking its latest
// failure), TopJobs of each.
func jobStats(runs []Run) (slowest, failing []JobStat) {
	type acc struct {
		stat             JobStat
		ds               []time.Duration
		lastRun, lastBad gitlab.Job
	}
	by := map[string]*acc{}
	for _, r := range runs {
		for _, j := range r.Jobs {
			if !ran(j) {
				continue
			}
			a := by[j.Name]
			if a == nil {
				a = &acc{stat: JobStat{Name: j.Name}}
				by[j.Name] = a
			}
			a.stat.Runs++
			a.ds = append(a.ds, j.Duration)
			if j.ID > a.lastRun.ID {
				a.lastRun = j
			}
			if isFailure(j) {
				a.stat.Failures++
				if j.ID > a.lastBad.ID {
					a.lastBad = j
				}
			}
		}
	}
	all := make([]*acc, 0, len(by))
	for _, a := range by {
		a.stat.Median = Median(a.ds)
		all = append(all, a)
	}
	sort.Slice(all, func(x, y int) bool {
		if all[x].stat.Median != all[y].stat.Median {
			return all[x].stat.Median > all[y].stat.Median
		}
		return all[x].stat.Name < all[y].stat.Name
	})
	for _, a := range all[:min(TopJobs, len(all))] {
		s := a.stat
		s.WebURL = a.lastRun.WebURL
		slowest = append(slowest, s)
	}
	sort.Slice(all, func(x, y int) bool {
		if all[x].stat.Failures != all[y].stat.Failures {
			return all[x].stat.Failures > all[y].stat.Failures
		}
		return all[x].stat.Name < all[y].stat.Name
	})
	for _, a := range all {
		if a.stat.Failures == 0 || len(failing) == TopJobs {
			break
		}
		s := a.stat
		s.WebURL = a.lastBad.WebURL
		failing = append(failing, s)
	}
	return slowest, failing
}

// days splits the window into calendar days of q.Loc, oldest first; the
// first and last may be partial.
func days(q Query, from, to time.Time, runs []Run) []Day {
	midnight := func(t time.Time) time.Time {
		t = t.In(q.Loc)
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, q.Loc)
	}
	var out []Day
	index := map[time.Time]int{}
	for d := midnight(from); d.Before(to); d = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, q.Loc) {
		index[d] = len(out)
		out = append(out, Day{Start: d})
	}
	durations := make([][]time.Duration, len(out))
	for _, r := range runs {
		i, ok := index[midnight(r.Pipeline.CreatedAt)]
		if !ok {
			continue
		}
		out[i].Pipelines++
		switch r.Pipeline.Status {
		case gitlab.StatusSuccess:
			out[i].Success++
		case gitlab.StatusFailed:
			out[i].Failed++
		default:
			continue
		}
		if d := r.Duration(); d > 0 {
			durations[i] = append(durations[i], d)
		}
	}
	for i := range out {
		out[i].PassRate = PassRate(out[i].Success, out[i].Failed)
		out[i].Median = Median(durations[i])
	}
	return out
}
