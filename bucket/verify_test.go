package bucket

import (
	"bytes"
	"crypto/md5"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// The verifier is a correct reader of a stream that matches, however it
// is read, and never hands on the whole of a stream that ends short of
// Size, one byte at a time or not (a store given all of it could keep it).
func TestCheckSizeAndDigestReads(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	sum := md5.Sum(data)
	short := data[:len(data)-1]
	shortSum := md5.Sum(short)
	for _, md5sum := range []bool{true, false} {
		opts := PutOptions{Size: int64(len(data)), ContentMD5: sum[:]}
		if err := iotest.TestReader(CheckSizeAndDigest(bytes.NewReader(data), opts, md5sum), data); err != nil {
			t.Errorf("md5 %v: %v", md5sum, err)
		}
		opts.ContentMD5 = shortSum[:]
		for name, r := range map[string]io.Reader{"whole": bytes.NewReader(short), "one-byte": iotest.OneByteReader(bytes.NewReader(short))} {
			got, err := io.ReadAll(CheckSizeAndDigest(r, opts, md5sum))
			if !errors.Is(err, ErrSizeMismatch) || len(got) >= len(short) {
				t.Errorf("md5 %v, %s: short stream read as %d of its %d bytes, err %v; want fewer and ErrSizeMismatch", md5sum, name, len(got), len(short), err)
			}
		}
	}
}
