// Package slackfake is a recording fake of the Slack Web API, in the spirit of
// net/http/httptest. It owns an in-memory workspace (messages, threads, files,
// views, users), answers the Web API methods pipebot calls the way Slack does
// (form or JSON bodies, ok:false errors, HTTP 429 with Retry-After), serves the
// upload URLs and response_urls it hands out, and records every call so tests
// and the `pipebot demo` console can see exactly what was sent.
//
// The real slack-go client works against it unchanged:
//
//	fake := slackfake.NewServer(slackfake.Options{})
//	defer fake.Close()
//	api := slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL()))
package slackfake

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults used when Options leaves a field empty.
const (
	DefaultBotToken  = "xoxb-test"
	DefaultBotUserID = "U0PIPEBOT"
	DefaultBotID     = "B0PIPEBOT"
	DefaultTeamID    = "T0PIPEBOT"
	// DefaultResponseURLUses is how often Slack lets an app use one
	// response_url (five times within 30 minutes).
	// https://docs.slack.dev/interactivity/handling-user-interaction#message_responses
	DefaultResponseURLUses = 5
	// ResponseURLLifetime is how long a response_url stays valid.
	ResponseURLLifetime = 30 * time.Minute
)

// maxAPIBody bounds the body of a Web API call that the fake buffers (uploads
// go to the upload URL, which streams).
const maxAPIBody = 16 << 20

// Options configures a Server. The zero value is usable.
type Options struct {
	// BotToken is the only token the Web API accepts (default "xoxb-test").
	BotToken string
	// AppToken ("xapp-…") enables apps.connections.open and Socket Mode.
	AppToken string
	// BotUserID, BotID and TeamID are reported by auth.test and on messages.
	BotUserID, BotID, TeamID string
	// Now is the clock for message timestamps and response_url expiry.
	Now func() time.Time
	// ResponseURLUses is how many times one response_url may be used:
	// 0 means Slack's limit (5), a negative value means unlimited.
	ResponseURLUses int
}

// User is a workspace member known to users.info and users.lookupByEmail.
type User struct {
	ID, Name, Email string
	// RealName defaults to Name.
	RealName string
}

// Channel describes a conversation for conversations.info. Channels that were
// never added still exist; their name is derived from the ID.
type Channel struct {
	ID, Name string
	Private  bool
}

// Call is one recorded request, successful or not.
type Call struct {
	// Method is the Web API method ("chat.postMessage"), "response_url" for
	// a POST to a response_url, or "files.upload" for the raw upload.
	Method                      string
	Channel, TS, ThreadTS, User string
	Text                        string
	// Blocks is the blocks JSON as sent (nil if none).
	Blocks   json.RawMessage
	Metadata json.RawMessage
	// ResponseType, ReplaceOriginal and DeleteOriginal come from response_url bodies.
	ResponseType                    string
	ReplaceOriginal, DeleteOriginal bool
	Broadcast                       bool
	View                            json.RawMessage
	TriggerID                       string
	File                            *File
	// Unfurls is chat.unfurl's previews JSON (URL -> attachment); UnfurlID
	// and Source its by-id target. See Server.Unfurls.
	Unfurls          json.RawMessage
	UnfurlID, Source string
	// Error is the Slack error answered, "" when ok; "ratelimited" for 429.
	Error string
	// EnvelopeID is the Socket Mode envelope an ack (AckMethod) answers.
	EnvelopeID string
	// Body is the raw request body, kept for leak scans; empty for the raw
	// upload, whose bytes are hashed and never kept.
	Body string
}

// File is an uploaded file.
type File struct {
	ID, Name, Title, Channel, ThreadTS string
	Size                               int64
	SHA256                             string
}

// Message is the current state of one message (after updates and deletes).
type Message struct {
	Channel, TS, ThreadTS, User, Text string
	Blocks                            json.RawMessage
	Metadata                          json.RawMessage
	// Ephemeral messages are visible only to User (the recipient).
	Ephemeral bool
	Edits     int
	Deleted   bool
	// Broadcast is a thread reply also sent to the channel.
	Broadcast bool
	// FileIDs lists files shared with this message.
	FileIDs []string
}

type message struct {
	Message
	editedTS string
}

type rateFault struct {
	n     int
	after time.Duration
}

type failFault struct {
	err string
	n   int
}

type responseURL struct {
	channel, user, messageTS string
	bound                    bool // messageTS came from ResponseURLFor
	uses                     int
	created                  time.Time
}

type storedFile struct {
	File
	length   int64
	uploaded bool
	shared   bool
}

type storedView struct {
	id, externalID, hash string
	view                 map[string]json.RawMessage
}

