package postgres

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// The database password is a secret like pipebot's tokens: no error or log
// line this package produces holds it, whatever pgx put in its messages.

// mask replaces a password wherever it is shown.
const mask = "xxxxx"

// kvPassword finds password=… in a key=value connection string.
var kvPassword = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// passwordsOf returns the password in a connection string as given and in
// the spellings it may take in messages (URL-escaped, unquoted).
func passwordsOf(conn string) []string {
	var out []string
	if u, err := url.Parse(conn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			out = appendPassword(out, p)
		}
	} else if i := strings.Index(conn, "://"); i >= 0 {
		// An unparsable URL: everything between the first ':' after the
		// scheme and the last '@' may be the password.
		rest := conn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				out = appendPassword(out, rest[c+1:at])
			}
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(conn, -1) {
		p := strings.Trim(m[1], "'")
		out = appendPassword(out, p, strings.ReplaceAll(p, `\'`, `'`))
	}
	return out
}

// appendPassword adds each non-empty password and its URL-escaped forms.
func appendPassword(out []string, ps ...string) []string {
	for _, p := range ps {
		if p == "" {
			continue
		}
		for _, v := range []string{p, url.QueryEscape(p), url.PathEscape(p), url.UserPassword("u", p).String()[2:]} {
			if v != "" && !contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// displayURL is conn with its password masked: postgres://user:xxxxx@host/db.
func displayURL(conn string) string {
	if u, err := url.Parse(conn); err == nil && u.Scheme != "" {
		if u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), mask)
			}
		}
		// url.String escapes the mask's characters not at all.
		return u.String()
	}
	return redact(kvPassword.ReplaceAllString(conn, "password="+mask), passwordsOf(conn))
}

// redact masks every secret in s, longest first (a secret may contain a
// shorter one).
func redact(s string, secrets []string) string {
	sorted := append([]string(nil), secrets...)
	for i := range sorted {
		for j := i + 1; j < len(sorted); j++ {
			if len(sorted[j]) > len(sorted[i]) {
				sorted[i], sorted[j] = sorted[j], sorted[i]
			}
		}
	}
	for _, p := range sorted {
		s = strings.ReplaceAll(s, p, mask)
	}
	return s
}

// redactedError is an error whose message has the password masked.
// errors.Is still sees what it wraps (state.ErrUnavailable, a deadline), but
// it does not unwrap: nothing can walk down to the unmasked message.
type redactedError struct {
	msg string
	err error
}

func (r *redactedError) Error() string        { return r.msg }
func (r *redactedError) Is(target error) bool { return errors.Is(r.err, target) }

// redact returns err with every secret of e masked in its message, on one
// line (pgx lists each address it tried on a line of its own; pipebot's
// errors and log lines are one line).
func (e *Engine) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := oneLine(redact(msg, e.secrets))
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

// oneLine joins the lines of s with "; ".
func oneLine(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.ReplaceAll(strings.Join(out, "; "), ":;", ":")
}
