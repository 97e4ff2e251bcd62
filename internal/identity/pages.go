package identity

import (
	"html/template"
	"net/http"
)

// The pages of the login flow. html/template escapes every name: a Slack
// or GitLab name cannot add markup.
var pages = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} · pipebot</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#1d1c1d}h1{font-size:1.4em}</style>
</head><body><main>
<h1 id="title">{{.Title}}</h1>
{{if .Linked}}<p id="message">Slack <strong>@{{.SlackName}}</strong> is now linked to GitLab <strong>@{{.GitLabName}}</strong> — you can close this tab.</p>
<p>The commands you type or click in Slack now run as you in GitLab. If that is not your Slack or GitLab account, run <code>/ci logout</code> in Slack.</p>
{{else}}<p id="message">{{.Message}}</p>{{end}}
</main></body></html>
`))

type pageData struct {
	Title, Message        string
	Linked                bool
	SlackName, GitLabName string
}

func page(w http.ResponseWriter, status int, title, msg string) {
	render(w, status, pageData{Title: title, Message: msg})
}

func linkedPage(w http.ResponseWriter, slackName, gitlabName string) {
	render(w, http.StatusOK, pageData{Title: "Linked", Linked: true, SlackName: slackName, GitLabName: gitlabName})
}

func render(w http.ResponseWriter, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	_ = pages.Execute(w, d)
}
