//go:build !linux

package ingest

import (
	"errors"
	"os"
)

// Elsewhere pull writes named temporary files and renames them.

func openUnnamed(*os.File, string) (*os.File, error) { return nil, errors.ErrUnsupported }

func linkUnnamed(*os.File, *os.File, string) error { return errors.ErrUnsupported }
