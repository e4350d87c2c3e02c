// Package mailtest runs a real SMTP server for tests: aiosmtpd, from
// Debian's python3-aiosmtpd, started as a process on 127.0.0.1 and
// storing what it accepts in a Maildir the test reads.
package mailtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

//go:embed smtpd.py
var smtpdScript []byte

// Python is the interpreter that has python3-aiosmtpd.
const Python = "/usr/bin/python3"

// Mode is how the server speaks TLS.
type Mode string

// The server's TLS modes.
const (
	Plain    Mode = "plain"    // no TLS offered
	StartTLS Mode = "starttls" // STARTTLS offered and required before mail
	Implicit Mode = "implicit" // TLS from the first byte
)

// Options of a Server.
type Options struct {
	Mode Mode
	// User and Password, when set, make the server require AUTH PLAIN.
	User, Password string
}

// Server is a running SMTP server.
type Server struct {
	Port int
	// RootCAs trust the server's certificate (valid for 127.0.0.1 and
	// localhost) in the TLS modes.
	RootCAs *x509.CertPool
	maildir string
}

// Start starts a server for the test and stops it at cleanup. Without
// python3-aiosmtpd it skips the test, except in CI (CI=true), where the
// server is a declared dependency and its absence fails the test.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if err := exec.Command(Python, "-c", "import aiosmtpd").Run(); err != nil {
		msg := "python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd); it is the SMTP server of the email tests"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	s := &Server{maildir: filepath.Join(dir, "maildir")}
	script := filepath.Join(dir, "smtpd.py")
	if err := os.WriteFile(script, smtpdScript, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{script, "--maildir", s.maildir, "--mode", string(opts.Mode)}
	if opts.Mode == "" {
		args[len(args)-1] = string(Plain)
	}
	if opts.Mode == StartTLS || opts.Mode == Implicit {
		cert, key, pool := selfSigned(t, dir)
		s.RootCAs = pool
		args = append(args, "--cert", cert, "--key", key)
	}
	if opts.User != "" {
		args = append(args, "--user", opts.User, "--password", opts.Password)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, Python, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the SMTP server did not start: %v\n%s", err, stderr.String())
	}
	if s.Port, err = strconv.Atoi(strings.TrimSpace(line)); err != nil {
		t.Fatalf("the SMTP server printed %q", line)
	}
	return s
}

// Mail is one received message, decoded.
type Mail struct {
	Header netmail.Header
	// Text and HTML are the decoded text/plain and text/html parts.
	Text, HTML string
	Raw        []byte
}

// Messages returns what the server accepted so far, oldest first.
func (s *Server) Messages(t testing.TB) []Mail {
	t.Helper()
	dir := filepath.Join(s.maildir, "new")
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	type file struct {
		mod  time.Time
		name string
	}
	var files []file
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, file{info.ModTime(), e.Name()})
	}
	sort.Slice(files, func(i, j int) bool {
		return files[i].mod.Before(files[j].mod) || files[i].mod.Equal(files[j].mod) && files[i].name < files[j].name
	})
	var out []Mail
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, parse(t, raw))
	}
	return out
}

// parse decodes a message's text and HTML parts.
func parse(t testing.TB, raw []byte) Mail {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("received mail does not parse: %v\n%s", err, raw)
	}
	m := Mail{Header: msg.Header, Raw: raw}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	add := func(typ, cte string, body io.Reader) {
		if strings.EqualFold(cte, "quoted-printable") {
			body = quotedprintable.NewReader(body)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "text/plain":
			m.Text = string(b)
		case "text/html":
			m.HTML = string(b)
		}
	}
	if !strings.HasPrefix(mt, "multipart/") {
		add(mt, msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		return m
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return m
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		add(pt, p.Header.Get("Content-Transfer-Encoding"), p)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and localhost and its key.
func selfSigned(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
