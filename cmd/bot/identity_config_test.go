package main

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// linkedEnv is a complete linked-mode configuration.
var (
	sentinelKey  = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	sentinelPrev = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32))
	linkedEnv    = []string{
		"PIPEBOT_IDENTITY", "linked", "PIPEBOT_PUBLIC_URL", "https://pipebot.example.com/",
		"GITLAB_OAUTH_CLIENT_ID", "app-id", "GITLAB_OAUTH_CLIENT_SECRET", "SENTINEL-client-secret",
		"PIPEBOT_SECRET_KEY", sentinelKey,
	}
)

func TestIdentitySettingsAreReadAndChecked(t *testing.T) {
	c, err := loadConfig(ModeServe, env(serveEnv, linkedEnv...), noFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity != "linked" || c.PublicURL != "https://pipebot.example.com" || c.OAuthClientID != "app-id" ||
		c.OAuthClientSecret != "SENTINEL-client-secret" || !bytes.Equal(c.SecretKey, bytes.Repeat([]byte{7}, 32)) || c.SecretKeyPrevious != nil {
		t.Errorf("config = %#v", c)
	}
	if s := c.String(); strings.Contains(s, "SENTINEL") || strings.Contains(s, sentinelKey) || !strings.Contains(s, "identity=linked") || !strings.Contains(s, "secret_key=set") {
		t.Errorf("String() = %s", s)
	}
	c, err = loadConfig(ModeServe, env(serveEnv, append(linkedEnv, "PIPEBOT_SECRET_KEY", "", "PIPEBOT_SECRET_KEY_FILE", "/key", "PIPEBOT_SECRET_KEY_PREVIOUS_FILE", "/prev",
		"GITLAB_OAUTH_CLIENT_SECRET", "", "GITLAB_OAUTH_CLIENT_SECRET_FILE", "/secret", "PIPEBOT_PUBLIC_URL", "http://127.0.0.1:8080")...),
		files(map[string]string{"/key": sentinelKey + "\n", "/prev": sentinelPrev, "/secret": "from-file\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.SecretKeyPrevious, bytes.Repeat([]byte{8}, 32)) || c.OAuthClientSecret != "from-file" || c.PublicURL != "http://127.0.0.1:8080" {
		t.Errorf("from files: %#v", c)
	}
	if c, err := loadConfig(ModeServe, env(serveEnv, "PIPEBOT_IDENTITY", "sudo"), noFiles(t)); err != nil || c.Identity != "sudo" {
		t.Errorf("sudo: %v, %v", c.Identity, err)
	}
}

func TestBadIdentitySettingsStopServeNamingTheVariable(t *testing.T) {
	tests := []struct {
		name         string
		env          []string
		wantVar, say string
	}{
		{"unknown mode", []string{"PIPEBOT_IDENTITY", "oauth"}, "PIPEBOT_IDENTITY", "bot, linked, sudo"},
		{"linked without public url", []string{"PIPEBOT_PUBLIC_URL", ""}, "PIPEBOT_PUBLIC_URL", "required for PIPEBOT_IDENTITY=linked"},
		{"public url over http", []string{"PIPEBOT_PUBLIC_URL", "http://pipebot.example.com"}, "PIPEBOT_PUBLIC_URL", "must be https"},
		{"public url with a path", []string{"PIPEBOT_PUBLIC_URL", "https://example.com/pipebot"}, "PIPEBOT_PUBLIC_URL", "without a path"},
		{"public url with a query", []string{"PIPEBOT_PUBLIC_URL", "https://example.com/?x=SENTINEL"}, "PIPEBOT_PUBLIC_URL", "query"},
		{"public url not a url", []string{"PIPEBOT_PUBLIC_URL", "pipebot.example.com"}, "PIPEBOT_PUBLIC_URL", "https URL with a host"},
		{"linked without client id", []string{"GITLAB_OAUTH_CLIENT_ID", ""}, "GITLAB_OAUTH_CLIENT_ID", "required"},
		{"linked without client secret", []string{"GITLAB_OAUTH_CLIENT_SECRET", ""}, "GITLAB_OAUTH_CLIENT_SECRET", "required"},
		{"linked without key", []string{"PIPEBOT_SECRET_KEY", ""}, "PIPEBOT_SECRET_KEY", "openssl rand -base64 32"},
		{"key not base64", []string{"PIPEBOT_SECRET_KEY", "SENTINEL!!"}, "PIPEBOT_SECRET_KEY", "not standard base64"},
		{"key too short", []string{"PIPEBOT_SECRET_KEY", base64.StdEncoding.EncodeToString([]byte("SENTINEL-16-byte"))}, "PIPEBOT_SECRET_KEY", "16 bytes, want 32"},
		{"previous key malformed", []string{"PIPEBOT_SECRET_KEY_PREVIOUS", "SENTINEL"}, "PIPEBOT_SECRET_KEY_PREVIOUS", "base64"},
		{"secret set twice", []string{"GITLAB_OAUTH_CLIENT_SECRET_FILE", "/x"}, "GITLAB_OAUTH_CLIENT_SECRET and GITLAB_OAUTH_CLIENT_SECRET_FILE", "both set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(ModeServe, env(serveEnv, append(append([]string{}, linkedEnv...), tt.env...)...), noFiles(t))
			if err == nil {
				t.Fatal("serve would start")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.wantVar+":") && !strings.HasPrefix(msg, tt.wantVar+" ") || !strings.Contains(msg, tt.say) {
				t.Errorf("error %q, want it to name %s and say %q", msg, tt.wantVar, tt.say)
			}
			if strings.Contains(msg, "SENTINEL") || strings.Contains(msg, "\n") {
				t.Errorf("error %q shows a secret or spans lines", msg)
			}
		})
	}
	// bot and sudo modes need none of the linking settings.
	if _, err := loadConfig(ModeServe, env(serveEnv, "PIPEBOT_IDENTITY", "bot"), noFiles(t)); err != nil {
		t.Errorf("bot: %v", err)
	}
}

// DESIGN §7 lists GITLAB_OAUTH_CLIENT_ID and GITLAB_OAUTH_CLIENT_SECRET with
// "(_FILE too)": a deployment that mounts the OAuth application as two files
// sets both *_FILE variables.
func TestOAuthClientIDIsReadFromAFileToo(t *testing.T) {
	c, err := loadConfig(ModeServe, env(serveEnv, append(linkedEnv, "GITLAB_OAUTH_CLIENT_ID", "", "GITLAB_OAUTH_CLIENT_ID_FILE", "/id",
		"GITLAB_OAUTH_CLIENT_SECRET", "", "GITLAB_OAUTH_CLIENT_SECRET_FILE", "/secret")...),
		files(map[string]string{"/id": "app-id-from-file\n", "/secret": "secret-from-file\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.OAuthClientID != "app-id-from-file" || c.OAuthClientSecret != "secret-from-file" {
		t.Errorf("client id %q, secret %q; want both read from their files", c.OAuthClientID, c.OAuthClientSecret)
	}
	_, err = loadConfig(ModeServe, env(serveEnv, append(linkedEnv, "GITLAB_OAUTH_CLIENT_ID_FILE", "/id")...),
		files(map[string]string{"/id": "other"}))
	if err == nil || !strings.HasPrefix(err.Error(), "GITLAB_OAUTH_CLIENT_ID and GITLAB_OAUTH_CLIENT_ID_FILE") {
		t.Errorf("both set: %v; want a refusal naming both variables", err)
	}
}
