package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

// Repo is one repository of a registry. Safe for concurrent use.
type Repo struct {
	c   *Client
	ref name.Repository
}

// Name returns "host/path/name" (Docker Hub: "index.docker.io/library/x").
func (r *Repo) Name() string { return r.ref.RegistryStr() + "/" + r.ref.RepositoryStr() }

// Host returns the registry host[:port].
func (r *Repo) Host() string { return r.ref.RegistryStr() }

// Path returns the repository path without the host ("library/alpine").
func (r *Repo) Path() string { return r.ref.RepositoryStr() }

func (r *Repo) rt(ctx context.Context, write bool) (http.RoundTripper, error) {
	if write {
		return r.c.transport(ctx, r.ref.Registry, r.ref, []string{r.ref.Scope("pull,push,delete")})
	}
	return r.c.transport(ctx, r.ref.Registry, r.ref, []string{r.ref.Scope("pull")})
}

func (r *Repo) url(parts ...string) string {
	return "https://" + r.ref.RegistryStr() + "/v2/" + r.ref.RepositoryStr() + "/" + strings.Join(parts, "/")
}

func (r *Repo) do(ctx context.Context, req request) (*http.Response, error) {
	rt, err := r.rt(ctx, req.write)
	if err != nil {
		return nil, err
	}
	return r.c.doWith(ctx, rt, req)
}

// validRef checks a tag or digest before it goes into a URL path.
func validRef(ref string) error {
	if strings.Contains(ref, ":") {
		if _, err := image.ParseDigest(ref); err != nil {
			return fmt.Errorf("%w: %v", content.ErrBadReference, err)
		}
		return nil
	}
	if ref == "" || len(ref) > 128 || strings.ContainsAny(ref, "/?#% ") {
		return fmt.Errorf("%w: tag %q (want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})", content.ErrBadReference, ref)
	}
	return nil
}

func isDigest(ref string) bool { return strings.Contains(ref, ":") }

func manifestAccept() http.Header {
	return http.Header{"Accept": {strings.Join(image.ManifestAccept, ", ")}}
}

// contentType returns the media type of a Content-Type header, parameters
// dropped.
func contentType(h string) string {
	if h == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(h)
	if err != nil {
		return strings.TrimSpace(strings.Split(h, ";")[0])
	}
	return mt
}

// HeadManifest resolves ref (a tag or digest) to a descriptor with the full
// Accept list, so the media type is the stored one. When the registry omits
// Docker-Content-Digest for a tag, the manifest is fetched and hashed.
func (r *Repo) HeadManifest(ctx context.Context, ref string) (image.Descriptor, error) {
	if err := validRef(ref); err != nil {
		return image.Descriptor{}, err
	}
	resp, err := r.do(ctx, request{method: http.MethodHead, url: r.url("manifests", ref), header: manifestAccept(), ok: []int{http.StatusOK}})
	if err != nil {
		return image.Descriptor{}, fmt.Errorf("manifest %s:%s: %w", r.Name(), ref, err)
	}
	resp.Body.Close()
	d := image.Descriptor{MediaType: contentType(resp.Header.Get("Content-Type")), Size: resp.ContentLength}
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		hd, err := image.ParseDigest(h)
		if err != nil {
			return image.Descriptor{}, fmt.Errorf("manifest %s:%s: registry sent a bad Docker-Content-Digest %q: %w", r.Name(), ref, h, err)
		}
		if isDigest(ref) && hd != image.Digest(ref) {
			return image.Descriptor{}, &content.DigestError{Want: image.Digest(ref), Got: hd, What: "manifest " + r.Name()}
		}
		d.Digest = hd
	} else if isDigest(ref) {
		d.Digest = image.Digest(ref)
	}
	if d.Digest == "" || d.Size < 0 || d.MediaType == "" || d.MediaType == "application/json" || d.MediaType == "text/plain" {
		gd, _, err := r.GetManifest(ctx, ref)
		if err != nil {
			return image.Descriptor{}, err
		}
		return gd, nil
	}
	return d, nil
}

