// Package layout serves images stored as files, over any fs.FS (a directory
// via os.DirFS, or a tarball via source/archive.TarFS): OCI image layouts
// (OCI), `docker save` trees in both the legacy and the Docker 25+ form
// (DockerSave) and skopeo dir: copies (Dir). Each returns a *Store
// implementing content.Store, content.Namer, content.TagLister and
// content.WithTag.
//
// Stores never open a path built from untrusted JSON without checking it is
// a clean relative path inside the root (fs.ValidPath), and report a digest
// the source names but does not hold as content.ErrNotFound from Open. Open
// refuses digests it cannot verify (sha256 and sha512 only) and, in a host
// directory, blobs that are symbolic links or not regular files
// (ErrNotRegular); what it returns stops one byte past the declared size and
// when the context is done (content.Bound).
// Callers verify what they read (content.Verify); source.Load does.
package layout
