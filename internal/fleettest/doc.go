// Package fleettest builds the registry fleets that strata's fleet service
// is tested and measured on: a few base images, many application images on
// them spread over repositories, and secrets planted in some of them (fake
// values in the providers' public formats, made for these tests). A fleet
// is generated deterministically from a Spec, written as one OCI layout and
// pushed with real skopeo (PushSkopeo), or pushed straight through the
// registry API when thousands of images must be pushed fast (PushAPI).
//
// It also runs strata itself as the tests' user would: the binary built
// once per test process (BuildStrata), `strata serve` and `strata worker`
// processes with their output captured (Proc), killed or stopped at will.
package fleettest