// GetManifest fetches a manifest (8 MiB cap) with the full Accept list. The
// descriptor's MediaType is the Content-Type (or the body's mediaType when
// the registry sends a generic type); its Digest is the canonical digest
// (for signed schema 1: of the signed payload). When ref is a digest the
// body is verified against it; for a tag it is verified against
// Docker-Content-Digest when sent.
func (r *Repo) GetManifest(ctx context.Context, ref string) (image.Descriptor, []byte, error) {
	return r.getManifest(ctx, ref, maxManifestBytes)
}

// getManifest is GetManifest reading at most limit bytes (a descriptor's
// declared size) plus one: a longer body is refused without reading on.
func (r *Repo) getManifest(ctx context.Context, ref string, limit int64) (image.Descriptor, []byte, error) {
	if err := validRef(ref); err != nil {
		return image.Descriptor{}, nil, err
	}
	resp, err := r.do(ctx, request{method: http.MethodGet, url: r.url("manifests", ref), header: manifestAccept(), ok: []int{http.StatusOK}})
	if err != nil {
		return image.Descriptor{}, nil, fmt.Errorf("manifest %s:%s: %w", r.Name(), ref, err)
	}
	defer resp.Body.Close()
	tooLong := func(n int64) error {
		if limit < maxManifestBytes {
			return fmt.Errorf("%w: manifest %s:%s: the registry sends %d bytes or more, the descriptor declares %d", content.ErrSizeMismatch, r.Name(), ref, n, limit)
		}
		return fmt.Errorf("%w: manifest %s:%s is %d bytes or more, over the %d byte limit", content.ErrTooLarge, r.Name(), ref, n, maxManifestBytes)
	}
	if resp.ContentLength > limit {
		return image.Descriptor{}, nil, tooLong(resp.ContentLength)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return image.Descriptor{}, nil, fmt.Errorf("manifest %s:%s: read body: %w", r.Name(), ref, err)
	}
	if int64(len(raw)) > limit {
		return image.Descriptor{}, nil, tooLong(int64(len(raw)))
	}
	if resp.ContentLength >= 0 && int64(len(raw)) != resp.ContentLength {
		return image.Descriptor{}, nil, fmt.Errorf("%w: manifest %s:%s: got %d of %d bytes", content.ErrSizeMismatch, r.Name(), ref, len(raw), resp.ContentLength)
	}
	mt := contentType(resp.Header.Get("Content-Type"))
	if mt == "" || mt == "application/json" || mt == "text/plain" || mt == "application/octet-stream" {
		var probe struct {
			MediaType     string `json:"mediaType"`
			SchemaVersion int    `json:"schemaVersion"`
			Signatures    []any  `json:"signatures"`
		}
		if json.Unmarshal(raw, &probe) == nil {
			switch {
			case probe.MediaType != "":
				mt = probe.MediaType
			case probe.SchemaVersion == 1 && len(probe.Signatures) > 0:
				mt = image.MediaTypeSchema1Signed
			case probe.SchemaVersion == 1:
				mt = image.MediaTypeSchema1
			}
		}
	}
	d := image.Descriptor{MediaType: mt, Size: int64(len(raw))}
	want := image.Digest("")
	if isDigest(ref) {
		want = image.Digest(ref)
	} else if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		hd, err := image.ParseDigest(h)
		if err != nil {
			return image.Descriptor{}, nil, fmt.Errorf("manifest %s:%s: registry sent a bad Docker-Content-Digest %q: %w", r.Name(), ref, h, err)
		}
		want = hd
	}
	got, err := ManifestDigest(mt, raw, want.Algorithm())
	if err != nil {
		return image.Descriptor{}, nil, fmt.Errorf("manifest %s:%s: %w", r.Name(), ref, err)
	}
	if want != "" && got != want {
		// A signed schema 1 manifest served with another type, or an
		// unsigned one: accept either digest form.
		if alt, _ := digestOf(want.Algorithm(), raw); alt != want {
			return image.Descriptor{}, nil, &content.DigestError{Want: want, Got: got, What: "manifest " + r.Name() + ":" + ref}
		}
		got = want
	}
	d.Digest = got
	return d, raw, nil
}

