// Package slackapp owns pipebot's Slack transports: it carries Slack requests in
// (signed HTTP endpoints, Socket Mode, and a terminal console on top of the
// in-process Slack fake), acknowledges them at once, and hands them as
// transport-neutral Requests to a Handler running on a bounded worker pool.
//
// Replies never travel back through this package's acknowledgement: handlers
// answer later through response_url or the Web API, which keeps every transport
// inside Slack's 3-second acknowledgement limit
// (https://api.slack.com/interactivity/handling#acknowledgment_response).
package slackapp
