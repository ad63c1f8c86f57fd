package annotations

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// Bucket keys of the annotations.
const (
	Prefix         = "annotations/"
	ManifestPrefix = Prefix + "sources/"
	RunPrefix      = Prefix + "runs/"
	LeasePrefix    = Prefix + "leases/"
	IndexPrefix    = Prefix + "index/"
	CatalogKey     = Prefix + "catalog.json"
)

// HeadKey is where an entry's manifest (its head, in version 2) lives.
func HeadKey(id string) string { return ManifestPrefix + id + ".json" }

// EntryPartsPrefix holds an entry's parts and shard heads.
func EntryPartsPrefix(id string) string { return ManifestPrefix + id + "/" }

// IsHeadKey reports whether key is an entry's head (not a part or a shard
// head below it), and returns the entry ID.
func IsHeadKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, ManifestPrefix)
	if !ok || !strings.HasSuffix(rest, ".json") || strings.Contains(rest, "/") {
		return "", false
	}
	return strings.TrimSuffix(rest, ".json"), true
}

// ShardOf is the shard, of count, that owns key when its entry is split
// below the entry: FNV-1a 64 of the key modulo count, stable as the entry
// grows. A pure function.
func ShardOf(key string, count int) int {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(count))
}

// ShardTag names one shard of an entry split below the entry.
func ShardTag(index, count int) string { return fmt.Sprintf("s%dof%d", index, count) }

// ShardHeadKey is the head of one shard's records of a split entry.
func ShardHeadKey(id string, index, count int) string {
	return EntryPartsPrefix(id) + ShardTag(index, count) + ".json"
}
