package slackapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// SocketConfig configures RunSocketMode.
type SocketConfig struct {
	// AppToken is the xapp-… app-level token with connections:write.
	AppToken string
	BotToken string
	// APIURL is the Slack Web API base (default https://slack.com/api/).
	APIURL string
	Pool   *Pool
	Logger zerolog.Logger
	// Debug makes slack-go log its Socket Mode traffic (credentials redacted).
	Debug bool
	// Answerer, when set, answers block_suggestion and view_submission
	// envelopes in their ack payload.
	Answerer Answerer
}

// socketAcker is the part of socketmode.Client the dispatcher uses.
type socketAcker interface {
	Ack(req socketmode.Request, payload ...any) error
}

var _ socketAcker = (*socketmode.Client)(nil)

// RunSocketMode connects to Slack over Socket Mode and runs until ctx ends (it
// then returns nil) or the connection fails for good (bad token). Every
// envelope is acknowledged as soon as it arrives, before it is handled; slash
// commands, interactions and Events API callbacks are converted into Requests
// and submitted to the pool.
func RunSocketMode(ctx context.Context, cfg SocketConfig) error {
	if !strings.HasPrefix(cfg.AppToken, "xapp-") {
		return errors.New("socket mode: app token must be an xapp- app-level token")
	}
	if cfg.Pool == nil {
		return errors.New("socket mode: no pool")
	}
	log := cfg.Logger.With().Str("component", "slackapp.socket").Logger()
	opts := []slack.Option{
		slack.OptionAppLevelToken(cfg.AppToken),
		slack.OptionHTTPClient(&http.Client{Timeout: 30 * time.Second}),
		slack.OptionDebug(cfg.Debug),
		slack.OptionLog(zerologOutput{log}),
	}
	if cfg.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.APIURL))
	}
	api := slack.New(cfg.BotToken, opts...)
	client := socketmode.New(api,
		socketmode.OptionDebug(cfg.Debug),
		socketmode.OptionLog(zerologOutput{log}),
	)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- client.RunContext(ctx) }()

	d := socketDispatcher{ack: client, pool: cfg.Pool, log: log, now: time.Now, busy: postBusy, answer: cfg.Answerer}
	for {
		select {
		case <-ctx.Done():
			<-runErr
			return nil
		case err := <-runErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("socket mode: %w", err)
		case evt := <-client.Events:
			d.dispatch(ctx, evt)
		}
	}
}

// socketDispatcher turns Socket Mode events into acknowledged Requests.
type socketDispatcher struct {
	ack  socketAcker
	pool *Pool
	log  zerolog.Logger
	now  func() time.Time
	// busy tells the user behind responseURL that the pool is full.
	busy func(ctx context.Context, responseURL string) error
	// answer, when set, fills the ack of options and view submissions.
	answer Answerer
}

func (d socketDispatcher) dispatch(ctx context.Context, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		d.log.Info().Msg("connecting to slack")
	case socketmode.EventTypeConnected:
		d.log.Info().Msg("connected to slack")
	case socketmode.EventTypeConnectionError:
		if ce, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
			d.log.Warn().Err(ce.ErrorObj).Dur("backoff", ce.Backoff).Msg("slack connection failed")
		}
	case socketmode.EventTypeInvalidAuth:
		d.log.Error().Msg("slack rejected the app token")
	case socketmode.EventTypeErrorBadMessage:
		// slack-go could not parse it (e.g. an inner event type it does not
		// know), but Slack still waits for an ack and would redeliver.
		bad, _ := evt.Data.(*socketmode.ErrorBadMessage)
		if bad == nil {
			return
		}
		var req socketmode.Request
		if json.Unmarshal(bad.Message, &req) == nil && req.EnvelopeID != "" {
			d.acknowledge(req)
			if req.Type == socketmode.RequestTypeEventsAPI {
				if ev, err := parseEventsAPI(req.Payload); err == nil {
					if r, ok := requestFromEvent(ev); ok {
						d.submit(ctx, req, []Request{r})
					}
					return
				}
			}
		}
		d.log.Warn().Err(bad.Cause).Msg("unparseable socket mode message")
	case socketmode.EventTypeSlashCommand:
		d.acknowledge(*evt.Request)
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok {
			return
		}
		d.submit(ctx, *evt.Request, []Request{requestFromCommand(cmd)})
	case socketmode.EventTypeInteractive:
		ic, ok := evt.Data.(slack.InteractionCallback)
		if !ok {
			d.acknowledge(*evt.Request)
			return
		}
		reqs := requestsFromInteraction(ic)
		if len(reqs) == 1 && d.answer != nil && (reqs[0].Kind == KindOptions || reqs[0].Kind == KindViewSubmission) {
			// Slack reads options and view errors from the ack itself.
			reqs[0].Source, reqs[0].Received = sourceSocket, d.now()
			answer, forward := d.answer.Answer(ctx, reqs[0])
			d.acknowledgeWith(*evt.Request, answer)
			if forward {
				d.submit(ctx, *evt.Request, reqs)
			}
			return
		}
		d.acknowledge(*evt.Request)
		if len(reqs) > 0 && reqs[0].Kind == KindOptions {
			return
		}
		d.submit(ctx, *evt.Request, reqs)
	case socketmode.EventTypeEventsAPI:
		d.acknowledge(*evt.Request)
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok {
			return
		}
		if r, ok := requestFromEvent(ev); ok {
			d.submit(ctx, *evt.Request, []Request{r})
		}
	default:
		d.log.Debug().Str("type", string(evt.Type)).Msg("socket mode event")
	}
}

