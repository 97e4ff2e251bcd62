package slackapp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

// ConsoleConfig configures RunConsole.
type ConsoleConfig struct {
	// In is read line by line (a TTY or a pipe).
	In io.Reader
	// Out receives the rendered conversation.
	Out io.Writer
	// Fake is the in-process Slack the handlers post to; the console shows
	// what it records for ChannelID.
	Fake *slackfake.Server
	Pool *Pool
	// UserID and ChannelID are who types and where.
	UserID, ChannelID string
	// Settle, if set, runs at end of input after the pool is idle, so that
	// work started by handlers (a watcher tick) can print before exit.
	Settle func(ctx context.Context)
	// Prompt prints "> " before each line (for a TTY).
	Prompt bool
}

// console is one terminal chat session.
type console struct {
	cfg ConsoleConfig

	mu      sync.Mutex    // serializes writes to Out and guards the fields below
	seenCh  chan struct{} // closed and replaced each time show runs
	seen    int           // calls delivered to show
	base    int           // calls recorded before the session
	buttons []consoleButton
	btnTS   string // ts of the message holding buttons
	clicks  int
}

// flushTimeout bounds the wait for the fake to deliver calls it has recorded.
const flushTimeout = 2 * time.Second

// RunConsole runs a terminal chat: "/ci …", "ci …" or a bare "…" runs the
// command, "!N" clicks button N of the latest printed buttons, "quit", "exit"
// or end of input ends it. Each line is handled to completion (pool idle)
// before the next is read, so piped scripts can click buttons of earlier
// replies. It returns nil at the end of input or when ctx ends.
func RunConsole(ctx context.Context, cfg ConsoleConfig) error {
	if cfg.Fake == nil || cfg.Pool == nil || cfg.In == nil || cfg.Out == nil {
		return errors.New("console: In, Out, Fake and Pool are required")
	}
	c := &console{cfg: cfg, seenCh: make(chan struct{}), base: len(cfg.Fake.Calls())}
	cancel := cfg.Fake.Subscribe(c.show)
	defer cancel()

	lines := make(chan string)
	readErr := make(chan error, 1)
	stopRead := make(chan struct{})
	defer close(stopRead)
	go func() {
		// A blocked read of a TTY cannot be interrupted; this goroutine ends
		// with the next line or at exit.
		sc := bufio.NewScanner(cfg.In)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			case <-stopRead:
				return
			}
		}
		readErr <- sc.Err()
		close(lines)
	}()

	for {
		c.prompt()
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				c.finish(ctx)
				if err := <-readErr; err != nil {
					return fmt.Errorf("console: read input: %w", err)
				}
				return nil
			}
			if !c.line(line) {
				c.finish(ctx)
				return nil
			}
			cfg.Pool.Wait()
			c.flush(ctx)
		}
	}
}

// finish lets pending work print before the session ends.
func (c *console) finish(ctx context.Context) {
	c.cfg.Pool.Wait()
	if c.cfg.Settle != nil {
		c.cfg.Settle(ctx)
		c.cfg.Pool.Wait()
	}
	c.flush(ctx)
}

// flush waits until every call the fake has recorded so far was shown. The
// fake answers the client before it notifies subscribers, so a handler can
// finish before its last message is printed.
func (c *console) flush(ctx context.Context) {
	target := len(c.cfg.Fake.Calls())
	timer := time.NewTimer(flushTimeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		done, ch := c.base+c.seen >= target, c.seenCh
		c.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		}
	}
}

func (c *console) prompt() {
	if c.cfg.Prompt {
		c.printf("> ")
	}
}

// line handles one input line and reports whether the session goes on.
func (c *console) line(line string) bool {
	line = strings.TrimSpace(line)
	switch {
	case line == "":
		return true
	case line == "quit" || line == "exit":
		return false
	case strings.HasPrefix(line, "!"):
		c.click(strings.TrimSpace(line[1:]))
		return true
	}
	text := line
	if rest, ok := cutWord(line, "/ci"); ok {
		text = rest
	} else if rest, ok := cutWord(line, "ci"); ok {
		text = rest
	} else if strings.HasPrefix(line, "/") {
		c.printf("only /ci is known here\n")
		return true
	}
	req := Request{
		Kind:        KindCommand,
		UserID:      c.cfg.UserID,
		UserName:    c.cfg.UserID,
		ChannelID:   c.cfg.ChannelID,
		Command:     "/ci",
		Text:        text,
		ResponseURL: c.cfg.Fake.ResponseURL(c.cfg.ChannelID, c.cfg.UserID),
		TriggerID:   c.nextID("trigger"),
	}
	c.submit(req)
	return true
}

// cutWord strips a leading command word followed by a space or nothing.
func cutWord(line, word string) (string, bool) {
	if line == word {
		return "", true
	}
	if rest, ok := strings.CutPrefix(line, word+" "); ok {
		return strings.TrimSpace(rest), true
	}
	return "", false
}

