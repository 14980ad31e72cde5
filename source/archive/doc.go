// Package archive reads image tarballs without unpacking them: TarFS indexes
// a tar once (member name -> offset and size) and serves members as
// io.SectionReaders through fs.FS, so the stores of source/layout work on
// tarballs exactly as on directories. OpenDockerArchive (docker save, both
// forms) and OpenOCIArchive (oci-archive) return ready content.Stores.
//
// Member names that are absolute or contain ".." are never indexed;
// symlinks and hard links resolve inside the archive only. OpenTar refuses
// compressed tarballs with ErrCompressed and a hint; OpenTarDecompressed
// (used by OpenDockerArchive and OpenOCIArchive) decompresses gzip and zstd
// once into a size-capped temporary file removed on Close.
package archive
