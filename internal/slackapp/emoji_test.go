package slackapp

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// emojiCode finds a Slack emoji code where pipebot's messages use one: at
// the start or end of a string literal, or between spaces.
var emojiCode = regexp.MustCompile(`(?:^|[" ])(:[a-z][a-z0-9_]*:)(?:[ "]|$)`)

// The terminal chat (demo, console) prints every emoji code pipebot's
// messages use as a character, not as ":bar_chart:".
func TestTheConsoleShowsEveryEmojiPipebotUses(t *testing.T) {
	codes := map[string]string{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range emojiCode.FindAllStringSubmatch(string(b), -1) {
			codes[m[1]] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) < 10 {
		t.Fatalf("found only %d emoji codes in the sources: the scan is broken", len(codes))
	}
	for code, path := range codes {
		if got := mrkdwnToText("a "+code+" b", "mrkdwn"); strings.Contains(got, code) {
			t.Errorf("%s (used in %s) prints as %q", code, path, got)
		}
	}
}
