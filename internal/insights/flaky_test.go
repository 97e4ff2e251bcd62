package insights

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// attempt is a job attempt for a table: name, status, allow_failure.
type attempt struct {
	name   string
	status gitlab.Status
	allow  bool
}

// run builds a pipeline whose attempts get growing ids in the order given.
func run(id int64, sha string, minute int, status gitlab.Status, attempts ...attempt) Run {
	r := Run{Pipeline: gitlab.Pipeline{ID: id, SHA: sha, Status: status, Ref: "main", CreatedAt: t0.Add(time.Duration(minute) * time.Minute)}}
	for i, a := range attempts {
		start := r.Pipeline.CreatedAt.Add(time.Duration(i) * time.Minute)
		end := start.Add(30 * time.Second)
		r.Jobs = append(r.Jobs, gitlab.Job{
			ID: id*100 + int64(i), Name: a.name, Status: a.status, AllowFailure: a.allow,
			Duration: 30 * time.Second, StartedAt: &start, FinishedAt: &end,
			WebURL: fmt.Sprintf("https://gitlab.example.com/g/app/-/jobs/%d", id*100+int64(i)),
		})
	}
	return r
}

func TestDetectFlaky(t *testing.T) {
	ok, failed, canceled := gitlab.StatusSuccess, gitlab.StatusFailed, gitlab.StatusCanceled
	tests := []struct {
		name string
		runs []Run
		want string // name:count …
	}{
		{"a retry that passes makes the job flaky",
			[]Run{run(1, "a", 0, ok, attempt{"test", failed, false}, attempt{"test", ok, false})}, "test:1"},
		{"passing on another pipeline of the same commit makes it flaky",
			[]Run{run(1, "a", 0, failed, attempt{"test", failed, false}), run(2, "a", 5, ok, attempt{"test", ok, false})}, "test:1"},
		{"the same commit on another ref counts too", func() []Run {
			r2 := run(2, "a", 5, ok, attempt{"test", ok, false})
			r2.Pipeline.Ref = "feature"
			return []Run{run(1, "a", 0, failed, attempt{"test", failed, false}), r2}
		}(), "test:1"},
		{"passing before failing on one commit is not flaky (it broke later)",
			[]Run{run(1, "a", 0, ok, attempt{"test", ok, false}), run(2, "a", 5, failed, attempt{"test", failed, false})}, ""},
		{"another commit passing is not flaky",
			[]Run{run(1, "a", 0, failed, attempt{"test", failed, false}), run(2, "b", 5, ok, attempt{"test", ok, false})}, ""},
		{"always failing is not flaky",
			[]Run{run(1, "a", 0, failed, attempt{"test", failed, false}, attempt{"test", failed, false}),
				run(2, "a", 5, failed, attempt{"test", failed, false})}, ""},
		{"canceled then passed is not a failure",
			[]Run{run(1, "a", 0, ok, attempt{"test", canceled, false}, attempt{"test", ok, false})}, ""},
		{"an allowed failure then a pass is not flaky",
			[]Run{run(1, "a", 0, ok, attempt{"lint", failed, true}, attempt{"lint", ok, true})}, ""},
		{"a retry passing in a pipeline is counted once with its commit's later pass",
			[]Run{run(1, "a", 0, ok, attempt{"test", failed, false}, attempt{"test", ok, false}),
				run(2, "a", 5, ok, attempt{"test", ok, false})}, "test:1"},
		{"two retries then a pass count once",
			[]Run{run(1, "a", 0, ok, attempt{"test", failed, false}, attempt{"test", failed, false}, attempt{"test", ok, false})}, "test:1"},
		{"counted per pipeline, sorted by count",
			[]Run{run(1, "a", 0, ok, attempt{"e2e", failed, false}, attempt{"e2e", ok, false}, attempt{"unit", failed, false}, attempt{"unit", ok, false}),
				run(2, "b", 5, ok, attempt{"e2e", failed, false}, attempt{"e2e", ok, false})}, "e2e:2 unit:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			for i, f := range DetectFlaky(tt.runs) {
				if i > 0 {
					got += " "
				}
				got += fmt.Sprintf("%s:%d", f.Name, f.Count)
				if f.WebURL == "" {
					t.Errorf("%s has no link", f.Name)
				}
			}
			if got != tt.want {
				t.Errorf("flaky = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFlakyLinksTheFailedAttempt(t *testing.T) {
	r := run(3, "a", 0, ok(), attempt{"test", gitlab.StatusFailed, false}, attempt{"test", gitlab.StatusSuccess, false})
	f := DetectFlaky([]Run{r})
	if len(f) != 1 || f[0].WebURL != r.Jobs[0].WebURL {
		t.Errorf("flaky %+v, want a link to the failed attempt %s", f, r.Jobs[0].WebURL)
	}
}

func ok() gitlab.Status { return gitlab.StatusSuccess }

func TestDurationIsTheUnionOfJobRunningPeriods(t *testing.T) {
	at := func(min, sec int) *time.Time {
		v := t0.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
		return &v
	}
	r := Run{Jobs: []gitlab.Job{
		{ID: 1, StartedAt: at(0, 0), FinishedAt: at(1, 0)},
		{ID: 2, StartedAt: at(0, 30), FinishedAt: at(2, 0)}, // overlaps: 0:00–2:00
		{ID: 3, StartedAt: at(3, 0), FinishedAt: at(4, 0)},  // a gap between stages is not counted
		{ID: 4, StartedAt: at(3, 10), FinishedAt: at(3, 20)},
		{ID: 5, StartedAt: at(5, 0)}, // never finished
		{ID: 6},                      // skipped
	}}
	if d := r.Duration(); d != 3*time.Minute {
		t.Errorf("duration %v, want 3m", d)
	}
}

func TestMedianAndP95(t *testing.T) {
	secs := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, s := range v {
			out[i] = time.Duration(s) * time.Second
		}
		return out
	}
	tests := []struct {
		in          []time.Duration
		median, p95 time.Duration
	}{
		{nil, 0, 0},
		{secs(7), 7 * time.Second, 7 * time.Second},
		{secs(4, 1, 3, 2), 2500 * time.Millisecond, 4 * time.Second},
		{secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 10500 * time.Millisecond, 19 * time.Second},
		{secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21), 11 * time.Second, 20 * time.Second},
	}
	for _, tt := range tests {
		if m := Median(append([]time.Duration(nil), tt.in...)); m != tt.median {
			t.Errorf("median of %v = %v, want %v", tt.in, m, tt.median)
		}
		if p := P95(append([]time.Duration(nil), tt.in...)); p != tt.p95 {
			t.Errorf("p95 of %v = %v, want %v", tt.in, p, tt.p95)
		}
	}
	if !math.IsNaN(PassRate(0, 0)) || PassRate(3, 1) != 0.75 {
		t.Error("pass rate")
	}
}

func TestComputeLeavesCanceledOutAndAllowedFailuresIn(t *testing.T) {
	q := Query{Project: "g/app", Days: 1, Now: t0.Add(2 * time.Hour)}
	runs := []Run{
		run(1, "a", 0, gitlab.StatusSuccess, attempt{"build", gitlab.StatusSuccess, false}, attempt{"lint", gitlab.StatusFailed, true}),
		run(2, "b", 10, gitlab.StatusFailed, attempt{"build", gitlab.StatusFailed, false}),
		run(3, "c", 20, gitlab.StatusCanceled, attempt{"build", gitlab.StatusCanceled, false}),
		run(4, "d", 30, gitlab.StatusSuccess, attempt{"build", gitlab.StatusSuccess, false}),
		run(5, "e", -3*24*60, gitlab.StatusFailed, attempt{"build", gitlab.StatusFailed, false}), // before both periods
	}
	rep := Compute(q, runs)
	c := rep.Current
	if c.Pipelines != 4 || c.Success != 2 || c.Failed != 1 || c.Canceled != 1 {
		t.Fatalf("current %+v", c)
	}
	if math.Abs(c.PassRate-2.0/3) > 1e-9 {
		t.Errorf("pass rate %v, want 2/3 (canceled left out)", c.PassRate)
	}
	if rep.Previous.Pipelines != 0 || rep.Trend() {
		t.Errorf("previous %+v trend %v", rep.Previous, rep.Trend())
	}
	for _, f := range rep.Failing {
		if f.Name == "lint" {
			t.Errorf("an allowed failure is in the failing list: %+v", rep.Failing)
		}
	}
	if len(rep.Failing) != 1 || rep.Failing[0].Name != "build" || rep.Failing[0].Failures != 1 || rep.Failing[0].Runs != 3 {
		t.Errorf("failing %+v, want build failing 1 of 3 runs", rep.Failing)
	}
	other := run(6, "f", 40, gitlab.StatusFailed, attempt{"build", gitlab.StatusFailed, false})
	other.Pipeline.Ref = "develop"
	runs = append(runs, other)
	q.Ref = "develop"
	if rep := Compute(q, runs); rep.Current.Pipelines != 1 || rep.Current.Failed != 1 {
		t.Errorf("ref filter: %+v", rep.Current)
	}
}
