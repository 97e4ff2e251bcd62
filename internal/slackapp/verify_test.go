package slackapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// signatureVector is Slack's documented signing example.
type signatureVector struct {
	Secret    string `json:"signing_secret"`
	Timestamp string `json:"x_slack_request_timestamp"`
	Body      string `json:"raw_body"`
	Expected  string `json:"expected_x_slack_signature"`
}

func loadVector(t testing.TB) signatureVector {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/fixtures/slack/signature_vector.json")
	if err != nil {
		t.Fatalf("read signature fixture: %v", err)
	}
	var v signatureVector
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode signature fixture: %v", err)
	}
	return v
}

// sign computes the v0 signature the way Slack does.
func sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

func signedHeader(secret string, now time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(now.Unix(), 10)
	h := http.Header{}
	h.Set(headerTimestamp, ts)
	h.Set(headerSignature, sign(secret, ts, body))
	return h
}

func TestVerify(t *testing.T) {
	v := loadVector(t)
	tsUnix, err := strconv.ParseInt(v.Timestamp, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(tsUnix, 0)
	if got := sign(v.Secret, v.Timestamp, []byte(v.Body)); got != v.Expected {
		t.Fatalf("test signer disagrees with Slack's vector: %s", got)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	tests := []struct {
		name    string
		ts, sig string
		body    string
		noTS    bool
		noSig   bool
		secret  string
		now     time.Time
		wantErr bool
	}{
		{name: "slack vector at its timestamp passes", now: at},
		{name: "slack vector 299s later passes", now: at.Add(299 * time.Second)},
		{name: "slack vector 299s earlier passes", now: at.Add(-299 * time.Second)},
		{name: "stale by 301s is rejected", now: at.Add(301 * time.Second), wantErr: true},
		{name: "301s in the future is rejected", now: at.Add(-301 * time.Second), wantErr: true},
		{name: "one byte changed in body is rejected", now: at, body: flip(v.Body, 10), wantErr: true},
		{name: "one byte changed in signature is rejected", now: at, sig: flip(v.Expected, 20), wantErr: true},
		{name: "other secret is rejected", now: at, secret: v.Secret + "x", wantErr: true},
		{name: "empty secret is rejected", now: at, secret: "-", wantErr: true},
		{name: "missing timestamp header is rejected", now: at, noTS: true, wantErr: true},
		{name: "missing signature header is rejected", now: at, noSig: true, wantErr: true},
		{name: "non-numeric timestamp is rejected", now: at, ts: "15314206l8", wantErr: true},
		{name: "signature without v0 prefix is rejected", now: at, sig: strings.TrimPrefix(v.Expected, "v0="), wantErr: true},
		{name: "v1 signature is rejected", now: at, sig: "v1=" + strings.TrimPrefix(v.Expected, "v0="), wantErr: true},
		{name: "non-hex signature is rejected", now: at, sig: "v0=zz" + v.Expected[5:], wantErr: true},
		{name: "truncated signature is rejected", now: at, sig: v.Expected[:len(v.Expected)-2], wantErr: true},
		{name: "timestamp changed but signature kept is rejected", now: at, ts: strconv.FormatInt(tsUnix+1, 10), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secret, ts, sig, body := v.Secret, v.Timestamp, v.Expected, v.Body
			switch tc.secret {
			case "":
			case "-":
				secret = ""
			default:
				secret = tc.secret
			}
			if tc.ts != "" {
				ts = tc.ts
			}
			if tc.sig != "" {
				sig = tc.sig
			}
			if tc.body != "" {
				body = tc.body
			}
			h := http.Header{}
			if !tc.noTS {
				h.Set(headerTimestamp, ts)
			}
			if !tc.noSig {
				h.Set(headerSignature, sig)
			}
			err := Verify(secret, h, []byte(body), tc.now)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Verify() error = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), v.Secret) || strings.Contains(err.Error(), strings.TrimPrefix(v.Expected, "v0="))) {
				t.Errorf("error leaks the secret or signature: %v", err)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	v := loadVector(f)
	f.Add(v.Timestamp, v.Expected, []byte(v.Body))
	f.Add("", "", []byte{})
	f.Add("-1", "v0=", []byte("x"))
	f.Add("99999999999999999999", "v0=00", []byte("x"))
	tsUnix, _ := strconv.ParseInt(v.Timestamp, 10, 64)
	now := time.Unix(tsUnix, 0)
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(headerTimestamp, ts)
		h.Set(headerSignature, sig)
		err := Verify(v.Secret, h, body, now)
		if err == nil && !strings.EqualFold(sig, sign(v.Secret, ts, body)) {
			t.Fatalf("accepted a signature that is not the HMAC: ts=%q sig=%q", ts, sig)
		}
		// Same random signature with a fresh, valid timestamp: only the MAC decides.
		h.Set(headerTimestamp, v.Timestamp)
		if Verify(v.Secret, h, body, now) == nil && !strings.EqualFold(sig, sign(v.Secret, v.Timestamp, body)) {
			t.Fatalf("accepted a random signature: sig=%q", sig)
		}
	})
}
