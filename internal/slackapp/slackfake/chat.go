package slackfake

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// maxTextChars is where Slack refuses a message text with msg_too_long.
// https://docs.slack.dev/reference/methods/chat.postMessage#truncating
const maxTextChars = 40000

// maxMessageBlocks is Slack's limit on blocks in one message (modals: 100).
const maxMessageBlocks = 50

// content is a message body from a request, validated the way Slack does.
type content struct {
	text                     string
	blocks, metadata         json.RawMessage
	hasText, hasBlocks, atts bool
}

func readContent(req *apiRequest) (content, *slackError) {
	ct := content{text: req.str("text"), hasText: req.has("text"), atts: req.has("attachments")}
	if utf8.RuneCountInString(ct.text) > maxTextChars {
		return ct, fail("msg_too_long")
	}
	blocks, ok, err := req.raw("blocks")
	if err != nil {
		return ct, failWith("invalid_blocks", err.Error())
	}
	if ok {
		if msgs := validateBlocks(blocks, maxMessageBlocks, "/blocks"); len(msgs) > 0 {
			return ct, failWith("invalid_blocks", msgs...)
		}
		ct.blocks, ct.hasBlocks = blocks, true
	}
	meta, ok, err := req.raw("metadata")
	if err != nil {
		return ct, fail("invalid_metadata_format")
	}
	if ok {
		var m struct {
			EventType    string          `json:"event_type"`
			EventPayload json.RawMessage `json:"event_payload"`
		}
		if json.Unmarshal(meta, &m) != nil {
			return ct, fail("invalid_metadata_format")
		}
		// slack-go sends an empty SlackMetadata on some paths: no metadata.
		if m.EventType != "" {
			ct.metadata = meta
		}
	}
	return ct, nil
}

// empty reports Slack's no_text condition: nothing to show.
func (ct content) empty() bool {
	return ct.text == "" && len(ct.blocks) == 0 && !ct.atts
}

func metadataEventType(raw json.RawMessage) string {
	var m struct {
		EventType string `json:"event_type"`
	}
	_ = json.Unmarshal(raw, &m)
	return m.EventType
}

