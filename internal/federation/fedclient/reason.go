package fedclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"syscall"

	"github.com/myelin-chat/myelin/internal/federation/discovery"
)

// Reason says in a few words why a request got no answer from its
// destination, for messages a user or an operator reads ("connection
// refused", "TLS certificate verification failed: …"). It returns "" for
// an answer (*Error), which carries its own status and message, and for
// errors that are not about the destination at all.
func Reason(err error) string {
	var fe *Error
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case err == nil || errors.As(err, &fe):
		return ""
	case errors.Is(err, ErrDenied):
		return "federation with it is not allowed by federation_domain_whitelist"
	case errors.Is(err, ErrBlocked):
		return "its addresses are blocked by ip_range_blacklist"
	case errors.As(err, &unknownCA):
		return "TLS certificate verification failed: the certificate is not signed by a trusted authority"
	case errors.As(err, &hostname):
		return "TLS certificate verification failed: " + hostname.Error()
	case errors.As(err, &invalid):
		return "TLS certificate verification failed: " + invalid.Error()
	case errors.As(err, &verify):
		return "TLS certificate verification failed: " + verify.Err.Error()
	case TimedOut(err):
		return "it did not answer in time"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "unreachable: connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable: no route to it"
	case errors.As(err, &dnsErr), errors.Is(err, discovery.ErrNoAddress):
		return "unreachable: its address could not be found"
	case errors.Is(err, ErrResponseTooLarge):
		return "its answer was too large"
	case errors.Is(err, ErrBadResponse):
		return "its answer was invalid"
	case errors.Is(err, ErrUnreachable):
		return "unreachable: " + strings.TrimPrefix(err.Error(), ErrUnreachable.Error()+": ")
	}
	return ""
}

// TimedOut reports whether a request failed because the destination did
// not answer in time (connecting, the TLS handshake or the response).
func TimedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
