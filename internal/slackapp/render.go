package slackapp

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// consoleButton is a button found in a rendered message.
type consoleButton struct {
	Label    string
	ActionID string
	Value    string
	// URL is set for link buttons, which the console shows but cannot click.
	URL string
}

// blockJSON is the subset of Block Kit the console renders.
type blockJSON struct {
	Type      string          `json:"type"`
	Text      json.RawMessage `json:"text"` // a text object, or a string for "markdown" blocks
	Fields    []textObject    `json:"fields"`
	Elements  []elementJSON   `json:"elements"`
	Accessory *elementJSON    `json:"accessory"`
	AltText   string          `json:"alt_text"`
	Title     *textObject     `json:"title"`
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type elementJSON struct {
	Type     string          `json:"type"`
	Text     json.RawMessage `json:"text"` // text object for buttons and context, string in rich text
	ActionID string          `json:"action_id"`
	Value    string          `json:"value"`
	URL      string          `json:"url"`
	AltText  string          `json:"alt_text"`
	Elements []elementJSON   `json:"elements"` // rich_text sections and lists
	Name     string          `json:"name"`     // rich_text emoji
	UserID   string          `json:"user_id"`  // rich_text user mention
}

// renderText renders a message's Block Kit JSON as plain terminal text, with
// mrkdwn kept readable, and returns its buttons in order. Without usable
// blocks it renders fallbackText.
func renderText(blocksJSON json.RawMessage, fallbackText string) (string, []consoleButton) {
	var blocks []blockJSON
	if len(blocksJSON) > 0 {
		if err := json.Unmarshal(blocksJSON, &blocks); err != nil {
			blocks = nil
		}
	}
	var lines []string
	var buttons []consoleButton
	add := func(s string) {
		if s = strings.TrimRight(s, " \n"); s != "" {
			lines = append(lines, s)
		}
	}
	for _, b := range blocks {
		switch b.Type {
		case "header":
			add("== " + textOf(b.Text) + " ==")
		case "section":
			add(textOf(b.Text))
			for _, f := range b.Fields {
				add(mrkdwnToText(f.Text, f.Type))
			}
			if b.Accessory != nil {
				if btn, ok := buttonOf(*b.Accessory); ok {
					buttons = append(buttons, btn)
				}
			}
		case "markdown":
			var s string
			if json.Unmarshal(b.Text, &s) == nil {
				add(mrkdwnToText(s, "mrkdwn"))
			}
		case "context":
			var parts []string
			for _, e := range b.Elements {
				// Context elements are text objects themselves (or images).
				var s string
				if e.Type == "image" || json.Unmarshal(e.Text, &s) != nil {
					continue
				}
				if s = mrkdwnToText(s, e.Type); s != "" {
					parts = append(parts, s)
				}
			}
			add(strings.Join(parts, "  "))
		case "actions":
			for _, e := range b.Elements {
				if btn, ok := buttonOf(e); ok {
					buttons = append(buttons, btn)
				}
			}
		case "divider":
			add("----")
		case "image":
			label := b.AltText
			if b.Title != nil && b.Title.Text != "" {
				label = b.Title.Text
			}
			add("[image: " + label + "]")
		case "rich_text":
			var sb strings.Builder
			richText(&sb, b.Elements)
			add(sb.String())
		}
	}
	if len(lines) == 0 && len(buttons) == 0 {
		add(mrkdwnToText(fallbackText, "mrkdwn"))
	}
	return strings.Join(lines, "\n"), buttons
}

// formatButtons renders buttons numbered from 1, link buttons with their URL.
func formatButtons(buttons []consoleButton) string {
	parts := make([]string, len(buttons))
	for i, b := range buttons {
		parts[i] = "[" + strconv.Itoa(i+1) + "] " + b.Label
		if b.URL != "" {
			parts[i] += " (" + b.URL + ")"
		}
	}
	return strings.Join(parts, "  ")
}

// textOf renders a text object (plain_text or mrkdwn).
func textOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var t textObject
	if json.Unmarshal(raw, &t) != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	return mrkdwnToText(t.Text, t.Type)
}

