// Package registry embeds the default source registry.
package registry

import "embed"

// FS holds every YAML file (and table file) of the default registry.
//
//go:embed *.yaml tables
var FS embed.FS
