package connerr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
)

// Kind is the cause of a connection failure.
type Kind int

// Kinds of connection failure.
const (
	// Other: a failure none of the other kinds describes.
	Other Kind = iota
	// Refused: the address was reached but nothing listens there.
	Refused
	// DNS: the host name does not resolve.
	DNS
	// NoSocket: a Unix socket path does not exist (the service is not running).
	NoSocket
	// Permission: the socket exists but this user may not open it.
	Permission
	// TLS: the TLS handshake failed (an untrusted or mismatched certificate,
	// or a server that does not speak TLS at all).
	TLS
	// Timeout: the connection or the answer took too long.
	Timeout
	// PlainHTTP: the server answered plain HTTP where HTTPS was expected, or
	// plain HTTP is what it speaks and the caller did not allow it.
	PlainHTTP
)

var kindText = map[Kind]string{
	Other:      "connection failed",
	Refused:    "connection refused (nothing is listening there)",
	DNS:        "host name does not resolve",
	NoSocket:   "no such socket (is the service running?)",
	Permission: "permission denied on the socket",
	TLS:        "TLS handshake failed",
	Timeout:    "timed out",
	PlainHTTP:  "the server speaks plain HTTP, not HTTPS",
}

func (k Kind) String() string { return kindText[k] }

// Error is a classified connection failure to Server (a host:port, a URL or
// a socket path).
type Error struct {
	Server string
	Kind   Kind
	Err    error
}

func (e *Error) Error() string {
	switch e.Kind {
	case Other:
		return fmt.Sprintf("connect to %s: %v", e.Server, e.Err)
	case Refused, NoSocket, Permission: // the cause's text would only repeat the kind
		return fmt.Sprintf("connect to %s: %s", e.Server, e.Kind)
	}
	return fmt.Sprintf("connect to %s: %s: %v", e.Server, e.Kind, innermost(e.Err))
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// errPlainHTTPText is how net/http reports a server that answered plain
// HTTP to an HTTPS request (an untyped error).
var errPlainHTTPText = "server gave HTTP response to HTTPS client"

// Classify wraps err in an *Error naming server when err is a connection
// failure it recognises; any other error (an HTTP status, a protocol error,
// a cancelled context) is returned unchanged. An err that already holds an
// *Error is returned unchanged.
func Classify(server string, err error) error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) || errors.Is(err, context.Canceled) {
		return err
	}
	k, ok := kindOf(err)
	if !ok {
		return err
	}
	return &Error{Server: server, Kind: k, Err: err}
}

// KindOf returns the kind of a connection failure, and false when err is
// not one.
func KindOf(err error) (Kind, bool) {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Kind, true
	}
	return kindOf(err)
}

func kindOf(err error) (Kind, bool) {
	if strings.Contains(err.Error(), errPlainHTTPText) {
		return PlainHTTP, true
	}
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var unk x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	var rec tls.RecordHeaderError
	var alert tls.AlertError
	var op *net.OpError
	switch {
	case errors.As(err, &dns):
		if dns.IsTimeout {
			return Timeout, true
		}
		return DNS, true
	case errors.As(err, &cert), errors.As(err, &unk), errors.As(err, &host), errors.As(err, &inv),
		errors.As(err, &rec), errors.As(err, &alert):
		return TLS, true
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused, true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return Timeout, true
	case errors.As(err, &op) && op.Op == "dial":
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return NoSocket, true
		case errors.Is(err, fs.ErrPermission):
			return Permission, true
		case op.Timeout():
			return Timeout, true
		}
		return Other, true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout, true
	}
	return Other, false
}

// innermost strips url.Error and net.OpError wrappers, whose text repeats
// the method, URL and address the Error already names.
func innermost(err error) error {
	for {
		var ue *url.Error
		var op *net.OpError
		switch {
		case errors.As(err, &ue) && ue.Err != nil:
			err = ue.Err
		case errors.As(err, &op) && op.Err != nil:
			err = op.Err
		default:
			if se, ok := err.(*os.SyscallError); ok {
				return se.Err
			}
			return err
		}
	}
}
