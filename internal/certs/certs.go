// Package certs loads a peer's TLS certificate, key and CA from files,
// reloads them on demand, and hands out tls.Configs that always use the
// latest files loaded.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrCerts reports certificate files that cannot be used.
var ErrCerts = errors.New("tls certificates")

// Files names the PEM files of a peer's TLS identity.
type Files struct {
	Cert string // certificate chain, leaf first
	Key  string // private key of the leaf
	CA   string // CA certificates; "" means none
}

// material is one successful load of Files.
type material struct {
	files Files
	cert  *tls.Certificate
	pool  *x509.CertPool // nil without a CA
}

// Source holds the latest certificates loaded from its files. Its methods
// are safe for concurrent use; handshakes under way keep the material they
// started with.
type Source struct {
	mu  sync.Mutex // serializes Reload
	cur atomic.Pointer[material]
}

// Load reads f and returns a Source serving it.
func Load(f Files) (*Source, error) {
	m, err := load(f)
	if err != nil {
		return nil, err
	}
	s := &Source{}
	s.cur.Store(m)
	return s, nil
}

// Reload reads f and, if every file loads and matches, serves it from now
// on; on an error the Source keeps serving what it had.
func (s *Source) Reload(f Files) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := load(f)
	if err != nil {
		return err
	}
	s.cur.Store(m)
	return nil
}

// Files returns the files the current material came from.
func (s *Source) Files() Files { return s.cur.Load().files }

// NotAfter returns when the current leaf certificate expires.
func (s *Source) NotAfter() time.Time { return s.cur.Load().cert.Leaf.NotAfter }

// HasCA reports whether the current material includes a CA.
func (s *Source) HasCA() bool { return s.cur.Load().pool != nil }

func load(f Files) (*material, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("%w: certificate and key files are both required", ErrCerts)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: load %s and %s: %w", ErrCerts, f.Cert, f.Key, err)
	}
	// Go 1.23+ fills cert.Leaf; parse it on older behaviour too.
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%w: parse %s: %w", ErrCerts, f.Cert, err)
		}
	}
	m := &material{files: f, cert: &cert}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("%w: read CA: %w", ErrCerts, err)
		}
		m.pool = x509.NewCertPool()
		if !m.pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrCerts, f.CA)
		}
	}
	return m, nil
}

// ClientPortConfig is the client port's server config, with memcached's -Z
// semantics: the peer presents its certificate; with a CA, every client
// must present a certificate the CA signed (memcached's ssl_ca_cert with
// ssl_verify_mode 2).
func (s *Source) ClientPortConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := s.cur.Load()
			c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*m.cert}}
			if m.pool != nil {
				c.ClientAuth = tls.RequireAndVerifyClientCert
				c.ClientCAs = m.pool
			}
			return c, nil
		},
	}
}

// PeerServerConfig is the peer port's server config: both sides present a
// certificate signed by the cluster CA. Names are not checked here: the
// HMAC handshake inside the TLS session proves which peer is which.
func (s *Source) PeerServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := s.cur.Load()
			return &tls.Config{
				MinVersion:       tls.VersionTLS13,
				Certificates:     []tls.Certificate{*m.cert},
				ClientAuth:       tls.RequireAnyClientCert,
				VerifyConnection: verifyFrom(m.pool),
			}, nil
		},
	}
}

// PeerClientConfig is the config a peer dials another with; see
// PeerServerConfig.
func (s *Source) PeerClientConfig() *tls.Config {
	m := s.cur.Load()
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{*m.cert},
		// The chain is checked by VerifyConnection against the cluster CA,
		// without a host name: peers are named by the HMAC handshake.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection:   verifyFrom(m.pool),
	}
}

// ErrUntrusted reports a peer certificate the cluster CA did not sign.
var ErrUntrusted = errors.New("certificate not signed by the cluster CA (tls_ca)")

// verifyFrom checks that the other side's chain leads to a CA in pool.
func verifyFrom(pool *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if pool == nil {
			return fmt.Errorf("%w: no cluster CA loaded", ErrUntrusted)
		}
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: no certificate presented", ErrUntrusted)
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		leaf := cs.PeerCertificates[0]
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			return fmt.Errorf("%w: %q: %w", ErrUntrusted, leaf.Subject.CommonName, err)
		}
		return nil
	}
}
