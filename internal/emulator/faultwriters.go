package emulator

import (
	"bufio"
	"net"
	"net/http"
	"time"
)

// resetWriter passes left body bytes through, then resets the connection.
type resetWriter struct {
	http.ResponseWriter
	left int64
	done bool
}

func (w *resetWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *resetWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, http.ErrHijacked
	}
	if int64(len(p)) <= w.left {
		n, err := w.ResponseWriter.Write(p)
		w.left -= int64(n)
		return n, err
	}
	n, err := w.ResponseWriter.Write(p[:w.left])
	if err != nil {
		return n, err
	}
	w.left = 0
	w.reset()
	return n, http.ErrHijacked
}

func (w *resetWriter) reset() {
	w.done = true
	rc := http.NewResponseController(w.ResponseWriter)
	_ = rc.Flush()
	conn, buf, err := rc.Hijack()
	if err != nil {
		// Not hijackable (HTTP/2): aborting the handler still breaks the body.
		panic(http.ErrAbortHandler)
	}
	resetConn(conn, buf)
}

func resetConn(conn net.Conn, buf *bufio.ReadWriter) {
	_ = buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		// Linger 0 makes Close send RST, which is what a dropped connection
		// on the real internet looks like to the client.
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// corruptWriter flips the body byte at offset at.
type corruptWriter struct {
	http.ResponseWriter
	at   int64
	seen int64
	code int
}

func (w *corruptWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *corruptWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *corruptWriter) Write(p []byte) (int, error) {
	ok := w.code == 0 || (w.code >= 200 && w.code < 300)
	if ok && w.at >= w.seen && w.at < w.seen+int64(len(p)) {
		q := make([]byte, len(p))
		copy(q, p)
		q[w.at-w.seen] ^= 0xff
		p = q
	}
	n, err := w.ResponseWriter.Write(p)
	w.seen += int64(n)
	return n, err
}

// slowWriter paces the body to rate bytes per second.
type slowWriter struct {
	http.ResponseWriter
	rate    int64
	r       *http.Request
	start   time.Time
	written int64
}

func (w *slowWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *slowWriter) Write(p []byte) (int, error) {
	chunk := max(w.rate/20, 1)
	total := 0
	rc := http.NewResponseController(w.ResponseWriter)
	for len(p) > 0 {
		n := min(int64(len(p)), chunk)
		m, err := w.ResponseWriter.Write(p[:n])
		total += m
		w.written += int64(m)
		if err != nil {
			return total, err
		}
		_ = rc.Flush()
		p = p[n:]
		due := w.start.Add(time.Duration(float64(w.written) / float64(w.rate) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-w.r.Context().Done():
				t.Stop()
				return total, w.r.Context().Err()
			case <-t.C:
			}
		}
	}
	return total, nil
}
