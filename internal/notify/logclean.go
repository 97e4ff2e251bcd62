package notify

import (
	"bufio"
	"bytes"
	"io"
)

// logCleaner is the one state machine that turns a raw GitLab job log into
// the text GitLab's log view shows; LogTail (the last lines, for messages)
// and LogCleaner (the whole log, for files) both run on it. It is fed any
// chunking of the log, down to single bytes, and keeps state across
// chunks: an escape sequence or a section marker may be split anywhere.
//
// What it does: ANSI escape sequences (CSI, including colours and the
// runner's "\x1b[0K", OSC, two-byte ESC sequences) are dropped; a carriage
// return lets the rest of the line overwrite what came before (a progress
// line rewritten with \r ends as its final text; "\r\n" is a plain
// newline); GitLab's "section_start:<ts>:<name>[<opts>]\r\x1b[0K" and
// "section_end:<ts>:<name>\r\x1b[0K" markers are removed while the
// section's header text, which follows the start marker on its line, stays;
// other control characters show nothing. See
// https://docs.gitlab.com/ci/jobs/job_logs/#custom-collapsible-sections.
type logCleaner struct {
	lineCap int
	// tail renders for LogTail: tabs become spaces, trailing spaces go, a
	// section header reads "» name: header", and a line longer than
	// lineCap is cut. Otherwise (files) tabs and spaces stay as they are
	// and a longer line is passed on in pieces of lineCap bytes, so that
	// memory stays bounded even for a log without newlines.
	tail bool
	// out receives each finished line (without its newline; complete is
	// false for a piece of a line longer than lineCap).
	out func(line []byte, truncated, complete bool)

	cur        []byte // the line being built
	keep       int    // bytes of cur a \r does not erase (a section's name)
	truncated  bool   // cur reached lineCap (tail)
	markerOnly bool   // a marker was removed from a line that held nothing else
	spilled    bool   // part of the line was passed on already (files)
	pendingCR  bool
	esc        escState
	scratch    []byte
}

type escState uint8

const (
	escNone  escState = iota
	escStart          // after ESC
	escCSI            // ESC [ … final byte
	escOSC            // ESC ] … BEL or ESC \
	escOSCEsc
)

func (c *logCleaner) write(p []byte) {
	for i := 0; i < len(p); {
		if c.esc == escNone && !c.pendingCR {
			// Fast path: a run of printable bytes is appended at once.
			j := i
			for j < len(p) && p[j] >= 0x20 && p[j] != 0x7f {
				j++
			}
			if j > i {
				c.addRun(p[i:j])
				i = j
				continue
			}
		}
		c.byte(p[i])
		i++
	}
}

func (c *logCleaner) addRun(b []byte) {
	for len(b) > 0 {
		room := c.lineCap - len(c.cur)
		if room <= 0 {
			if c.tail {
				c.truncated = true
				return
			}
			c.spill()
			continue
		}
		n := min(room, len(b))
		c.cur = append(c.cur, b[:n]...)
		b = b[n:]
	}
}

func (c *logCleaner) add(b byte) {
	if len(c.cur) >= c.lineCap {
		if c.tail {
			c.truncated = true
			return
		}
		c.spill()
	}
	c.cur = append(c.cur, b)
}

// spill passes on a piece of an overlong line; a later \r can no longer
// erase what was passed on.
func (c *logCleaner) spill() {
	c.out(c.cur, false, false)
	c.cur, c.keep, c.spilled = c.cur[:0], 0, true
}

func (c *logCleaner) byte(b byte) {
	switch c.esc {
	case escStart:
		switch b {
		case '[':
			c.esc = escCSI
		case ']':
			c.esc = escOSC
		default:
			c.esc = escNone // a two-byte sequence such as ESC c
		}
		return
	case escCSI:
		if b >= 0x40 && b <= 0x7e {
			c.esc = escNone
		}
		return
	case escOSC:
		switch b {
		case 0x07:
			c.esc = escNone
		case 0x1b:
			c.esc = escOSCEsc
		}
		return
	case escOSCEsc:
		c.esc = escNone
		return
	}
	if c.pendingCR {
		c.pendingCR = false
		if b != '\n' {
			c.cur, c.truncated = c.cur[:c.keep], false
		}
	}
	switch {
	case b == '\n':
		c.endLine()
	case b == '\r':
		c.carriageReturn()
	case b == 0x1b:
		c.esc = escStart
	case b == '\t':
		if c.tail {
			c.add(' ')
		} else {
			c.add('\t')
		}
	case b < 0x20 || b == 0x7f:
		// other control characters show nothing
	default:
		c.add(b)
	}
}