// ManifestDigest returns a manifest's canonical digest with algorithm alg
// ("" = sha256): the hash of the bytes, or for a signed schema 1 manifest of
// its signed payload (FIELD-NOTES 1.9).
func ManifestDigest(mediaType string, raw []byte, alg string) (image.Digest, error) {
	if mediaType == image.MediaTypeSchema1Signed || image.IsSchema1(mediaType) {
		p, err := image.Schema1Payload(raw)
		if err != nil {
			return "", err
		}
		return digestOf(alg, p)
	}
	return digestOf(alg, raw)
}

// digestOf hashes b with algorithm alg ("" = sha256); an algorithm strata
// cannot compute is an error wrapping image.ErrUnsupportedAlgorithm.
func digestOf(alg string, b []byte) (image.Digest, error) {
	if alg == "" {
		alg = "sha256"
	}
	return image.Digest(alg + ":").Of(b)
}

// PutManifest uploads raw as mediaType under tag (or, when tag is empty or
// a digest, by its digest) and returns its digest.
func (r *Repo) PutManifest(ctx context.Context, tag string, mediaType string, raw []byte) (image.Digest, error) {
	dg, err := ManifestDigest(mediaType, raw, "")
	if err != nil {
		return "", err
	}
	ref := tag
	if ref == "" {
		ref = string(dg)
	}
	if err := validRef(ref); err != nil {
		return "", err
	}
	resp, err := r.do(ctx, request{method: http.MethodPut, url: r.url("manifests", ref), write: true,
		header: http.Header{"Content-Type": {mediaType}}, body: raw, ok: []int{http.StatusCreated, http.StatusOK, http.StatusAccepted}})
	if err != nil {
		return "", fmt.Errorf("push manifest %s:%s: %w", r.Name(), ref, err)
	}
	resp.Body.Close()
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && image.Digest(h) != dg {
		if hd, err := image.ParseDigest(h); err == nil && hd.Algorithm() == dg.Algorithm() {
			return "", &content.DigestError{Want: dg, Got: hd, What: "pushed manifest " + r.Name() + ":" + ref}
		}
	}
	return dg, nil
}

// DeleteManifest deletes a manifest by digest (which untags every tag
// pointing at it) or a tag (distribution 3: untag only; distribution 2.8
// answers 400, reported as ErrUnsupported). A repeated delete returns an
// error wrapping content.ErrNotFound.
func (r *Repo) DeleteManifest(ctx context.Context, ref string) error {
	if err := validRef(ref); err != nil {
		return err
	}
	resp, err := r.do(ctx, request{method: http.MethodDelete, url: r.url("manifests", ref), write: true,
		ok: []int{http.StatusAccepted, http.StatusOK, http.StatusNoContent}})
	if err != nil {
		return fmt.Errorf("delete manifest %s:%s: %w", r.Name(), ref, err)
	}
	resp.Body.Close()
	return nil
}

// HeadBlob checks that a blob exists in this repository and returns its size.
func (r *Repo) HeadBlob(ctx context.Context, d image.Digest) (image.Descriptor, error) {
	if _, err := image.ParseDigest(string(d)); err != nil {
		return image.Descriptor{}, fmt.Errorf("%w: %v", content.ErrBadReference, err)
	}
	resp, err := r.do(ctx, request{method: http.MethodHead, url: r.url("blobs", string(d)), ok: []int{http.StatusOK}})
	if err != nil {
		return image.Descriptor{}, fmt.Errorf("blob %s@%s: %w", r.Name(), d, err)
	}
	resp.Body.Close()
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != string(d) {
		return image.Descriptor{}, &content.DigestError{Want: d, Got: image.Digest(h), What: "blob " + r.Name()}
	}
	return image.Descriptor{MediaType: contentType(resp.Header.Get("Content-Type")), Digest: d, Size: resp.ContentLength}, nil
}

