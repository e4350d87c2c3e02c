// Package mail sends the server's mail over SMTP, as Synapse's email block
// configures it: implicit TLS (force_tls), or a plain connection upgraded
// with STARTTLS when the server offers it (enable_tls) and required when
// require_transport_security is set; AUTH PLAIN when a user is configured.
// Every send is bounded in time.
package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"
)

// Config is how to reach the mail server and who the mail is from.
type Config struct {
	Host string
	Port int
	// User and Pass authenticate with AUTH PLAIN when User is set. Go's
	// PLAIN refuses to send them over an unencrypted connection except to
	// localhost, which is what an operator wants.
	User, Pass string
	// ForceTLS speaks TLS from the first byte (implicit TLS, RFC 8314).
	ForceTLS bool
	// EnableTLS upgrades a plain connection with STARTTLS when offered;
	// RequireTLS refuses to send when it is not.
	EnableTLS, RequireTLS bool
	// TLSName is the name the server's certificate must be valid for
	// (default Host).
	TLSName string
	// RootCAs verify the server's certificate; nil: the system's roots.
	RootCAs *x509.CertPool
	// From is the From header, e.g. "Matrix <noreply@example.org>".
	From string
	// Hostname is the name given in EHLO (the server name).
	Hostname string
	// Timeout bounds one whole send (default 30 s).
	Timeout time.Duration
}

// Message is one mail to one recipient.
type Message struct {
	To      string
	Subject string
	Text    string
	// HTML is an optional alternative to Text.
	HTML string
}

// Sender sends mail with one Config.
type Sender struct {
	cfg  Config
	from *netmail.Address
	now  func() time.Time
}

// New checks cfg and returns its Sender.
func New(cfg Config, now func() time.Time) (*Sender, error) {
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: From %q: %w", cfg.From, err)
	}
	if cfg.Host == "" || cfg.Port <= 0 {
		return nil, errors.New("mail: no SMTP host and port")
	}
	if cfg.TLSName == "" {
		cfg.TLSName = cfg.Host
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	return &Sender{cfg: cfg, from: from, now: now}, nil
}

// Send delivers m to the mail server, which has accepted it for delivery
// when Send returns nil.
func (s *Sender) Send(ctx context.Context, m Message) error {
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("mail: recipient %q: %w", m.To, err)
	}
	body, err := compose(s.from, to, m, s.now(), messageID(s.from.Address))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mail: connecting to %s: %w", addr, err)
	}
	// The deadline bounds every read and write of the dialogue; closing
	// on cancellation ends it early.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer conn.Close()
	tlsConf := &tls.Config{ServerName: s.cfg.TLSName, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}
	if s.cfg.ForceTLS {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("mail: TLS with %s: %w", addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		return fmt.Errorf("mail: %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.Hostname); err != nil {
		return fmt.Errorf("mail: EHLO: %w", err)
	}
	if !s.cfg.ForceTLS {
		offered, _ := c.Extension("STARTTLS")
		switch {
		case offered && s.cfg.EnableTLS:
			if err := c.StartTLS(tlsConf); err != nil {
				return fmt.Errorf("mail: STARTTLS with %s: %w", addr, err)
			}
		case s.cfg.RequireTLS:
			return fmt.Errorf("mail: %s does not offer STARTTLS and require_transport_security is set", addr)
		}
	}
	if s.cfg.User != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.User, s.cfg.Pass, s.cfg.Host)); err != nil {
			return fmt.Errorf("mail: AUTH as %s: %w", s.cfg.User, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("mail: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("mail: sending the message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: the server refused the message: %w", err)
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// messageID is a unique Message-ID in the From address's domain
// (RFC 5322 section 3.6.4).
func messageID(from string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	domain := "localhost"
	if i := strings.LastIndexByte(from, '@'); i >= 0 {
		domain = from[i+1:]
	}
	return "<" + hex.EncodeToString(b[:]) + "@" + domain + ">"
}
