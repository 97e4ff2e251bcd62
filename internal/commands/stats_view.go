package commands

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/insights"
	"github.com/pipebot/pipebot/internal/notify"
)

// statsMessage renders a CI report as Block Kit (DESIGN §9). Everything
// from GitLab (project, ref, source, job names) is escaped, and counts link
// to GitLab. title leads the first line ("CI stats", "CI digest #3").
func statsMessage(title string, rep insights.Report) notify.Message {
	q := rep.Query
	cur, prev := rep.Current, rep.Previous
	scope := fmt.Sprintf("last %d days", q.Days)
	if q.Ref != "" {
		scope += " · ref `" + notify.Code(q.Ref) + "`"
	}
	if q.Source != "" {
		scope += " · source `" + notify.Code(q.Source) + "`"
	}
	head := fmt.Sprintf(":bar_chart: *%s of %s* · %s", title, notify.Link(pipelinesURL(q), q.Project), scope)
	text := fmt.Sprintf("%s of %s, last %d days: %d pipelines", title, q.Project, q.Days, cur.Pipelines)
	blocks := []slack.Block{notify.Section(head)}
	if cur.Pipelines == 0 {
		blocks = append(blocks, notify.Section(fmt.Sprintf("No pipeline ran in the last %d days%s.", q.Days, filterNote(q))))
		return notify.Message{Text: text, Blocks: blocks}
	}
	trend := rep.Trend()
	fields := []*slack.TextBlockObject{
		field("Pipelines", fmt.Sprint(cur.Pipelines), change(trend, float64(cur.Pipelines), float64(prev.Pipelines), fmt.Sprint(prev.Pipelines))),
		field("Pass rate", percent(cur.PassRate), pointsChange(trend, cur.PassRate, prev.PassRate)),
		field("Median duration", durationOrDash(cur.Median), change(trend, cur.Median.Seconds(), prev.Median.Seconds(), durationOrDash(prev.Median))),
		field("p95 duration", durationOrDash(cur.P95), change(trend, cur.P95.Seconds(), prev.P95.Seconds(), durationOrDash(prev.P95))),
	}
	text += fmt.Sprintf(", pass rate %s, median %s", percent(cur.PassRate), durationOrDash(cur.Median))
	blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	counts := fmt.Sprintf("%d passed · %d failed · %d canceled", cur.Success, cur.Failed, cur.Canceled)
	if cur.Skipped > 0 {
		counts += fmt.Sprintf(" · %d skipped", cur.Skipped)
	}
	if cur.Others > 0 {
		counts += fmt.Sprintf(" · %d not finished", cur.Others)
	}
	notes := []string{counts}
	switch {
	case cur.Finished() < insights.MinTrend:
		notes = append(notes, fmt.Sprintf("%s — too few for a trend", finishedCount(cur)))
	case prev.Finished() < insights.MinTrend:
		notes = append(notes, fmt.Sprintf("the %d days before had %s — too few for a trend", q.Days, finishedCount(prev)))
	default:
		notes = append(notes, fmt.Sprintf("changes against the %d days before", q.Days))
	}
	blocks = append(blocks, notify.Context(strings.Join(notes, " · ")))
	if len(rep.Slowest) > 0 {
		lines := []string{"*Slowest jobs* (median)"}
		for _, j := range rep.Slowest {
			lines = append(lines, fmt.Sprintf("• %s %s over %s", notify.Link(j.WebURL, j.Name), notify.Duration(j.Median), plural(j.Runs, "run")))
		}
		blocks = append(blocks, notify.Section(strings.Join(lines, "\n")))
	}
	if len(rep.Failing) > 0 {
		lines := []string{"*Failing most*"}
		for _, j := range rep.Failing {
			lines = append(lines, fmt.Sprintf("• %s failed %d of %s (%s)", notify.Link(j.WebURL, j.Name), j.Failures, plural(j.Runs, "run"),
				percent(float64(j.Failures)/float64(j.Runs))))
		}
		blocks = append(blocks, notify.Section(strings.Join(lines, "\n")))
	} else {
		blocks = append(blocks, notify.Section("*Failing most*\nNo job failed. :tada:"))
	}
	if len(rep.Flaky) > 0 {
		lines := []string{"*Flaky jobs* (failed, then passed on a retry or another pipeline of the same commit)"}
		for _, f := range rep.Flaky[:min(len(rep.Flaky), insights.TopJobs)] {
			lines = append(lines, fmt.Sprintf("• %s flaky %s", notify.Link(f.WebURL, f.Name), plural(f.Count, "time")))
		}
		if n := len(rep.Flaky) - insights.TopJobs; n > 0 {
			lines = append(lines, fmt.Sprintf("…and %d more", n))
		}
		blocks = append(blocks, notify.Section(strings.Join(lines, "\n")))
	} else {
		blocks = append(blocks, notify.Section("*Flaky jobs*\nNone seen."))
	}
	return notify.Message{Text: text, Blocks: blocks}
}

// progressMessage is the report's placeholder while it reads history.
func progressMessage(q insights.Query, read, total int) notify.Message {
	text := fmt.Sprintf(":hourglass_flowing_sand: Reading the CI history of %s: read %s of %s pipelines…",
		notify.Escape(q.Project), thousands(read), thousands(total))
	return notify.Message{Text: text, Blocks: blocksOf(notify.Section(text))}
}

// finishedCount says how many pipelines the figures stand on: "3
// pipelines", or "3 finished pipelines" when others did not pass or fail.
func finishedCount(p insights.Period) string {
	if p.Finished() == p.Pipelines {
		return plural(p.Finished(), "pipeline")
	}
	return plural(p.Finished(), "finished pipeline")
}

func field(name, value, delta string) *slack.TextBlockObject {
	s := "*" + name + "*\n" + value
	if delta != "" {
		s += "  " + delta
	}
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// change is the relative change of cur against prev, "" without a trend.
func change(trend bool, cur, prev float64, prevText string) string {
	if !trend || prev <= 0 {
		return ""
	}
	pct := (cur - prev) / prev * 100
	return fmt.Sprintf("%s (was %s)", arrow(pct, "%"), prevText)
}

// pointsChange is the change of a rate in percentage points.
func pointsChange(trend bool, cur, prev float64) string {
	if !trend || math.IsNaN(cur) || math.IsNaN(prev) {
		return ""
	}
	return fmt.Sprintf("%s (was %s)", arrow((cur-prev)*100, " pts"), percent(prev))
}

func arrow(v float64, unit string) string {
	r := math.Round(v)
	switch {
	case r > 0:
		return fmt.Sprintf("▲ %.0f%s", r, unit)
	case r < 0:
		return fmt.Sprintf("▼ %.0f%s", -r, unit)
	}
	return "±0" + unit
}

func percent(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", v*100)
}

func durationOrDash(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return notify.Duration(d)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return thousands(n) + " " + word + "s"
}

// thousands writes n with comma separators: 1,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func filterNote(q insights.Query) string {
	var parts []string
	if q.Ref != "" {
		parts = append(parts, "on `"+notify.Code(q.Ref)+"`")
	}
	if q.Source != "" {
		parts = append(parts, "from `"+notify.Code(q.Source)+"`")
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

// pipelinesURL is the project's pipeline list in GitLab, filtered by ref
// and source as the report is.
func pipelinesURL(q insights.Query) string {
	if q.ProjectURL == "" {
		return ""
	}
	v := url.Values{}
	if q.Ref != "" {
		v.Set("ref", q.Ref)
	}
	if q.Source != "" {
		v.Set("source", q.Source)
	}
	u := q.ProjectURL + "/-/pipelines"
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}
