package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newDisk(t *testing.T) *Disk {
	t.Helper()
	d, err := NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Content is stored once per SHA-256 and read back whole or from an offset.
func TestDisk_StoresContentOncePerHash(t *testing.T) {
	d, ctx := newDisk(t), context.Background()
	data := []byte("hello, media")
	a, err := d.Put(ctx, bytes.NewReader(data), 100)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if a.Key != hex.EncodeToString(sum[:]) || a.Size != int64(len(data)) {
		t.Fatalf("info = %+v", a)
	}
	b, err := d.Put(ctx, bytes.NewReader(data), 100)
	if err != nil || b.Key != a.Key {
		t.Fatalf("second put: %+v %v", b, err)
	}
	var files int
	_ = filepath.Walk(filepath.Join(d.root, "content"), func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			files++
		}
		return nil
	})
	if files != 1 {
		t.Errorf("%d files for one content", files)
	}
	o, err := d.Open(ctx, a.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := o.Seek(7, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(o)
	if string(rest) != "media" {
		t.Errorf("ranged read = %q", rest)
	}
}

// A body over the limit is refused while it streams and leaves nothing
// behind; exactly the limit is accepted.
func TestDisk_RefusesContentOverTheLimit(t *testing.T) {
	d, ctx := newDisk(t), context.Background()
	if _, err := d.Put(ctx, strings.NewReader("12345"), 4); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if entries, _ := os.ReadDir(d.tmpDir()); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
	if _, err := d.Put(ctx, strings.NewReader("1234"), 4); err != nil {
		t.Errorf("exactly the limit: %v", err)
	}
}

// Keys that are not SHA-256 hex never reach the file system.
func TestDisk_KeysThatAreNotHashesAreNotFound(t *testing.T) {
	d, ctx := newDisk(t), context.Background()
	for _, k := range []string{"", "../../etc/passwd", strings.Repeat("A", 64), strings.Repeat("a", 63)} {
		if _, err := d.Open(ctx, k); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) = %v", k, err)
		}
		if _, err := d.Stat(ctx, k); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat(%q) = %v", k, err)
		}
	}
	info, _ := d.Put(ctx, strings.NewReader("x"), 10)
	if err := d.Delete(ctx, info.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(ctx, info.Key); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if err := d.Delete(ctx, info.Key); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
}
