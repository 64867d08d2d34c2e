package runca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// Identity is a certificate the node's CA issues: NAME.crt and NAME.key.
type Identity struct {
	Name string
	// CommonName and Organizations are the user and groups the API server
	// authenticates a client as (system:node:NAME in system:nodes).
	CommonName    string
	Organizations []string
	// Hosts, when set, make it a serving certificate for these IP addresses
	// and DNS names; otherwise it is a client certificate.
	Hosts []string
}

// NodePKI is what the real node's control plane and kubelet authenticate
// with, for one run: a CA that is kept (the controller manager signs with
// it), its identities, and the service-account key pair.
type NodePKI struct {
	// Dir receives ca.crt, ca.key, NAME.crt and NAME.key for each identity,
	// sa.key and sa.pub.
	Dir        string
	Identities []Identity
	Now        time.Time
	ValidFor   time.Duration
}

// Write writes p's files. Dir must not exist: a second run's CA never
// mixes with a first one's certificates, and on an error nothing of Dir is
// left.
func (p NodePKI) Write() (err error) {
	if len(p.Identities) == 0 {
		return fmt.Errorf("no identities to certify")
	}
	if err := os.Mkdir(p.Dir, 0o700); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(p.Dir)
		}
	}()
	ca, caKey, err := newCA("kubelet-ctxfix-node-ca", p.Now, p.ValidFor)
	if err != nil {
		return err
	}
	if err := writePair(p.Dir, "ca", ca, caKey); err != nil {
		return err
	}
	seen := map[string]bool{"ca": true, "sa": true}
	for _, id := range p.Identities {
		if id.Name == "" || id.CommonName == "" {
			return fmt.Errorf("identity %+v: a name and a common name are required", id)
		}
		if seen[id.Name] {
			return fmt.Errorf("identity %s given twice, or named as the CA's or the service accounts' files", id.Name)
		}
		seen[id.Name] = true
		leaf, key, err := issue(ca, caKey, pkix.Name{CommonName: id.CommonName, Organization: id.Organizations}, id.Hosts, p.Now, p.ValidFor)
		if err != nil {
			return fmt.Errorf("identity %s: %w", id.Name, err)
		}
		if err := writePair(p.Dir, id.Name, leaf, key); err != nil {
			return err
		}
	}
	// The API server signs service-account tokens with sa.key and checks
	// them with sa.pub.
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(saKey)
	if err != nil {
		return err
	}
	if err := keyutil.WriteKey(filepath.Join(p.Dir, "sa.key"), keyPEM); err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p.Dir, "sa.pub"), pemBlock("PUBLIC KEY", pubDER), 0o644)
}

// WriteKubeconfig writes, with client-go's clientcmd, a kubeconfig at path
// for the identity user of the node's PKI in dir, to server.
func WriteKubeconfig(path, server, dir, user string) error {
	// clientcmd resolves relative paths from the kubeconfig's folder.
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for _, f := range []string{"ca.crt", user + ".crt", user + ".key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("kubeconfig %s: %w", path, err)
		}
	}
	config := clientcmdapi.NewConfig()
	config.Clusters["ctxfix"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: filepath.Join(dir, "ca.crt")}
	config.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificate: filepath.Join(dir, user+".crt"), ClientKey: filepath.Join(dir, user+".key")}
	config.Contexts["ctxfix"] = &clientcmdapi.Context{Cluster: "ctxfix", AuthInfo: user}
	config.CurrentContext = "ctxfix"
	return clientcmd.WriteToFile(*config, path)
}

// newCA makes a CA, valid from now for validFor, that signs leaf
// certificates only.
func newCA(commonName string, now time.Time, validFor time.Duration) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}

// issue signs a certificate for subject with a new key: a serving one for
// hosts (IP addresses or DNS names), or a client one without.
func issue(ca *x509.Certificate, caKey crypto.Signer, subject pkix.Name, hosts []string, now time.Time, validFor time.Duration) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	template := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      subject,
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(hosts) > 0 {
		template.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	for _, host := range hosts {
		if ip := net.ParseIP(host); ip != nil {
			template.IPAddresses = append(template.IPAddresses, ip)
		} else {
			template.DNSNames = append(template.DNSNames, host)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return leaf, key, nil
}

// writePair writes NAME.crt, and NAME.key readable by its owner only.
func writePair(dir, name string, c *x509.Certificate, key *ecdsa.PrivateKey) error {
	certPEM, err := cert.EncodeCertificates(c)
	if err != nil {
		return err
	}
	if err := cert.WriteCert(filepath.Join(dir, name+".crt"), certPEM); err != nil {
		return err
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return err
	}
	return keyutil.WriteKey(filepath.Join(dir, name+".key"), keyPEM)
}