func (d socketDispatcher) acknowledge(req socketmode.Request) {
	if req.EnvelopeID == "" {
		return
	}
	if err := d.ack.Ack(req); err != nil {
		d.log.Warn().Err(err).Str("envelope", req.EnvelopeID).Msg("ack failed")
	}
}

func (d socketDispatcher) acknowledgeWith(req socketmode.Request, payload any) {
	if req.EnvelopeID == "" {
		return
	}
	var err error
	if payload == nil {
		err = d.ack.Ack(req)
	} else {
		err = d.ack.Ack(req, payload)
	}
	if err != nil {
		d.log.Warn().Err(err).Str("envelope", req.EnvelopeID).Msg("ack failed")
	}
}

// fromEnvelope stamps reqs with the envelope that carried them: its
// envelope_id keys the delivery alongside the payload's own key (one
// envelope with several actions gets one key per action), and its
// retry_attempt is the redelivery count.
func fromEnvelope(env socketmode.Request, reqs []Request) []Request {
	for i := range reqs {
		reqs[i].Retry = env.RetryAttempt
		if k := dedupeKey("envelope", env.EnvelopeID); k != "" {
			if len(reqs) > 1 {
				k += "#" + strconv.Itoa(i)
			}
			reqs[i].EnvelopeKey = k
		}
	}
	return reqs
}

func (d socketDispatcher) submit(ctx context.Context, env socketmode.Request, reqs []Request) {
	if env.RetryAttempt > 0 {
		d.log.Info().Str("envelope", env.EnvelopeID).Int("retry_attempt", env.RetryAttempt).
			Str("retry_reason", env.RetryReason).Str("type", env.Type).Msg("slack redelivered an envelope")
	}
	for _, r := range fromEnvelope(env, reqs) {
		r.Source, r.Received = sourceSocket, d.now()
		err := d.pool.Submit(r)
		if err == nil {
			continue
		}
		d.log.Warn().Err(err).Str("kind", r.Kind.String()).Str("user", r.UserID).
			Str("channel", r.ChannelID).Msg("request refused")
		// The envelope is already acknowledged, so the user hears about it
		// through response_url (events have none and are simply dropped).
		if r.ResponseURL != "" && d.busy != nil {
			go func(u string) {
				bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				if err := d.busy(bctx, u); err != nil {
					d.log.Warn().Err(err).Msg("busy reply failed")
				}
			}(r.ResponseURL)
		}
	}
}

// postBusy posts the ephemeral busy message to a response_url.
func postBusy(ctx context.Context, responseURL string) error {
	body, err := json.Marshal(busyMessage())
	if err != nil {
		return fmt.Errorf("encode busy reply: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		// The URL is a capability: keep it out of the error.
		return errors.New("post busy reply: bad response_url")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return errors.New("post busy reply: request failed")
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post busy reply: status %d", resp.StatusCode)
	}
	return nil
}

// zerologOutput lets slack-go's logger interface (Output(calldepth, s)) write
// through zerolog at debug level.
type zerologOutput struct{ log zerolog.Logger }

func (z zerologOutput) Output(_ int, s string) error {
	z.log.Debug().Msg(strings.TrimSpace(s))
	return nil
}
