package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Synapse's email block: its keys, defaults and the From substitution.
func TestLoad_EmailBlock(t *testing.T) {
	c, warns := loadString(t, `
server_name: example.org
email:
  smtp_host: mail.example.org
  smtp_user: myelin
  smtp_pass: secret
  force_tls: true
  notif_from: "Your %(app)s homeserver <noreply@example.org>"
  app_name: Myelin Test
  client_base_url: https://app.example.org
  validation_token_lifetime: 15m
  enable_notifs: true
registrations_require_3pid: [email]
enable_3pid_changes: false
`)
	e := c.Email
	if !e.Enabled || e.SMTPHost != "mail.example.org" || e.SMTPPort != 465 || e.SMTPUser != "myelin" || e.SMTPPass != "secret" ||
		!e.ForceTLS || !e.EnableTLS || e.TLSName != "mail.example.org" || e.ValidationTokenLifetime != 15*time.Minute ||
		e.ClientBaseURL != "https://app.example.org" {
		t.Fatalf("email = %+v", e)
	}
	if got := e.From(); got != "Your Myelin Test homeserver <noreply@example.org>" {
		t.Errorf("From() = %q", got)
	}
	if c.Enable3PIDChanges || len(c.RegistrationsRequire3PID) != 1 {
		t.Errorf("enable_3pid_changes = %v, registrations_require_3pid = %v", c.Enable3PIDChanges, c.RegistrationsRequire3PID)
	}
	if !strings.Contains(strings.Join(messages(warns), "\n"), "email.enable_notifs") {
		t.Errorf("no ignored-key warning for email.enable_notifs: %v", messages(warns))
	}
}

func TestLoad_EmailAbsentMeansDisabled(t *testing.T) {
	c, _ := loadString(t, "server_name: example.org\n")
	if c.Email.Enabled || c.Email.SMTPPort != 25 || !c.Enable3PIDChanges {
		t.Fatalf("email = %+v", c.Email)
	}
}

func TestLoad_EmailNeedsNotifFromAndEmailRegistrationNeedsEmail(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"email:\n  smtp_host: localhost\n", "email.notif_from"},
		{"email:\n  notif_from: not an address\n", "is not a mail address"},
		{"registrations_require_3pid: [email]\n", "the email block is not configured"},
		{"email:\n  notif_from: a@example.org\nregistrations_require_3pid: [msisdn]\n", "cannot send SMS"},
		{"email:\n  notif_from: a@example.org\n  require_transport_security: true\n  enable_tls: false\n", "enable_tls is false"},
	} {
		path := writeFile(t, t.TempDir(), "homeserver.yaml", "server_name: example.org\n"+tc.yaml)
		_, _, err := Load(filepath.Clean(path))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
