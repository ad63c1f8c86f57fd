package bucket

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// ErrSizeMismatch is Put's error (errors.Is) when the stream is shorter or
// longer than PutOptions.Size.
var ErrSizeMismatch = errors.New("the object is not of the expected length")

// ErrDigestMismatch is Put's error (errors.Is) when the stream's MD5
// differs from PutOptions.ContentMD5, whether the backend found it or the
// store did (S3's BadDigest).
var ErrDigestMismatch = errors.New("the object does not have the expected MD5")

// ErrVisible is Abort's error (errors.Is) for a Pending whose object the
// backend already wrote through during Put (PutOptions.WriteThrough): it
// is visible and complete, and no abort can take it back.
var ErrVisible = errors.New("object already written through by Put")

// CheckSizeAndDigest is the check every backend's Put makes of opts' Size
// and ContentMD5 before it accepts a stream. It returns r as a reader
// whose last bytes come only once r has ended where opts says it must and
// with the digest it must have; otherwise that read fails with
// ErrSizeMismatch or ErrDigestMismatch instead, so a consumer that stops
// at the first error (a copy, an HTTP request body) never receives the
// whole of a bad stream. Without Size or ContentMD5 it returns r itself.
// With md5 false the digest is left to the caller (bucket/s3 lets the
// store check Content-MD5), and only the length is checked here.
func CheckSizeAndDigest(r io.Reader, opts PutOptions, md5sum bool) io.Reader {
	if opts.Size <= 0 && (len(opts.ContentMD5) == 0 || !md5sum) {
		return r
	}
	v := &verifier{r: r, size: opts.Size}
	if md5sum && len(opts.ContentMD5) > 0 {
		v.want, v.h = opts.ContentMD5, md5.New()
	}
	return v
}

type verifier struct {
	r    io.Reader
	size int64 // 0: unknown
	want []byte
	h    hash.Hash
	n    int64 // bytes read from r
	err  error // sticky: the first mismatch or read error
	eof  bool  // r has ended, verified; only held may be left to hand on

	// With a Size, the last byte read from r is held back until the next
	// read of r says whether r goes on: a stream that ends short of Size
	// must never be handed on whole, since a store given all of it, short
	// of its Content-Length but matching its Content-MD5, may keep it
	// (versitygw does).
	held    byte
	holding bool
	spare   [1]byte
}

func (v *verifier) Read(p []byte) (int, error) {
	switch {
	case v.err != nil:
		return 0, v.err
	case len(p) == 0:
		return 0, nil
	case v.eof && v.holding:
		p[0], v.holding = v.held, false
		return 1, nil
	case v.eof:
		return 0, io.EOF
	}
	out := 0
	if v.holding {
		p[0], out, v.holding = v.held, 1, false
	}
	dst, intoSpare := p[out:], false
	if len(dst) == 0 {
		dst, intoSpare = v.spare[:], true
	}
	if v.size > 0 {
		// Never read past Size: one byte more is a mismatch, found by
		// the probe below before the last bytes are handed on.
		if rem := v.size - v.n; int64(len(dst)) > rem {
			dst = dst[:rem]
		}
	}
	m, err := v.r.Read(dst)
	v.n += int64(m)
	if v.h != nil {
		v.h.Write(dst[:m])
	}
	if err != nil && !errors.Is(err, io.EOF) {
		v.err = err
		return 0, err
	}
	if err != nil || v.size > 0 && v.n == v.size {
		if v.size > 0 && v.n == v.size {
			if merr := v.probeEOF(); merr != nil {
				return 0, merr
			}
		}
		if merr := v.finish(); merr != nil {
			return 0, merr
		}
		v.eof = true
	}
	switch {
	case m == 0:
	case intoSpare || v.size > 0 && !v.eof:
		// Hand on all but the byte just read (see held).
		if !intoSpare {
			out += m - 1
		}
		v.held, v.holding = dst[m-1], true
	default:
		out += m
	}
	return out, nil
}

// probeEOF reads one byte more after Size bytes: the stream must end there.
func (v *verifier) probeEOF() error {
	var one [1]byte
	for {
		m, err := v.r.Read(one[:])
		switch {
		case m > 0:
			v.err = fmt.Errorf("%w: more than %d bytes", ErrSizeMismatch, v.size)
			return v.err
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			v.err = err
			return err
		}
	}
}

// finish checks the length and digest once the stream has ended.
func (v *verifier) finish() error {
	if v.size > 0 && v.n != v.size {
		v.err = fmt.Errorf("%w: %d bytes, want %d", ErrSizeMismatch, v.n, v.size)
		return v.err
	}
	if v.h != nil {
		if got := v.h.Sum(nil); !bytes.Equal(got, v.want) {
			v.err = fmt.Errorf("%w: %s, want %s", ErrDigestMismatch, hex.EncodeToString(got), hex.EncodeToString(v.want))
			return v.err
		}
	}
	return nil
}
