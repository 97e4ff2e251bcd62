package main

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// backgroundLoops counts the goroutines running a watcher or a digest runner
// loop.
func backgroundLoops(t *testing.T) int {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, "notify.(*Watcher).Run(") || strings.Contains(g, "insights.(*Runner).Run(") {
			n++
		}
	}
	return n
}

// When a person leaves the demo, its watcher and digest runner have stopped
// before the database closes: otherwise their last tick meets a closed
// database and the terminal shows "poll failed … database not open".
func TestLeavingTheDemoStopsItsBackgroundWorkFirst(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	t.Setenv("PIPEBOT_LOG_LEVEL", "warn")
	// A loop left running exits soon after the demo returns, so one run
	// may miss it; ten rarely do.
	for i := 0; i < 10; i++ {
		before := backgroundLoops(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var out, errs bytes.Buffer
		err := run(ctx, []string{"demo"}, strings.NewReader("/ci run main\n/ci pipelines\n"), &out, &errs)
		cancel()
		if err != nil {
			t.Fatalf("demo: %v\n%s", err, errs.String())
		}
		if after := backgroundLoops(t); after > before {
			t.Fatalf("%d watcher or digest loops still run after the demo returned (%d before)", after, before)
		}
		if s := errs.String(); strings.Contains(s, "database not open") {
			t.Fatalf("the demo's background work met its closed database:\n%s", s)
		}
	}
}

// The demo is a chat: GitLab's refusals reach the person as a sentence, so
// the terminal does not repeat them as log warnings between the messages.
func TestTheDemoShowsNoLogLinesForRefusedCommands(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	t.Setenv("PIPEBOT_LOG_LEVEL", "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	script := "/ci run nosuchref\n/ci run main input:replicas=abc\n/ci pipeline show 999999\n"
	if err := run(ctx, []string{"demo"}, strings.NewReader(script), &out, &errs); err != nil {
		t.Fatalf("demo: %v\n%s", err, errs.String())
	}
	for _, want := range []string{"Reference not found", "`replicas`: provided value is not a number", "#999999"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the chat lacks %q:\n%s", want, out.String())
		}
	}
	if errs.Len() > 0 {
		t.Errorf("the terminal shows log lines between the messages:\n%s", errs.String())
	}
}
