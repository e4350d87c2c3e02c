package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/mail/mailtest"
	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// The email flows run against a real SMTP server process on loopback
// (aiosmtpd); the tests read the mail it received, follow the link in it
// over HTTP and finish the flow, as a user would.

const password = "correct horse battery staple"

type emailRig struct {
	*servertest.Server
	smtp *mailtest.Server
}

func eachServerWithEmail(t *testing.T, emailKeys, extra string, fn func(t *testing.T, r *emailRig)) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		fn(t, startWithEmail(t, db, emailKeys, extra))
	})
}

// startWithEmail starts an SMTP server and a homeserver sending to it;
// emailKeys are more lines of the email block, extra more top-level keys.
func startWithEmail(t *testing.T, db *sqldb.DB, emailKeys, extra string) *emailRig {
	smtp := mailtest.Start(t, mailtest.Options{Mode: mailtest.Plain})
	yaml := fmt.Sprintf(`email:
  smtp_host: 127.0.0.1
  smtp_port: %d
  notif_from: "%%(app)s <noreply@localhost>"
  app_name: Myelin Test
`, smtp.Port) + emailKeys + extra
	return &emailRig{Server: servertest.Start(t, db, servertest.Options{ExtraYAML: yaml}), smtp: smtp}
}

var linkRE = regexp.MustCompile(`https?://\S+/submit_token\?\S+`)

