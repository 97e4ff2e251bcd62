package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// socketPingInterval keeps slack-go's Socket Mode client from declaring the
// connection dead (it expects a ping at least every 30 s).
const socketPingInterval = 10 * time.Second

// AckMethod is the Call.Method recorded when the app acknowledges a Socket
// Mode envelope.
const AckMethod = "socket_mode.ack"

type socketConn struct {
	ws      *websocket.Conn
	writeMu sync.Mutex
	done    chan struct{}
}

func (c *socketConn) write(v any) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteJSON(v)
}

// socketState is the Socket Mode side of the fake; it lives under Server.mu.
type socketState struct {
	tickets   map[string]bool
	conns     []*socketConn
	connected chan struct{} // closed and replaced when a connection opens or closes
	acks      map[string]json.RawMessage
	sent      map[string]*sentEnvelope // by envelope id, for redeliveries
}

// sentEnvelope is an envelope the fake sent, kept so that it can be sent
// again as Slack does.
type sentEnvelope struct {
	typ      string
	payload  json.RawMessage
	attempts int // retry_attempt of the last delivery
}

// envelopeMessage is the websocket message carrying env.
func envelopeMessage(id string, env *sentEnvelope, reason string) map[string]any {
	return map[string]any{
		"envelope_id":              id,
		"type":                     env.typ,
		"payload":                  env.payload,
		"accepts_response_payload": env.typ != "events_api",
		"retry_attempt":            env.attempts,
		"retry_reason":             reason,
	}
}

func (s *Server) connectionsOpen(_ *apiRequest, _ *Call) (map[string]any, *slackError) {
	s.seq++
	ticket := fmt.Sprintf("W%06d", s.seq)
	if s.socket.tickets == nil {
		s.socket.tickets = map[string]bool{}
	}
	s.socket.tickets[ticket] = true
	ws := "ws" + strings.TrimPrefix(s.baseURL, "http") + "/socket/" + ticket
	return map[string]any{"url": ws}, nil
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// serveSocket is the Socket Mode websocket: a ticket from
// apps.connections.open is good for one connection, which gets a hello and
// regular pings; every message the app sends is an ack.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request, ticket string) {
	s.mu.Lock()
	ok := s.socket.tickets[ticket]
	delete(s.socket.tickets, ticket)
	s.mu.Unlock()
	if !ok {
		http.Error(w, "invalid ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client.
	}
	conn := &socketConn{ws: ws, done: make(chan struct{})}
	defer func() {
		close(conn.done)
		_ = ws.Close()
		s.mu.Lock()
		for i, c := range s.socket.conns {
			if c == conn {
				s.socket.conns = append(s.socket.conns[:i], s.socket.conns[i+1:]...)
				break
			}
		}
		s.socketsChangedLocked()
		s.mu.Unlock()
	}()

	hello := map[string]any{
		"type":            "hello",
		"num_connections": 1,
		"connection_info": map[string]any{"app_id": "A0PIPEBOT"},
		"debug_info":      map[string]any{"host": "slackfake", "approximate_connection_time": 18060},
	}
	if err := conn.write(hello); err != nil {
		return
	}
	s.mu.Lock()
	s.socket.conns = append(s.socket.conns, conn)
	s.socketsChangedLocked()
	s.mu.Unlock()

	go func() {
		t := time.NewTicker(socketPingInterval)
		defer t.Stop()
		for {
			select {
			case <-conn.done:
				return
			case <-t.C:
				conn.writeMu.Lock()
				err := ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second))
				conn.writeMu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()

	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		c := Call{Method: AckMethod, Body: string(data)}
		if err := json.Unmarshal(data, &ack); err != nil || ack.EnvelopeID == "" {
			c.Error = "invalid_ack"
		}
		c.EnvelopeID = ack.EnvelopeID
		if string(ack.Payload) == "null" {
			ack.Payload = nil
		}
		s.subMu.Lock()
		s.mu.Lock()
		if c.Error == "" {
			s.socket.acks[ack.EnvelopeID] = ack.Payload
		}
		subs := s.recordLocked(c)
		s.mu.Unlock()
		for _, fn := range subs {
			fn(c)
		}
		s.subMu.Unlock()
	}
}

// SendSocketEvent sends an envelope of envelopeType ("events_api",
// "slash_commands", "interactive") with payload to the newest Socket Mode
// connection, waiting for one until ctx is done. It returns the envelope ID
// the app must acknowledge (see Acks and WaitForAck).
func (s *Server) SendSocketEvent(ctx context.Context, envelopeType string, payload json.RawMessage) (envelopeID string, err error) {
	conn, err := s.newestSocket(ctx)
	if err != nil {
		return "", fmt.Errorf("send socket mode %s: %w", envelopeType, err)
	}
	env := &sentEnvelope{typ: envelopeType, payload: payload}
	envelopeID = s.newEnvelope(env)
	if err := conn.write(envelopeMessage(envelopeID, env, "")); err != nil {
		return "", fmt.Errorf("send socket mode %s: %w", envelopeType, err)
	}
	return envelopeID, nil
}

// RedeliverSocketEvent sends envelope envelopeID again, as Slack does when it
// believes the envelope was not acknowledged
// (https://docs.slack.dev/apis/events-api/using-socket-mode): the same
// envelope_id and payload, retry_attempt one more than the last delivery and
// retry_reason reason (Slack sends e.g. "timeout"). It goes to the newest
// connection, which need not be the one that got the first delivery, and
// may be called whether or not the app acknowledged the envelope.
func (s *Server) RedeliverSocketEvent(ctx context.Context, envelopeID, reason string) error {
	s.mu.Lock()
	env, ok := s.socket.sent[envelopeID]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("redeliver %s: the fake never sent that envelope", envelopeID)
	}
	conn, err := s.newestSocket(ctx)
	if err != nil {
		return fmt.Errorf("redeliver %s: %w", envelopeID, err)
	}
	s.mu.Lock()
	env.attempts++
	msg := envelopeMessage(envelopeID, env, reason)
	s.mu.Unlock()
	if err := conn.write(msg); err != nil {
		return fmt.Errorf("redeliver %s: %w", envelopeID, err)
	}
	return nil
}