func buttonOf(e elementJSON) (consoleButton, bool) {
	if e.Type != "button" {
		return consoleButton{}, false
	}
	return consoleButton{Label: textOf(e.Text), ActionID: e.ActionID, Value: e.Value, URL: e.URL}, true
}

// richText flattens rich_text elements (sections, lists, quotes, code).
func richText(sb *strings.Builder, elems []elementJSON) {
	for _, e := range elems {
		switch e.Type {
		case "rich_text_section", "rich_text_preformatted", "rich_text_quote":
			richText(sb, e.Elements)
			sb.WriteString("\n")
		case "rich_text_list":
			for _, item := range e.Elements {
				sb.WriteString("- ")
				richText(sb, item.Elements)
				sb.WriteString("\n")
			}
		case "text":
			var s string
			_ = json.Unmarshal(e.Text, &s)
			sb.WriteString(s)
		case "link":
			var s string
			_ = json.Unmarshal(e.Text, &s)
			if s != "" && s != e.URL {
				sb.WriteString(s + " (" + e.URL + ")")
			} else {
				sb.WriteString(e.URL)
			}
		case "emoji":
			sb.WriteString(":" + e.Name + ":")
		case "user":
			sb.WriteString("@" + e.UserID)
		}
	}
}

// mrkdwnToText makes Slack mrkdwn readable in a terminal: *bold*, _italic_
// and `code` stay as they are; <url|label> becomes "label (url)"; mentions
// become @name / #channel; &lt; &gt; &amp; are decoded. Slack only escapes
// those three (https://api.slack.com/reference/surfaces/formatting#escaping).
// plain_text is taken as is.
func mrkdwnToText(s, typ string) string {
	if typ == "plain_text" {
		return s
	}
	var sb strings.Builder
	for {
		open := strings.IndexByte(s, '<')
		if open < 0 {
			break
		}
		end := strings.IndexByte(s[open:], '>')
		if end < 0 {
			break
		}
		sb.WriteString(unescapeEntities(s[:open]))
		sb.WriteString(renderAngle(s[open+1 : open+end]))
		s = s[open+end+1:]
	}
	sb.WriteString(unescapeEntities(s))
	return emojiReplacer.Replace(sb.String())
}

// emojiReplacer shows the Slack emoji codes pipebot uses as the characters a
// terminal can print.
var emojiReplacer = strings.NewReplacer(
	":white_check_mark:", "✅", ":x:", "❌", ":warning:", "⚠️", ":no_entry_sign:", "🚫",
	":large_blue_circle:", "🔵", ":hourglass_flowing_sand:", "⏳", ":double_vertical_bar:", "⏸",
	":white_circle:", "⚪", ":grey_question:", "❔", ":alarm_clock:", "⏰", ":information_source:", "ℹ️",
	":package:", "📦", ":bell:", "🔔", ":no_bell:", "🔕", ":pause_button:", "⏸", ":abc:", "🔤",
	":link:", "🔗", ":bar_chart:", "📊", ":calendar:", "📆", ":wastebasket:", "🗑️", ":tada:", "🎉",
	":envelope_with_arrow:", "📩",
)

// renderAngle renders the inside of a <…> mrkdwn token.
func renderAngle(tok string) string {
	target, label, hasLabel := strings.Cut(tok, "|")
	target, label = unescapeEntities(target), unescapeEntities(label)
	switch {
	case strings.HasPrefix(target, "@"):
		if hasLabel {
			return "@" + strings.TrimPrefix(label, "@")
		}
		return target
	case strings.HasPrefix(target, "#"):
		if hasLabel {
			return "#" + strings.TrimPrefix(label, "#")
		}
		return target
	case strings.HasPrefix(target, "!"):
		// <!here>, <!channel>, <!subteam^ID|@team>, <!date^…|fallback>
		if hasLabel {
			return label
		}
		name, _, _ := strings.Cut(target[1:], "^")
		return "@" + name
	}
	if hasLabel && label != "" && label != target {
		return fmt.Sprintf("%s (%s)", label, target)
	}
	return target
}

var entityReplacer = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

func unescapeEntities(s string) string { return entityReplacer.Replace(s) }
