// Package annotations owns everything astroingest writes under
// annotations/ in the bucket: the keys, the manifest formats (version 1,
// read only, and version 2: a small head plus object records in parts),
// their readers and writers, and the catalog document. FORMAT.md, beside
// this file, documents the layout for the training side.
//
// Everything here streams: no reader or writer holds more than one part
// of records in memory, whatever the size of the entry or the mirror.
// Values are not safe for concurrent use unless their doc says so; the
// functions are.
package annotations
