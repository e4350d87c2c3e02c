package mail_test

import (
	"context"
	"mime"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/mail"
	"github.com/myelin-chat/myelin/internal/mail/mailtest"
)

func sender(t *testing.T, srv *mailtest.Server, mut func(*mail.Config)) *mail.Sender {
	t.Helper()
	cfg := mail.Config{Host: "127.0.0.1", Port: srv.Port, EnableTLS: true, RootCAs: srv.RootCAs,
		From: "Myelin <noreply@example.org>", Hostname: "example.org"}
	if mut != nil {
		mut(&cfg)
	}
	s, err := mail.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var msg = mail.Message{To: "alice@example.com", Subject: "[example.org] Validate your email – ünïcode",
	Text: "Follow this link:\nhttps://example.org/x?token=" + strings.Repeat("a", 120) + "\n", HTML: "<p>Follow <a href=\"https://example.org/x\">this link</a></p>"}

// A message arrives well formed: RFC 5322 headers, a text part and its
// HTML alternative, both decoded intact.
func TestSend_WellFormedMIMEWithAuthPlain(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Mode: mailtest.Plain, User: "myelin", Password: "s3cret"})
	if err := sender(t, srv, func(c *mail.Config) { c.User, c.Pass = "myelin", "s3cret" }).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages(t)
	if len(got) != 1 {
		t.Fatalf("%d messages received", len(got))
	}
	m := got[0]
	if from, err := m.Header.AddressList("From"); err != nil || from[0].Address != "noreply@example.org" || from[0].Name != "Myelin" {
		t.Errorf("From = %v (%v)", from, err)
	}
	if to, err := m.Header.AddressList("To"); err != nil || to[0].Address != "alice@example.com" {
		t.Errorf("To = %v (%v)", to, err)
	}
	if subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil || subj != msg.Subject {
		t.Errorf("Subject = %q (%v)", subj, err)
	}
	if _, err := m.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if id := m.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.org>") {
		t.Errorf("Message-ID = %q", id)
	}
	// The Maildir stores lines with the local line end.
	if strings.ReplaceAll(m.Text, "\r\n", "\n") != msg.Text || m.HTML != msg.HTML {
		t.Errorf("text = %q\nhtml = %q", m.Text, m.HTML)
	}
}

func TestSend_WrongCredentialsAreRefused(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Mode: mailtest.Plain, User: "myelin", Password: "s3cret"})
	// After a refused AUTH, Go's client sends "*" and waits for an answer
	// aiosmtpd does not give; the timeout ends that wait.
	err := sender(t, srv, func(c *mail.Config) { c.User, c.Pass, c.Timeout = "myelin", "wrong", 3*time.Second }).Send(context.Background(), msg)
	if err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Fatalf("err = %v", err)
	}
	if n := len(srv.Messages(t)); n != 0 {
		t.Fatalf("%d messages received", n)
	}
}

// enable_tls: STARTTLS is used when the server offers it (and this server
// refuses mail without it).
func TestSend_StartTLSWhenOffered(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Mode: mailtest.StartTLS, User: "myelin", Password: "s3cret"})
	s := sender(t, srv, func(c *mail.Config) { c.RequireTLS, c.User, c.Pass = true, "myelin", "s3cret" })
	if err := s.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages(t)); n != 1 {
		t.Fatalf("%d messages received", n)
	}
}

// The server's certificate is checked against tlsname.
func TestSend_StartTLSChecksTheCertificateName(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Mode: mailtest.StartTLS})
	err := sender(t, srv, func(c *mail.Config) { c.TLSName = "mail.example.org" }).Send(context.Background(), msg)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v", err)
	}
}

// require_transport_security: no STARTTLS, no mail.
func TestSend_RequireTransportSecurityRefusesAServerWithoutSTARTTLS(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Mode: mailtest.Plain})
	err := sender(t, srv, func(c *mail.Config) { c.RequireTLS = true }).Send(context.Background(), msg)
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("err = %v", err)
	}
	if n := len(srv.Messages(t)); n != 0 {
		t.Fatalf("%d messages received", n)
	}
}

// force_tls: TLS from the first byte (implicit TLS).
func TestSend_ImplicitTLS(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Mode: mailtest.Implicit, User: "myelin", Password: "s3cret"})
	s := sender(t, srv, func(c *mail.Config) { c.ForceTLS, c.User, c.Pass = true, "myelin", "s3cret" })
	if err := s.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages(t)); n != 1 {
		t.Fatalf("%d messages received", n)
	}
}

// A server that accepts the connection and never answers cannot hold a
// send forever.
func TestSend_SilentServerEndsAtTheTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	s, err := mail.New(mail.Config{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, From: "a@example.org",
		Timeout: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), msg); err == nil {
		t.Fatal("send to a silent server succeeded")
	}
}

func TestSend_RefusesHeaderInjection(t *testing.T) {
	s, err := mail.New(mail.Config{Host: "127.0.0.1", Port: 1, From: "a@example.org"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []mail.Message{
		{To: "alice@example.com\r\nBcc: eve@example.com", Subject: "x", Text: "x"},
		{To: "alice@example.com", Subject: "x\r\nBcc: eve@example.com", Text: "x"},
	} {
		if err := s.Send(context.Background(), m); err == nil || strings.Contains(err.Error(), "connecting") {
			t.Errorf("%q: err = %v, want a refusal before connecting", m.To+m.Subject, err)
		}
	}
}