// lastLink returns the validation link of the newest mail to address,
// checking the mail on the way, and how many mails there are.
func (r *emailRig) lastLink(t *testing.T, address string) (*url.URL, int) {
	t.Helper()
	msgs := r.smtp.Messages(t)
	if len(msgs) == 0 {
		t.Fatal("no mail received")
	}
	m := msgs[len(msgs)-1]
	if to := m.Header.Get("To"); !strings.Contains(to, address) {
		t.Fatalf("mail to %q, want %q", to, address)
	}
	if from := m.Header.Get("From"); from != `"Myelin Test" <noreply@localhost>` {
		t.Errorf("From = %q", from)
	}
	raw := linkRE.FindString(m.Text)
	if raw == "" || !strings.Contains(m.HTML, "submit_token") {
		t.Fatalf("no link in the mail:\n%s", m.Raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if base := r.Config.PublicBaseURL; !strings.HasPrefix(raw, base) {
		t.Errorf("link %s is not under public_baseurl %s", raw, base)
	}
	return u, len(msgs)
}

// follow opens a link on the test server (its public_baseurl is not the
// test listener) with GET, or POSTs the form the page would submit.
func (r *emailRig) follow(t *testing.T, link *url.URL, method string) (int, string) {
	t.Helper()
	target := r.URL + link.Path
	var resp *http.Response
	var err error
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if method == http.MethodPost {
		resp, err = client.PostForm(target, link.Query())
	} else {
		resp, err = client.Get(target + "?" + link.RawQuery)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusFound {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	return resp.StatusCode, string(body)
}

func requestToken(c *servertest.Client, path, email, secret string, attempt int) (int, string, []byte) {
	var out struct {
		SID string `json:"sid"`
	}
	status, raw := c.Do("POST", "/_matrix/client/v3"+path, map[string]any{"client_secret": secret, "email": email, "send_attempt": attempt}, &out)
	return status, out.SID, raw
}

// uia runs a request through user-interactive authentication with one
// stage: it sends the body, then the body with auth in the session.
func uia(t *testing.T, c *servertest.Client, path string, body map[string]any, auth map[string]any) (int, []byte) {
	t.Helper()
	status, raw := c.Do("POST", path, body, nil)
	if status != http.StatusUnauthorized {
		return status, raw
	}
	var flows struct {
		Session string `json:"session"`
		Flows   []struct {
			Stages []string `json:"stages"`
		} `json:"flows"`
	}
	if err := json.Unmarshal(raw, &flows); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range flows.Flows {
		found = found || len(f.Stages) > 0 && f.Stages[len(f.Stages)-1] == auth["type"]
	}
	if !found {
		t.Fatalf("%s offers no flow ending in %s: %s", path, auth["type"], raw)
	}
	auth["session"] = flows.Session
	with := map[string]any{"auth": auth}
	for k, v := range body {
		with[k] = v
	}
	return c.Do("POST", path, with, nil)
}

func passwordAuth(userID string) map[string]any {
	return map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": userID}, "password": password}
}

// addEmail binds address to c's account through the whole flow.
func (r *emailRig) addEmail(t *testing.T, c *servertest.Client, address, secret string) {
	t.Helper()
	status, sid, raw := requestToken(c, "/account/3pid/email/requestToken", address, secret, 1)
	if status != http.StatusOK || sid == "" {
		t.Fatalf("requestToken: %d %s", status, raw)
	}
	link, _ := r.lastLink(t, strings.ToLower(address))
	if status, page := r.follow(t, link, http.MethodGet); status != http.StatusOK || !strings.Contains(page, "validated") {
		t.Fatalf("following the link: %d %s", status, page)
	}
	status, raw = uia(t, c, "/_matrix/client/v3/account/3pid/add", map[string]any{"sid": sid, "client_secret": secret}, passwordAuth(c.UserID))
	if status != http.StatusOK {
		t.Fatalf("3pid/add: %d %s", status, raw)
	}
}

func threepids(t *testing.T, c *servertest.Client) []map[string]any {
	var out struct {
		Threepids []map[string]any `json:"threepids"`
	}
	c.MustDo("GET", "/_matrix/client/v3/account/3pid", nil, &out)
	return out.Threepids
}

// Adding an email address (client-server-api "Adding Account
// Administrative Contact Information"): requestToken mails a link, the
// link validates the session, /3pid/add binds the address after UIA,
// GET /3pid lists it, /3pid/delete removes it.
func TestEmail_AddThreepidEndToEndThenDelete(t *testing.T) {
	eachServerWithEmail(t, "", "", func(t *testing.T, r *emailRig) {
		alice := r.Register("alice")
		var caps struct {
			Capabilities map[string]map[string]any `json:"capabilities"`
		}
		alice.MustDo("GET", "/_matrix/client/v3/capabilities", nil, &caps)
		if caps.Capabilities["m.3pid_changes"]["enabled"] != true {
			t.Errorf("m.3pid_changes = %v", caps.Capabilities["m.3pid_changes"])
		}
		r.addEmail(t, alice, "Alice@Example.COM", "secret1")
		tps := threepids(t, alice)
		if len(tps) != 1 || tps[0]["medium"] != "email" || tps[0]["address"] != "alice@example.com" || tps[0]["validated_at"] == float64(0) {
			t.Fatalf("threepids = %v", tps)
		}

		// The address is now taken: another account cannot ask for it.
		bob := r.Register("bob")
		if status, _, raw := requestToken(bob, "/account/3pid/email/requestToken", "alice@example.com", "secret2", 1); status != http.StatusBadRequest || servertest.Errcode(raw) != "M_THREEPID_IN_USE" {
			t.Errorf("requestToken for a bound address: %d %s", status, raw)
		}
		if status, _, raw := requestToken(r.Anonymous(), "/register/email/requestToken", "alice@example.com", "secret2", 1); status != http.StatusBadRequest || servertest.Errcode(raw) != "M_THREEPID_IN_USE" {
			t.Errorf("register requestToken for a bound address: %d %s", status, raw)
		}

		var del map[string]string
		alice.MustDo("POST", "/_matrix/client/v3/account/3pid/delete", map[string]any{"medium": "email", "address": "alice@example.com"}, &del)
		if del["id_server_unbind_result"] != "no-support" {
			t.Errorf("delete = %v", del)
		}
		if tps := threepids(t, alice); len(tps) != 0 {
			t.Fatalf("threepids after delete = %v", tps)
		}
	})
}

// The spec's send_attempt rule: the same client_secret, address and
// send_attempt return the same session without another mail; a higher
// attempt sends a new token and the old one stops working.
func TestEmail_SameSendAttemptDoesNotResend(t *testing.T) {
	eachServerWithEmail(t, "", "", func(t *testing.T, r *emailRig) {
		alice := r.Register("alice")
		_, sid1, _ := requestToken(alice, "/account/3pid/email/requestToken", "a@example.com", "secret", 1)
		first, n1 := r.lastLink(t, "a@example.com")
		_, sid2, _ := requestToken(alice, "/account/3pid/email/requestToken", "a@example.com", "secret", 1)
		if _, n2 := r.lastLink(t, "a@example.com"); n2 != n1 || sid2 != sid1 {
			t.Fatalf("a repeated send_attempt: %d mails (was %d), sid %s (was %s)", n2, n1, sid2, sid1)
		}
		_, sid3, _ := requestToken(alice, "/account/3pid/email/requestToken", "a@example.com", "secret", 2)
		second, n3 := r.lastLink(t, "a@example.com")
		if n3 != n1+1 || sid3 != sid1 {
			t.Fatalf("a new send_attempt: %d mails (was %d), sid %s (was %s)", n3, n1, sid3, sid1)
		}
		if status, _ := r.follow(t, first, http.MethodGet); status != http.StatusBadRequest {
			t.Errorf("the replaced token validated: %d", status)
		}
		if status, page := r.follow(t, second, http.MethodGet); status != http.StatusOK {
			t.Errorf("the new token: %d %s", status, page)
		}
	})
}

// Tokens are single-use, and the session they validate authorises one
// operation; a session not validated authorises none.
func TestEmail_ReusedTokenAndUnvalidatedSessionAreRefused(t *testing.T) {
	eachServerWithEmail(t, "", "", func(t *testing.T, r *emailRig) {
		alice := r.Register("alice")
		_, sid, _ := requestToken(alice, "/account/3pid/email/requestToken", "a@example.com", "secret", 1)
		status, raw := uia(t, alice, "/_matrix/client/v3/account/3pid/add", map[string]any{"sid": sid, "client_secret": "secret"}, passwordAuth(alice.UserID))
		if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_THREEPID_AUTH_FAILED" {
			t.Errorf("3pid/add before validation: %d %s", status, raw)
		}
		link, _ := r.lastLink(t, "a@example.com")
		if status, _ := r.follow(t, link, http.MethodGet); status != http.StatusOK {
			t.Fatalf("first use: %d", status)
		}
		if status, page := r.follow(t, link, http.MethodGet); status != http.StatusBadRequest || !strings.Contains(page, "not found or has expired") {
			t.Errorf("second use: %d %s", status, page)
		}
		q := link.Query()
		q.Set("token", "guessed")
		link.RawQuery = q.Encode()
		if status, _ := r.follow(t, link, http.MethodGet); status != http.StatusBadRequest {
			t.Errorf("a guessed token: %d", status)
		}
		status, raw = uia(t, alice, "/_matrix/client/v3/account/3pid/add", map[string]any{"sid": sid, "client_secret": "secret"}, passwordAuth(alice.UserID))
		if status != http.StatusOK {
			t.Fatalf("3pid/add: %d %s", status, raw)
		}
		status, raw = uia(t, alice, "/_matrix/client/v3/account/3pid/add", map[string]any{"sid": sid, "client_secret": "secret"}, passwordAuth(alice.UserID))
		if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_THREEPID_AUTH_FAILED" {
			t.Errorf("3pid/add with a used session: %d %s", status, raw)
		}
	})
}

// validation_token_lifetime: a link followed after it is refused, and
// the session it was for stays unvalidated.
func TestEmail_ExpiredTokenIsRefused(t *testing.T) {
	// One millisecond: over before the test has read the mail.
	eachServerWithEmail(t, "  validation_token_lifetime: 1\n", "", func(t *testing.T, r *emailRig) {
		alice := r.Register("alice")
		_, sid, _ := requestToken(alice, "/account/3pid/email/requestToken", "a@example.com", "secret", 1)
		link, _ := r.lastLink(t, "a@example.com")
		if status, page := r.follow(t, link, http.MethodGet); status != http.StatusBadRequest || !strings.Contains(page, "expired") {
			t.Errorf("an expired link: %d %s", status, page)
		}
		status, raw := uia(t, alice, "/_matrix/client/v3/account/3pid/add", map[string]any{"sid": sid, "client_secret": "secret"}, passwordAuth(alice.UserID))
		if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_THREEPID_AUTH_FAILED" {
			t.Errorf("3pid/add after an expired link: %d %s", status, raw)
		}
	})
}

// registrations_require_3pid: [email]: registration's only flow is
// m.login.email.identity, and the validated address is bound to the new
// account.
func TestEmail_RegistrationRequiresAValidatedAddress(t *testing.T) {
	eachServerWithEmail(t, "", "registrations_require_3pid: [email]\n", func(t *testing.T, r *emailRig) {
		anon := r.Anonymous()
		status, sid, raw := requestToken(anon, "/register/email/requestToken", "carol@example.com", "reg", 1)
		if status != http.StatusOK {
			t.Fatalf("requestToken: %d %s", status, raw)
		}
		body := map[string]any{"username": "carol", "password": password}
		status, raw = anon.Do("POST", "/_matrix/client/v3/register", body, nil)
		if status != http.StatusUnauthorized || !strings.Contains(string(raw), `"flows":[{"stages":["m.login.email.identity"]}]`) {
			t.Fatalf("flows: %d %s", status, raw)
		}
		link, _ := r.lastLink(t, "carol@example.com")
		if !strings.Contains(link.Path, "/_matrix/client/unstable/registration/email/submit_token") {
			t.Errorf("link path %s", link.Path)
		}
		if status, page := r.follow(t, link, http.MethodGet); status != http.StatusOK {
			t.Fatalf("link: %d %s", status, page)
		}
		var out struct {
			UserID      string `json:"user_id"`
			AccessToken string `json:"access_token"`
		}
		creds := map[string]any{"type": "m.login.email.identity", "threepid_creds": map[string]any{"sid": sid, "client_secret": "reg"}}
		status, raw = uia(t, anon, "/_matrix/client/v3/register", body, creds)
		if status != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.UserID != "@carol:localhost" {
			t.Fatalf("register: %d %s", status, raw)
		}
		carol := r.As(&servertest.Client{UserID: out.UserID, AccessToken: out.AccessToken})
		if tps := threepids(t, carol); len(tps) != 1 || tps[0]["address"] != "carol@example.com" {
			t.Errorf("threepids of the new account = %v", tps)
		}
	})
}

// Password reset by email (password_management.yaml): the address must be
// bound; the mailed link asks for a confirmation, then POST
// /account/password without a token completes m.login.email.identity and
// sets the password; the old password stops working and devices are
// logged out.
func TestEmail_PasswordResetEndToEnd(t *testing.T) {
	eachServerWithEmail(t, "", "", func(t *testing.T, r *emailRig) {
		alice := r.Register("alice")
		r.addEmail(t, alice, "alice@example.com", "add")
		anon := r.Anonymous()
		if status, _, raw := requestToken(anon, "/account/password/email/requestToken", "nobody@example.com", "reset", 1); status != http.StatusBadRequest || servertest.Errcode(raw) != "M_THREEPID_NOT_FOUND" {
			t.Errorf("reset for an unknown address: %d %s", status, raw)
		}
		status, sid, raw := requestToken(anon, "/account/password/email/requestToken", "alice@example.com", "reset", 1)
		if status != http.StatusOK {
			t.Fatalf("requestToken: %d %s", status, raw)
		}
		link, _ := r.lastLink(t, "alice@example.com")
		if !strings.Contains(link.Path, "/_synapse/client/password_reset/email/submit_token") {
			t.Errorf("link path %s", link.Path)
		}
		// GET only shows the confirmation form: a mail scanner fetching
		// the link validates nothing.
		if status, page := r.follow(t, link, http.MethodGet); status != http.StatusOK || !strings.Contains(page, "<form method=\"post\"") {
			t.Fatalf("GET link: %d %s", status, page)
		}
		creds := map[string]any{"type": "m.login.email.identity", "threepid_creds": map[string]any{"sid": sid, "client_secret": "reset"}}
		body := map[string]any{"new_password": "a brand new password 42"}
		status, raw = uia(t, anon, "/_matrix/client/v3/account/password", body, creds)
		if status != http.StatusUnauthorized || servertest.Errcode(raw) != "M_THREEPID_AUTH_FAILED" {
			t.Errorf("reset before the link was confirmed: %d %s", status, raw)
		}
		if status, page := r.follow(t, link, http.MethodPost); status != http.StatusOK || !strings.Contains(page, "validated") {
			t.Fatalf("confirming: %d %s", status, page)
		}
		creds = map[string]any{"type": "m.login.email.identity", "threepid_creds": map[string]any{"sid": sid, "client_secret": "reset"}}
		if status, raw = uia(t, anon, "/_matrix/client/v3/account/password", body, creds); status != http.StatusOK {
			t.Fatalf("reset: %d %s", status, raw)
		}
		if status, raw := alice.Do("GET", "/_matrix/client/v3/account/whoami", nil, nil); status != http.StatusUnauthorized {
			t.Errorf("the old device still works: %d %s", status, raw)
		}
		login := func(pw string) int {
			status, _ := anon.Do("POST", "/_matrix/client/v3/login", map[string]any{"type": "m.login.password",
				"identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": pw}, nil)
			return status
		}
		if login(password) != http.StatusForbidden || login("a brand new password 42") != http.StatusOK {
			t.Error("the password did not change")
		}
		// The bound address logs in too (login.yaml, m.id.thirdparty); an
		// unbound one answers as a wrong password does.
		emailLogin := func(address string) (int, []byte) {
			return anon.Do("POST", "/_matrix/client/v3/login", map[string]any{"type": "m.login.password",
				"identifier": map[string]any{"type": "m.id.thirdparty", "medium": "email", "address": address}, "password": "a brand new password 42"}, nil)
		}
		if status, raw := emailLogin("ALICE@example.com"); status != http.StatusOK {
			t.Errorf("login by email: %d %s", status, raw)
		}
		if status, raw := emailLogin("nobody@example.com"); status != http.StatusForbidden || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("login by an unbound email: %d %s", status, raw)
		}
	})
}