// GetBlob streams a blob as stored. The caller verifies it (content.Verify);
// a connection broken mid-stream is resumed with a Range request (up to
// MaxRetries times) when the size is known. With d.Size > 0 the stream
// never reads more than d.Size+1 bytes: a registry that announces or sends
// more fails with content.ErrSizeMismatch at once. d.Size <= 0 means
// unknown: the registry's Content-Length bounds the stream instead.
func (r *Repo) GetBlob(ctx context.Context, d image.Descriptor) (io.ReadCloser, error) {
	if _, err := image.ParseDigest(string(d.Digest)); err != nil {
		return nil, fmt.Errorf("%w: %v", content.ErrBadReference, err)
	}
	u := r.url("blobs", string(d.Digest))
	resp, err := r.do(ctx, request{method: http.MethodGet, url: u, ok: []int{http.StatusOK}})
	if err != nil {
		return nil, fmt.Errorf("blob %s@%s: %w", r.Name(), d.Digest, err)
	}
	size := d.Size
	if size > 0 && resp.ContentLength > size {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: blob %s@%s: the registry announces %d bytes, the descriptor declares %d", content.ErrSizeMismatch, r.Name(), d.Digest, resp.ContentLength, size)
	}
	if size <= 0 {
		size = resp.ContentLength
	}
	return &blobReader{ctx: ctx, r: r, url: u, body: resp.Body, size: size, digest: d.Digest}, nil
}

type blobReader struct {
	ctx     context.Context //nolint:containedctx // lives only as long as one GetBlob stream
	r       *Repo
	url     string
	digest  image.Digest
	body    io.ReadCloser
	size    int64
	n       int64
	resumes int
	closed  bool
}

func (b *blobReader) Read(p []byte) (int, error) {
	for {
		if b.closed {
			return 0, errors.New("read of closed blob stream")
		}
		if b.size > 0 && int64(len(p)) > b.size-b.n+1 {
			p = p[:b.size-b.n+1] // never past one byte over the size
		}
		n, err := b.body.Read(p)
		b.n += int64(n)
		if b.size > 0 && b.n > b.size {
			return n, fmt.Errorf("%w: blob %s@%s: the registry sends more than the %d bytes expected", content.ErrSizeMismatch, b.r.Name(), b.digest, b.size)
		}
		if err == nil || err == io.EOF || n > 0 {
			if err != nil && err != io.EOF && n > 0 {
				// Return the bytes; the error recurs on the next Read.
				return n, nil
			}
			return n, err
		}
		if !b.resumable(err) {
			return 0, err
		}
		if rerr := b.resume(err); rerr != nil {
			return 0, rerr
		}
	}
}

func (b *blobReader) resumable(err error) bool {
	return b.size > 0 && b.n < b.size && b.resumes < b.r.c.opts.MaxRetries && b.ctx.Err() == nil && retryableNetError(err)
}

func (b *blobReader) resume(cause error) error {
	b.body.Close()
	wait := b.r.c.backoff(b.resumes)
	b.resumes++
	b.r.c.log.Warn("registry: blob stream broke, resuming", "blob", b.digest, "offset", b.n, "size", b.size, "attempt", b.resumes, "wait", wait, "error", cause)
	if err := sleep(b.ctx, wait); err != nil {
		return err
	}
	resp, err := b.r.do(b.ctx, request{method: http.MethodGet, url: b.url, ok: []int{http.StatusOK, http.StatusPartialContent},
		header: http.Header{"Range": {"bytes=" + strconv.FormatInt(b.n, 10) + "-"}}})
	if err != nil {
		return fmt.Errorf("resume blob %s@%s at byte %d after %v: %w", b.r.Name(), b.digest, b.n, cause, err)
	}
	if resp.StatusCode == http.StatusOK {
		// Range ignored: skip what we already have.
		if _, err := io.CopyN(io.Discard, resp.Body, b.n); err != nil {
			resp.Body.Close()
			return fmt.Errorf("resume blob %s@%s: %w", b.r.Name(), b.digest, err)
		}
	} else if cr := resp.Header.Get("Content-Range"); cr != "" && !strings.HasPrefix(cr, "bytes "+strconv.FormatInt(b.n, 10)+"-") {
		resp.Body.Close()
		return fmt.Errorf("resume blob %s@%s: registry answered Content-Range %q for offset %d", b.r.Name(), b.digest, cr, b.n)
	}
	b.body = resp.Body
	return nil
}

func (b *blobReader) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.body.Close()
}

