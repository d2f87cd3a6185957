package sources

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/regsync/regsync/internal/bounded"
	"github.com/regsync/regsync/internal/config"
)

const (
	// maxSymlinkHops bounds the symlinks followed to reach a file, as
	// MAXSYMLINKS does in the kernel.
	maxSymlinkHops = 40
	// maxSymlinkTarget bounds a symlink's target.
	maxSymlinkTarget = 4096
)

// pathError is a problem with the configured path in a commit's tree (a
// missing file, a directory, a symlink leaving the repository): the user's
// to fix, never a sign of a damaged clone.
type pathError struct{ msg string }

func (e *pathError) Error() string { return e.msg }

// cleanGitPath checks a configured path and returns it in the form looked
// up in a tree: no leading "./", no doubled or trailing slashes.
func cleanGitPath(p string) (string, error) {
	if err := config.CheckGitPath(p); err != nil {
		return "", err
	}
	return strings.TrimPrefix(path.Clean(p), "./"), nil
}

// resolveFile finds the regular file at name in tree, reading the commit's
// tree objects rather than any work tree. Symlinks are followed while they
// stay inside the repository; a symlink whose target is absolute or climbs
// out of the repository root is refused ("symlink out of the repository").
// A *pathError says the path is wrong; any other error means an object of
// the clone could not be read.
func resolveFile(s storer.EncodedObjectStorer, root *object.Tree, name string) (*object.TreeEntry, error) {
	hops := 0
walk:
	for {
		parts := strings.Split(name, "/")
		t := root
		for i, part := range parts {
			dir := strings.Join(parts[:i], "/")
			e, err := t.FindEntry(part)
			if err != nil {
				if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
					return nil, &pathError{fmt.Sprintf("%s: file not found", name)}
				}
				return nil, &pathError{fmt.Sprintf("%s: %v", name, err)}
			}
			last := i == len(parts)-1
			switch {
			case e.Mode == filemode.Symlink:
				hops++
				if hops > maxSymlinkHops {
					return nil, &pathError{fmt.Sprintf("%s: too many levels of symbolic links", name)}
				}
				target, err := readLink(s, e.Hash)
				if err != nil {
					return nil, err
				}
				link := path.Join(dir, part)
				if path.IsAbs(target) {
					return nil, &pathError{fmt.Sprintf("%s: symlink out of the repository (%s -> %s)", name, link, target)}
				}
				next := path.Join(append([]string{dir, target}, parts[i+1:]...)...)
				if next == ".." || strings.HasPrefix(next, "../") {
					return nil, &pathError{fmt.Sprintf("%s: symlink out of the repository (%s -> %s)", name, link, target)}
				}
				if next == "." || next == "" {
					return nil, &pathError{fmt.Sprintf("%s: is a directory", name)}
				}
				name = next
				continue walk
			case last && (e.Mode == filemode.Regular || e.Mode == filemode.Executable || e.Mode == filemode.Deprecated):
				return e, nil
			case last && e.Mode == filemode.Dir:
				return nil, &pathError{fmt.Sprintf("%s: is a directory", name)}
			case last && e.Mode == filemode.Submodule:
				return nil, &pathError{fmt.Sprintf("%s: is a submodule", name)}
			case last:
				return nil, &pathError{fmt.Sprintf("%s: not a regular file (mode %s)", name, e.Mode)}
			case e.Mode == filemode.Dir:
				if t, err = object.GetTree(s, e.Hash); err != nil {
					return nil, fmt.Errorf("read tree %s: %w", path.Join(dir, part), err)
				}
			default:
				return nil, &pathError{fmt.Sprintf("%s: %s is not a directory", name, path.Join(dir, part))}
			}
		}
		return nil, &pathError{fmt.Sprintf("%s: file not found", name)}
	}
}

func readLink(s storer.EncodedObjectStorer, h plumbing.Hash) (string, error) {
	blob, err := object.GetBlob(s, h)
	if err != nil {
		return "", fmt.Errorf("read symlink %s: %w", h, err)
	}
	if blob.Size > maxSymlinkTarget {
		return "", &pathError{fmt.Sprintf("symlink target longer than %d bytes", maxSymlinkTarget)}
	}
	r, err := blob.Reader()
	if err != nil {
		return "", fmt.Errorf("read symlink %s: %w", h, err)
	}
	defer r.Close()
	b, err := bounded.ReadAll(r, maxSymlinkTarget)
	if err != nil {
		return "", fmt.Errorf("read symlink %s: %w", h, err)
	}
	return string(b), nil
}

// readBlob reads a file's content, refusing one over limit bytes before
// reading it, and checks the bytes against the object's id so a damaged
// clone cannot hand out wrong data.
func readBlob(s storer.EncodedObjectStorer, e *object.TreeEntry, name string, limit int64) ([]byte, error) {
	blob, err := object.GetBlob(s, e.Hash)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", e.Hash, err)
	}
	if blob.Size > limit {
		return nil, &pathError{tooLarge(name, blob.Size, limit).Error()}
	}
	r, err := blob.Reader()
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", e.Hash, err)
	}
	defer r.Close()
	raw, err := bounded.ReadAll(r, limit)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", e.Hash, err)
	}
	if int64(len(raw)) != blob.Size {
		return nil, fmt.Errorf("read blob %s: %d bytes, want %d", e.Hash, len(raw), blob.Size)
	}
	if got := plumbing.ComputeHash(plumbing.BlobObject, raw); got != e.Hash {
		return nil, fmt.Errorf("read blob %s: content hashes to %s", e.Hash, got)
	}
	return raw, nil
}
