// Package runca makes the certificate authorities of one run of a test and
// the certificates they sign: a serving certificate, so that a server
// started for the run (the loopback image registry) speaks TLS that its
// clients verify, as they would with a real one, rather than plain HTTP;
// and the real node's PKI and kubeconfigs (NodePKI, WriteKubeconfig).
package runca

import (
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/util/cert"
)

// Files are the paths Write writes, in its folder.
const (
	CAFile   = "ca.crt"
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// Write writes a new CA's certificate and a serving certificate for hosts
// (IP addresses or DNS names), with its key, into dir, valid from now for
// validFor. The CA's own key is not kept: nothing else can be signed by it.
func Write(dir string, hosts []string, now time.Time, validFor time.Duration) error {
	if len(hosts) == 0 {
		return fmt.Errorf("no hosts to certify")
	}
	ca, caKey, err := newCA("kubelet-ctxfix-run-ca", now, validFor)
	if err != nil {
		return err
	}
	leaf, key, err := issue(ca, caKey, pkix.Name{CommonName: hosts[0]}, hosts, now, validFor)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	certPEM, err := cert.EncodeCertificates(ca)
	if err != nil {
		return err
	}
	if err := cert.WriteCert(filepath.Join(dir, CAFile), certPEM); err != nil {
		return err
	}
	// tls.crt and tls.key (CertFile, KeyFile), as the node's pairs are written.
	return writePair(dir, "tls", leaf, key)
}

func pemBlock(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}
