package s3

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"
)

// NewTransport returns a transport like http.DefaultTransport that also
// trusts the PEM certificates in caBundle (in addition to the system roots)
// when caBundle is not empty. Callers that wrap the transport (metrics, rate
// limits) should start from this one so AWS_CA_BUNDLE keeps working.
func NewTransport(caBundle string) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.ResponseHeaderTimeout = 2 * time.Minute
	if err := loadCABundle(t, caBundle); err != nil {
		return nil, err
	}
	return t, nil
}

func loadCABundle(t *http.Transport, path string) error {
	if path == "" {
		return nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("AWS_CA_BUNDLE: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("AWS_CA_BUNDLE %s: no PEM certificate found", path)
	}
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	} else {
		t.TLSClientConfig = t.TLSClientConfig.Clone()
	}
	t.TLSClientConfig.RootCAs = pool
	return nil
}

// httpClient loads the CA bundle into the transport ourselves: handing the
// SDK a custom client while AWS_CA_BUNDLE is set otherwise fails with
// "unable to load custom CA bundle, HTTPClient's transport unsupported type".
func httpClient(hc *http.Client, caBundle string) (*http.Client, error) {
	if hc == nil {
		t, err := NewTransport(caBundle)
		if err != nil {
			return nil, err
		}
		return &http.Client{Transport: t}, nil
	}
	if caBundle == "" {
		return hc, nil
	}
	var t *http.Transport
	switch rt := hc.Transport.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		t = rt.Clone()
	default:
		return nil, fmt.Errorf("AWS_CA_BUNDLE is set but the HTTP client's transport is %T, not *http.Transport; build it on s3.NewTransport", rt)
	}
	if err := loadCABundle(t, caBundle); err != nil {
		return nil, err
	}
	c := *hc
	c.Transport = t
	return &c, nil
}
