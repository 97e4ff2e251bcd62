package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Mode is the subcommand pipebot runs as; it decides which settings are required.
type Mode string

// Modes that read configuration.
const (
	ModeServe   Mode = "serve"
	ModeDemo    Mode = "demo"
	ModeConsole Mode = "console"
)

// Defaults for settings left unset.
const (
	defaultSlackAPIURL  = "https://slack.com/api/"
	defaultGitLabURL    = "https://gitlab.com"
	defaultListenAddr   = ":8080"
	defaultDBPath       = "pipebot.db"
	defaultPollInterval = 15 * time.Second
	minPollInterval     = 100 * time.Millisecond
	defaultRole         = "viewer"
	defaultMaxUpload    = 1 << 30 // 1 GiB
	defaultLogFormat    = "json"
)

// Config is pipebot's whole configuration, read once from the environment by
// loadConfig. It holds secrets: log it only through String.
type Config struct {
	SlackBotToken       string        // xoxb-… bot token
	SlackAppToken       string        // xapp-… app-level token; set means Socket Mode
	SlackSigningSecret  string        // verifies signed HTTP requests from Slack
	SlackAPIURL         string        // Slack Web API base, always ends in "/"
	GitLabURL           string        // GitLab base URL without trailing "/" or "/api/v4"
	GitLabToken         string        // GitLab REST API token (scope api)
	GitLabWebhookSecret string        // expected X-Gitlab-Token of webhooks; empty disables them
	ListenAddr          string        // HTTP server address
	DBPath              string        // bbolt file
	PollInterval        time.Duration // watcher poll period, at least 100ms
	Admins              []string      // Slack user ids seeded as admins, trimmed and deduplicated
	DefaultRole         string        // viewer, operator or admin
	MaxUpload           int64         // largest file uploaded to Slack, in bytes
	LogLevel            zerolog.Level // root logger level
	LogFormat           string        // json or console
	// Identity (DESIGN §7, identity_config.go): PIPEBOT_IDENTITY and the
	// account linking settings.
	Identity          string // bot, linked or sudo
	PublicURL         string // where browsers reach pipebot, without a trailing "/"
	OAuthClientID     string
	OAuthClientSecret string
	SecretKey         []byte // 32 bytes
	SecretKeyPrevious []byte // 32 bytes, or nil
}

// loadConfig reads the configuration for mode from getenv (os.Getenv) and,
// for *_FILE secrets, readFile (os.ReadFile). It returns the first problem
// found as a one-line error that names the variable and never holds a secret.
// Demo ignores every Slack and GitLab setting; console ignores Slack's.
func loadConfig(mode Mode, getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	switch mode {
	case ModeServe, ModeDemo, ModeConsole:
	default:
		return Config{}, fmt.Errorf("unknown mode %q (want serve, demo or console)", mode)
	}
	l := loader{getenv: getenv, readFile: readFile}
	c := Config{SlackAPIURL: defaultSlackAPIURL, GitLabURL: defaultGitLabURL}

	if mode == ModeServe {
		c.SlackBotToken = l.secret("SLACK_BOT_TOKEN")
		c.SlackAppToken = l.secret("SLACK_APP_TOKEN")
		c.SlackSigningSecret = l.secret("SLACK_SIGNING_SECRET")
		c.SlackAPIURL = l.baseURL("SLACK_API_URL", defaultSlackAPIURL)
		if l.err == nil {
			c.SlackAPIURL = strings.TrimRight(c.SlackAPIURL, "/") + "/"
		}
	}
	if mode == ModeServe || mode == ModeConsole {
		c.GitLabToken = l.secret("GITLAB_TOKEN")
		c.GitLabWebhookSecret = l.secret("GITLAB_WEBHOOK_SECRET")
		c.GitLabURL = l.baseURL("GITLAB_URL", defaultGitLabURL)
		if l.err == nil {
			c.GitLabURL = strings.TrimSuffix(strings.TrimRight(c.GitLabURL, "/"), "/api/v4")
		}
	}
	c.ListenAddr = l.listenAddr("PIPEBOT_LISTEN_ADDR", defaultListenAddr)
	c.DBPath = l.plain("PIPEBOT_DB_PATH", defaultDBPath)
	c.PollInterval = l.pollInterval("PIPEBOT_POLL_INTERVAL")
	c.Admins = l.admins("PIPEBOT_ADMINS")
	c.DefaultRole = l.oneOf("PIPEBOT_DEFAULT_ROLE", defaultRole, "viewer", "operator", "admin")
	c.MaxUpload = l.size("PIPEBOT_MAX_UPLOAD", defaultMaxUpload)
	c.LogLevel = l.logLevel("PIPEBOT_LOG_LEVEL")
	c.LogFormat = l.oneOf("PIPEBOT_LOG_FORMAT", defaultLogFormat, "json", "console")
	if mode == ModeServe {
		l.identity(&c)
	}
	if l.err != nil {
		return Config{}, l.err
	}

	switch mode {
	case ModeServe:
		if err := c.checkSlack(); err != nil {
			return Config{}, err
		}
		if c.GitLabToken == "" {
			return Config{}, errors.New("GITLAB_TOKEN is required for serve (a GitLab token with scope api)")
		}
		if err := c.checkIdentity(); err != nil {
			return Config{}, err
		}
	case ModeConsole:
		if c.GitLabToken == "" {
			return Config{}, errors.New("GITLAB_TOKEN is required for console (a GitLab token with scope api)")
		}
	}
	return c, nil
}

