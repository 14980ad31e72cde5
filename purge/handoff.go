package purge

import (
	"fmt"
	"strings"
)

// HandOff returns the operator's part of a purge as text: what the API could
// not finish and the exact steps to finish it. res and rep may be nil (plan
// only).
func HandOff(p *Plan, res *Result, rep *Report) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("HAND-OFF: what only the registry operator can finish for %s", p.Repository)
	w("")
	switch {
	case res != nil && res.ManifestDeleteUnsupported:
		w("The registry refused DELETE requests (405/400 UNSUPPORTED): NOTHING WAS DELETED, the leak is still pullable.")
		w("For distribution, enable deletes (storage.delete.enabled: true, or REGISTRY_STORAGE_DELETE_ENABLED=true),")
		w("restart it and run this purge again; a pull-through cache (proxy.remoteurl) never allows deletes: purge the upstream.")
		w("Hosted registries need their own API or UI (below).")
	case res != nil && res.BlobDeleteUnsupported:
		w("Manifests and tags were deleted, but the registry refused blob DELETEs: %d blob(s), including the leaked", len(p.DeleteBlobs))
		w("layers, stay PULLABLE BY DIGEST until garbage collection removes them.")
	default:
		w("Deleted manifests and blobs are only unlinked: their bytes stay in the registry's storage until garbage")
		w("collection. Run it so the leaked bytes are really gone (backups and replicas keep their own copies).")
	}
	if res != nil && res.TagDeleteUnsupported {
		w("")
		w("The registry answered tag DELETE with 400: it behaves like distribution 2.8 — mind the --delete-untagged caveat below.")
	}
	if rep != nil && (rep.Verdict == VerdictRestartNeeded || rep.Verdict == VerdictChanged && hasStale(rep)) {
		w("")
		w("The registry still answers 200 with a short or wrong body for deleted blobs: its blob descriptor cache is")
		w("stale (storage.cache.blobdescriptor: inmemory). RESTART the registry (every replica), then verify again.")
	}
	if rep != nil && len(rep.Changed) > 0 {
		w("")
		w("The repository CHANGED DURING THE PURGE: content pushed meanwhile uses what the plan deleted, and it was kept")
		w("for it (still pullable through those tags):")
		for _, c := range rep.Changed {
			w("  - %s", c)
		}
		w("Review those tags (built on the leak, they leak too), then plan and purge again. To keep other clients")
		w("from pushing during a purge, give them pull-only access (or refuse PUT/POST/PATCH in a front proxy) for")
		w("its duration; distribution's read-only maintenance mode would refuse the purge's DELETEs as well.")
	}
	if res != nil {
		for _, u := range res.InUse {
			if u.Outcome == OutcomeLost {
				w("")
				w("!!! blob %s was deleted while %s pushed during the purge needed it: push those tags again.", u.Digest, listOr(u.Tags, "untagged manifests"))
			}
		}
	}
	w("")
	w("distribution (registry:2 / registry:3, Debian docker-registry):")
	w("  1. stop the registry, or put it in read-only mode: storage.maintenance.readonly.enabled: true (restart to apply)")
	w("     (GC during uploads can corrupt them)")
	w("  2. dry run:  registry garbage-collect --dry-run --delete-untagged /etc/distribution/config.yml")
	w("     (v2.8 image: /etc/docker/registry/config.yml; Debian: docker-registry garbage-collect --dry-run --delete-untagged /etc/docker/registry/config.yml)")
	w("     check that the digests it lists include the purged ones and nothing you need")
	w("  3. real run: the same command without --dry-run")
	w("  4. leave read-only mode / start the registry again; if the config has storage.cache.blobdescriptor: inmemory")
	w("     (Debian's packaged config does), RESTART it: the running process keeps serving deleted blobs from its cache")
	w("  CAVEAT v2.8: --delete-untagged also deletes the untagged children of tagged multi-arch indexes and their layers,")
	w("  and untagged signatures/SBOMs (distribution#3178): on v2.8 holding multi-arch images or referrers, run GC WITHOUT")
	w("  --delete-untagged (this purge already deleted what had to go by digest), or upgrade to v3 first.")
	w("")
	w("Hosted registries:")
	w("  Docker Hub:   manifest DELETE is refused; delete the tag in the Hub UI or with the Hub API")
	w("                (DELETE /v2/repositories/{ns}/{repo}/tags/{tag}, POST /v2/namespaces/{ns}/delete-images); Hub collects blobs itself")
	w("  ECR:          aws ecr batch-delete-image --repository-name R --image-ids imageDigest=D (untagged images then expire by lifecycle)")
	w("  GCR / Artifact Registry: untag first, then delete the digest: gcloud artifacts docker images delete HOST/P/R@D --delete-tags")
	w("  GHCR:         the registry API cannot delete; delete the package version (one digest) in the GitHub UI or REST API")
	w("                (DELETE /user/packages/container/{name}/versions/{id})")
	w("  Harbor:       delete the artifact (UI or API), then run the GC job (Administration > Clean Up, with 'delete untagged')")
	w("  Quay:         delete the tag, then permanently delete it from the tag history (time machine) or it stays restorable")
	w("  zot:          refuses to delete blobs still referenced (405 DENIED) by design; its GC (gc, gcDelay, retention) removes them")
	w("  Azure ACR:    az acr repository delete --name REG --image R@D (deletes the manifest, its tags and unshared layers)")
	if len(p.DeleteBlobs) > 0 {
		w("")
		w("Blobs are unlinked from %s only. Check other repositories that may have mounted them:", p.Repository)
		var ds []string
		for _, bl := range p.DeleteBlobs {
			if bl.Leaked {
				ds = append(ds, string(bl.Digest))
			}
		}
		if len(ds) == 0 && len(p.DeleteBlobs) > 0 {
			ds = append(ds, string(p.DeleteBlobs[0].Digest))
		}
		host, _, _ := strings.Cut(p.Repository, "/")
		w("  strata where %s --catalog %s", strings.Join(ds, " "), host)
	}
	if countNotIncluded(p.Sharing) > 0 {
		w("")
		w("!!! %d surviving manifest(s) still contain a leaked layer and keep it pullable (see the plan's LEAK TOO list).", countNotIncluded(p.Sharing))
	}
	w("")
	w("Also: rotate the leaked credentials. Deleting an image never un-leaks a secret someone already pulled.")
	return b.String()
}

func countNotIncluded(s []Sharing) int {
	n := 0
	for _, x := range s {
		if !x.Included {
			n++
		}
	}
	return n
}

func hasStale(rep *Report) bool {
	for _, p := range rep.StillServed {
		if strings.Contains(p, "stale blob descriptor cache") {
			return true
		}
	}
	return false
}
