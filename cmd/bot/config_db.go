package main

import (
	"net/url"
	"strings"
	"time"
)

// Defaults of the PostgreSQL settings.
const (
	defaultLeaseTTL = 15 * time.Second
	minLeaseTTL     = time.Second
)

// databaseURL reads PIPEBOT_DATABASE_URL (or _FILE): a postgres:// URL or
// a key=value connection string. It holds the password, so no message
// shows it.
func (l *loader) databaseURL(name string) string {
	v := l.secret(name)
	if l.err != nil || v == "" {
		return ""
	}
	return l.checkDatabaseURL(name, v)
}

// checkDatabaseURL returns v when it is a postgres:// URL with a host or a
// key=value connection string, else fails naming where it came from (a
// variable or migrate's --to) without showing the value.
func (l *loader) checkDatabaseURL(name, v string) string {
	if !strings.Contains(v, "://") {
		if !strings.Contains(v, "=") {
			l.fail("%s: not a postgres:// URL nor a key=value connection string (value not shown)", name)
			return ""
		}
		return v
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		// url.Parse errors quote the input, password included.
		l.fail("%s: not a valid URL (value not shown; example: postgres://pipebot:PASSWORD@db:5432/pipebot)", name)
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		l.fail("%s: must be a postgres:// URL (value not shown; example: postgres://pipebot:PASSWORD@db:5432/pipebot)", name)
	case u.Host == "" && u.Query().Get("host") == "":
		l.fail("%s: has no host (value not shown; example: postgres://pipebot:PASSWORD@db:5432/pipebot)", name)
	default:
		return v
	}
	return ""
}

// leaseTTL reads PIPEBOT_LEASE_TTL: how long the leader's lease lasts
// unrenewed, at least a second.
func (l *loader) leaseTTL(name string) time.Duration {
	v := l.plain(name, "")
	if l.err != nil || v == "" {
		return defaultLeaseTTL
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		l.fail("%s: %q is not a duration (examples: 15s, 30s)", name, v)
		return defaultLeaseTTL
	}
	if d < minLeaseTTL {
		l.fail("%s: %q is too short (at least %s)", name, v, minLeaseTTL)
		return defaultLeaseTTL
	}
	return d
}
