package slackapp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// Kind says what an incoming Request is.
type Kind int

// The kinds of incoming requests.
const (
	// KindCommand is a slash command (/ci …).
	KindCommand Kind = iota + 1
	// KindAction is a block_actions interaction: a button click or menu choice.
	KindAction
	// KindViewSubmission is a modal submitted by the user.
	KindViewSubmission
	// KindEvent is an Events API callback (link_shared, app_mention, …).
	KindEvent
	// KindOptions is a block_suggestion: an external select asks for the
	// options matching what the user typed (Request.Text). It is answered
	// synchronously by an Answerer, never submitted to the pool.
	KindOptions
)

// String names the kind for logs.
func (k Kind) String() string {
	switch k {
	case KindCommand:
		return "command"
	case KindAction:
		return "action"
	case KindViewSubmission:
		return "view_submission"
	case KindEvent:
		return "event"
	case KindOptions:
		return "options"
	default:
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// Request is one incoming Slack request, already acknowledged, in the same shape
// whichever transport carried it.
type Request struct {
	Kind Kind
	// DedupeKey names the one user action or event behind this delivery, the
	// same whichever transport carried it and however often Slack sent it:
	// "command:"+trigger_id for slash commands, "action:"+trigger_id (or
	// action_ts) for clicks, "view:"+trigger_id for view submissions,
	// "event:"+event_id for events; "" when the payload carries none. Two
	// people typing the same text, or one person typing it twice, get two
	// trigger_ids and so two keys.
	DedupeKey string
	// EnvelopeKey is, for Socket Mode, "envelope:"+envelope_id: Slack
	// redelivers an envelope it thinks was not acknowledged under the same
	// envelope_id with retry_attempt > 0
	// (https://docs.slack.dev/apis/events-api/using-socket-mode). A request
	// is a duplicate when either key was seen before.
	EnvelopeKey string
	// Retry is Slack's redelivery count: X-Slack-Retry-Num over HTTP,
	// retry_attempt over Socket Mode; 0 for a first delivery. Only logged:
	// whether a request runs depends on the keys alone, since a retry may be
	// the only delivery that ever arrives.
	Retry int

	TeamID, UserID, UserName, ChannelID, ChannelName string

	// Command is the slash command itself, e.g. "/ci".
	Command string
	// Text is the slash command text, or for a button click the button's value
	// (the command the button carries).
	Text        string
	ActionID    string
	ResponseURL string
	TriggerID   string
	// MessageTS is, for actions, the ts of the message holding the button.
	MessageTS string
	// ThreadTS is, for actions, the thread ts of that message if it is in a thread.
	ThreadTS string
	// View is set for view submissions, and for clicks on the App Home
	// (View.Type "home").
	View *slack.View
	// Event is set for Events API requests (link_shared …); it may be nil.
	Event *slackevents.EventsAPIEvent
	// Source is the transport: "http", "socket" or "console".
	Source   string
	Received time.Time
}

// Handler handles acknowledged requests. It replies through response_url or the
// Web API, never through the transport.
type Handler interface {
	Handle(ctx context.Context, req Request)
}

// Answerer answers the requests whose reply Slack reads from the transport's
// acknowledgement itself, within its 3 seconds: block_suggestion options
// (KindOptions) and view submissions, which may answer
// response_action=errors to keep a modal open
// (https://docs.slack.dev/surfaces/modals#displaying_errors). answer is
// encoded as the HTTP response body or the Socket Mode ack payload (nil:
// an empty acknowledgement); forward says whether the request then goes to
// the pool as usual.
type Answerer interface {
	Answer(ctx context.Context, req Request) (answer any, forward bool)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req Request)

// Handle calls f(ctx, req).
func (f HandlerFunc) Handle(ctx context.Context, req Request) { f(ctx, req) }

// Transport names used in Request.Source.
const (
	sourceHTTP    = "http"
	sourceSocket  = "socket"
	sourceConsole = "console"
)

// maxDedupeID is the longest Slack id used verbatim in a dedupe key; longer
// ids (or ids with control characters, which the store refuses in a key) are
// hashed, so a key stays small whatever a payload holds.
const maxDedupeID = 128

// dedupeKey is the key of one delivery: prefix ("command", "action", "view",
// "event", "envelope"), a colon and the id, or "" when id is empty.
func dedupeKey(prefix, id string) string {
	if id == "" {
		return ""
	}
	plain := len(id) <= maxDedupeID
	for i := 0; plain && i < len(id); i++ {
		plain = id[i] >= 0x20 && id[i] != 0x7f
	}
	if !plain {
		sum := sha256.Sum256([]byte(id))
		id = "sha256-" + hex.EncodeToString(sum[:])
	}
	return prefix + ":" + id
}

// dedupeKeys returns the request's non-empty dedupe keys.
func (r Request) dedupeKeys() []string {
	keys := make([]string, 0, 2)
	for _, k := range [...]string{r.DedupeKey, r.EnvelopeKey} {
		if k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// requestFromCommand converts a slash command. Its trigger_id is unique to
// one invocation and comes back unchanged when the same payload is
// delivered again, so it keys the delivery.
func requestFromCommand(cmd slack.SlashCommand) Request {
	return Request{
		DedupeKey:   dedupeKey("command", cmd.TriggerID),
		Kind:        KindCommand,
		TeamID:      cmd.TeamID,
		UserID:      cmd.UserID,
		UserName:    cmd.UserName,
		ChannelID:   cmd.ChannelID,
		ChannelName: cmd.ChannelName,
		Command:     cmd.Command,
		Text:        cmd.Text,
		ResponseURL: cmd.ResponseURL,
		TriggerID:   cmd.TriggerID,
	}
}

// requestsFromInteraction converts an interaction payload: one Request per
// block action, one for a view submission, none for the other types.
func requestsFromInteraction(ic slack.InteractionCallback) []Request {
	base := Request{
		TeamID:      ic.Team.ID,
		UserID:      ic.User.ID,
		UserName:    ic.User.Name,
		ChannelID:   ic.Channel.ID,
		ChannelName: ic.Channel.Name,
		ResponseURL: ic.ResponseURL,
		TriggerID:   ic.TriggerID,
	}
	if base.UserName == "" {
		base.UserName = ic.User.Profile.DisplayName
	}
	if base.ChannelID == "" {
		base.ChannelID = ic.Container.ChannelID
	}
	switch ic.Type {
	case slack.InteractionTypeBlockActions:
		base.Kind = KindAction
		base.MessageTS = ic.Container.MessageTs
		if base.MessageTS == "" {
			base.MessageTS = ic.Message.Timestamp
		}
		base.ThreadTS = ic.Message.ThreadTimestamp
		if base.ThreadTS == "" {
			base.ThreadTS = ic.Container.ThreadTs
		}
		if ic.View.Type == slack.VTHomeTab {
			// A click on the App Home (container.type "view"): no channel
			// and no response_url, so the handler answers another way.
			view := ic.View
			base.View = &view
		}
		actions := ic.ActionCallback.BlockActions
		if len(actions) == 0 {
			// slack-go files an action without a block_id under
			// AttachmentActions; Slack always sends block_id, but a
			// payload without one is still a click on a button.
			for _, a := range ic.ActionCallback.AttachmentActions {
				if a != nil {
					actions = append(actions, &slack.BlockAction{ActionID: a.Name, Value: a.Value})
				}
			}
		}
		out := make([]Request, 0, len(actions))
		for i, a := range actions {
			if a == nil {
				continue
			}
			r := base
			r.ActionID = a.ActionID
			r.Text = a.Value
			if r.Text == "" {
				// Select menus carry their value in the chosen option.
				r.Text = a.SelectedOption.Value
			}
			id := ic.TriggerID
			if id == "" {
				id = a.ActionTs
			}
			if id == "" {
				id = ic.ActionTs
			}
			if r.DedupeKey = dedupeKey("action", id); r.DedupeKey != "" {
				if len(actions) > 1 {
					// One payload may carry several actions that share a trigger_id.
					r.DedupeKey += "#" + strconv.Itoa(i)
				}
			}
			out = append(out, r)
		}
		return out
	case slack.InteractionTypeBlockSuggestion:
		r := base
		r.Kind = KindOptions
		r.ActionID, r.Text = ic.ActionID, ic.Value
		view := ic.View
		r.View = &view
		return []Request{r}
	case slack.InteractionTypeViewSubmission:
		r := base
		r.Kind = KindViewSubmission
		view := ic.View
		r.View = &view
		r.ActionID = ic.View.CallbackID
		if len(ic.ResponseURLs) > 0 {
			// Present only when the modal has a conversation selector with
			// response_url_enabled.
			r.ResponseURL = ic.ResponseURLs[0].ResponseURL
			if r.ChannelID == "" {
				r.ChannelID = ic.ResponseURLs[0].ChannelID
			}
		}
		r.DedupeKey = dedupeKey("view", ic.TriggerID)
		return []Request{r}
	default:
		return nil
	}
}

// requestFromEvent converts an Events API event_callback. It reports false for
// anything else (url_verification, app_rate_limited).
func requestFromEvent(ev slackevents.EventsAPIEvent) (Request, bool) {
	if ev.Type != slackevents.CallbackEvent {
		return Request{}, false
	}
	cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent)
	if !ok || cb == nil {
		return Request{}, false
	}
	r := Request{Kind: KindEvent, TeamID: ev.TeamID, Event: &ev, DedupeKey: dedupeKey("event", cb.EventID)}
	switch inner := ev.InnerEvent.Data.(type) {
	case *slackevents.LinkSharedEvent:
		r.UserID, r.ChannelID = inner.User, inner.Channel
		r.MessageTS, r.ThreadTS = inner.MessageTimeStamp, inner.ThreadTimeStamp
	case *slackevents.AppHomeOpenedEvent:
		// Channel is pipebot's DM with the user.
		r.UserID, r.ChannelID = inner.User, inner.Channel
	case *slackevents.AppMentionEvent:
		r.UserID, r.ChannelID, r.Text = inner.User, inner.Channel, inner.Text
		r.MessageTS, r.ThreadTS = inner.TimeStamp, inner.ThreadTimeStamp
	}
	return r, true
}

// parseEventsAPI parses an Events API body. Unlike slackevents.ParseEvent it
// keeps an event_callback whose inner type slack-go does not know (the outer
// envelope, event_id included, is still valid), so such events are deduped and
// delivered with InnerEvent.Data nil instead of failing.
func parseEventsAPI(body []byte) (slackevents.EventsAPIEvent, error) {
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err == nil {
		return ev, nil
	}
	var cb slackevents.EventsAPICallbackEvent
	if jerr := json.Unmarshal(body, &cb); jerr != nil || cb.Type != slackevents.CallbackEvent || cb.InnerEvent == nil {
		return slackevents.EventsAPIEvent{}, fmt.Errorf("parse events api body: %w", err)
	}
	var inner struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(*cb.InnerEvent, &inner)
	return slackevents.EventsAPIEvent{
		Token:              cb.Token,
		TeamID:             cb.TeamID,
		Type:               cb.Type,
		APIAppID:           cb.APIAppID,
		EnterpriseID:       cb.EnterpriseID,
		IsExtSharedChannel: cb.IsExtSharedChannel,
		Data:               &cb,
		InnerEvent:         slackevents.EventsAPIInnerEvent{Type: inner.Type},
	}, nil
}