// checkSlack applies serve's rules to the Slack secrets, naming each variable
// and never its value.
func (c Config) checkSlack() error {
	switch {
	case c.SlackBotToken == "":
		return errors.New("SLACK_BOT_TOKEN is required for serve (a bot token, xoxb-…)")
	case !strings.HasPrefix(c.SlackBotToken, "xoxb-"):
		return errors.New("SLACK_BOT_TOKEN: not a bot token (it must start with xoxb-; value not shown)")
	case c.SlackAppToken != "" && !strings.HasPrefix(c.SlackAppToken, "xapp-"):
		return errors.New("SLACK_APP_TOKEN: not an app-level token (it must start with xapp-; value not shown)")
	case c.SlackAppToken == "" && c.SlackSigningSecret == "":
		return errors.New("SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is required for serve " +
			"(the signing secret for HTTP endpoints, or an xapp-… app token for Socket Mode)")
	}
	return nil
}

// String summarizes c for a start-up log line. Secrets appear only as "set"
// or "unset".
func (c Config) String() string {
	return c.baseString() + " " + c.identityString()
}

func (c Config) baseString() string {
	return fmt.Sprintf("slack_bot_token=%s slack_app_token=%s slack_signing_secret=%s slack_api_url=%s "+
		"gitlab_url=%s gitlab_token=%s gitlab_webhook_secret=%s listen_addr=%s db_path=%q poll_interval=%s "+
		"admins=%s default_role=%s max_upload=%d log_level=%s log_format=%s",
		setOrUnset(c.SlackBotToken), setOrUnset(c.SlackAppToken), setOrUnset(c.SlackSigningSecret), c.SlackAPIURL,
		c.GitLabURL, setOrUnset(c.GitLabToken), setOrUnset(c.GitLabWebhookSecret), c.ListenAddr, c.DBPath, c.PollInterval,
		strings.Join(c.Admins, ","), c.DefaultRole, c.MaxUpload, c.LogLevel, c.LogFormat)
}

// GoString keeps %#v from printing secrets too.
func (c Config) GoString() string { return "Config{" + c.String() + "}" }

func setOrUnset(s string) string {
	if s == "" {
		return "unset"
	}
	return "set"
}

// loader reads variables and keeps the first error; once it has one, later
// reads return zero values and record nothing.
type loader struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	err      error
}

func (l *loader) fail(format string, args ...any) {
	if l.err == nil {
		l.err = fmt.Errorf(format, args...)
	}
}

// plain returns the trimmed value of name, or def when it is empty.
func (l *loader) plain(name, def string) string {
	if l.err != nil {
		return def
	}
	if v := strings.TrimSpace(l.getenv(name)); v != "" {
		return v
	}
	return def
}

// secret returns name's value from the environment or from the file named by
// name_FILE. Errors name the variable, never
// the value.
func (l *loader) secret(name string) string {
	if l.err != nil {
		return ""
	}
	fileVar := name + "_FILE"
	// Surrounding whitespace is never part of a token; it comes from copying
	// and from the newline at the end of a file, so it is trimmed.
	v, path := strings.TrimSpace(l.getenv(name)), strings.TrimSpace(l.getenv(fileVar))
	switch {
	case v != "" && path != "":
		l.fail("%s and %s are both set: use only one", name, fileVar)
		return ""
	case path == "":
		return v
	}
	b, err := l.readFile(path)
	if err != nil {
		// The read error names the path and the cause, not the content.
		l.fail("%s: cannot read the secret file: %v", fileVar, err)
		return ""
	}
	v = strings.TrimSpace(string(b))
	if v == "" {
		l.fail("%s: the secret file %q is empty", fileVar, path)
		return ""
	}
	return v
}

