package slackfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Interaction sends an interactive payload (block_suggestion,
// view_submission, block_actions) the way Slack does and returns what the
// app answered: over Socket Mode (secret empty) the ack's payload, over HTTP
// the response body of a POST to appURL signed with secret. Slack reads an
// external select's options and a view submission's response_action from
// exactly these answers
// (https://docs.slack.dev/reference/interaction-payloads/block_suggestion-payload).
func (s *Server) Interaction(ctx context.Context, appURL, secret string, payload any) (status int, answer json.RawMessage, err error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return 0, nil, fmt.Errorf("encode interaction payload: %w", err)
	}
	if secret == "" {
		env, err := s.SendSocketEvent(ctx, "interactive", raw)
		if err != nil {
			return 0, nil, err
		}
		ack, err := s.WaitForAck(ctx, env)
		return http.StatusOK, ack, err
	}
	body := []byte(url.Values{"payload": {string(raw)}}.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, appURL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("interaction request: %w", err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("interaction request: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// BlockSuggestion is a block_suggestion payload: user typed value into the
// external select actionID of block blockID in view (which carries the
// view's state, callback_id and private_metadata as Slack sends them).
func BlockSuggestion(user, team, blockID, actionID, value string, view map[string]any) map[string]any {
	return map[string]any{
		"type": "block_suggestion", "action_id": actionID, "block_id": blockID, "value": value,
		"user": map[string]any{"id": user}, "team": map[string]any{"id": team}, "view": view,
	}
}

// ViewSubmission is a view_submission payload of view by user; triggerID
// identifies the delivery (Slack's dedupe key).
func ViewSubmission(user, team, triggerID string, view map[string]any) map[string]any {
	return map[string]any{
		"type": "view_submission", "trigger_id": triggerID,
		"user": map[string]any{"id": user}, "team": map[string]any{"id": team}, "view": view,
	}
}
