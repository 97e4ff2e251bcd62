package slackapp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// HTTP paths served by NewHTTP.
const (
	PathCommands     = "/slack/commands"
	PathInteractions = "/slack/interactions"
	PathEvents       = "/slack/events"
	// PathOptions is the options load URL of external selects
	// (manifest settings.interactivity.message_menu_options_url).
	PathOptions = "/slack/options"
)

const defaultMaxBody = 1 << 20

// busyText is what a user sees when the pool is full.
const busyText = "pipebot is busy right now, please try again in a moment."

// HTTPConfig configures NewHTTP.
type HTTPConfig struct {
	SigningSecret string
	Pool          *Pool
	// Now is the clock for the timestamp check (default time.Now).
	Now    func() time.Time
	Logger zerolog.Logger
	// MaxBody is the largest body read (default 1 MiB); larger bodies get 413.
	MaxBody int64
	// Answerer, when set, answers block_suggestion and view_submission
	// requests in the response body.
	Answerer Answerer
}

type httpTransport struct {
	cfg HTTPConfig
	log zerolog.Logger
}

// NewHTTP returns the handler for Slack's signed HTTP endpoints: POST
// /slack/commands, /slack/interactions and /slack/events. It verifies the
// signature before parsing anything, submits the request to the pool and
// answers 200 with an empty body at once; replies travel later through
// response_url or the Web API.
func NewHTTP(cfg HTTPConfig) http.Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = defaultMaxBody
	}
	return &httpTransport{cfg: cfg, log: cfg.Logger.With().Str("component", "slackapp.http").Logger()}
}

func (t *httpTransport) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var handle func(http.ResponseWriter, *http.Request, []byte, time.Time)
	switch r.URL.Path {
	case PathCommands:
		handle = t.command
	case PathInteractions:
		handle = t.interaction
	case PathEvents:
		handle = t.event
	case PathOptions:
		handle = t.interaction
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		plain(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, t.cfg.MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			plain(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		plain(w, http.StatusBadRequest, "cannot read body")
		return
	}
	now := t.cfg.Now()
	if err := Verify(t.cfg.SigningSecret, r.Header, body, now); err != nil {
		t.log.Warn().Err(err).Str("path", r.URL.Path).Str("remote", r.RemoteAddr).Msg("rejected unsigned slack request")
		plain(w, http.StatusUnauthorized, "invalid signature")
		return
	}
	handle(w, r, body, now)
}

func (t *httpTransport) command(w http.ResponseWriter, _ *http.Request, body []byte, now time.Time) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		plain(w, http.StatusBadRequest, "malformed form body")
		return
	}
	cmd := slack.SlashCommand{
		TeamID:      form.Get("team_id"),
		TeamDomain:  form.Get("team_domain"),
		ChannelID:   form.Get("channel_id"),
		ChannelName: form.Get("channel_name"),
		UserID:      form.Get("user_id"),
		UserName:    form.Get("user_name"),
		Command:     form.Get("command"),
		Text:        form.Get("text"),
		ResponseURL: form.Get("response_url"),
		TriggerID:   form.Get("trigger_id"),
		APIAppID:    form.Get("api_app_id"),
	}
	req := requestFromCommand(cmd)
	t.submit(w, []Request{req}, now)
}

func (t *httpTransport) interaction(w http.ResponseWriter, r *http.Request, body []byte, now time.Time) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		plain(w, http.StatusBadRequest, "malformed form body")
		return
	}
	payload := form.Get("payload")
	if payload == "" {
		plain(w, http.StatusBadRequest, "missing payload")
		return
	}
	var ic slack.InteractionCallback
	if err := json.Unmarshal([]byte(payload), &ic); err != nil {
		t.log.Warn().Err(err).Msg("malformed interaction payload")
		plain(w, http.StatusBadRequest, "malformed payload")
		return
	}
	reqs := requestsFromInteraction(ic)
	if len(reqs) == 1 && t.cfg.Answerer != nil && (reqs[0].Kind == KindOptions || reqs[0].Kind == KindViewSubmission) {
		reqs[0].Source, reqs[0].Received = sourceHTTP, now
		answer, forward := t.cfg.Answerer.Answer(r.Context(), reqs[0])
		if forward {
			t.submit(nopWriter{}, reqs, now)
		}
		if answer == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer)
		return
	}
	if len(reqs) > 0 && reqs[0].Kind == KindOptions {
		// No one to ask: an empty list rather than an error in the menu.
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"options":[]}`)
		return
	}
	if len(reqs) == 0 {
		t.log.Debug().Str("type", string(ic.Type)).Msg("interaction type ignored")
		w.WriteHeader(http.StatusOK)
		return
	}
	t.submit(w, reqs, now)
}

func (t *httpTransport) event(w http.ResponseWriter, r *http.Request, body []byte, now time.Time) {
	ev, err := parseEventsAPI(body)
	if err != nil {
		t.log.Warn().Err(err).Msg("malformed events api body")
		plain(w, http.StatusBadRequest, "malformed event")
		return
	}
	switch ev.Type {
	case slackevents.URLVerification:
		uv, _ := ev.Data.(*slackevents.EventsAPIURLVerificationEvent)
		if uv == nil {
			plain(w, http.StatusBadRequest, "malformed url_verification")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"challenge": uv.Challenge})
		return
	case slackevents.CallbackEvent:
	default:
		t.log.Info().Str("type", ev.Type).Msg("events api notice ignored")
		w.WriteHeader(http.StatusOK)
		return
	}
	req, ok := requestFromEvent(ev)
	if !ok {
		w.WriteHeader(http.StatusOK)
		return
	}
	// A retry carries the same event_id, which is what dedupes it
	// (https://docs.slack.dev/apis/events-api/#retries); the headers only
	// say why Slack sent it again.
	if n := r.Header.Get("X-Slack-Retry-Num"); n != "" {
		req.Retry, _ = strconv.Atoi(n)
		t.log.Info().Str("retry_num", n).Str("retry_reason", r.Header.Get("X-Slack-Retry-Reason")).
			Str("dedupe_key", req.DedupeKey).Msg("slack redelivered an event")
	}
	req.Source, req.Received = sourceHTTP, now
	if err := t.cfg.Pool.Submit(req); err != nil {
		// Unlike a user's command, an event has no one to tell: let Slack
		// redeliver it later (the dedupe key was not consumed).
		t.log.Warn().Err(err).Str("dedupe_key", req.DedupeKey).Msg("event refused")
		plain(w, http.StatusServiceUnavailable, "busy")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// submit hands reqs to the pool and acknowledges: an empty 200, or when the
// pool is full an ephemeral "busy" message.
func (t *httpTransport) submit(w http.ResponseWriter, reqs []Request, now time.Time) {
	busy := false
	for _, req := range reqs {
		req.Source, req.Received = sourceHTTP, now
		if err := t.cfg.Pool.Submit(req); err != nil {
			busy = true
			t.log.Warn().Err(err).Str("kind", req.Kind.String()).Str("user", req.UserID).
				Str("channel", req.ChannelID).Msg("request refused")
		}
	}
	if busy {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(busyMessage())
		return
	}
	w.WriteHeader(http.StatusOK)
}

// busyMessage is the ephemeral reply that tells a user to try again.
func busyMessage() map[string]string {
	return map[string]string{"response_type": slack.ResponseTypeEphemeral, "text": busyText}
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// nopWriter discards a response: the answer was already chosen.
type nopWriter struct{}

func (nopWriter) Header() http.Header         { return http.Header{} }
func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (nopWriter) WriteHeader(int)             {}