// Without the email block the endpoints answer as Synapse does: 400
// M_UNKNOWN with the reason; /account/password still needs a token.
func TestEmail_NotConfigured(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := servertest.Start(t, db, servertest.Options{})
		anon := s.Anonymous()
		// Adding an address says the medium is not supported (spec v1.13,
		// MSC4178); the password and registration flows answer as Synapse.
		for p, code := range map[string]string{"/account/password/email/requestToken": "M_UNKNOWN",
			"/account/3pid/email/requestToken": "M_THREEPID_MEDIUM_NOT_SUPPORTED", "/register/email/requestToken": "M_UNKNOWN"} {
			if status, _, raw := requestToken(anon, p, "a@example.com", "secret", 1); status != http.StatusBadRequest || servertest.Errcode(raw) != code {
				t.Errorf("%s: %d %s, want 400 %s", p, status, raw, code)
			}
		}
		if status, raw := anon.Do("POST", "/_matrix/client/v3/account/password", map[string]any{"new_password": "x"}, nil); status != http.StatusUnauthorized || servertest.Errcode(raw) != "M_MISSING_TOKEN" {
			t.Errorf("password without a token: %d %s", status, raw)
		}
		alice := s.Register("alice")
		var caps struct {
			Capabilities map[string]map[string]any `json:"capabilities"`
		}
		alice.MustDo("GET", "/_matrix/client/v3/capabilities", nil, &caps)
		if caps.Capabilities["m.3pid_changes"]["enabled"] != false {
			t.Errorf("m.3pid_changes = %v", caps.Capabilities["m.3pid_changes"])
		}
	})
}

