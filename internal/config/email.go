package config

import (
	"net/mail"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Email is Synapse's email block: how the server sends the mail that
// validates email addresses (password reset, adding an address to an
// account, registration with an address). Notification emails
// (enable_notifs and friends) are not sent by Myelin; their keys are
// accepted with an "ignored" warning.
type Email struct {
	// Enabled is true when the block is present with any key: Synapse then
	// handles email validation itself ("local" 3PID handling), and
	// notif_from is required.
	Enabled bool
	// SMTPHost and SMTPPort are the outgoing mail server (smtp_host,
	// default "localhost"; smtp_port, default 465 with force_tls, else 25).
	SMTPHost string
	SMTPPort int
	// SMTPUser and SMTPPass authenticate with AUTH PLAIN when a user is
	// set (smtp_user, smtp_pass).
	SMTPUser, SMTPPass string
	// ForceTLS speaks TLS from the start (implicit TLS, usually port 465)
	// and makes require_transport_security moot (force_tls).
	ForceTLS bool
	// RequireTransportSecurity refuses to send unless the server offers
	// STARTTLS (require_transport_security).
	RequireTransportSecurity bool
	// EnableTLS uses STARTTLS when the server offers it (enable_tls,
	// default true); false never uses TLS on a plain connection.
	EnableTLS bool
	// TLSName is the name the server's certificate must be valid for
	// (tlsname, default smtp_host).
	TLSName string
	// NotifFrom is the From header; "%(app)s" in it is replaced by AppName
	// (notif_from).
	NotifFrom string
	// AppName names the service in mail (app_name, default "Matrix").
	AppName string
	// ClientBaseURL is the client users are sent back to (client_base_url;
	// riot_base_url is its deprecated name).
	ClientBaseURL string
	// ValidationTokenLifetime is how long a validation link works
	// (validation_token_lifetime, default 1h).
	ValidationTokenLifetime time.Duration

	portSet bool
}

// From returns notif_from with "%(app)s" replaced by the app name, as
// Synapse substitutes it.
func (e *Email) From() string { return strings.ReplaceAll(e.NotifFrom, "%(app)s", e.AppName) }

// emailIgnored are keys of Synapse's email block for mail Myelin does not
// send (notifications, invites to unregistered addresses) or templates it
// does not read.
var emailIgnored = []string{
	"enable_notifs", "notif_for_new_users", "notif_delay_before_mail", "invite_client_location",
	"subjects", "template_dir",
}

func (d *decoder) emailKeys(c *Config) handlers {
	e := &c.Email
	return handlers{
		"email": func(key string, n *yaml.Node) {
			if d.ref == nil {
				if r := resolve(n); r.Kind == yaml.MappingNode && len(r.Content) > 0 {
					e.Enabled = true
				}
			}
			port := d.integer(&e.SMTPPort, 1, 65535)
			d.object(key, n, handlers{
				"smtp_host": d.str(&e.SMTPHost),
				"smtp_port": func(k string, v *yaml.Node) {
					port(k, v)
					e.portSet = d.ref == nil
				},
				"smtp_user":                  d.str(&e.SMTPUser),
				"smtp_pass":                  d.str(&e.SMTPPass),
				"force_tls":                  d.boolean(&e.ForceTLS),
				"require_transport_security": d.boolean(&e.RequireTransportSecurity),
				"enable_tls":                 d.boolean(&e.EnableTLS),
				"tlsname":                    d.str(&e.TLSName),
				"notif_from":                 d.str(&e.NotifFrom),
				"app_name":                   d.str(&e.AppName),
				"client_base_url":            d.str(&e.ClientBaseURL),
				"riot_base_url": func(k string, v *yaml.Node) {
					if d.describe(k, "string (deprecated name of client_base_url)", "") {
						return
					}
					d.warn(k, v, "%s is deprecated in Synapse; use client_base_url", k)
					if e.ClientBaseURL == "" {
						e.ClientBaseURL, _ = d.scalarString(k, v)
					}
				},
				"validation_token_lifetime": d.duration(&e.ValidationTokenLifetime),
			}, emailIgnored...)
		},
		"registrations_require_3pid": d.strList(&c.RegistrationsRequire3PID, func(key string, n *yaml.Node, s string) (string, bool) {
			if s != "email" && s != "msisdn" {
				d.fail(key, n, "%q is not a medium; use \"email\" (or \"msisdn\")", s)
				return "", false
			}
			return s, true
		}),
		"enable_3pid_changes":               d.boolean(&c.Enable3PIDChanges),
		"request_token_inhibit_3pid_errors": d.boolean(&c.RequestTokenInhibit3PIDErrors),
	}
}

// emailDefaults applies the email block's defaults and checks, as Synapse
// does when it handles email validation itself: notif_from is required and
// must be an address.
func (d *decoder) emailDefaults(c *Config, at func(string) (string, *yaml.Node)) {
	e := &c.Email
	if e.ForceTLS && !e.portSet {
		e.SMTPPort = 465
	}
	if e.TLSName == "" {
		e.TLSName = e.SMTPHost
	}
	if e.ValidationTokenLifetime <= 0 {
		key, n := at("email")
		d.fail(key+".validation_token_lifetime", n, "must be a positive duration, e.g. 1h")
	}
	if e.RequireTransportSecurity && !e.EnableTLS && !e.ForceTLS {
		key, n := at("email")
		d.fail(key+".require_transport_security", n, "is true but enable_tls is false, so no mail could ever be sent; set enable_tls: true (or force_tls: true)")
	}
	if e.Enabled {
		key, n := at("email")
		if e.NotifFrom == "" {
			d.fail(key+".notif_from", n, "must be set when the email block is present: it is the From address of validation mail, e.g. \"Your %%(app)s homeserver <noreply@example.org>\"")
		} else if _, err := mail.ParseAddress(e.From()); err != nil {
			d.fail(key+".notif_from", n, "%q is not a mail address (%v); write e.g. \"%%(app)s <noreply@example.org>\"", e.NotifFrom, err)
		}
	}
	for _, m := range c.RegistrationsRequire3PID {
		key, n := at("registrations_require_3pid")
		switch {
		case m == "msisdn":
			d.fail(key, n, "msisdn: Myelin cannot send SMS; require only email")
		case !e.Enabled:
			d.fail(key, n, "requires email, but the email block is not configured; configure email so that addresses can be validated")
		}
	}
}
