package notify

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// LogTail keeps the last lines of a job log as it streams through Write, so
// a log of any size is read with flat memory: GitLab serves the whole log
// and has no Range support, and logs reach hundreds of megabytes.
//
// It cleans the text the way GitLab's log view shows it: ANSI escape
// sequences are stripped, a carriage return lets the rest of the line
// overwrite what came before (progress bars; "\r\n" is a plain newline),
// section_start/section_end markers are folded ("» name: header" for a
// start, nothing for an end) and other control characters are dropped.
// Lines are capped at LineBytes and the result is valid UTF-8.
type LogTail struct {
	max     int // lines kept
	lineCap int // bytes kept per line

	ring  [][]byte // last complete lines, oldest at head
	head  int
	count int

	cur       []byte // the line being built
	keep      int    // bytes of cur a \r does not erase (a section's name)
	truncated bool   // cur reached lineCap
	endMarker bool   // cur held only a section_end marker
	pendingCR bool
	esc       escState
	scratch   []byte
	seen      int64
}

type escState uint8

const (
	escNone  escState = iota
	escStart          // after ESC
	escCSI            // ESC [ … final byte
	escOSC            // ESC ] … BEL or ESC \
	escOSCEsc
)

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
	return &LogTail{max: lines, lineCap: lineBytes, ring: make([][]byte, lines), cur: make([]byte, 0, lineBytes)}
}

// Write consumes log bytes; it never fails.
func (t *LogTail) Write(p []byte) (int, error) {
	t.seen += int64(len(p))
	for i := 0; i < len(p); {
		if t.esc == escNone && !t.pendingCR {
			// Fast path: a run of printable bytes is appended at once.
			j := i
			for j < len(p) && p[j] >= 0x20 && p[j] != 0x7f {
				j++
			}
			if j > i {
				t.addRun(p[i:j])
				i = j
				continue
			}
		}
		t.byte(p[i])
		i++
	}
	return len(p), nil
}

func (t *LogTail) addRun(b []byte) {
	room := t.lineCap - len(t.cur)
	if len(b) > room {
		b = b[:max(room, 0)]
		t.truncated = true
	}
	t.cur = append(t.cur, b...)
}

// Seen is how many log bytes went through Write.
func (t *LogTail) Seen() int64 { return t.seen }

func (t *LogTail) byte(c byte) {
	switch t.esc {
	case escStart:
		switch c {
		case '[':
			t.esc = escCSI
		case ']':
			t.esc = escOSC
		default:
			t.esc = escNone // a two-byte sequence such as ESC c
		}
		return
	case escCSI:
		if c >= 0x40 && c <= 0x7e {
			t.esc = escNone
		}
		return
	case escOSC:
		switch c {
		case 0x07:
			t.esc = escNone
		case 0x1b:
			t.esc = escOSCEsc
		}
		return
	case escOSCEsc:
		t.esc = escNone
		return
	}
	if t.pendingCR {
		t.pendingCR = false
		if c != '\n' {
			t.overwrite()
		}
	}
	switch {
	case c == '\n':
		t.endLine()
	case c == '\r':
		t.carriageReturn()
	case c == 0x1b:
		t.esc = escStart
	case c == '\t':
		t.add(' ')
	case c < 0x20 || c == 0x7f:
		// other control characters show nothing
	default:
		t.add(c)
	}
}

func (t *LogTail) add(c byte) {
	if len(t.cur) >= t.lineCap {
		t.truncated = true
		return
	}
	t.cur = append(t.cur, c)
}

// carriageReturn folds a section marker that ends at the \r; otherwise the
// next byte decides (a newline keeps the line, anything else overwrites it).
func (t *LogTail) carriageReturn() {
	if name, ok := sectionMarker(t.cur[t.keep:], "section_start:"); ok {
		t.scratch = append(t.scratch[:0], name...)
		t.cur = append(append(append(t.cur[:t.keep], "» "...), t.scratch...), ": "...)
		t.cur = t.cur[:min(len(t.cur), t.lineCap)]
		t.keep = len(t.cur)
		return
	}
	if _, ok := sectionMarker(t.cur[t.keep:], "section_end:"); ok {
		t.cur = t.cur[:t.keep]
		t.endMarker = t.keep == 0
		return
	}
	t.pendingCR = true
}

func (t *LogTail) overwrite() {
	t.cur = t.cur[:t.keep]
	t.truncated = false
}

// sectionMarker parses "section_start:1560896352:name[collapsed=true]" and
// returns the name.
func sectionMarker(b []byte, prefix string) ([]byte, bool) {
	if !bytes.HasPrefix(b, []byte(prefix)) {
		return nil, false
	}
	rest := b[len(prefix):]
	i := bytes.IndexByte(rest, ':')
	if i < 1 {
		return nil, false
	}
	for _, d := range rest[:i] {
		if d < '0' || d > '9' {
			return nil, false
		}
	}
	name := rest[i+1:]
	if k := bytes.IndexByte(name, '['); k >= 0 {
		name = name[:k]
	}
	if len(name) == 0 {
		return nil, false
	}
	return name, true
}

func (t *LogTail) endLine() {
	line := bytes.TrimRight(t.cur, " ")
	drop := t.endMarker && len(line) == 0
	if t.keep > 0 && len(line) >= t.keep-1 && len(line) <= t.keep {
		line = bytes.TrimSuffix(line, []byte(":")) // a section header with no title
	}
	if !drop {
		if t.truncated {
			line = append(trimPartialRune(line), "…"...)
		}
		slot := (t.head + t.count) % t.max
		if t.count == t.max {
			slot = t.head
			t.head = (t.head + 1) % t.max
		} else {
			t.count++
		}
		t.ring[slot] = append(t.ring[slot][:0], line...)
	}
	t.cur, t.keep, t.truncated, t.endMarker = t.cur[:0], 0, false, false
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
	if len(t.cur) > 0 && !(t.endMarker && len(bytes.TrimSpace(t.cur)) == 0) {
		line := t.cur
		if t.truncated {
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
