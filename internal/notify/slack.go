package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Message is one Slack message pipebot sends: a fallback text (also what
// notifications show), Block Kit blocks, and where in a thread it goes.
type Message struct {
	Text      string
	Blocks    []slack.Block
	Metadata  *slack.SlackMetadata
	ThreadTS  string
	Broadcast bool // reply_broadcast: a thread reply also shown in the channel
}

// Response is a reply through a slash command's or a click's response_url.
type Response struct {
	Message
	InChannel       bool // response_type in_channel; otherwise ephemeral
	ReplaceOriginal bool // replace the message the click came from
	DeleteOriginal  bool
}

// Errors Slack answers that callers act on. See
// https://api.slack.com/methods/chat.postMessage#errors.
var (
	ErrNotInChannel    = errors.New("pipebot is not in that channel")
	ErrChannelNotFound = errors.New("channel not found")
	ErrMessageTooLong  = errors.New("message too long for slack")
	ErrMessageNotFound = errors.New("slack message not found")
	// ErrRateLimited: Slack kept answering 429 through every retry, or asked
	// for a longer wait than MaxRetryWait.
	ErrRateLimited = errors.New("slack is rate limiting pipebot")
)

// slackAPI is the part of *slack.Client pipebot posts with.
type slackAPI interface {
	PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error)
	PostEphemeralContext(ctx context.Context, channelID, userID string, options ...slack.MsgOption) (string, error)
	GetConversationRepliesContext(ctx context.Context, params *slack.GetConversationRepliesParameters) ([]slack.Message, bool, string, error)
	GetConversationHistoryContext(ctx context.Context, params *slack.GetConversationHistoryParameters) (*slack.GetConversationHistoryResponse, error)
	GetUploadURLExternalContext(ctx context.Context, params slack.GetUploadURLExternalParameters) (*slack.GetUploadURLExternalResponse, error)
	CompleteUploadExternalContext(ctx context.Context, params slack.CompleteUploadExternalParameters) (*slack.CompleteUploadExternalResponse, error)
	UnfurlMessageContext(ctx context.Context, channelID, timestamp string, unfurls map[string]slack.Attachment, options ...slack.MsgOption) (string, string, string, error)
	UnfurlMessageByIDContext(ctx context.Context, unfurlID, source string, unfurls map[string]slack.Attachment, options ...slack.MsgOption) (string, string, string, error)
}

var _ slackAPI = (*slack.Client)(nil)

// SlackConfig configures Slack.
type SlackConfig struct {
	API        slackAPI
	HTTPClient *http.Client // for response_url posts; default has a 10 s timeout
	// UploadClient posts file bytes to Slack's upload URL; default has no
	// timeout of its own (the relay's context bounds it).
	UploadClient *http.Client
	// PerChannel is the least time between two posts to one channel (Slack
	// allows about one message per second per channel). Default 1 s.
	PerChannel time.Duration
	// MaxRetries is how often a call met by HTTP 429 is retried after
	// waiting Retry-After. Default 3.
	MaxRetries int
	// MaxRetryWait is the longest Retry-After pipebot waits out; a longer
	// one ends the call with ErrRateLimited at once. Default 1 min.
	MaxRetryWait time.Duration
	// Sleep waits out a Retry-After (tests inject a clock); default waits
	// d unless ctx ends first.
	Sleep func(ctx context.Context, d time.Duration) error
	// Observe, when set, is told the result of every Slack call.
	Observe func(method, result string)
	// Gate, when set, is asked before every message post, update and
	// unfurl; its error is returned and nothing is sent. The leader of
	// several replicas gates its notifications on its lease.
	Gate func() error
}

// Slack posts pipebot's messages with Slack's rate limits respected: posts to
// one channel are spaced, 429 answers wait Retry-After, and Slack's error
// codes become the sentinel errors above.
type Slack struct {
	api        slackAPI
	http       *http.Client
	upload     *http.Client
	perChannel time.Duration
	maxRetries int
	maxWait    time.Duration
	sleep      func(ctx context.Context, d time.Duration) error
	observe    func(method, result string)
	gate       func() error

	mu   sync.Mutex
	next map[string]time.Time // channel -> earliest next post
}

