package simulator

import (
	"fmt"
	"strings"
)

// ANSI sequences as GitLab Runner writes them into job logs.
const (
	ansiClear = "\x1b[0K"
	ansiReset = "\x1b[0;m"
	ansiCyan  = "\x1b[36;1m"
	ansiGreen = "\x1b[32;1m"
	ansiRed   = "\x1b[31;1m"
)

// jobLog returns what GET .../trace shows for the job now: nothing before it
// starts, the beginning while it runs, the whole log once it is complete.
func jobLog(j *job) string {
	if j.log != nil {
		return *j.log
	}
	if j.startedAt == nil {
		return ""
	}
	if j.spec.Log != "" {
		return j.spec.Log
	}
	ts := j.startedAt.Unix()
	section := func(name, title string, lines ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "section_start:%d:%s\r%s%s%s%s\n", ts, name, ansiClear, ansiClear, ansiCyan+title, ansiReset)
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
		fmt.Fprintf(&b, "section_end:%d:%s\r%s\n", ts, name, ansiClear)
		return b.String()
	}
	var b strings.Builder
	b.WriteString(ansiClear + "Running with gitlab-runner 17.5.0 (simulator)\n")
	b.WriteString("  on simulator-runner sim-1, system ID: s_000000000001\n")
	b.WriteString(section("prepare_executor", `Preparing the "docker" executor`,
		"Using Docker executor with image golang:1.26 ..."))
	b.WriteString(section("get_sources", "Getting source from Git repository",
		fmt.Sprintf("Checking out %s as detached HEAD (ref is %s)...", j.pipeline.sha[:8], j.pipeline.ref)))
	script := []string{
		ansiGreen + "$ make " + j.spec.Name + ansiReset,
		fmt.Sprintf("running %s (attempt %d)", j.spec.Name, j.attempt),
	}
	switch j.status {
	case StatusSuccess:
		script = append(script, "ok  \t"+j.spec.Name+"\t0.042s")
	case StatusFailed:
		script = append(script, "--- FAIL: "+j.spec.Name, "FAIL\t"+j.spec.Name+"\t0.042s")
	}
	if !isComplete(j.status) {
		b.WriteString(strings.Join(script, "\n") + "\n")
		return b.String()
	}
	b.WriteString(section("step_script", `Executing "step_script" stage of the job script`, script...))
	if j.artifacts != nil {
		b.WriteString(section("upload_artifacts_on_success", "Uploading artifacts for successful job",
			"Uploading artifacts...", "artifacts.zip: found 2 matching artifact files and directories"))
	}
	switch j.status {
	case StatusSuccess:
		b.WriteString(ansiGreen + "Job succeeded" + ansiReset + "\n")
	case StatusFailed:
		b.WriteString(ansiRed + "ERROR: Job failed: exit code 1" + ansiReset + "\n")
	case StatusCanceled:
		b.WriteString(ansiRed + "ERROR: Job failed: canceled" + ansiReset + "\n")
	}
	return b.String()
}
