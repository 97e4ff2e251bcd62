package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ddl is one numbered change to pipebot's tables. Append new ones, never
// edit or reorder old ones. The records inside pipebot_kv have their own
// numbered migrations in package state, which run on every engine.
type ddl struct {
	version int
	name    string
	sql     string
}

var schema = []ddl{
	{1, "key-value store", `
CREATE TABLE pipebot_kv (
	bucket text NOT NULL,
	key bytea NOT NULL,
	value bytea NOT NULL,
	PRIMARY KEY (bucket, key)
);
CREATE TABLE pipebot_kv_seq (
	bucket text PRIMARY KEY,
	seq bigint NOT NULL
);`},
	{2, "leader lease", `
CREATE TABLE pipebot_lease (
	name text PRIMARY KEY,
	holder text NOT NULL,
	epoch bigint NOT NULL,
	expires_at timestamptz NOT NULL
);`},
}

// migrate brings the tables up to the last ddl, each change in its own
// transaction under the advisory lock that Exclusive takes, so replicas
// starting together change the schema once.
func (e *Engine) migrate(ctx context.Context) error {
	for i, d := range schema {
		if d.version != i+1 {
			return fmt.Errorf("schema change %q is numbered %d, want %d", d.name, d.version, i+1)
		}
	}
	for _, d := range schema {
		err := e.exclusiveSQL(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS pipebot_schema (
				version int PRIMARY KEY,
				name text NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
				return dbErr(err)
			}
			var current int
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM pipebot_schema`).Scan(&current); err != nil {
				return dbErr(err)
			}
			if current > len(schema) && d.version == 1 {
				return fmt.Errorf("the database tables are at v%d, this pipebot knows up to v%d; upgrade pipebot", current, len(schema))
			}
			if current >= d.version {
				return nil
			}
			if _, err := tx.Exec(ctx, d.sql); err != nil {
				return dbErr(err)
			}
			_, err := tx.Exec(ctx, `INSERT INTO pipebot_schema (version, name) VALUES ($1, $2)`, d.version, d.name)
			return dbErr(err)
		})
		if err != nil {
			return fmt.Errorf("schema v%d (%s): %w", d.version, d.name, err)
		}
	}
	return nil
}

// exclusiveSQL runs fn in a READ COMMITTED transaction under the advisory
// lock, again when the connection failed before the commit.
func (e *Engine) exclusiveSQL(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		committing, err := e.once(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, migrateLock, fn)
		if err == nil || attempt >= 5 || ctx.Err() != nil || !retryable(err, committing) {
			return e.wrap(err)
		}
	}
}