// baseURL returns name's value, checked to be an absolute http(s) URL with a
// host and no credentials, query or fragment.
func (l *loader) baseURL(name, def string) string {
	v := l.plain(name, def)
	if l.err != nil {
		return def
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		// url.Parse errors quote the input, which may hold credentials.
		l.fail("%s: not a valid URL (example: %s)", name, def)
	case u.User != nil:
		l.fail("%s: must not contain credentials (value not shown); use the token variables", name)
	case u.Scheme != "http" && u.Scheme != "https":
		l.fail("%s: must be an http or https URL (example: %s)", name, def)
	case u.Host == "":
		l.fail("%s: has no host (example: %s)", name, def)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		// The query may carry a token: the value is not shown.
		l.fail("%s: must not have a query or fragment (example: %s)", name, def)
	default:
		return v
	}
	return def
}

func (l *loader) listenAddr(name, def string) string {
	v := l.plain(name, def)
	if l.err != nil {
		return def
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil || port == "" {
		l.fail("%s: %q is not host:port (examples: :8080, 127.0.0.1:8080)", name, v)
		return def
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		l.fail("%s: %q has no valid port (examples: :8080, 127.0.0.1:8080)", name, v)
		return def
	}
	return v
}

func (l *loader) pollInterval(name string) time.Duration {
	v := l.plain(name, "")
	if l.err != nil || v == "" {
		return defaultPollInterval
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		l.fail("%s: %q is not a duration (examples: 15s, 1m)", name, v)
		return defaultPollInterval
	}
	if d < minPollInterval {
		l.fail("%s: %q is too short (at least %s)", name, v, minPollInterval)
		return defaultPollInterval
	}
	return d
}

// slackUserID matches Slack user ids: U… for workspace users, W… for
// Enterprise Grid users. https://api.slack.com/changelog/2016-08-11-user-id-format-changes
var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// admins parses a comma-separated list of Slack user ids. A mention as Slack
// writes it (<@U012AB3CD> or <@U012AB3CD|name>) is accepted too, since that is
// what people copy out of Slack.
func (l *loader) admins(name string) []string {
	v := l.plain(name, "")
	if l.err != nil || v == "" {
		return nil
	}
	var ids []string
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ",") {
		id := strings.TrimSpace(part)
		if strings.HasPrefix(id, "<@") && strings.HasSuffix(id, ">") {
			id, _, _ = strings.Cut(id[2:len(id)-1], "|")
		}
		if id == "" {
			continue
		}
		if !slackUserID.MatchString(id) {
			l.fail("%s: %q is not a Slack user id (examples: U012AB3CD, W012AB3CD)", name, id)
			return nil
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// oneOf returns name's lowercased value, which must be one of allowed.
func (l *loader) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(l.plain(name, def))
	if l.err != nil {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	l.fail("%s: %q is not one of %s", name, v, strings.Join(allowed, ", "))
	return def
}

func (l *loader) size(name string, def int64) int64 {
	v := l.plain(name, "")
	if l.err != nil || v == "" {
		return def
	}
	n, err := parseSize(v)
	if err != nil {
		l.fail("%s: %q %v (examples: 1GiB, 512MiB, 100MB, 1048576)", name, v, err)
		return def
	}
	return n
}

func (l *loader) logLevel(name string) zerolog.Level {
	v := strings.ToLower(l.plain(name, "info"))
	if l.err != nil {
		return zerolog.InfoLevel
	}
	levels := map[string]zerolog.Level{
		"trace": zerolog.TraceLevel, "debug": zerolog.DebugLevel, "info": zerolog.InfoLevel,
		"warn": zerolog.WarnLevel, "warning": zerolog.WarnLevel, "error": zerolog.ErrorLevel,
	}
	lvl, ok := levels[v]
	if !ok {
		l.fail("%s: %q is not a log level (trace, debug, info, warn, error)", name, v)
		return zerolog.InfoLevel
	}
	return lvl
}

// sizeUnits maps lowercase unit suffixes to their factor: SI units are powers
// of 1000 (Slack's "1 GB" limit), IEC units powers of 1024.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20, "gi": 1 << 30, "gib": 1 << 30,
	"ti": 1 << 40, "tib": 1 << 40,
}

// parseSize parses a positive byte size such as "1GiB", "512MiB", "100MB",
// "1.5GB" or "1048576". Units are case-insensitive and may follow a space.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	factor, ok := sizeUnits[unit]
	if !ok {
		return 0, errors.New("has an unknown unit (use B, KB, MB, GB, KiB, MiB or GiB)")
	}
	if num == "" {
		return 0, errors.New("is not a size")
	}
	var n int64
	if strings.Contains(num, ".") {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, errors.New("is not a size")
		}
		f *= float64(factor)
		if f >= math.MaxInt64 {
			return 0, errors.New("is too large")
		}
		n = int64(f)
	} else {
		u, err := strconv.ParseInt(num, 10, 64)
		if err != nil || u > math.MaxInt64/factor {
			return 0, errors.New("is too large")
		}
		n = u * factor
	}
	if n <= 0 {
		return 0, errors.New("must be more than 0 bytes")
	}
	return n, nil
}