// NewSlack returns a Slack poster. It does no I/O.
func NewSlack(cfg SlackConfig) *Slack {
	s := &Slack{
		api:        cfg.API,
		http:       cfg.HTTPClient,
		upload:     cfg.UploadClient,
		perChannel: cfg.PerChannel,
		maxRetries: cfg.MaxRetries,
		maxWait:    cfg.MaxRetryWait,
		sleep:      cfg.Sleep,
		observe:    cfg.Observe,
		gate:       cfg.Gate,
		next:       make(map[string]time.Time),
	}
	if s.http == nil {
		s.http = &http.Client{Timeout: 10 * time.Second}
	}
	if s.upload == nil {
		s.upload = &http.Client{}
	}
	if s.perChannel == 0 {
		s.perChannel = time.Second
	}
	if s.maxRetries == 0 {
		s.maxRetries = 3
	}
	if s.maxWait <= 0 {
		s.maxWait = time.Minute
	}
	if s.sleep == nil {
		s.sleep = sleep
	}
	return s
}

func (m Message) options() []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(m.Text, false), slack.MsgOptionDisableLinkUnfurl()}
	if len(m.Blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(m.Blocks...))
	}
	if m.Metadata != nil {
		opts = append(opts, slack.MsgOptionMetadata(*m.Metadata))
	}
	if m.ThreadTS != "" {
		opts = append(opts, slack.MsgOptionTS(m.ThreadTS))
		if m.Broadcast {
			opts = append(opts, slack.MsgOptionBroadcast())
		}
	}
	return opts
}

// Post posts m to channel and returns the new message's ts.
func (s *Slack) Post(ctx context.Context, channel string, m Message) (string, error) {
	if err := s.pace(ctx, channel); err != nil {
		return "", err
	}
	var ts string
	err := s.call(ctx, "chat.postMessage", func() error {
		if err := s.open(); err != nil {
			return err
		}
		var err error
		_, ts, err = s.api.PostMessageContext(ctx, channel, m.options()...)
		return err
	})
	return ts, err
}

// Update replaces the message at ts in channel with m.
func (s *Slack) Update(ctx context.Context, channel, ts string, m Message) error {
	if err := s.pace(ctx, channel); err != nil {
		return err
	}
	return s.call(ctx, "chat.update", func() error {
		if err := s.open(); err != nil {
			return err
		}
		_, _, _, err := s.api.UpdateMessageContext(ctx, channel, ts, m.options()...)
		return err
	})
}

// Ephemeral shows m to user alone in channel.
func (s *Slack) Ephemeral(ctx context.Context, channel, user string, m Message) error {
	return s.call(ctx, "chat.postEphemeral", func() error {
		_, err := s.api.PostEphemeralContext(ctx, channel, user, m.options()...)
		return err
	})
}

// Respond posts r to a response_url. The URL is a secret: it never appears
// in the error returned.
func (s *Slack) Respond(ctx context.Context, responseURL string, r Response) error {
	msg := &slack.WebhookMessage{
		Text:            r.Text,
		ThreadTimestamp: r.ThreadTS,
		ReplaceOriginal: r.ReplaceOriginal,
		DeleteOriginal:  r.DeleteOriginal,
		ResponseType:    slack.ResponseTypeEphemeral,
	}
	if r.InChannel {
		msg.ResponseType = slack.ResponseTypeInChannel
	}
	if len(r.Blocks) > 0 {
		msg.Blocks = &slack.Blocks{BlockSet: r.Blocks}
	}
	return s.call(ctx, "response_url", func() error {
		err := slack.PostWebhookCustomHTTPContext(ctx, responseURL, s.http, msg)
		var ue *url.Error
		if errors.As(err, &ue) {
			// url.Error carries the URL, which must not leak.
			return fmt.Errorf("post to response_url: %w", ue.Err)
		}
		if err != nil {
			return fmt.Errorf("post to response_url: %s", redactURL(err.Error(), responseURL))
		}
		return nil
	})
}