// requestToken bodies are checked (client_secret's grammar, the address,
// send_attempt, next_link) before any mail goes out, and
// rc_3pid_validation limits requests per email address.
func TestEmail_RequestTokenChecksItsBodyAndIsRateLimited(t *testing.T) {
	eachServerWithEmail(t, "", "rc_3pid_validation: {per_second: 0.001, burst_count: 2}\n", func(t *testing.T, r *emailRig) {
		anon := r.Anonymous()
		path := "/_matrix/client/v3/register/email/requestToken"
		for _, tc := range []struct {
			body map[string]any
			code string
		}{
			{map[string]any{"client_secret": "bad secret!", "email": "a@example.com", "send_attempt": 1}, "M_INVALID_PARAM"},
			{map[string]any{"client_secret": strings.Repeat("a", 256), "email": "a@example.com", "send_attempt": 1}, "M_INVALID_PARAM"},
			{map[string]any{"email": "a@example.com", "send_attempt": 1}, "M_MISSING_PARAM"},
			{map[string]any{"client_secret": "s", "email": "not-an-address", "send_attempt": 1}, "M_INVALID_PARAM"},
			{map[string]any{"client_secret": "s", "email": "a@example.com\r\nBcc: x@example.com", "send_attempt": 1}, "M_INVALID_PARAM"},
			{map[string]any{"client_secret": "s", "email": "a@example.com"}, "M_MISSING_PARAM"},
			{map[string]any{"client_secret": "s", "email": "a@example.com", "send_attempt": 1, "next_link": "javascript:alert(1)"}, "M_INVALID_PARAM"},
		} {
			if status, raw := anon.Do("POST", path, tc.body, nil); status != http.StatusBadRequest || servertest.Errcode(raw) != tc.code {
				t.Errorf("%v: %d %s, want %s", tc.body, status, raw, tc.code)
			}
		}
		if n := len(r.smtp.Messages(t)); n != 0 {
			t.Fatalf("%d mails sent for refused requests", n)
		}
		for i := 1; i <= 2; i++ {
			if status, _, raw := requestToken(anon, "/register/email/requestToken", "b@example.com", "s", i); status != http.StatusOK {
				t.Fatalf("request %d: %d %s", i, status, raw)
			}
		}
		if status, _, raw := requestToken(anon, "/register/email/requestToken", "b@example.com", "s", 3); status != http.StatusTooManyRequests || servertest.Errcode(raw) != "M_LIMIT_EXCEEDED" {
			t.Errorf("third request: %d %s", status, raw)
		}
	})
}