func (c *console) click(arg string) {
	n, err := strconv.Atoi(arg)
	c.mu.Lock()
	buttons, ts := c.buttons, c.btnTS
	c.mu.Unlock()
	if err != nil || n < 1 || n > len(buttons) {
		if len(buttons) == 0 {
			c.printf("no buttons to click yet\n")
		} else {
			c.printf("no button %s: choose 1 to %d\n", arg, len(buttons))
		}
		return
	}
	b := buttons[n-1]
	if b.URL != "" {
		c.printf("[%d] %s is a link: open %s\n", n, b.Label, b.URL)
		return
	}
	id := c.nextID("click")
	req := Request{
		Kind:        KindAction,
		DedupeKey:   "action:" + id,
		UserID:      c.cfg.UserID,
		UserName:    c.cfg.UserID,
		ChannelID:   c.cfg.ChannelID,
		Text:        b.Value,
		ActionID:    b.ActionID,
		ResponseURL: c.cfg.Fake.ResponseURLFor(c.cfg.ChannelID, c.cfg.UserID, ts),
		TriggerID:   id,
		MessageTS:   ts,
	}
	c.submit(req)
}

func (c *console) submit(req Request) {
	req.Source, req.Received = sourceConsole, time.Now()
	if err := c.cfg.Pool.Submit(req); err != nil {
		c.printf("%s\n", busyText)
	}
}

// nextID makes ids unique within the process (trigger ids, click dedupe keys).
func (c *console) nextID(prefix string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clicks++
	return fmt.Sprintf("console-%s-%d-%d", prefix, time.Now().UnixNano(), c.clicks)
}

func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.cfg.Out, format, args...)
}

// show renders one call the fake recorded, if it belongs to this channel.
func (c *console) show(call slackfake.Call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen++
	close(c.seenCh)
	c.seenCh = make(chan struct{})
	if call.Channel != "" && call.Channel != c.cfg.ChannelID {
		return
	}
	out, buttons, ok := renderCall(call)
	if !ok {
		return
	}
	if c.cfg.Prompt {
		io.WriteString(c.cfg.Out, "\n")
	}
	io.WriteString(c.cfg.Out, out)
	if len(buttons) > 0 {
		c.buttons, c.btnTS = buttons, call.TS
	}
}

// renderCall renders a recorded Slack call as console text; ok is false for
// calls the console does not show.
func renderCall(call slackfake.Call) (out string, buttons []consoleButton, ok bool) {
	var label string
	indent := "  "
	switch call.Method {
	case "chat.postMessage":
		label = "pipebot"
		if call.ThreadTS != "" {
			label, indent = "  pipebot (in thread)", "    "
			if call.Broadcast {
				label += " (also sent to the channel)"
			}
		}
	case "chat.update":
		label = "pipebot (updated)"
	case "chat.postEphemeral":
		label = "pipebot (only you)"
	case "response_url":
		switch {
		case call.DeleteOriginal:
			label = "pipebot (deleted a message)"
		case call.ReplaceOriginal:
			label = "pipebot (updated)"
		case call.ResponseType == "in_channel":
			label = "pipebot"
		default:
			label = "pipebot (only you)"
		}
		if call.ThreadTS != "" {
			label, indent = "  "+label+" (in thread)", "    "
		}
	case "files.completeUploadExternal":
		if call.File == nil {
			return "", nil, false
		}
		name := call.File.Name
		if call.File.Title != "" && call.File.Title != name {
			name += " \"" + call.File.Title + "\""
		}
		prefix := "pipebot uploaded"
		if call.File.ThreadTS != "" || call.ThreadTS != "" {
			prefix = "  pipebot uploaded (in thread)"
		}
		return fmt.Sprintf("%s %s (%s)\n", prefix, name, humanSize(call.File.Size)), nil, true
	case "views.open", "views.push", "views.update":
		var v struct {
			Title  textObject      `json:"title"`
			Blocks json.RawMessage `json:"blocks"`
		}
		_ = json.Unmarshal(call.View, &v)
		text, _ := renderText(v.Blocks, "")
		return "pipebot (form: " + v.Title.Text + ", fill it in Slack)\n" + indentLines(text, "  "), nil, true
	default:
		return "", nil, false
	}
	if call.Error != "" {
		return fmt.Sprintf("%s: failed: %s\n", call.Method, call.Error), nil, true
	}
	var sb strings.Builder
	sb.WriteString(label + ":\n")
	if call.Method == "response_url" && call.DeleteOriginal {
		return sb.String(), nil, true
	}
	text, buttons := renderText(call.Blocks, call.Text)
	sb.WriteString(indentLines(text, indent))
	if len(buttons) > 0 {
		sb.WriteString(indent + formatButtons(buttons) + "\n")
	}
	return sb.String(), buttons, true
}

func indentLines(text, indent string) string {
	if text == "" {
		return ""
	}
	var sb strings.Builder
	for l := range strings.SplitSeq(text, "\n") {
		sb.WriteString(indent + l + "\n")
	}
	return sb.String()
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
