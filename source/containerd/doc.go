// Package containerd reads images from a containerd daemon
// (containerd:NAME): the image's target descriptor from the images service
// and every manifest, config and layer by digest from the content store,
// streamed over containerd's gRPC API without exporting anything.
//
// It speaks the containerd.services.images.v1 and
// containerd.services.content.v1 gRPC services (the
// github.com/containerd/containerd/api definitions), which containerd 1.6,
// 1.7 and 2.x all serve, over the daemon's socket (CONTAINERD_ADDRESS,
// default /run/containerd/containerd.sock) in a namespace (the
// containerd-namespace request header; default CONTAINERD_NAMESPACE or
// "default").
//
// Only content present in the store can be read: an image pulled for one
// platform lacks the other platforms' manifests and layers, which read as
// content.ErrNotFound.
package containerd
