package sources

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	"github.com/regsync/regsync/internal/config"
)

// maxSecretFile bounds a password or key file.
const maxSecretFile = 64 << 10

// gitPassword reads git.auth.passwordFile, or returns "" when no basic
// credentials are configured. It runs on every operation, so a rotated
// password is picked up by the next fetch.
func gitPassword(a *config.GitAuth) (string, error) {
	if a == nil || (a.Username == "" && a.PasswordFile == "") {
		return "", nil
	}
	if a.Username == "" || a.PasswordFile == "" {
		return "", errors.New("git.auth.username and git.auth.passwordFile must both be specified")
	}
	return readPassword(a.PasswordFile)
}

// gitAuthMethod builds the credentials of one operation on a repository
// from git.auth and the password read for it. The key file is read every
// time too.
func gitAuthMethod(a *config.GitAuth, ep *transport.Endpoint, password string, timeout time.Duration) (transport.AuthMethod, error) {
	if a == nil {
		a = &config.GitAuth{}
	}
	switch ep.Protocol {
	case "http", "https":
		if a.Username == "" {
			return nil, nil
		}
		return &githttp.BasicAuth{Username: a.Username, Password: password}, nil
	case "ssh":
		return sshAuth(a, ep, password, timeout)
	default:
		// git:// and local repositories take no credentials.
		return nil, nil
	}
}

// readPassword reads a password file as the ToolHive Registry Server does:
// an absolute path, symlinks resolved, surrounding white space trimmed.
func readPassword(file string) (string, error) {
	if !filepath.IsAbs(file) {
		return "", fmt.Errorf("failed to read git password: password file %s must be an absolute path", file)
	}
	b, err := readSecretFile(file)
	if err != nil {
		return "", fmt.Errorf("failed to read git password: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func readSecretFile(file string) ([]byte, error) {
	resolved, err := filepath.EvalSymlinks(file)
	if err != nil {
		return nil, err
	}
	return readRegular(resolved, maxSecretFile)
}

// sshAuth returns public key authentication with git.auth.sshKeyFile, else
// password authentication with git.auth.username, else the ssh agent. The
// server's host key is checked against git.auth.knownHostsFile, else the
// system's known_hosts files; it is never accepted unchecked.
func sshAuth(a *config.GitAuth, ep *transport.Endpoint, password string, timeout time.Duration) (transport.AuthMethod, error) {
	user := ep.User
	if user == "" {
		user = "git"
	}
	port := ep.Port
	if port == 0 {
		port = gitssh.DefaultPort
	}
	var files []string
	if a.KnownHostsFile != "" {
		files = []string{a.KnownHostsFile}
	}
	db, err := gitssh.NewKnownHostsDb(files...)
	if err != nil {
		return nil, fmt.Errorf("failed to read known hosts: %w", err)
	}
	hostKey := gitssh.HostKeyCallbackHelper{
		HostKeyCallback:   db.HostKeyCallback(),
		HostKeyAlgorithms: db.HostKeyAlgorithms(net.JoinHostPort(strings.Trim(ep.Host, "[]"), strconv.Itoa(port))),
	}

	var inner gitssh.AuthMethod
	switch {
	case a.SSHKeyFile != "":
		if !filepath.IsAbs(a.SSHKeyFile) {
			return nil, fmt.Errorf("failed to read ssh key: %s must be an absolute path", a.SSHKeyFile)
		}
		pem, err := readSecretFile(a.SSHKeyFile)
		if err != nil {
			return nil, fmt.Errorf("failed to read ssh key: %w", err)
		}
		signer, err := ssh.ParsePrivateKey(pem)
		if err != nil {
			var missing *ssh.PassphraseMissingError
			if errors.As(err, &missing) {
				return nil, fmt.Errorf("failed to read ssh key %s: the key is encrypted; give regsync an unencrypted key", a.SSHKeyFile)
			}
			return nil, fmt.Errorf("failed to read ssh key %s: %w", a.SSHKeyFile, err)
		}
		inner = &gitssh.PublicKeys{User: user, Signer: signer, HostKeyCallbackHelper: hostKey}
	case a.Username != "":
		inner = &gitssh.Password{User: a.Username, Password: password, HostKeyCallbackHelper: hostKey}
	default:
		agent, err := gitssh.NewSSHAgentAuth(user)
		if err != nil {
			return nil, fmt.Errorf("no ssh credentials: set git.auth.sshKeyFile or run an ssh agent: %w", err)
		}
		agent.HostKeyCallbackHelper = hostKey
		inner = agent
	}
	return &sshMethod{AuthMethod: inner, timeout: timeout}, nil
}

// sshMethod adds a connection timeout to an ssh authentication method.
type sshMethod struct {
	gitssh.AuthMethod
	timeout time.Duration
}

func (m *sshMethod) ClientConfig() (*ssh.ClientConfig, error) {
	cfg, err := m.AuthMethod.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.Timeout = m.timeout
	return cfg, nil
}
