package main

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// Every secret in these tests contains sentinel, so one substring check
// proves no secret leaked into an error or a summary.
const sentinel = "SENTINEL"

const (
	botToken      = "xoxb-SENTINEL-bot"
	appToken      = "xapp-SENTINEL-app"
	signingSecret = "SENTINEL-signing"
	gitlabToken   = "glpat-SENTINEL-gitlab"
	webhookSecret = "SENTINEL-webhook"
)

// env builds a getenv from pairs on top of base.
func env(base map[string]string, pairs ...string) func(string) string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return func(k string) string { return m[k] }
}

// files is a readFile over an in-memory map.
func files(m map[string]string) func(string) ([]byte, error) {
	return func(path string) ([]byte, error) {
		v, ok := m[path]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		}
		return []byte(v), nil
	}
}

func noFiles(t *testing.T) func(string) ([]byte, error) {
	return func(path string) ([]byte, error) {
		t.Errorf("unexpected read of %s", path)
		return nil, errors.New("unexpected read")
	}
}

// serveEnv is the smallest valid serve environment (HTTP mode).
var serveEnv = map[string]string{
	"SLACK_BOT_TOKEN":      botToken,
	"SLACK_SIGNING_SECRET": signingSecret,
	"GITLAB_TOKEN":         gitlabToken,
}

