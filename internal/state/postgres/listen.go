package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen returns a channel that receives a value soon after a transaction
// that called Notify(channel) commits, in any process. It holds a
// connection of its own, outside the pool; when that connection breaks it
// connects again (with backoff) and sends a wake-up, since notifications
// sent meanwhile were lost: a listener rereads what it waits for on every
// wake-up. The channel closes when ctx ends.
func (e *Engine) Listen(ctx context.Context, channel string) (<-chan struct{}, error) {
	ch := make(chan struct{}, 1)
	wake := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	go func() {
		defer close(ch)
		delay := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := e.listenOnce(ctx, channel, wake)
			if ctx.Err() != nil {
				return
			}
			_ = err // the listener reconnects; readiness reports the outage
			wake()
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 5*time.Second)
		}
	}()
	return ch, nil
}

// listenOnce connects, listens and forwards notifications until the
// connection fails or ctx ends.
func (e *Engine) listenOnce(ctx context.Context, channel string, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, e.connCfg.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	// Listening now: whatever was sent before is read by the caller's
	// next look, which this wake-up asks for.
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}