// next_link: a validated link sends the browser back to the client.
func TestEmail_NextLinkRedirectsAfterValidation(t *testing.T) {
	eachServerWithEmail(t, "", "", func(t *testing.T, r *emailRig) {
		alice := r.Register("alice")
		status, raw := alice.Do("POST", "/_matrix/client/v3/account/3pid/email/requestToken", map[string]any{"client_secret": "s",
			"email": "a@example.com", "send_attempt": 1, "next_link": "https://app.example.org/#/done"}, nil)
		if status != http.StatusOK {
			t.Fatalf("requestToken: %d %s", status, raw)
		}
		link, _ := r.lastLink(t, "a@example.com")
		if status, loc := r.follow(t, link, http.MethodGet); status != http.StatusFound || loc != "https://app.example.org/#/done" {
			t.Errorf("link: %d %s", status, loc)
		}
	})
}

// enable_3pid_changes: false: addresses cannot be added or removed (400
// M_FORBIDDEN, Synapse's answer), and /capabilities says so; password
// reset still works.
func TestEmail_ThreepidChangesDisabled(t *testing.T) {
	eachServerWithEmail(t, "", "enable_3pid_changes: false\n", func(t *testing.T, r *emailRig) {
		alice := r.Register("alice")
		if status, _, raw := requestToken(alice, "/account/3pid/email/requestToken", "a@example.com", "s", 1); status != http.StatusBadRequest || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("requestToken: %d %s", status, raw)
		}
		for _, p := range []string{"/account/3pid/add", "/account/3pid/delete"} {
			if status, raw := alice.Do("POST", "/_matrix/client/v3"+p, map[string]any{"sid": "x", "client_secret": "s", "medium": "email", "address": "a@example.com"}, nil); status != http.StatusBadRequest || servertest.Errcode(raw) != "M_FORBIDDEN" {
				t.Errorf("%s: %d %s", p, status, raw)
			}
		}
		var caps struct {
			Capabilities map[string]map[string]any `json:"capabilities"`
		}
		alice.MustDo("GET", "/_matrix/client/v3/capabilities", nil, &caps)
		if caps.Capabilities["m.3pid_changes"]["enabled"] != false {
			t.Errorf("m.3pid_changes = %v", caps.Capabilities["m.3pid_changes"])
		}
		if status, _, raw := requestToken(r.Anonymous(), "/account/password/email/requestToken", "a@example.com", "s", 1); status != http.StatusBadRequest || servertest.Errcode(raw) != "M_THREEPID_NOT_FOUND" {
			t.Errorf("password requestToken: %d %s", status, raw)
		}
	})
}

// request_token_inhibit_3pid_errors: requestToken tells nobody whether an
// address is bound: a session ID comes back and no mail goes out.
func TestEmail_InhibitedErrorsHideWhichAddressesAreBound(t *testing.T) {
	eachServerWithEmail(t, "", "request_token_inhibit_3pid_errors: true\n", func(t *testing.T, r *emailRig) {
		alice := r.Register("alice")
		r.addEmail(t, alice, "alice@example.com", "add")
		before := len(r.smtp.Messages(t))
		for _, c := range []struct{ path, address string }{
			{"/account/password/email/requestToken", "nobody@example.com"},
			{"/register/email/requestToken", "alice@example.com"},
			{"/account/3pid/email/requestToken", "alice@example.com"},
		} {
			if status, sid, raw := requestToken(r.Anonymous(), c.path, c.address, "s", 1); status != http.StatusOK || sid == "" {
				t.Errorf("%s %s: %d %s", c.path, c.address, status, raw)
			}
		}
		if n := len(r.smtp.Messages(t)); n != before {
			t.Errorf("%d mails sent for inhibited errors", n-before)
		}
	})
}
