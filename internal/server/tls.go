package server

import (
	"fmt"
	"time"

	"github.com/memcons/memcons/internal/certs"
	"github.com/memcons/memcons/internal/field"
)

// tlsFiles returns the certificate files c names.
func (c Config) tlsFiles() certs.Files {
	return certs.Files{Cert: c.TLSCert, Key: c.TLSKey, CA: c.TLSCA}
}

// validateTLS reports TLS settings that do not go together: a certificate
// without its key, a CA without a certificate, peer TLS without a CA, or
// a TLS client port without a certificate. Whether the files load is
// checked by New.
func (c Config) validateTLS() error {
	v := field.NewChecker(ErrConfig, "server.Config")
	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		v.Failf("TLSKey", "must be set when %s is", field.Ref("TLSCert"))
	case c.TLSKey != "" && c.TLSCert == "":
		v.Failf("TLSCert", "must be set when %s is", field.Ref("TLSKey"))
	case c.TLSCA != "" && c.TLSCert == "":
		v.Failf("TLSCA", "needs %s and %s (the CA checks certificates presented to this peer's own)",
			field.Ref("TLSCert"), field.Ref("TLSKey"))
	}
	if c.PeerTLS && (c.TLSCert == "" || c.TLSCA == "") && !v.Failed("TLSCert", "TLSKey") {
		v.Failf("PeerTLS", "needs %s, %s and %s (the cluster CA)", field.Ref("TLSCert"), field.Ref("TLSKey"), field.Ref("TLSCA"))
	}
	for _, p := range c.Peers {
		if p.ClientTLSAddr != "" && c.TLSCert == "" && !v.Failed("TLSCert", "TLSCA") {
			v.Failf("Peers["+p.Name+"].ClientTLSAddr", "needs %s and %s", field.Ref("TLSCert"), field.Ref("TLSKey"))
		}
	}
	return v.Err()
}

// loadCerts loads the peer's certificates when cfg has any.
func loadCerts(cfg Config) (*certs.Source, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	src, err := certs.Load(cfg.tlsFiles())
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", cfg.Self, err)
	}
	cfg.Logger.Info("TLS certificates loaded", "cert", cfg.TLSCert, "ca", cfg.TLSCA,
		"not_after", src.NotAfter().UTC().Format(time.RFC3339))
	return src, nil
}

// ReloadTLS loads the certificate files of cfg (the same or new paths) and
// uses them for every handshake from now on; connections already open keep
// theirs. On an error the peer keeps the certificates it had. A peer
// started without TLS cannot get it this way: its listeners need a restart.
func (s *Server) ReloadTLS(cfg Config) error {
	if s.certs == nil {
		if cfg.TLSCert == "" {
			return nil
		}
		return fmt.Errorf("%w: TLS was off at start; turning it on needs a restart", ErrConfig)
	}
	if cfg.TLSCert == "" {
		return fmt.Errorf("%w: TLS was on at start; turning it off needs a restart", ErrConfig)
	}
	if s.cfg.PeerTLS && cfg.TLSCA == "" {
		return fmt.Errorf("%w: peer TLS needs a CA", ErrConfig)
	}
	if err := s.certs.Reload(cfg.tlsFiles()); err != nil {
		return err
	}
	s.log.Info("TLS certificates reloaded", "cert", cfg.TLSCert, "ca", cfg.TLSCA,
		"not_after", s.certs.NotAfter().UTC().Format(time.RFC3339))
	return nil
}