// Server is the fake Slack. It is an http.Handler; every method is safe for
// concurrent use.
type Server struct {
	opts Options

	// subMu serializes recording and delivery so subscribers see calls in
	// the order they were recorded. Lock order: subMu, then mu.
	subMu sync.Mutex

	mu        sync.Mutex
	baseURL   string
	ts        *httptest.Server
	calls     []Call
	changed   chan struct{}
	subs      map[int]func(Call)
	nextSub   int
	lastTS    int64
	seq       int
	messages  map[string][]*message
	users     []User
	channels  map[string]Channel
	respURLs  map[string]*responseURL
	files     map[string]*storedFile
	fileOrder []string
	views     map[string]*storedView
	homes     map[string]*storedView // Home tab views by user (views.publish)
	rate      map[string]*rateFault
	fail      map[string]*failFault
	notIn     map[string]bool
	filesOff  bool
	socket    socketState
}

// New returns a fake Slack that does no I/O until it is served. Call
// SetBaseURL with the address it is served on before handing out URLs.
func New(opts Options) *Server {
	if opts.BotToken == "" {
		opts.BotToken = DefaultBotToken
	}
	if opts.BotUserID == "" {
		opts.BotUserID = DefaultBotUserID
	}
	if opts.BotID == "" {
		opts.BotID = DefaultBotID
	}
	if opts.TeamID == "" {
		opts.TeamID = DefaultTeamID
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ResponseURLUses == 0 {
		opts.ResponseURLUses = DefaultResponseURLUses
	}
	s := &Server{
		opts:     opts,
		changed:  make(chan struct{}),
		subs:     map[int]func(Call){},
		channels: map[string]Channel{},
	}
	s.resetLocked()
	return s
}

// NewServer starts New(opts) on an httptest server and sets its base URL.
// Close stops it.
func NewServer(opts Options) *Server {
	s := New(opts)
	ts := httptest.NewServer(s)
	s.SetBaseURL(ts.URL)
	s.mu.Lock()
	s.ts = ts
	s.mu.Unlock()
	return s
}

// SetBaseURL sets the scheme and host the fake is reachable at, used for the
// upload URLs, response_urls and websocket URLs it hands out.
func (s *Server) SetBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.baseURL = strings.TrimRight(u, "/")
}

// URL returns the base URL (no trailing slash).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// APIURL returns the Web API base for slack.OptionAPIURL; slack-go appends
// the method name directly, so it ends in a slash.
func (s *Server) APIURL() string { return s.URL() + "/api/" }

// BotToken returns the token the fake accepts.
func (s *Server) BotToken() string { return s.opts.BotToken }

// BotUserID returns the bot's user ID, the author of the messages it posts.
func (s *Server) BotUserID() string { return s.opts.BotUserID }

// Close closes the Socket Mode connections and, when NewServer started
// it, the HTTP server.
func (s *Server) Close() {
	s.closeSockets()
	s.mu.Lock()
	ts := s.ts
	s.ts = nil
	s.mu.Unlock()
	if ts != nil {
		ts.Close()
	}
}

// AddUser adds or replaces a workspace member.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.RealName == "" {
		u.RealName = u.Name
	}
	for i := range s.users {
		if s.users[i].ID == u.ID {
			s.users[i] = u
			return
		}
	}
	s.users = append(s.users, u)
}

// AddChannel names a channel for conversations.info.
func (s *Server) AddChannel(c Channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[c.ID] = c
}

// ResponseURL mints a fresh response_url bound to channel and user, as Slack
// sends with a slash command. Messages posted through it are ephemeral to
// user unless response_type is in_channel; replace_original and
// delete_original act on the last message posted through it.
func (s *Server) ResponseURL(channel, user string) string {
	return s.ResponseURLFor(channel, user, "")
}

// ResponseURLFor mints a response_url bound to a message, as Slack sends with
// a click on a button of the message at messageTS: replace_original and
// delete_original act on that message.
func (s *Server) ResponseURLFor(channel, user, messageTS string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := fmt.Sprintf("R%06d", s.seq)
	s.respURLs[id] = &responseURL{channel: channel, user: user, messageTS: messageTS, bound: messageTS != "", created: s.opts.Now()}
	return s.baseURL + "/response/" + id
}

// RateLimit makes the next n calls to method answer HTTP 429 with a
// Retry-After of retryAfter rounded up to whole seconds (the header carries
// seconds; slack-go turns it into *slack.RateLimitedError). method may also
// be "response_url" or "files.upload" (the POST of a file's bytes to its
// upload URL). n < 0 rate limits every call until Reset or the next
// RateLimit of method.
func (s *Server) RateLimit(method string, n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate[method] = &rateFault{n: n, after: retryAfter}
}

// NotInChannel makes chat.postMessage, chat.update, file shares and history
// reads in channel answer not_in_channel, as for a channel the bot has not
// joined.
func (s *Server) NotInChannel(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notIn[channel] = true
}

// JoinChannel undoes NotInChannel, as if the bot had been invited.
func (s *Server) JoinChannel(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.notIn, channel)
}

// FailMethod makes the next n calls to method answer ok:false with
// slackError; n < 0 fails every call.
func (s *Server) FailMethod(method, slackError string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[method] = &failFault{err: slackError, n: n}
}

// DisableFiles makes the upload methods answer missing_scope (files:write),
// as for an app installed without that scope.
func (s *Server) DisableFiles() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filesOff = true
}

