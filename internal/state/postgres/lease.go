package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pipebot/pipebot/internal/state"
)

// acquireSQL takes or renews the lease in one statement, on the
// database's clock: the holder renews while its lease lasts (same epoch);
// anyone takes an expired one (next epoch). The row lock that ON CONFLICT
// takes makes racing replicas decide one at a time.
const acquireSQL = `
WITH up AS (
	INSERT INTO pipebot_lease AS l (name, holder, epoch, expires_at)
	VALUES ($1, $2, 1, now() + $3 * interval '1 microsecond')
	ON CONFLICT (name) DO UPDATE SET
		epoch = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now() THEN l.epoch ELSE l.epoch + 1 END,
		holder = EXCLUDED.holder,
		expires_at = EXCLUDED.expires_at
	WHERE (l.holder = EXCLUDED.holder AND l.expires_at > now()) OR l.expires_at <= now()
	RETURNING holder, epoch, expires_at
)
SELECT holder, epoch, true, extract(epoch FROM expires_at - now())::float8 FROM up
UNION ALL
SELECT holder, epoch, false, extract(epoch FROM expires_at - now())::float8 FROM pipebot_lease
	WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM up)`

// AcquireLease takes the lease called name for holder for ttl, or renews
// it; see state.Leaser.
func (e *Engine) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (state.Lease, error) {
	if ttl <= 0 || holder == "" {
		return state.Lease{}, errors.New("acquire lease: holder and a positive ttl are required")
	}
	var l state.Lease
	var secs float64
	err := e.pool.QueryRow(ctx, acquireSQL, name, holder, ttl.Microseconds()).Scan(&l.Holder, &l.Epoch, &l.Held, &secs)
	if errors.Is(err, pgx.ErrNoRows) {
		// The row changed hands between the statement's two halves: ask
		// again soon.
		return state.Lease{}, nil
	}
	if err != nil {
		return state.Lease{}, fmt.Errorf("acquire lease %s: %w", name, e.wrap(dbErr(err)))
	}
	l.Remaining = max(0, time.Duration(secs*float64(time.Second)))
	return l, nil
}

// ReleaseLease ends holder's lease at epoch now and tells waiting replicas.
func (e *Engine) ReleaseLease(ctx context.Context, name, holder string, epoch int64) error {
	_, err := e.pool.Exec(ctx, `WITH r AS (
		UPDATE pipebot_lease SET expires_at = now() WHERE name = $1 AND holder = $2 AND epoch = $3 RETURNING 1)
		SELECT pg_notify($4, '') FROM r`, name, holder, epoch, state.LeaseChannel)
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, e.wrap(dbErr(err)))
	}
	return nil
}
