package slackfake

import (
	"encoding/json"
	"io"
	"net/http"
	"unicode/utf8"
)

// responseBody is what apps POST to a response_url: slack.WebhookMessage,
// or slack.Msg when sent with MsgOptionResponseURL/ReplaceOriginal.
type responseBody struct {
	Text            string          `json:"text"`
	Blocks          json.RawMessage `json:"blocks"`
	Metadata        json.RawMessage `json:"metadata"`
	ResponseType    string          `json:"response_type"`
	ReplaceOriginal bool            `json:"replace_original"`
	DeleteOriginal  bool            `json:"delete_original"`
	ThreadTS        string          `json:"thread_ts"`
	ReplyBroadcast  bool            `json:"reply_broadcast"`
}

// serveResponseURL handles a POST to a response_url. Slack answers a plain
// "ok" with 200, and errors as text with a 4xx status.
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request, id string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		http.Error(w, "request_too_large", http.StatusRequestEntityTooLarge)
		return
	}
	c := Call{Method: "response_url", Body: string(body)}

	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.mu.Lock()
	status, retryAfter := s.respond(id, body, &c)
	subs := s.recordLocked(c)
	s.mu.Unlock()

	switch {
	case c.Error == "":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", retryAfter)
		http.Error(w, c.Error, status)
	default:
		http.Error(w, c.Error, status)
	}
	for _, fn := range subs {
		fn(c)
	}
}

// respond applies a response_url body. Callers hold mu.
func (s *Server) respond(id string, body []byte, c *Call) (status int, retryAfter string) {
	failed := func(code string, status int) (int, string) {
		c.Error = code
		return status, ""
	}
	if after, limited := s.takeRateLimit("response_url"); limited {
		c.Error = "ratelimited"
		return http.StatusTooManyRequests, retryAfterHeader(after)
	}
	ru := s.respURLs[id]
	if ru == nil {
		return failed("invalid_url", http.StatusNotFound)
	}
	c.Channel, c.User = ru.channel, ru.user
	var b responseBody
	if err := json.Unmarshal(body, &b); err != nil {
		return failed("invalid_payload", http.StatusBadRequest)
	}
	if string(b.Blocks) == "null" {
		b.Blocks = nil
	}
	if len(b.Metadata) > 0 && metadataEventType(b.Metadata) == "" {
		b.Metadata = nil
	}
	c.Text, c.Blocks, c.Metadata = b.Text, b.Blocks, b.Metadata
	c.ResponseType, c.ReplaceOriginal, c.DeleteOriginal = b.ResponseType, b.ReplaceOriginal, b.DeleteOriginal
	c.ThreadTS, c.Broadcast = b.ThreadTS, b.ReplyBroadcast
	if s.opts.Now().Sub(ru.created) > ResponseURLLifetime {
		return failed("expired_url", http.StatusNotFound)
	}
	if s.opts.ResponseURLUses > 0 && ru.uses >= s.opts.ResponseURLUses {
		return failed("used_url", http.StatusNotFound)
	}
	if code := s.takeFailure("response_url"); code != "" {
		return failed(code, http.StatusBadRequest)
	}
	if !b.DeleteOriginal && b.Text == "" && len(b.Blocks) == 0 {
		return failed("no_text", http.StatusBadRequest)
	}
	if utf8.RuneCountInString(b.Text) > maxTextChars {
		return failed("msg_too_long", http.StatusBadRequest)
	}
	if b.Blocks != nil {
		if msgs := validateBlocks(b.Blocks, maxMessageBlocks, "/blocks"); len(msgs) > 0 {
			return failed("invalid_blocks", http.StatusBadRequest)
		}
	}
	ru.uses++

	original := s.find(ru.channel, ru.messageTS)
	if b.DeleteOriginal || b.ReplaceOriginal {
		if original == nil || original.Deleted {
			if b.DeleteOriginal {
				return failed("message_not_found", http.StatusNotFound)
			}
			// Nothing to replace yet (a slash command's first answer):
			// Slack posts it as a new message.
			original = nil
		}
	}
	switch {
	case b.DeleteOriginal:
		original.Deleted = true
		c.TS = original.TS
	case b.ReplaceOriginal && original != nil:
		original.Text, original.Blocks = b.Text, b.Blocks
		if b.Metadata != nil {
			original.Metadata = b.Metadata
		}
		original.Edits++
		original.editedTS = s.nextTS()
		c.TS = original.TS
	default:
		m := Message{
			Channel:   ru.channel,
			ThreadTS:  s.threadRoot(ru.channel, b.ThreadTS),
			User:      ru.user,
			Text:      b.Text,
			Blocks:    b.Blocks,
			Metadata:  b.Metadata,
			Ephemeral: b.ResponseType != "in_channel",
		}
		if !m.Ephemeral {
			m.User = s.opts.BotUserID
			m.Broadcast = m.ThreadTS != "" && b.ReplyBroadcast
		}
		posted := s.post(m)
		c.TS = posted.TS
		// A slash command's later replace_original/delete_original act on
		// its last answer; a button's always act on the clicked message.
		if !ru.bound {
			ru.messageTS = posted.TS
		}
	}
	return http.StatusOK, ""
}