// find returns the message ts in channel, or nil. Callers hold mu.
func (s *Server) find(channel, ts string) *message {
	for _, m := range s.messages[channel] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

// threadRoot resolves a thread_ts the way Slack does: a reply to a reply
// joins the parent's thread, and a reply to a missing or deleted message is
// posted unthreaded (slack-go documents this for deleted parents). Callers
// hold mu.
func (s *Server) threadRoot(channel, threadTS string) string {
	if threadTS == "" {
		return ""
	}
	p := s.find(channel, threadTS)
	if p == nil || p.Deleted || p.Ephemeral {
		return ""
	}
	if p.ThreadTS != "" {
		return p.ThreadTS
	}
	return p.TS
}

// post stores a new message. Callers hold mu.
func (s *Server) post(m Message) *message {
	m.TS = s.nextTS()
	stored := &message{Message: m}
	s.messages[m.Channel] = append(s.messages[m.Channel], stored)
	return stored
}

func (s *Server) postMessage(req *apiRequest, c *Call) (map[string]any, *slackError) {
	ch := c.Channel
	if ch == "" {
		return nil, fail("channel_not_found")
	}
	if s.notIn[ch] {
		return nil, fail("not_in_channel")
	}
	ct, e := readContent(req)
	if e != nil {
		return nil, e
	}
	if ct.empty() {
		return nil, fail("no_text")
	}
	thread := s.threadRoot(ch, c.ThreadTS)
	m := s.post(Message{
		Channel:   ch,
		ThreadTS:  thread,
		User:      s.opts.BotUserID,
		Text:      ct.text,
		Blocks:    ct.blocks,
		Metadata:  ct.metadata,
		Broadcast: thread != "" && c.Broadcast,
	})
	c.TS = m.TS
	return map[string]any{"channel": ch, "ts": m.TS, "message": s.messageJSON(m, true)}, nil
}

func (s *Server) postEphemeral(req *apiRequest, c *Call) (map[string]any, *slackError) {
	ch := c.Channel
	if ch == "" {
		return nil, fail("channel_not_found")
	}
	if c.User == "" {
		return nil, fail("user_not_found")
	}
	ct, e := readContent(req)
	if e != nil {
		return nil, e
	}
	if ct.empty() {
		return nil, fail("no_text")
	}
	m := s.post(Message{
		Channel:   ch,
		ThreadTS:  s.threadRoot(ch, c.ThreadTS),
		User:      c.User,
		Text:      ct.text,
		Blocks:    ct.blocks,
		Ephemeral: true,
	})
	c.TS = m.TS
	return map[string]any{"message_ts": m.TS}, nil
}

func (s *Server) update(req *apiRequest, c *Call) (map[string]any, *slackError) {
	ch := c.Channel
	if ch == "" {
		return nil, fail("channel_not_found")
	}
	if s.notIn[ch] {
		return nil, fail("not_in_channel")
	}
	m := s.find(ch, c.TS)
	if m == nil || m.Deleted || m.Ephemeral {
		return nil, fail("message_not_found")
	}
	ct, e := readContent(req)
	if e != nil {
		return nil, e
	}
	if !ct.hasText && !ct.hasBlocks && !ct.atts {
		return nil, fail("no_text")
	}
	// Slack keeps the blocks and metadata a chat.update leaves out.
	if ct.hasText {
		m.Text = ct.text
	}
	if ct.hasBlocks {
		m.Blocks = ct.blocks
	}
	if ct.metadata != nil {
		m.Metadata = ct.metadata
	}
	m.Edits++
	m.editedTS = s.nextTS()
	c.ThreadTS = m.ThreadTS
	return map[string]any{"channel": ch, "ts": m.TS, "text": m.Text, "message": s.messageJSON(m, true)}, nil
}

func (s *Server) delete(_ *apiRequest, c *Call) (map[string]any, *slackError) {
	ch := c.Channel
	if ch == "" {
		return nil, fail("channel_not_found")
	}
	m := s.find(ch, c.TS)
	if m == nil || m.Deleted || m.Ephemeral {
		return nil, fail("message_not_found")
	}
	m.Deleted = true
	c.ThreadTS = m.ThreadTS
	return map[string]any{"channel": ch, "ts": m.TS}, nil
}

// visible reports whether a message shows up in history and replies.
func visible(m *message) bool { return !m.Deleted && !m.Ephemeral }

func (s *Server) history(req *apiRequest, c *Call) (map[string]any, *slackError) {
	ch := c.Channel
	if ch == "" {
		return nil, fail("channel_not_found")
	}
	if s.notIn[ch] {
		return nil, fail("not_in_channel")
	}
	latest, oldest, inclusive := req.str("latest"), req.str("oldest"), req.flag("inclusive")
	cursor := req.str("cursor")
	var picked []*message
	all := s.messages[ch]
	for i := len(all) - 1; i >= 0; i-- { // newest first, like Slack
		m := all[i]
		if !visible(m) || (m.ThreadTS != "" && !m.Broadcast) {
			continue
		}
		if cursor != "" && !tsBefore(m.TS, cursor) {
			continue
		}
		if latest != "" && !(tsBefore(m.TS, latest) || (inclusive && m.TS == latest)) {
			continue
		}
		if oldest != "" && !(tsBefore(oldest, m.TS) || (inclusive && m.TS == oldest)) {
			continue
		}
		picked = append(picked, m)
	}
	return s.page(picked, req), nil
}

func (s *Server) replies(req *apiRequest, c *Call) (map[string]any, *slackError) {
	ch := c.Channel
	if ch == "" {
		return nil, fail("channel_not_found")
	}
	if s.notIn[ch] {
		return nil, fail("not_in_channel")
	}
	parent := s.find(ch, c.TS)
	if parent == nil || !visible(parent) {
		return nil, fail("thread_not_found")
	}
	picked := []*message{parent}
	if parent.ThreadTS == "" {
		cursor := req.str("cursor")
		if cursor != "" {
			picked = nil
		}
		for _, m := range s.messages[ch] {
			if m.ThreadTS == parent.TS && visible(m) && (cursor == "" || tsBefore(cursor, m.TS)) {
				picked = append(picked, m)
			}
		}
	}
	return s.page(picked, req), nil
}

// page applies limit, encodes the messages and sets the cursor: the ts of
// the last message returned, continued from in the same direction.
func (s *Server) page(msgs []*message, req *apiRequest) map[string]any {
	limit, err := strconv.Atoi(req.str("limit"))
	if err != nil || limit <= 0 || limit > 1000 {
		limit = 100
	}
	hasMore := len(msgs) > limit
	if hasMore {
		msgs = msgs[:limit]
	}
	withMeta := req.flag("include_all_metadata")
	out := make([]map[string]any, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, s.messageJSON(m, withMeta))
	}
	next := ""
	if hasMore {
		next = msgs[len(msgs)-1].TS
	}
	return map[string]any{
		"messages":          out,
		"has_more":          hasMore,
		"response_metadata": map[string]any{"next_cursor": next},
	}
}

// tsBefore compares Slack timestamps ("seconds.micros", fixed width micros).
func tsBefore(a, b string) bool {
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	if errA != nil || errB != nil {
		return a < b
	}
	if fa != fb {
		return fa < fb
	}
	return a < b
}

// messageJSON encodes a message the way conversations.history and
// chat.postMessage return it. Callers hold mu.
func (s *Server) messageJSON(m *message, withMetadata bool) map[string]any {
	out := map[string]any{
		"type": "message",
		"user": m.User,
		"text": m.Text,
		"ts":   m.TS,
		"team": s.opts.TeamID,
	}
	if !m.Ephemeral {
		out["bot_id"] = s.opts.BotID
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
		out["parent_user_id"] = s.opts.BotUserID
		if m.Broadcast {
			out["subtype"] = "thread_broadcast"
		}
	} else {
		var replies []*message
		for _, r := range s.messages[m.Channel] {
			if r.ThreadTS == m.TS && visible(r) {
				replies = append(replies, r)
			}
		}
		if len(replies) > 0 {
			out["thread_ts"] = m.TS
			out["reply_count"] = len(replies)
			out["latest_reply"] = replies[len(replies)-1].TS
			out["reply_users"] = []string{s.opts.BotUserID}
		}
	}
	if m.Blocks != nil {
		out["blocks"] = m.Blocks
	}
	if withMetadata && m.Metadata != nil {
		out["metadata"] = m.Metadata
	}
	if m.Edits > 0 {
		out["edited"] = map[string]any{"user": s.opts.BotUserID, "ts": m.editedTS}
	}
	if len(m.FileIDs) > 0 {
		files := make([]map[string]any, 0, len(m.FileIDs))
		for _, id := range m.FileIDs {
			if f := s.files[id]; f != nil {
				files = append(files, map[string]any{"id": f.ID, "name": f.Name, "title": f.Title, "size": f.Size})
			}
		}
		out["files"] = files
		out["upload"] = true
		if _, ok := out["subtype"]; !ok {
			out["subtype"] = "file_share"
		}
	}
	return out
}
