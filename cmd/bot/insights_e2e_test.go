package main

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoStatsSavesTheChartAndSaysWhere runs `pipebot demo` with a script,
// as a person trying pipebot would, and opens the chart it names.
func TestDemoStatsSavesTheChartAndSaysWhere(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	if err := run(ctx, []string{"demo"}, strings.NewReader("/ci stats\n"), &out, &errs); err != nil {
		t.Fatalf("demo: %v\n%s", err, errs.String())
	}
	for _, want := range []string{"read 0 of", "CI stats of demo/webapp", "Pass rate", "Flaky jobs", "uploaded ci-stats-demo_webapp-14d.png"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	m := regexp.MustCompile(`Chart saved to (\S+\.png)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("demo does not say where the chart is:\n%s", out.String())
	}
	if filepath.Dir(m[1]) != filepath.Join(tmp, "pipebot-demo-charts") {
		t.Errorf("chart saved to %s, want it under the temp dir", m[1])
	}
	f, err := os.Open(m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("the saved chart does not decode: %v", err)
	}
}
