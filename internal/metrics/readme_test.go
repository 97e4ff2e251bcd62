package metrics

import (
	"os"
	"regexp"
	"testing"
)

// The README's HTTP section names every metric pipebot exports, so an
// operator can find each one there.
func TestTheREADMENamesEveryMetric(t *testing.T) {
	src, err := os.ReadFile("metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`Name:\s+"(pipebot_[a-z_]+)"`).FindAllSubmatch(src, -1)
	if len(names) < 5 {
		t.Fatalf("found %d metric names in metrics.go: the scan is broken", len(names))
	}
	for _, n := range names {
		if !regexp.MustCompile("`" + string(n[1]) + "[`{]").Match(readme) {
			t.Errorf("README.md does not name the metric %s", n[1])
		}
	}
}
