package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/sharedsecret"
)

// registerPath is Synapse's shared-secret registration endpoint, which
// Myelin serves too so Synapse's register_new_matrix_user keeps working.
const registerPath = "/_synapse/admin/v1/register"

func runRegisterUser(e *env, args []string) int {
	f := newFlagSet("register-user", "-c homeserver.yaml [-u NAME] [-p PASSWORD] [-a | --no-admin] [-k SECRET] [URL]",
		"Create an account through shared-secret registration (the protocol of Synapse's\n"+
			"register_new_matrix_user). The secret is registration_shared_secret from the\n"+
			"config, or -k. URL defaults to the config's first HTTP listener serving the\n"+
			"client API, then to public_baseurl. Missing answers are asked for.", e.stderr)
	var (
		configPath, user, password, secret string
		admin, noAdmin                     bool
	)
	f.StringVar(&configPath, "config", "", "homeserver.yaml to read the shared secret and URL from")
	f.StringVar(&configPath, "c", "", "same as --config")
	f.StringVar(&user, "user", "", "local part of the new user ID")
	f.StringVar(&user, "u", "", "same as --user")
	f.StringVar(&password, "password", "", "the new password (visible in the process list; prefer the prompt)")
	f.StringVar(&password, "p", "", "same as --password")
	f.BoolVar(&admin, "admin", false, "make the user a server administrator")
	f.BoolVar(&admin, "a", false, "same as --admin")
	f.BoolVar(&noAdmin, "no-admin", false, "do not make the user an administrator (and do not ask)")
	f.StringVar(&secret, "shared-secret", "", "the registration shared secret, instead of reading the config")
	f.StringVar(&secret, "k", "", "same as --shared-secret")
	pos, code, done := parseFlags(f, args)
	if done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(e.stderr, "myelin register-user: "+format+"\n", a...)
		return 1
	}
	if len(pos) > 1 {
		return fail("expected at most one URL, got %q", pos)
	}
	if admin && noAdmin {
		return fail("--admin and --no-admin contradict each other")
	}
	var cfg *config.Config
	if configPath != "" {
		var err error
		if cfg, _, err = config.Load(configPath); err != nil {
			return fail("%v", err)
		}
	}
	if secret == "" && cfg != nil {
		var err error
		if secret, err = cfg.SharedSecret(); err != nil {
			return fail("%v", err)
		}
	}
	if secret == "" {
		return fail("no shared secret: pass -c with a config that sets registration_shared_secret, or -k SECRET")
	}
	baseURL := "http://localhost:8008"
	switch {
	case len(pos) == 1:
		baseURL = pos[0]
	case cfg != nil:
		baseURL = clientURL(cfg)
	}
	baseURL = strings.TrimRight(baseURL, "/")

	var err error
	if user == "" {
		if user, err = e.prompt.line("New user localpart: "); err != nil {
			return fail("%v", err)
		}
		user = strings.TrimSpace(user)
	}
	if strings.HasPrefix(user, "@") {
		// Accept a full user ID and send its local part, which is what the
		// endpoint expects.
		user, _, _ = strings.Cut(user[1:], ":")
	}
	if user == "" {
		return fail("the user name must not be empty")
	}
	if password == "" {
		if password, err = e.prompt.newPassword(); err != nil {
			return fail("%v", err)
		}
	}
	if !admin && !noAdmin {
		if admin, err = e.prompt.yesNo("Make admin", false); err != nil {
			return fail("%v", err)
		}
	}

	client := &http.Client{Timeout: 30 * time.Second}
	userID, err := registerUser(client, baseURL, secret, user, password, admin)
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(e.stdout, "Registered %s", userID)
	if admin {
		fmt.Fprint(e.stdout, " (server admin)")
	}
	fmt.Fprintln(e.stdout)
	return 0
}

// registerUser runs the nonce/MAC exchange and returns the new user ID.
func registerUser(client *http.Client, baseURL, secret, user, password string, admin bool) (string, error) {
	endpoint := baseURL + registerPath
	var nonceResp struct {
		Nonce string `json:"nonce"`
	}
	if err := doJSON(client, http.MethodGet, endpoint, nil, &nonceResp); err != nil {
		return "", fmt.Errorf("requesting a nonce: %w", err)
	}
	if nonceResp.Nonce == "" {
		return "", fmt.Errorf("requesting a nonce: %s answered without a nonce", endpoint)
	}
	body := map[string]any{
		"nonce":    nonceResp.Nonce,
		"username": user,
		"password": password,
		"admin":    admin,
		"mac":      sharedsecret.MAC(secret, nonceResp.Nonce, user, password, admin),
	}
	var result struct {
		UserID string `json:"user_id"`
	}
	if err := doJSON(client, http.MethodPost, endpoint, body, &result); err != nil {
		return "", fmt.Errorf("registering: %w", err)
	}
	if result.UserID == "" {
		return user, nil
	}
	return result.UserID, nil
}

// doJSON sends a request and decodes a 200 response; any other status is
// an error carrying the server's body, which holds its explanation.
func doJSON(client *http.Client, method, url string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s\n%s", method, url, resp.Status, strings.TrimSpace(string(data)))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: response is not the expected JSON: %v", method, url, err)
	}
	return nil
}

// clientURL picks where to reach the client API on this machine: the first
// HTTP listener serving "client" (as Synapse's script does), else
// public_baseurl.
func clientURL(cfg *config.Config) string {
	for _, l := range cfg.Listeners {
		if l.Type != "http" || !l.Serves("client") {
			continue
		}
		scheme := "http"
		if l.TLS {
			scheme = "https"
		}
		return scheme + "://" + net.JoinHostPort(localHost(l.BindAddresses), strconv.Itoa(l.Port))
	}
	return cfg.PublicBaseURL
}

// localHost chooses an address from a listener's bind addresses that
// reaches it from this machine: loopback for wildcard or loopback binds,
// else the first address.
func localHost(binds []string) string {
	for _, fam := range []struct{ unspecified, loopback string }{{"0.0.0.0", "127.0.0.1"}, {"::", "::1"}} {
		for _, b := range binds {
			if a, err := netip.ParseAddr(b); err == nil && (a.String() == fam.unspecified || a.String() == fam.loopback) {
				return fam.loopback
			}
		}
	}
	if len(binds) > 0 {
		return binds[0]
	}
	return "localhost"
}
