// Package archive reads image tarballs without unpacking them: TarFS indexes
// a tar once (member name -> offset and size) and serves members as
// io.SectionReaders through fs.FS, so the stores of source/layout work on
// tarballs exactly as on directories. OpenDockerArchive (docker save, both
// forms) and OpenOCIArchive (oci-archive) return ready content.Stores.
//
// Member names that are absolute or contain ".." are never indexed;
// symlinks and hard links resolve inside the archive only. Compressed
// tarballs are refused with ErrCompressed and a hint to decompress them.
package archive
