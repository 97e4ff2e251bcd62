package notify

import (
	"strings"
	"unicode/utf8"
)

// LogTail keeps the last lines of a job log as it streams through Write, so
// a log of any size is read with flat memory: GitLab serves the whole log
// and has no Range support, and logs reach hundreds of megabytes.
//
// It cleans the text the way GitLab's log view shows it (logCleaner, the
// same code as LogCleaner's), folding a section start into "» name:
// header" and dropping a section end. Tabs become spaces, trailing spaces
// go, lines are capped at LineBytes and the result is valid UTF-8.
type LogTail struct {
	max int // lines kept
	c   logCleaner

	ring  [][]byte // last complete lines, oldest at head
	head  int
	count int
	seen  int64
}

// Defaults for the tail's bounds.
const (
	DefaultTailLines     = 30
	MaxTailLines         = 500
	DefaultTailLineBytes = 400
)

// NewLogTail keeps the last lines lines (1…MaxTailLines) of at most
// lineBytes bytes each (<= 0: DefaultTailLineBytes).
func NewLogTail(lines, lineBytes int) *LogTail {
	lines = max(1, min(lines, MaxTailLines))
	if lineBytes <= 0 {
		lineBytes = DefaultTailLineBytes
	}
	t := &LogTail{max: lines, ring: make([][]byte, lines)}
	t.c = logCleaner{lineCap: lineBytes, tail: true, cur: make([]byte, 0, lineBytes), out: t.push}
	return t
}

// Write consumes log bytes; it never fails.
func (t *LogTail) Write(p []byte) (int, error) {
	t.seen += int64(len(p))
	t.c.write(p)
	return len(p), nil
}

// Seen is how many log bytes went through Write.
func (t *LogTail) Seen() int64 { return t.seen }

func (t *LogTail) push(line []byte, truncated, _ bool) {
	slot := (t.head + t.count) % t.max
	if t.count == t.max {
		slot = t.head
		t.head = (t.head + 1) % t.max
	} else {
		t.count++
	}
	t.ring[slot] = append(t.ring[slot][:0], line...)
	if truncated {
		t.ring[slot] = append(trimPartialRune(t.ring[slot]), "…"...)
	}
}

// trimPartialRune drops a UTF-8 sequence cut off at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		c := b[len(b)-i]
		if utf8.RuneStart(c) {
			if r, _ := utf8.DecodeRune(b[len(b)-i:]); r == utf8.RuneError && !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

// Lines returns the kept lines, oldest first, including an unfinished last
// line; each is valid UTF-8 (invalid bytes become U+FFFD).
func (t *LogTail) Lines() []string {
	out := make([]string, 0, t.count+1)
	for i := 0; i < t.count; i++ {
		out = append(out, strings.ToValidUTF8(string(t.ring[(t.head+i)%t.max]), "\uFFFD"))
	}
	if line, ok := t.c.unfinished(); ok {
		if t.c.truncated {
			line = append(trimPartialRune(line[:len(line):len(line)]), "…"...)
		}
		out = append(out, strings.ToValidUTF8(string(line), "\uFFFD"))
		if len(out) > t.max {
			out = out[1:]
		}
	}
	return out
}

// zeroWidthSpace keeps backticks apart so that no run of them can close
// the code block.
const zeroWidthSpace = "\u200b"

// CodeBlock renders lines as a Slack code block of at most maxBytes bytes
// (the newest lines win; the cut is marked), with Slack's control
// characters escaped and backticks defused so the text cannot leave the
// block. It returns "" when there are no lines.
func CodeBlock(lines []string, maxBytes int) string {
	s, _ := CodeBlockLines(lines, maxBytes)
	return s
}

// CodeLineSize is how many bytes line takes inside a CodeBlock, escaping,
// defused backticks and its line break included.
func CodeLineSize(line string) int { return len(defuse(line)) + 1 }

// CodeBlockLines is CodeBlock that also says how many of the lines (the
// newest) the block shows; a line cut short to fit counts as shown.
func CodeBlockLines(lines []string, maxBytes int) (string, int) {
	const fence = "```"
	budget := maxBytes - 2*len(fence) - 2 - len("…\n")
	var kept []string
	size := 0
	for i := len(lines) - 1; i >= 0; i-- {
		l := defuse(lines[i])
		if size+len(l)+1 > budget {
			if len(kept) == 0 && budget > 0 {
				kept = append(kept, truncate(l, budget-1))
			}
			break
		}
		kept = append(kept, l)
		size += len(l) + 1
	}
	if len(kept) == 0 {
		return "", 0
	}
	var b strings.Builder
	b.WriteString(fence + "\n")
	if len(kept) < len(lines) {
		b.WriteString("…\n")
	}
	for i := len(kept) - 1; i >= 0; i-- {
		b.WriteString(kept[i])
		if i > 0 {
			b.WriteByte('\n')
		}
	}
	b.WriteString("\n" + fence)
	return b.String(), len(kept)
}

// defuse escapes one line for the inside of a code block.
func defuse(s string) string {
	s = Escape(strings.ToValidUTF8(s, "\uFFFD"))
	if strings.Contains(s, "`") {
		s = strings.ReplaceAll(s, "`", "`"+zeroWidthSpace)
	}
	if s == "" {
		s = " " // keep blank lines visible without ending the block early
	}
	return s
}
