package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/pipebot/pipebot/internal/identity"
)

// identity reads PIPEBOT_IDENTITY and the account linking settings
// (DESIGN §7). Each malformed value fails naming its variable.
func (l *loader) identity(c *Config) {
	c.Identity = l.oneOf("PIPEBOT_IDENTITY", string(identity.ModeBot), string(identity.ModeBot), string(identity.ModeLinked), string(identity.ModeSudo))
	c.PublicURL = l.publicURL("PIPEBOT_PUBLIC_URL")
	// Not a secret, but DESIGN §7 offers _FILE for the client id too: a
	// deployment mounts the OAuth application as files.
	c.OAuthClientID = l.secret("GITLAB_OAUTH_CLIENT_ID")
	c.OAuthClientSecret = l.secret("GITLAB_OAUTH_CLIENT_SECRET")
	c.SecretKey = l.key("PIPEBOT_SECRET_KEY")
	c.SecretKeyPrevious = l.key("PIPEBOT_SECRET_KEY_PREVIOUS")
}

// key reads a 32-byte key in standard base64, from name or name_FILE.
func (l *loader) key(name string) []byte {
	v := l.secret(name)
	if l.err != nil || v == "" {
		return nil
	}
	k, err := identity.ParseKey(v)
	if err != nil {
		l.fail("%s: %v", name, err)
		return nil
	}
	return k
}

// publicURL reads the https base where browsers reach pipebot; plain http
// only for loopback hosts (a local trial, tests).
func (l *loader) publicURL(name string) string {
	v := l.plain(name, "")
	if l.err != nil || v == "" {
		return ""
	}
	const example = "https://pipebot.example.com"
	u, err := url.Parse(v)
	switch {
	case err != nil:
		l.fail("%s: not a valid URL (example: %s)", name, example)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		l.fail("%s: must not have credentials, a query or a fragment (example: %s)", name, example)
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		l.fail("%s: must be an https URL with a host (example: %s)", name, example)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		l.fail("%s: must be https (plain http only for 127.0.0.1, ::1 or localhost)", name)
	case strings.Trim(u.Path, "/") != "":
		l.fail("%s: must be the bare origin without a path (pipebot serves %s under it; example: %s)", name, identity.CallbackPath, example)
	default:
		return strings.TrimRight(v, "/")
	}
	return ""
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkIdentity applies serve's rules for the identity mode.
func (c Config) checkIdentity() error {
	if c.Identity != string(identity.ModeLinked) {
		return nil
	}
	missing := func(name, what string) error {
		return fmt.Errorf("%s is required for PIPEBOT_IDENTITY=linked (%s)", name, what)
	}
	switch {
	case c.PublicURL == "":
		return missing("PIPEBOT_PUBLIC_URL", "the https address where browsers reach pipebot, for "+identity.CallbackPath)
	case c.OAuthClientID == "":
		return missing("GITLAB_OAUTH_CLIENT_ID", "the Application ID of a GitLab OAuth application with scope api")
	case c.OAuthClientSecret == "":
		return missing("GITLAB_OAUTH_CLIENT_SECRET", "the Secret of that GitLab OAuth application")
	case c.SecretKey == nil:
		return missing("PIPEBOT_SECRET_KEY", "32 random bytes in base64, to encrypt stored tokens: openssl rand -base64 32")
	}
	return nil
}

func (c Config) identityString() string {
	mode := c.Identity
	if mode == "" {
		mode = string(identity.ModeBot)
	}
	return fmt.Sprintf("identity=%s public_url=%s gitlab_oauth_client_id=%s gitlab_oauth_client_secret=%s secret_key=%s secret_key_previous=%s",
		mode, c.PublicURL, setOrUnset(c.OAuthClientID), setOrUnset(c.OAuthClientSecret),
		setOrUnset(string(c.SecretKey)), setOrUnset(string(c.SecretKeyPrevious)))
}

// errKeyMismatch formats identity's refusal of PIPEBOT_SECRET_KEY.
func errKeyMismatch(err error) error {
	var km *identity.KeyMismatchError
	if errors.As(err, &km) {
		return fmt.Errorf("PIPEBOT_SECRET_KEY: it opens none of %d of the %d GitLab links stored in the database: it is not the key they were sealed with (fix a typo, or to rotate keys set PIPEBOT_SECRET_KEY_PREVIOUS to the old key)",
			km.Unreadable, km.Total)
	}
	return fmt.Errorf("PIPEBOT_SECRET_KEY: checking the stored GitLab links: %w", err)
}