// Calls returns a copy of every recorded call, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallsOf returns the recorded calls of one method, oldest first.
func (s *Server) CallsOf(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Messages returns the messages of channel in ts order, thread replies,
// ephemeral and deleted messages included (see the flags).
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[channel] {
		out = append(out, m.export())
	}
	return out
}

// Thread returns the replies to the message ts in channel, in ts order.
func (s *Server) Thread(channel, ts string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[channel] {
		if m.ThreadTS == ts && m.TS != ts {
			out = append(out, m.export())
		}
	}
	return out
}

// Files returns every file whose bytes were uploaded, in upload order;
// Channel and ThreadTS are set once files.completeUploadExternal shared it.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []File
	for _, id := range s.fileOrder {
		if f := s.files[id]; f.uploaded {
			out = append(out, f.File)
		}
	}
	return out
}

// Subscribe registers fn to be called after each recorded call, in record
// order. fn runs on the request's goroutine and must not make requests to
// the fake itself. cancel removes it.
func (s *Server) Subscribe(fn func(Call)) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.subs, id)
	}
}

// WaitFor blocks until pred, given every recorded call, returns true, or ctx
// is done. It wakes on each new call instead of polling.
func (s *Server) WaitFor(ctx context.Context, pred func([]Call) bool) error {
	for {
		s.mu.Lock()
		calls := slices.Clone(s.calls)
		changed := s.changed
		s.mu.Unlock()
		if pred(calls) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for slack calls (%d recorded): %w", len(calls), ctx.Err())
		case <-changed:
		}
	}
}

// Reset forgets recorded calls, messages, files, views, response_urls and
// faults. Users, channels, subscribers and the configuration stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Server) resetLocked() {
	s.calls = nil
	s.messages = map[string][]*message{}
	s.respURLs = map[string]*responseURL{}
	s.files = map[string]*storedFile{}
	s.fileOrder = nil
	s.views = map[string]*storedView{}
	s.homes = map[string]*storedView{}
	s.rate = map[string]*rateFault{}
	s.fail = map[string]*failFault{}
	s.notIn = map[string]bool{}
	s.filesOff = false
	s.socket.acks = map[string]json.RawMessage{}
	s.socket.sent = map[string]*sentEnvelope{}
}

// ServeHTTP routes Web API calls (/api/<method>), upload URLs
// (/upload/<file id>), response_urls (/response/<id>) and the Socket Mode
// websocket (/socket/<id>).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/api/"):
		s.serveAPI(w, r, strings.TrimPrefix(p, "/api/"))
	case strings.HasPrefix(p, "/upload/") && r.Method == http.MethodPost:
		s.serveUpload(w, r, strings.TrimPrefix(p, "/upload/"))
	case strings.HasPrefix(p, "/response/") && r.Method == http.MethodPost:
		s.serveResponseURL(w, r, strings.TrimPrefix(p, "/response/"))
	case strings.HasPrefix(p, "/socket/"):
		s.serveSocket(w, r, strings.TrimPrefix(p, "/socket/"))
	default:
		http.NotFound(w, r)
	}
}

// record appends c, wakes WaitFor and returns the subscribers to notify.
// Callers hold subMu and mu.
func (s *Server) recordLocked(c Call) []func(Call) {
	s.calls = append(s.calls, c)
	close(s.changed)
	s.changed = make(chan struct{})
	subs := make([]func(Call), 0, len(s.subs))
	keys := make([]int, 0, len(s.subs))
	for k := range s.subs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		subs = append(subs, s.subs[k])
	}
	return subs
}

// takeRateLimit reports whether method is rate limited now, consuming one
// use of the fault. Callers hold mu.
func (s *Server) takeRateLimit(method string) (time.Duration, bool) {
	f := s.rate[method]
	if f == nil || f.n == 0 {
		return 0, false
	}
	if f.n > 0 {
		f.n--
		if f.n == 0 {
			delete(s.rate, method)
		}
	}
	return f.after, true
}

// takeFailure returns the injected error for method, if any. Callers hold mu.
func (s *Server) takeFailure(method string) string {
	f := s.fail[method]
	if f == nil || f.n == 0 {
		return ""
	}
	if f.n > 0 {
		f.n--
		if f.n == 0 {
			delete(s.fail, method)
		}
	}
	return f.err
}

// nextTS returns a unique, increasing message timestamp ("1700000000.000100").
// Callers hold mu.
func (s *Server) nextTS() string {
	now := s.opts.Now().UnixMicro()
	if now <= s.lastTS {
		now = s.lastTS + 1
	}
	s.lastTS = now
	return fmt.Sprintf("%d.%06d", now/1e6, now%1e6)
}

func retryAfterHeader(d time.Duration) string {
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10)
}

func (m *message) export() Message {
	out := m.Message
	out.Blocks = slices.Clone(m.Blocks)
	out.Metadata = slices.Clone(m.Metadata)
	out.FileIDs = slices.Clone(m.FileIDs)
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