// FindByMetadata looks for a message pipebot posted with metadata of
// eventType whose payload has key == value: in the thread under threadTS when
// that is set, else in the channel's history since oldest. Crash recovery uses
// it to tell "posted but not recorded" from "never posted".
func (s *Slack) FindByMetadata(ctx context.Context, channel, threadTS string, oldest time.Time, eventType, key, value string) (string, bool, error) {
	var msgs []slack.Message
	err := s.call(ctx, "conversations.lookup", func() error {
		if threadTS != "" {
			var err error
			msgs, _, _, err = s.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
				ChannelID: channel, Timestamp: threadTS, Limit: 200, IncludeAllMetadata: true,
			})
			return err
		}
		resp, err := s.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
			ChannelID: channel, Oldest: slackTS(oldest), Inclusive: true, Limit: 200, IncludeAllMetadata: true,
		})
		if err == nil {
			msgs = resp.Messages
		}
		return err
	})
	if err != nil {
		return "", false, err
	}
	for _, m := range msgs {
		if m.Metadata.EventType != eventType {
			continue
		}
		if fmt.Sprint(m.Metadata.EventPayload[key]) == value {
			return m.Timestamp, true, nil
		}
	}
	return "", false, nil
}

func slackTS(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

// open checks the gate right before a message is sent (again before each
// retry: a wait for Retry-After may outlast a lease).
func (s *Slack) open() error {
	if s.gate == nil {
		return nil
	}
	return s.gate()
}

// pace waits until channel may take another post.
func (s *Slack) pace(ctx context.Context, channel string) error {
	s.mu.Lock()
	now := time.Now()
	at := s.next[channel]
	if at.Before(now) {
		at = now
	}
	s.next[channel] = at.Add(s.perChannel)
	s.mu.Unlock()
	return sleep(ctx, time.Until(at))
}

// call runs fn, retrying after Slack's Retry-After on 429 (at most
// MaxRetries times, each wait at most MaxRetryWait), and classifies the
// error Slack answered. A 429 it gives up on is ErrRateLimited.
func (s *Slack) call(ctx context.Context, method string, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		var rl *slack.RateLimitedError
		if errors.As(err, &rl) {
			s.observed(method, "ratelimited")
			wait := rl.RetryAfter
			if wait <= 0 {
				wait = time.Second
			}
			switch {
			case attempt >= s.maxRetries:
				return fmt.Errorf("slack %s: %w: still 429 after %d tries", method, ErrRateLimited, attempt+1)
			case wait > s.maxWait:
				return fmt.Errorf("slack %s: %w: it asks to wait %s, longer than the %s pipebot waits", method, ErrRateLimited, wait, s.maxWait)
			}
			if err := s.sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		err = classify(err)
		s.observed(method, result(err))
		if err != nil {
			return fmt.Errorf("slack %s: %w", method, err)
		}
		return nil
	}
}

func (s *Slack) observed(method, res string) {
	if s.observe != nil {
		s.observe(method, res)
	}
}

func result(err error) string {
	var se slack.SlackErrorResponse
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotInChannel):
		return "not_in_channel"
	case errors.Is(err, ErrChannelNotFound):
		return "channel_not_found"
	case errors.Is(err, ErrMessageTooLong):
		return "msg_too_long"
	case errors.As(err, &se):
		return se.Err
	default:
		return "error"
	}
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	var code string
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		code = se.Err
	} else {
		code = err.Error()
	}
	switch code {
	case "not_in_channel":
		return ErrNotInChannel
	case "channel_not_found", "is_archived":
		return ErrChannelNotFound
	case "msg_too_long", "invalid_blocks", "too_many_blocks":
		return ErrMessageTooLong
	case "message_not_found", "cant_update_message":
		return ErrMessageNotFound
	}
	if uploadRefused(code) {
		return fmt.Errorf("%w (%s)", ErrUploadsRefused, code)
	}
	return err
}

// Sleep waits d unless ctx ends first, and then returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func redactURL(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "<response_url>")
}