// PutBlob uploads a blob (POST then a monolithic PUT). body must yield size
// bytes hashing to d; the registry verifies. A seekable body is retried.
func (r *Repo) PutBlob(ctx context.Context, d image.Digest, size int64, body io.Reader) error {
	if _, err := image.ParseDigest(string(d)); err != nil {
		return fmt.Errorf("%w: %v", content.ErrBadReference, err)
	}
	resp, err := r.do(ctx, request{method: http.MethodPost, url: r.url("blobs", "uploads") + "/", write: true,
		ok: []int{http.StatusAccepted, http.StatusCreated}})
	if err != nil {
		return fmt.Errorf("push blob %s@%s: start upload: %w", r.Name(), d, err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if loc == "" {
		return fmt.Errorf("push blob %s@%s: registry sent no upload Location", r.Name(), d)
	}
	lu, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return fmt.Errorf("push blob %s@%s: bad upload Location %q: %w", r.Name(), d, loc, err)
	}
	q := lu.Query()
	q.Set("digest", string(d))
	lu.RawQuery = q.Encode()
	if body == nil {
		body = strings.NewReader("")
	}
	resp, err = r.do(ctx, request{method: http.MethodPut, url: lu.String(), write: true, stream: body, size: size,
		header: http.Header{"Content-Type": {"application/octet-stream"}}, ok: []int{http.StatusCreated, http.StatusAccepted, http.StatusOK}})
	if err != nil {
		return fmt.Errorf("push blob %s@%s: %w", r.Name(), d, err)
	}
	resp.Body.Close()
	return nil
}

// MountBlob asks the registry to link blob d from repository from (same
// registry, path only) into this one. It reports whether it was mounted; a
// registry that cannot mount starts an upload instead, which is cancelled.
func (r *Repo) MountBlob(ctx context.Context, d image.Digest, from string) (bool, error) {
	if _, err := image.ParseDigest(string(d)); err != nil {
		return false, fmt.Errorf("%w: %v", content.ErrBadReference, err)
	}
	u := r.url("blobs", "uploads") + "/?" + url.Values{"mount": {string(d)}, "from": {from}}.Encode()
	resp, err := r.do(ctx, request{method: http.MethodPost, url: u, write: true, ok: []int{http.StatusCreated, http.StatusAccepted}})
	if err != nil {
		return false, fmt.Errorf("mount blob %s into %s: %w", d, r.Name(), err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		return true, nil
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		if lu, err := resp.Request.URL.Parse(loc); err == nil {
			if resp, err := r.do(ctx, request{method: http.MethodDelete, url: lu.String(), write: true, noRetry: true,
				ok: []int{http.StatusNoContent, http.StatusOK, http.StatusAccepted, http.StatusNotFound}}); err == nil {
				resp.Body.Close()
			}
		}
	}
	return false, nil
}

// DeleteBlob unlinks a blob from this repository (distribution keeps the
// bytes until garbage collection, and other repositories that mounted it
// still serve it).
func (r *Repo) DeleteBlob(ctx context.Context, d image.Digest) error {
	if _, err := image.ParseDigest(string(d)); err != nil {
		return fmt.Errorf("%w: %v", content.ErrBadReference, err)
	}
	resp, err := r.do(ctx, request{method: http.MethodDelete, url: r.url("blobs", string(d)), write: true,
		ok: []int{http.StatusAccepted, http.StatusOK, http.StatusNoContent}})
	if err != nil {
		return fmt.Errorf("delete blob %s@%s: %w", r.Name(), d, err)
	}
	resp.Body.Close()
	return nil
}

// Tags lists every tag, sorted and de-duplicated, following pagination
// (Link, then last=; distribution 2.8 ignores n and sends all), up to
// Options.MaxTags (past it: a *ListLimitError). An
// existing repository without tags returns nil; an unknown repository an
// error wrapping content.ErrNotFound.
func (r *Repo) Tags(ctx context.Context) ([]string, error) {
	rt, err := r.rt(ctx, false)
	if err != nil {
		return nil, err
	}
	u := r.url("tags", "list")
	if n := r.c.opts.TagPageSize; n > 0 {
		u += "?n=" + strconv.Itoa(n)
	}
	var tags []string
	err = r.c.paginate(ctx, rt, u, func(body []byte) ([]string, error) {
		var doc struct {
			Tags []string `json:"tags"`
		}
		if err := jsonUnmarshal(body, &doc); err != nil {
			return nil, fmt.Errorf("tags of %s: %w", r.Name(), err)
		}
		tags = append(tags, doc.Tags...)
		if len(tags) > r.c.opts.MaxTags {
			return nil, &ListLimitError{What: "tags", Of: r.Name(), Limit: r.c.opts.MaxTags}
		}
		return doc.Tags, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", r.Name(), err)
	}
	return sortUnique(tags), nil
}

// ReferrersTag returns the referrers fallback tag of a subject digest:
// "<alg>-<hex>" (OCI distribution-spec).
func ReferrersTag(subject image.Digest) string {
	clean := func(s string, max int) string {
		b := []byte(s)
		for i, c := range b {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
				b[i] = '-'
			}
		}
		if len(b) > max {
			b = b[:max]
		}
		return string(b)
	}
	return clean(subject.Algorithm(), 32) + "-" + clean(subject.Hex(), 64)
}

// Referrers lists the manifests whose subject is the given digest,
// optionally filtered by artifactType. It uses the referrers API when the
// registry answers 200 with an index (viaAPI true, pages followed), and
// otherwise the fallback tag "sha256-<hex>" (a registry without the API,
// such as distribution 2.8 and 3, answers 404 "page not found"). No
// referrers: nil, nil.
func (r *Repo) Referrers(ctx context.Context, subject image.Digest, artifactType string) ([]image.Descriptor, bool, error) {
	if _, err := image.ParseDigest(string(subject)); err != nil {
		return nil, false, fmt.Errorf("%w: %v", content.ErrBadReference, err)
	}
	u := r.url("referrers", string(subject))
	if artifactType != "" {
		u += "?" + url.Values{"artifactType": {artifactType}}.Encode()
	}
	rt, err := r.rt(ctx, false)
	if err != nil {
		return nil, false, err
	}
	var refs []image.Descriptor
	apiErr := r.c.paginate(ctx, rt, u, func(body []byte) ([]string, error) {
		var ix image.Index
		if err := json.Unmarshal(body, &ix); err != nil || (ix.MediaType != "" && ix.MediaType != image.MediaTypeOCIIndex) || ix.Manifests == nil && !strings.Contains(string(body), `"manifests"`) {
			return nil, errNoReferrersAPI
		}
		refs = append(refs, ix.Manifests...)
		return nil, nil // pages only via Link
	})
	if apiErr == nil {
		return filterArtifactType(refs, artifactType), true, nil
	}
	var se *StatusError
	if !errors.Is(apiErr, errNoReferrersAPI) && !(errors.As(apiErr, &se) && (se.StatusCode == http.StatusNotFound || se.StatusCode == http.StatusMethodNotAllowed || se.StatusCode == http.StatusBadRequest)) {
		return nil, false, fmt.Errorf("referrers of %s@%s: %w", r.Name(), subject, apiErr)
	}
	// Fallback tag.
	d, raw, err := r.GetManifest(ctx, ReferrersTag(subject))
	if errors.Is(err, content.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("referrers of %s@%s (fallback tag %s): %w", r.Name(), subject, ReferrersTag(subject), err)
	}
	if !image.IsIndex(d.MediaType) {
		return nil, false, fmt.Errorf("referrers of %s@%s: fallback tag %s holds %s, not an index", r.Name(), subject, ReferrersTag(subject), d.MediaType)
	}
	var ix image.Index
	if err := json.Unmarshal(raw, &ix); err != nil {
		return nil, false, fmt.Errorf("referrers of %s@%s: fallback index: %w", r.Name(), subject, err)
	}
	return filterArtifactType(ix.Manifests, artifactType), false, nil
}

var errNoReferrersAPI = errors.New("no referrers API")

func filterArtifactType(ds []image.Descriptor, t string) []image.Descriptor {
	if t == "" {
		return ds
	}
	var out []image.Descriptor
	for _, d := range ds {
		if d.ArtifactType == t {
			out = append(out, d)
		}
	}
	return out
}