func TestLoadConfigRejectsBadSettingsNamingTheVariable(t *testing.T) {
	tests := []struct {
		name    string
		mode    Mode
		getenv  func(string) string
		files   map[string]string
		wantVar string // the error must start with this
		want    string // and contain this
	}{
		{"serve without bot token", ModeServe, env(serveEnv, "SLACK_BOT_TOKEN", ""), nil,
			"SLACK_BOT_TOKEN", "required for serve"},
		{"serve with a user token as bot token", ModeServe, env(serveEnv, "SLACK_BOT_TOKEN", "xoxp-SENTINEL"), nil,
			"SLACK_BOT_TOKEN", "xoxb-"},
		{"serve with an app token as bot token", ModeServe, env(serveEnv, "SLACK_BOT_TOKEN", appToken), nil,
			"SLACK_BOT_TOKEN", "xoxb-"},
		{"serve with a malformed app token", ModeServe, env(serveEnv, "SLACK_APP_TOKEN", "xoxb-SENTINEL"), nil,
			"SLACK_APP_TOKEN", "xapp-"},
		{"serve with neither signing secret nor app token", ModeServe, env(serveEnv, "SLACK_SIGNING_SECRET", ""), nil,
			"SLACK_SIGNING_SECRET or SLACK_APP_TOKEN", "required for serve"},
		{"serve without gitlab token", ModeServe, env(serveEnv, "GITLAB_TOKEN", ""), nil,
			"GITLAB_TOKEN", "required for serve"},
		{"console without gitlab token", ModeConsole, env(nil), nil,
			"GITLAB_TOKEN", "required for console"},
		{"secret set both directly and by file", ModeServe, env(serveEnv, "GITLAB_TOKEN_FILE", "/run/secrets/gitlab"),
			map[string]string{"/run/secrets/gitlab": gitlabToken}, "GITLAB_TOKEN and GITLAB_TOKEN_FILE", "both set"},
		{"secret file missing", ModeServe, env(serveEnv, "SLACK_SIGNING_SECRET", "", "SLACK_SIGNING_SECRET_FILE", "/nope"), nil,
			"SLACK_SIGNING_SECRET_FILE", "cannot read"},
		{"secret file empty", ModeServe, env(serveEnv, "GITLAB_TOKEN", "", "GITLAB_TOKEN_FILE", "/empty"),
			map[string]string{"/empty": "\n"}, "GITLAB_TOKEN_FILE", "empty"},
		{"bot token from file with wrong prefix", ModeServe,
			env(serveEnv, "SLACK_BOT_TOKEN", "", "SLACK_BOT_TOKEN_FILE", "/bot"),
			map[string]string{"/bot": "xoxp-SENTINEL\n"}, "SLACK_BOT_TOKEN", "xoxb-"},
		{"slack api url without scheme", ModeServe, env(serveEnv, "SLACK_API_URL", "slack.com/api"), nil,
			"SLACK_API_URL", "http or https"},
		{"gitlab url with another scheme", ModeServe, env(serveEnv, "GITLAB_URL", "ftp://gitlab.example.com"), nil,
			"GITLAB_URL", "http or https"},
		{"gitlab url without host", ModeConsole, env(serveEnv, "GITLAB_URL", "https:///path"), nil,
			"GITLAB_URL", "no host"},
		{"gitlab url with credentials", ModeServe, env(serveEnv, "GITLAB_URL", "https://root:SENTINEL@gitlab.example.com"), nil,
			"GITLAB_URL", "credentials"},
		{"gitlab url with a query", ModeServe, env(serveEnv, "GITLAB_URL", "https://gitlab.example.com/?private_token=x"), nil,
			"GITLAB_URL", "query"},
		{"listen addr without colon", ModeServe, env(serveEnv, "PIPEBOT_LISTEN_ADDR", "8080"), nil,
			"PIPEBOT_LISTEN_ADDR", "host:port"},
		{"listen addr with a bad port", ModeDemo, env(nil, "PIPEBOT_LISTEN_ADDR", ":99999"), nil,
			"PIPEBOT_LISTEN_ADDR", "port"},
		{"poll interval not a duration", ModeServe, env(serveEnv, "PIPEBOT_POLL_INTERVAL", "5x"), nil,
			"PIPEBOT_POLL_INTERVAL", `"5x" is not a duration (examples: 15s, 1m)`},
		{"poll interval without unit", ModeServe, env(serveEnv, "PIPEBOT_POLL_INTERVAL", "15"), nil,
			"PIPEBOT_POLL_INTERVAL", "not a duration"},
		{"poll interval below 100ms", ModeDemo, env(nil, "PIPEBOT_POLL_INTERVAL", "99ms"), nil,
			"PIPEBOT_POLL_INTERVAL", "at least 100ms"},
		{"poll interval negative", ModeServe, env(serveEnv, "PIPEBOT_POLL_INTERVAL", "-1s"), nil,
			"PIPEBOT_POLL_INTERVAL", "at least"},
		{"admin that is not a user id", ModeServe, env(serveEnv, "PIPEBOT_ADMINS", "U012AB3CD, bob"), nil,
			"PIPEBOT_ADMINS", `"bob"`},
		{"admin given as a channel id", ModeServe, env(serveEnv, "PIPEBOT_ADMINS", "C012AB3CD"), nil,
			"PIPEBOT_ADMINS", "not a Slack user id"},
		{"unknown default role", ModeServe, env(serveEnv, "PIPEBOT_DEFAULT_ROLE", "owner"), nil,
			"PIPEBOT_DEFAULT_ROLE", "viewer, operator, admin"},
		{"max upload with unknown unit", ModeServe, env(serveEnv, "PIPEBOT_MAX_UPLOAD", "1 GiBs"), nil,
			"PIPEBOT_MAX_UPLOAD", "unknown unit"},
		{"max upload zero", ModeDemo, env(nil, "PIPEBOT_MAX_UPLOAD", "0"), nil,
			"PIPEBOT_MAX_UPLOAD", "more than 0"},
		{"unknown log level", ModeServe, env(serveEnv, "PIPEBOT_LOG_LEVEL", "verbose"), nil,
			"PIPEBOT_LOG_LEVEL", "not a log level"},
		{"unknown log format", ModeServe, env(serveEnv, "PIPEBOT_LOG_FORMAT", "text"), nil,
			"PIPEBOT_LOG_FORMAT", "json, console"},
		{"first error wins", ModeServe, env(serveEnv, "PIPEBOT_LOG_FORMAT", "text", "PIPEBOT_POLL_INTERVAL", "5x"), nil,
			"PIPEBOT_POLL_INTERVAL", "not a duration"},
		{"unknown mode", Mode("serv"), env(serveEnv), nil, "unknown mode", `"serv"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(tt.mode, tt.getenv, files(tt.files))
			if err == nil {
				t.Fatalf("loadConfig succeeded, want an error about %s", tt.wantVar)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.wantVar+":") && !strings.HasPrefix(msg, tt.wantVar+" ") {
				t.Errorf("error %q does not start with variable %s", msg, tt.wantVar)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line", msg)
			}
			if strings.Contains(msg, sentinel) {
				t.Errorf("error %q echoes a secret", msg)
			}
		})
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := loadConfig(ModeServe, env(serveEnv), noFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		SlackBotToken:      botToken,
		SlackSigningSecret: signingSecret,
		SlackAPIURL:        "https://slack.com/api/",
		GitLabURL:          "https://gitlab.com",
		GitLabToken:        gitlabToken,
		ListenAddr:         ":8080",
		DBPath:             "pipebot.db",
		PollInterval:       15 * time.Second,
		DefaultRole:        "viewer",
		MaxUpload:          1 << 30,
		LogLevel:           zerolog.InfoLevel,
		LogFormat:          "json",
		Identity:           "bot",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %#v\nwant %#v", c, want)
	}
}

func TestLoadConfigAcceptsGoodSettings(t *testing.T) {
	tests := []struct {
		name   string
		mode   Mode
		getenv func(string) string
		check  func(t *testing.T, c Config)
	}{
		{"socket mode needs no signing secret", ModeServe,
			env(serveEnv, "SLACK_SIGNING_SECRET", "", "SLACK_APP_TOKEN", appToken),
			func(t *testing.T, c Config) {
				if c.SlackAppToken != appToken || c.SlackSigningSecret != "" {
					t.Errorf("app token %q, signing secret %q", c.SlackAppToken, c.SlackSigningSecret)
				}
			}},
		{"app token and signing secret together", ModeServe, env(serveEnv, "SLACK_APP_TOKEN", appToken),
			func(t *testing.T, c Config) {
				if c.SlackAppToken != appToken || c.SlackSigningSecret != signingSecret {
					t.Errorf("app token %q, signing secret %q", c.SlackAppToken, c.SlackSigningSecret)
				}
			}},
		{"slack api url gains a trailing slash", ModeServe, env(serveEnv, "SLACK_API_URL", "http://127.0.0.1:9999/api"),
			func(t *testing.T, c Config) {
				if c.SlackAPIURL != "http://127.0.0.1:9999/api/" {
					t.Errorf("SlackAPIURL = %q", c.SlackAPIURL)
				}
			}},
		{"gitlab url loses trailing slash and api suffix", ModeServe,
			env(serveEnv, "GITLAB_URL", "https://gitlab.example.com/sub/api/v4/"),
			func(t *testing.T, c Config) {
				if c.GitLabURL != "https://gitlab.example.com/sub" {
					t.Errorf("GitLabURL = %q", c.GitLabURL)
				}
			}},
		{"webhook secret is read", ModeServe, env(serveEnv, "GITLAB_WEBHOOK_SECRET", webhookSecret),
			func(t *testing.T, c Config) {
				if c.GitLabWebhookSecret != webhookSecret {
					t.Errorf("GitLabWebhookSecret = %q", c.GitLabWebhookSecret)
				}
			}},
		{"admins trimmed, deduplicated, mentions unwrapped", ModeServe,
			env(serveEnv, "PIPEBOT_ADMINS", " U012AB3CD, W0ABC ,,U012AB3CD,<@U999|ann>"),
			func(t *testing.T, c Config) {
				want := []string{"U012AB3CD", "W0ABC", "U999"}
				if !reflect.DeepEqual(c.Admins, want) {
					t.Errorf("Admins = %q, want %q", c.Admins, want)
				}
			}},
		{"other settings parsed", ModeServe, env(serveEnv,
			"PIPEBOT_LISTEN_ADDR", "127.0.0.1:9000", "PIPEBOT_DB_PATH", "/data/pipebot.db",
			"PIPEBOT_POLL_INTERVAL", "100ms", "PIPEBOT_DEFAULT_ROLE", "Operator", "PIPEBOT_MAX_UPLOAD", "512MiB",
			"PIPEBOT_LOG_LEVEL", "DEBUG", "PIPEBOT_LOG_FORMAT", "console"),
			func(t *testing.T, c Config) {
				got := fmt.Sprint(c.ListenAddr, c.DBPath, c.PollInterval, c.DefaultRole, c.MaxUpload, c.LogLevel, c.LogFormat)
				want := fmt.Sprint("127.0.0.1:9000", "/data/pipebot.db", 100*time.Millisecond, "operator",
					int64(512<<20), zerolog.DebugLevel, "console")
				if got != want {
					t.Errorf("got %s, want %s", got, want)
				}
			}},
		{"demo ignores slack and gitlab settings", ModeDemo,
			env(nil, "SLACK_BOT_TOKEN", "bad-SENTINEL", "SLACK_APP_TOKEN_FILE", "/missing",
				"GITLAB_URL", "not a url", "GITLAB_TOKEN_FILE", "/missing"),
			func(t *testing.T, c Config) {
				if c.SlackBotToken != "" || c.GitLabToken != "" || c.GitLabURL != "https://gitlab.com" {
					t.Errorf("demo kept slack/gitlab settings: %s", c)
				}
			}},
		{"console needs only a gitlab token and ignores slack", ModeConsole,
			env(nil, "GITLAB_TOKEN", gitlabToken, "SLACK_BOT_TOKEN", "bad-SENTINEL", "SLACK_API_URL", "::"),
			func(t *testing.T, c Config) {
				if c.GitLabToken != gitlabToken || c.SlackBotToken != "" {
					t.Errorf("GitLabToken %q, SlackBotToken %q", c.GitLabToken, c.SlackBotToken)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(tt.mode, tt.getenv, noFiles(t))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadConfigReadsSecretsFromFiles(t *testing.T) {
	getenv := env(nil,
		"SLACK_BOT_TOKEN_FILE", "/s/bot",
		"SLACK_APP_TOKEN_FILE", "/s/app",
		"SLACK_SIGNING_SECRET_FILE", "/s/signing",
		"GITLAB_TOKEN_FILE", " /s/gitlab ",
		"GITLAB_WEBHOOK_SECRET_FILE", "/s/webhook",
	)
	c, err := loadConfig(ModeServe, getenv, files(map[string]string{
		"/s/bot":     botToken + "\n",
		"/s/app":     appToken + "\r\n",
		"/s/signing": signingSecret,
		"/s/gitlab":  gitlabToken + "\n",
		"/s/webhook": webhookSecret + "\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.SlackBotToken, c.SlackAppToken, c.SlackSigningSecret, c.GitLabToken, c.GitLabWebhookSecret}
	want := []string{botToken, appToken, signingSecret, gitlabToken, webhookSecret}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("secrets from files = %q, want %q", got, want)
	}
}

func TestConfigStringNeverShowsSecrets(t *testing.T) {
	c, err := loadConfig(ModeServe, env(serveEnv,
		"SLACK_APP_TOKEN", appToken, "GITLAB_WEBHOOK_SECRET", webhookSecret, "PIPEBOT_ADMINS", "U1AB"), noFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%s", "%v", "%+v", "%#v"} {
		out := fmt.Sprintf(format, c)
		if strings.Contains(out, sentinel) {
			t.Errorf("%s shows a secret: %s", format, out)
		}
	}
	s := c.String()
	for _, want := range []string{
		"slack_bot_token=set", "slack_app_token=set", "slack_signing_secret=set", "gitlab_token=set",
		"gitlab_webhook_secret=set", "gitlab_url=https://gitlab.com", "admins=U1AB", "poll_interval=15s",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, lacks %q", s, want)
		}
	}
	if strings.Contains(s, "\n") {
		t.Errorf("String() is not one line: %q", s)
	}

	empty := Config{}.String()
	if !strings.Contains(empty, "slack_bot_token=unset") || !strings.Contains(empty, "gitlab_token=unset") {
		t.Errorf("String() of an empty config = %q, want secrets unset", empty)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "1048576", want: 1048576},
		{in: "1GiB", want: 1 << 30},
		{in: "512MiB", want: 512 << 20},
		{in: "10KiB", want: 10 << 10},
		{in: "1TiB", want: 1 << 40},
		{in: "100MB", want: 100_000_000},
		{in: "1GB", want: 1_000_000_000},
		{in: "1gb", want: 1_000_000_000},
		{in: "2 MiB", want: 2 << 20},
		{in: "1Gi", want: 1 << 30},
		{in: "1.5GiB", want: 3 << 29},
		{in: "64B", want: 64},
		{in: "0", wantErr: true},
		{in: "0.0001B", wantErr: true},
		{in: "-1GiB", wantErr: true},
		{in: "GiB", wantErr: true},
		{in: "1 GiBs", wantErr: true},
		{in: "1.2.3MB", wantErr: true},
		{in: "one", wantErr: true},
		{in: "", wantErr: true},
		{in: "9223372036854775807", want: 9223372036854775807},
		{in: "9223372036854775808", wantErr: true},
		{in: "9000000000TiB", wantErr: true},
		{in: "9000000000.5TiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Errorf("parseSize(%q) = %d, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}