// SendSocketEventTwice sends a new envelope and, back to back, its
// redelivery (retry_attempt 1, retry_reason reason): both are written before
// the fake records any ack, as when Slack's retry timer fires while the ack
// is still on its way. It returns the envelope ID, acknowledged (at least)
// twice by a well-behaved app.
func (s *Server) SendSocketEventTwice(ctx context.Context, envelopeType string, payload json.RawMessage, reason string) (envelopeID string, err error) {
	conn, err := s.newestSocket(ctx)
	if err != nil {
		return "", fmt.Errorf("send socket mode %s twice: %w", envelopeType, err)
	}
	env := &sentEnvelope{typ: envelopeType, payload: payload}
	envelopeID = s.newEnvelope(env)
	// Holding s.mu keeps the connection's reader from recording an ack
	// between the two writes.
	s.mu.Lock()
	defer s.mu.Unlock()
	first := envelopeMessage(envelopeID, env, "")
	env.attempts = 1
	for _, msg := range []map[string]any{first, envelopeMessage(envelopeID, env, reason)} {
		if err := conn.write(msg); err != nil {
			return "", fmt.Errorf("send socket mode %s twice: %w", envelopeType, err)
		}
	}
	return envelopeID, nil
}

// newEnvelope names env and remembers it for redeliveries.
func (s *Server) newEnvelope(env *sentEnvelope) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := fmt.Sprintf("env-%06d", s.seq)
	if s.socket.sent == nil {
		s.socket.sent = map[string]*sentEnvelope{}
	}
	s.socket.sent[id] = env
	return id
}

// socketsChangedLocked wakes whoever waits for a connection to open or close.
func (s *Server) socketsChangedLocked() {
	if s.socket.connected != nil {
		close(s.socket.connected)
	}
	s.socket.connected = make(chan struct{})
}

// WaitForSockets waits until exactly n Socket Mode connections are open: 0
// after the app went away (its connection closed), 1 once a restarted app
// has connected again.
func (s *Server) WaitForSockets(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		if s.socket.connected == nil {
			s.socket.connected = make(chan struct{})
		}
		changed, open := s.socket.connected, len(s.socket.conns)
		s.mu.Unlock()
		if open == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d socket mode connections (%d open): %w", n, open, ctx.Err())
		case <-changed:
		}
	}
}

// newestSocket returns the newest Socket Mode connection, waiting for one
// until ctx is done.
func (s *Server) newestSocket(ctx context.Context) (*socketConn, error) {
	for {
		s.mu.Lock()
		if s.socket.connected == nil {
			s.socket.connected = make(chan struct{})
		}
		connected := s.socket.connected
		var conn *socketConn
		if n := len(s.socket.conns); n > 0 {
			conn = s.socket.conns[n-1]
		}
		s.mu.Unlock()
		if conn != nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no connection: %w", ctx.Err())
		case <-connected:
		}
	}
}

// AckCount returns how many times the app acknowledged envelopeID.
func (s *Server) AckCount(envelopeID string) int {
	n := 0
	for _, c := range s.CallsOf(AckMethod) {
		if c.EnvelopeID == envelopeID && c.Error == "" {
			n++
		}
	}
	return n
}

// Acks returns the acknowledged envelope IDs with their response payloads
// (nil when the ack carried none).
func (s *Server) Acks() map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]json.RawMessage, len(s.socket.acks))
	for k, v := range s.socket.acks {
		out[k] = v
	}
	return out
}

// WaitForAck waits until the app acknowledges envelopeID and returns the
// ack's payload.
func (s *Server) WaitForAck(ctx context.Context, envelopeID string) (json.RawMessage, error) {
	return s.WaitForAcks(ctx, envelopeID, 1)
}

// WaitForAcks waits until the app has acknowledged envelopeID n times (once
// per delivery, redeliveries included) and returns the last ack's payload.
func (s *Server) WaitForAcks(ctx context.Context, envelopeID string, n int) (json.RawMessage, error) {
	err := s.WaitFor(ctx, func(calls []Call) bool {
		got := 0
		for _, c := range calls {
			if c.Method == AckMethod && c.EnvelopeID == envelopeID && c.Error == "" {
				got++
			}
		}
		return got >= n
	})
	if err != nil {
		return nil, fmt.Errorf("wait for ack %d of %s: %w", n, envelopeID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.socket.acks[envelopeID]
	if !ok {
		return nil, errors.New("ack of " + envelopeID + " was reset")
	}
	return p, nil
}

func (s *Server) closeSockets() {
	s.mu.Lock()
	conns := append([]*socketConn(nil), s.socket.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.writeMu.Lock()
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
		c.writeMu.Unlock()
		_ = c.ws.Close()
	}
}