// carriageReturn removes a section marker that ends at the \r; otherwise
// the next byte decides (a newline keeps the line, anything else
// overwrites it).
func (c *logCleaner) carriageReturn() {
	if name, ok := sectionMarker(c.cur[c.keep:], "section_start:"); ok {
		c.markerOnly = c.markerOnly || c.keep == 0
		if !c.tail {
			c.cur = c.cur[:c.keep]
			return
		}
		c.scratch = append(c.scratch[:0], name...)
		c.cur = append(append(append(c.cur[:c.keep], "» "...), c.scratch...), ": "...)
		c.cur = c.cur[:min(len(c.cur), c.lineCap)]
		c.keep = len(c.cur)
		return
	}
	if _, ok := sectionMarker(c.cur[c.keep:], "section_end:"); ok {
		c.cur = c.cur[:c.keep]
		c.markerOnly = c.markerOnly || c.keep == 0
		return
	}
	c.pendingCR = true
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

func (c *logCleaner) endLine() {
	line := c.cur
	if c.tail {
		line = bytes.TrimRight(line, " ")
		if c.keep > 0 && len(line) >= c.keep-1 && len(line) <= c.keep {
			line = bytes.TrimSuffix(line, []byte(":")) // a section header with no title
		}
	}
	if !(c.markerOnly && len(line) == 0 && !c.spilled) {
		c.out(line, c.truncated, true)
	}
	c.cur, c.keep, c.truncated, c.markerOnly, c.spilled = c.cur[:0], 0, false, false, false
}

// unfinished is the last line when the log does not end with a newline,
// and whether there is one to show.
func (c *logCleaner) unfinished() ([]byte, bool) {
	if len(c.cur) == 0 || (c.markerOnly && len(bytes.TrimSpace(c.cur)) == 0) {
		return nil, false
	}
	return c.cur, true
}

// cleanLineCap is how much of one line LogCleaner holds before passing it
// on in pieces.
const cleanLineCap = 64 << 10

// LogCleaner writes a job log to another writer as people read it in
// GitLab's log view (see logCleaner): escapes and section markers removed,
// section headers and \r-rewritten lines kept as shown. Memory stays
// bounded whatever the log's size. Close it to write the last line.
type LogCleaner struct {
	c   logCleaner
	w   *bufio.Writer
	cw  countWriter
	err error
}

// NewLogCleaner returns a cleaner writing to w. It does no I/O.
func NewLogCleaner(w io.Writer) *LogCleaner {
	l := &LogCleaner{}
	l.cw.w = w
	l.w = bufio.NewWriterSize(&l.cw, 32<<10)
	l.c = logCleaner{lineCap: cleanLineCap, cur: make([]byte, 0, 1024), out: l.line}
	return l
}

func (l *LogCleaner) line(b []byte, _, complete bool) {
	if l.err != nil {
		return
	}
	if _, err := l.w.Write(b); err != nil {
		l.err = err
		return
	}
	if complete {
		l.err = l.w.WriteByte('\n')
	}
}

// Write cleans p; it fails only when the underlying writer did.
func (l *LogCleaner) Write(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	l.c.write(p)
	if l.err != nil {
		return 0, l.err
	}
	return len(p), nil
}

// Close writes an unfinished last line (without adding a newline) and
// flushes. It does not close the underlying writer.
func (l *LogCleaner) Close() error {
	if rest, ok := l.c.unfinished(); ok {
		l.line(rest, false, false)
		l.c.cur = l.c.cur[:0]
	}
	if l.err != nil {
		return l.err
	}
	l.err = l.w.Flush()
	return l.err
}

// Written is how many cleaned bytes reached the underlying writer.
func (l *LogCleaner) Written() int64 { return l.cw.n }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
