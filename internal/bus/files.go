package bus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/regsync/regsync/internal/bounded"
)

// The files of NATS credentials and TLS are read as every file regsync
// reads (bounded.ReadFile: a regular file only, never blocking on a FIFO,
// bounded), and again on every connection attempt, as nats.go's own
// options do, so rotated files are picked up on reconnect.

// maxKeyFileSize bounds a credentials, seed, certificate, key or CA file.
const maxKeyFileSize = 1 << 20

func readKeyFile(what, path string) ([]byte, error) {
	b, err := bounded.ReadFile(path, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, path, err)
	}
	return b, nil
}

// credsOption authenticates with the user JWT and seed of a NATS
// credentials file.
func credsOption(path string) nats.Option {
	user := func() (string, error) {
		b, err := readKeyFile("nats credentials file", path)
		if err != nil {
			return "", err
		}
		defer clear(b)
		return nkeys.ParseDecoratedJWT(b)
	}
	sign := func(nonce []byte) ([]byte, error) {
		return signWith("nats credentials file", path, nonce)
	}
	return nats.UserJWT(user, sign)
}

// nkeyOption authenticates with the NKey seed in a file.
func nkeyOption(path string) (nats.Option, error) {
	kp, err := seedFrom("nkey seed file", path)
	if err != nil {
		return nil, err
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("nkey seed file %s: %w", path, err)
	}
	if !nkeys.IsValidPublicUserKey(pub) {
		return nil, fmt.Errorf("nkey seed file %s: not a user seed", path)
	}
	return nats.Nkey(pub, func(nonce []byte) ([]byte, error) {
		return signWith("nkey seed file", path, nonce)
	}), nil
}

func seedFrom(what, path string) (nkeys.KeyPair, error) {
	b, err := readKeyFile(what, path)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return kp, nil
}

// signWith signs a server's nonce with the seed read from path now, so
// the seed is not kept in memory.
func signWith(what, path string, nonce []byte) ([]byte, error) {
	kp, err := seedFrom(what, path)
	if err != nil {
		return nil, err
	}
	defer kp.Wipe()
	return kp.Sign(nonce)
}

// clientTLSOption is the client side of TLS: caFile, when set, holds the
// CAs the server's certificate must chain to; certFile and keyFile, when
// set, the client certificate.
func clientTLSOption(caFile, certFile, keyFile string) nats.Option {
	var certCB nats.TLSCertHandler
	if certFile != "" || keyFile != "" {
		certCB = func() (tls.Certificate, error) { return loadCertificate(certFile, keyFile) }
	}
	var rootsCB nats.RootCAsHandler
	if caFile != "" {
		rootsCB = func() (*x509.CertPool, error) { return loadCAs(caFile) }
	}
	return nats.ClientTLSConfig(certCB, rootsCB)
}

// loadCertificate reads a certificate and its private key (PEM).
func loadCertificate(certFile, keyFile string) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, errors.New("a certificate needs both certFile and keyFile")
	}
	certPEM, err := readKeyFile("certFile", certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readKeyFile("keyFile", keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	defer clear(keyPEM)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// loadCAs reads a CA bundle (PEM).
func loadCAs(caFile string) (*x509.CertPool, error) {
	caPEM, err := readKeyFile("caFile", caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("caFile %s holds no PEM certificate", caFile)
	}
	return pool, nil
}
