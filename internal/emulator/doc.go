// Package emulator holds local emulators of the public services astroingest
// mirrors, which speak each real protocol faithfully enough for the real
// source kinds to run against them unchanged. Everything listens on
// loopback only. The tests of sources/..., ingest and internal/e2e use
// them, and so does the binary's demo command (see the demo subpackage).
//
// A Server is one httptest server with:
//   - an in-memory file tree (AddFile, AddGenerated, SetFile) served as
//     net/http's ServeContent serves files: ETag, Last-Modified,
//     Content-Length, conditional requests and Range requests with If-Range
//     (RFC 9110), or without any of them for dynamic files (SetDynamic);
//   - directory listings of that tree (SetListing) as Apache 2.4
//     mod_autoindex (fancy and HTMLTable), nginx autoindex, the GTDB data
//     server and the S3 ListObjects and ListObjectsV2 API write them;
//   - checksum files built on demand from the tree (AddChecksumFile): md5sum
//     text, NCBI's md5checksums.txt and UniProt's metalink 3.0; NCBI
//     assembly_summary.txt (AddAssemblySummary) and bulk-download shell
//     scripts (AddScript);
//   - the indexes publishers keep of what they hold, which "sources
//     refresh" reads: MAST's TESS bulk-download page (RenderTESSBulkIndex),
//     KEGG's /list/organism (RenderKEGGOrganisms) and HAPI's ISO table
//     (RenderHAPI), served with AddFile, and GTDB's release listings
//     (GTDBListing);
//   - faults real services produce, per path glob (Fault): 429 and 503 with
//     Retry-After, other statuses, connection resets, corrupt bytes, slow
//     bodies, redirects, and a hold for catching a client mid-request;
//   - a request log with each answer's status, and in-flight counts, so
//     tests can count requests and measure the rate and concurrency a
//     publisher would see.
//
// The API emulators (MAST, the Copernicus CDS, an IVOA TAP service) are
// http.Handlers mounted on a Server with Handle; faults and the request log
// apply to them too.
//
// Every method of Server, MAST, CDS and TAP is safe to call concurrently,
// also while requests are being served; a file changed while it is being
// downloaded keeps its old bytes for that download.
package emulator
