package notify

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

func tailOf(log string, lines, lineBytes int) []string {
	t := NewLogTail(lines, lineBytes)
	// Feed byte by byte in odd chunks so state carries across writes.
	for i := 0; i < len(log); i += 3 {
		_, _ = t.Write([]byte(log[i:min(i+3, len(log))]))
	}
	return t.Lines()
}

func TestLogTailOnHostileLogs(t *testing.T) {
	tests := []struct {
		name      string
		log       string
		lines     int
		lineBytes int
		want      []string
	}{
		{"keeps the last N lines", "a\nb\nc\nd\n", 2, 0, []string{"c", "d"}},
		{"unfinished last line counts", "a\nb\nc", 2, 0, []string{"b", "c"}},
		{"strips ANSI colors and erase codes", "\x1b[32;1mok\x1b[0;m \x1b[0Kdone\n", 5, 0, []string{"ok done"}},
		{"strips OSC hyperlinks", "\x1b]8;;https://x\x07link\x1b]8;;\x1b\\ text\n", 5, 0, []string{"link text"}},
		{"carriage return overwrites the line", "progress 10%\rprogress 55%\rprogress 100%\n", 5, 0, []string{"progress 100%"}},
		{"CRLF is a plain newline", "one\r\ntwo\r\n", 5, 0, []string{"one", "two"}},
		{"folds section markers keeping names", "section_start:1560896352:build_step[collapsed=true]\r\x1b[0K\x1b[36;1mBuilding\x1b[0;m\nmake\nsection_end:1560896353:build_step\r\x1b[0K\nafter\n",
			5, 0, []string{"» build_step: Building", "make", "after"}},
		{"section header overwritten by \\r keeps the name", "section_start:1:prep\r\x1b[0Kstep 1\rstep 2\n", 5, 0, []string{"» prep: step 2"}},
		{"section without a header", "section_start:1:empty\r\x1b[0K\n", 5, 0, []string{"» empty"}},
		{"a fake marker is text", "section_start:abc:x\rreal\n", 5, 0, []string{"real"}},
		{"invalid UTF-8 becomes replacement characters", "bad \xff\xfe end\n", 5, 0, []string{"bad \uFFFD end"}},
		{"long lines are capped on a rune boundary", "ééééé\n", 5, 5, []string{"éé…"}},
		{"other control characters vanish, tabs become spaces", "a\x00b\x07c\td\n", 5, 0, []string{"abc d"}},
		{"trailing spaces trimmed", "x   \n", 5, 0, []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tailOf(tt.log, tt.lines, tt.lineBytes)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("lines = %q, want %q", got, tt.want)
			}
			for _, l := range got {
				if !utf8.ValidString(l) {
					t.Errorf("invalid UTF-8 in %q", l)
				}
			}
		})
	}
}

func TestCodeBlockCannotBeEscaped(t *testing.T) {
	tests := []struct {
		name     string
		lines    []string
		max      int
		contains []string
		absent   []string
	}{
		{"fences inside the log", []string{"```", "evil ``` <!channel>", "`"}, 3000,
			[]string{"&lt;!channel&gt;"}, []string{"<!channel>"}},
		{"Slack links and mentions are escaped", []string{"<https://evil.example|click> <@U1> & co"}, 3000,
			[]string{"&lt;https://evil.example|click&gt; &lt;@U1&gt; &amp; co"}, nil},
		{"the newest lines win when over budget", []string{strings.Repeat("a", 50), strings.Repeat("b", 50), "last"}, 70,
			[]string{"…\n", "last"}, []string{"aaaa"}},
		{"a single huge line is cut", []string{strings.Repeat("é", 100)}, 60, []string{"…"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CodeBlock(tt.lines, tt.max)
			if len(got) > tt.max {
				t.Errorf("block is %d bytes, over %d", len(got), tt.max)
			}
			if !strings.HasPrefix(got, "```\n") || !strings.HasSuffix(got, "\n```") {
				t.Fatalf("not a code block: %q", got)
			}
			inner := got[3 : len(got)-3]
			if strings.Contains(inner, "``") {
				t.Errorf("two backticks in a row inside the block: %q", inner)
			}
			if !utf8.ValidString(got) {
				t.Errorf("invalid UTF-8: %q", got)
			}
			for _, c := range tt.contains {
				if !strings.Contains(got, c) {
					t.Errorf("block lacks %q: %q", c, got)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(got, a) {
					t.Errorf("block has %q: %q", a, got)
				}
			}
		})
	}
	if CodeBlock(nil, 100) != "" {
		t.Error("no lines should render nothing")
	}
}

// hostileLog writes size bytes of hostile lines and a known last line.
type hostileLog struct {
	left  int64
	chunk []byte
	off   int
}

func newHostileLog(size int64) *hostileLog {
	var b strings.Builder
	for i := 0; b.Len() < 64<<10; i++ {
		fmt.Fprintf(&b, "section_start:1:s%d\r\x1b[0K\x1b[36;1mstep %d\x1b[0;m\nprogress 1%%\rprogress 100%%\n\xff\xfe ``` <!here>\nsection_end:1:s%d\r\x1b[0K\n", i, i, i)
	}
	return &hostileLog{left: size, chunk: []byte(b.String())}
}

func (h *hostileLog) Read(p []byte) (int, error) {
	if h.left == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(int64(len(p)), h.left)], h.chunk[h.off:])
	h.off = (h.off + n) % len(h.chunk)
	h.left -= int64(n)
	return n, nil
}

func TestTailOf200MBLogKeepsMemoryFlat(t *testing.T) {
	size := int64(200 << 20)
	if testing.Short() || raceEnabled {
		size = 48 << 20
	}
	tail := NewLogTail(MaxTailLines, DefaultTailLineBytes)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	src := io.MultiReader(newHostileLog(size), strings.NewReader("\nERROR: Job failed: exit code 1\n"))
	if _, err := io.CopyBuffer(tail, src, make([]byte, 32<<10)); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	lines := tail.Lines()
	if got := lines[len(lines)-1]; got != "ERROR: Job failed: exit code 1" {
		t.Errorf("last line = %q", got)
	}
	if len(lines) != MaxTailLines {
		t.Errorf("kept %d lines, want %d", len(lines), MaxTailLines)
	}
	// Bounded buffering: the tail allocates its ring once, whatever the
	// size. 200 MB through a buffering implementation would allocate
	// hundreds of megabytes.
	allocated := after.TotalAlloc - before.TotalAlloc
	if allocated > 16<<20 {
		t.Errorf("tailing %d MB allocated %d MiB; want at most 16 MiB", size>>20, allocated>>20)
	}
	if os.Getenv("PIPEBOT_REPORT") != "" {
		t.Logf("tailed %d MiB, allocated %d KiB, heap in use %d KiB after", size>>20, allocated>>10, after.HeapInuse>>10)
	}
}

func BenchmarkLogTail(b *testing.B) {
	const size = 64 << 20
	b.SetBytes(size)
	for b.Loop() {
		tail := NewLogTail(DefaultTailLines, DefaultTailLineBytes)
		_, _ = io.CopyBuffer(tail, newHostileLog(size), make([]byte, 32<<10))
	}
}
