package sources

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources/gittest"
)

// sshGitServer serves a root of repositories over ssh on loopback, the
// way a forge does: public key authentication, then git-upload-pack run
// for the repository the client names.
type sshGitServer struct {
	addr    string
	hostKey ssh.PublicKey
	execs   atomic.Int64
}

func newSSHKey(t *testing.T) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

func startSSHGitServer(t *testing.T, root string, authorized ssh.PublicKey) *sshGitServer {
	t.Helper()
	gittest.Git(t)
	host, _ := newSSHKey(t)
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(host)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sshGitServer{addr: l.Addr().String(), hostKey: host.PublicKey()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(conn, cfg, root)
			}()
		}
	}()
	return s
}

func (s *sshGitServer) serve(conn net.Conn, cfg *ssh.ServerConfig, root string) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		for req := range chReqs {
			if req.Type != "exec" {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			s.execs.Add(1)
			status := s.uploadPack(ch, req.Payload, root)
			_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
			ch.Close()
			break
		}
	}
}

// uploadPack runs "git-upload-pack '<path>'" against root.
func (s *sshGitServer) uploadPack(ch ssh.Channel, payload []byte, root string) uint32 {
	if len(payload) < 4 {
		return 1
	}
	line := string(payload[4:])
	name, arg, ok := strings.Cut(line, " ")
	if !ok || name != "git-upload-pack" {
		_, _ = io.WriteString(ch.Stderr(), "only git-upload-pack is served\n")
		return 1
	}
	repo := filepath.Join(root, filepath.Clean("/"+strings.Trim(arg, "'")))
	cmd := exec.Command("git", "upload-pack", repo)
	cmd.Env = append(os.Environ(), gittest.Env...)
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 1
	}
	if err := cmd.Start(); err != nil {
		return 1
	}
	go func() { _, _ = io.Copy(stdin, ch); stdin.Close() }()
	if err := cmd.Wait(); err != nil {
		return 1
	}
	return 0
}

func writeKnownHosts(t *testing.T, addr string, key ssh.PublicKey) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
	if err := os.WriteFile(p, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeSSHKey(t *testing.T, priv ed25519.PrivateKey, passphrase string) string {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGitOverSSH(t *testing.T) {
	u := newUpstream(t)
	client, clientPriv := newSSHKey(t)
	srv := startSSHGitServer(t, u.root, client.PublicKey())
	c1 := u.commit("main", registryFiles(testRegistry("a")))
	keyFile := writeSSHKey(t, clientPriv, "")
	knownHosts := writeKnownHosts(t, srv.addr, srv.hostKey)
	_, port, _ := net.SplitHostPort(srv.addr)
	auth := func(key, hosts string) func(*config.Git) {
		return func(g *config.Git) { g.Auth = &config.GitAuth{SSHKeyFile: key, KnownHostsFile: hosts} }
	}
	f := &Fetcher{DataDir: t.TempDir()}

	urls := map[string]string{
		"ssh URL": "ssh://git@" + srv.addr + "/" + u.name,
		// go-git's scp-like form takes a port as host:port:path.
		"scp-like form": "git@127.0.0.1:" + port + ":" + u.name,
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			src := gitSrc(url, auth(keyFile, knownHosts))
			mustFetch(t, f, src, testRegistry("a"), c1)
			before := srv.execs.Load()
			mustFetch(t, f, src, testRegistry("a"), c1)
			if n := srv.execs.Load() - before; n != 1 {
				t.Errorf("an unchanged check ran %d upload-packs, want 1 (the ref listing)", n)
			}
			if rev, err := f.Revision(bg(), src); err != nil || rev != c1.String() {
				t.Errorf("Revision = %s, %v", rev, err)
			}
		})
	}

	url := urls["ssh URL"]
	t.Run("unknown host key is refused", func(t *testing.T) {
		other, _ := newSSHKey(t)
		fetchErr(t, f, gitSrc(url, auth(keyFile, writeKnownHosts(t, srv.addr, other.PublicKey()))),
			"failed to clone repository: ssh://"+srv.addr+"/"+u.name, "host key verification failed")
	})
	t.Run("host missing from known hosts is refused", func(t *testing.T) {
		fetchErr(t, f, gitSrc(url, auth(keyFile, writeKnownHosts(t, "127.0.0.2:22", srv.hostKey))), "host key verification failed")
	})
	t.Run("wrong key", func(t *testing.T) {
		_, otherPriv := newSSHKey(t)
		err := fetchErr(t, f, gitSrc(url, auth(writeSSHKey(t, otherPriv, ""), knownHosts)), "authentication failed")
		if strings.Contains(err.Error(), "git@") {
			t.Errorf("the user is in the error: %v", err)
		}
	})
	t.Run("encrypted key", func(t *testing.T) {
		fetchErr(t, f, gitSrc(url, auth(writeSSHKey(t, clientPriv, "passphrase"), knownHosts)), "the key is encrypted")
	})
	t.Run("missing key file", func(t *testing.T) {
		fetchErr(t, f, gitSrc(url, auth(filepath.Join(t.TempDir(), "absent"), knownHosts)), "failed to read ssh key")
	})
	t.Run("key rotation is read on the next fetch", func(t *testing.T) {
		// The server trusts one key; a file rewritten with another fails,
		// and rewritten back works, with no restart.
		_, otherPriv := newSSHKey(t)
		rotating := writeSSHKey(t, otherPriv, "")
		fetchErr(t, f, gitSrc(url, auth(rotating, knownHosts)), "authentication failed")
		good, err := os.ReadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(rotating, good, 0o600); err != nil {
			t.Fatal(err)
		}
		mustFetch(t, f, gitSrc(url, auth(rotating, knownHosts)), testRegistry("a"), c1)
	})
}
