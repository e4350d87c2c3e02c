// Package fedtest helps federation tests: a throwaway certificate
// authority, certificates for DNS names and IP addresses, HTTPS servers on
// loopback addresses (127.0.0.0/8 is all loopback on Linux), and a DNS
// answering from a map. It is only imported by tests.
package fedtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// CA is a certificate authority made for one test.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEMPath is the CA certificate as a PEM file, for
	// federation_custom_ca_list.
	PEMPath string
	// Pool trusts this CA only.
	Pool *x509.CertPool
}

// NewCA makes a CA valid for a day and writes its certificate to a PEM
// file in t.TempDir().
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Myelin test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, key: key, PEMPath: path, Pool: pool}
}

var serial struct {
	sync.Mutex
	n int64
}

// Issue makes a server certificate for the given DNS names and IP
// addresses (strings that parse as IPs become IP SANs).
func (ca *CA) Issue(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial.Lock()
	serial.n++
	sn := serial.n + 1
	serial.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(sn),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Server is an HTTPS server on a loopback address.
type Server struct {
	// Addr is "ip:port".
	Addr string
	// Port is the port alone.
	Port string

	mu  sync.Mutex
	sni []string
	srv *http.Server
}

// Serve starts an HTTPS server for h on ip (e.g. "127.0.0.2", port chosen
// by the kernel) with cert, stopped when the test ends.
func Serve(t testing.TB, ip string, cert tls.Certificate, h http.Handler) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	s := &Server{Addr: ln.Addr().String()}
	_, s.Port, _ = net.SplitHostPort(s.Addr)
	conf := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			s.mu.Lock()
			s.sni = append(s.sni, hello.ServerName)
			s.mu.Unlock()
			return nil, nil
		},
	}
	// Handshake failures are what some tests provoke; keep them out of
	// the test output.
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = s.srv.Serve(tls.NewListener(ln, conf)) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// Close stops the server (it also stops when the test ends).
func (s *Server) Close() { _ = s.srv.Close() }

// SNI returns the server names clients sent in their TLS handshakes so
// far ("" for none).
func (s *Server) SNI() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sni...)
}

// DNS answers address and SRV lookups from maps; names it does not know
// are "not found".
type DNS struct {
	mu  sync.Mutex
	ips map[string][]string
	srv map[string][]*net.SRV
}

// NewDNS returns an empty DNS.
func NewDNS() *DNS { return &DNS{ips: map[string][]string{}, srv: map[string][]*net.SRV{}} }

// SetIP makes host resolve to ips.
func (d *DNS) SetIP(host string, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ips[host] = ips
}

// SetSRV sets the records of _service._proto.name.
func (d *DNS) SetSRV(service, proto, name string, recs ...*net.SRV) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.srv["_"+service+"._"+proto+"."+name] = recs
}

// LookupIPAddr implements discovery.DNS.
func (d *DNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ss, ok := d.ips[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]net.IPAddr, 0, len(ss))
	for _, s := range ss {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

// LookupSRV implements discovery.DNS.
func (d *DNS) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := "_" + service + "._" + proto + "." + name
	recs, ok := d.srv[key]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: key, IsNotFound: true}
	}
	return key, recs, nil
}
