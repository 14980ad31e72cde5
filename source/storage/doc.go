// Package storage reads images straight from a local containers-storage
// store, the one Podman, Buildah and CRI-O keep (containers-storage:NAME),
// without any service running.
//
// The store keeps each image's config and manifests as files beside
// <driver>-images/images.json and each layer as an unpacked directory plus
// a tar-split record (<driver>-layers/<id>.tar-split.gz) from which the
// exact uncompressed layer tarball is reassembled. The compressed blobs the
// image was pulled as are not kept, so Open serves an OCI manifest made up
// for the stored config and the uncompressed layers (digest = diff_id):
// file contents and findings match the original image, layer digests are
// the uncompressed ones.
//
// The store is found as skopeo finds it: an explicit [driver@graphroot]
// prefix on the reference (skopeo's syntax; the +runroot part is accepted
// and ignored), else /var/lib/containers/storage for root and
// $XDG_DATA_HOME/containers/storage (~/.local/share/containers/storage)
// otherwise. storage.conf is not read. Files are read without taking the
// store's locks: an image changed while it is read gives a digest error.
package storage
