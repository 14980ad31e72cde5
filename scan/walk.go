package scan

import (
	"context"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sync/semaphore"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/secret"
)

type fileJob struct {
	path string
	size int64
	p    *chunkPipe
}

// walker streams one layer blob: the walk (decompression and both
// digests) runs in run's goroutine, file content goes through chunk pipes
// to one scan worker (scanFiles).
type walker struct {
	job      LayerJob
	eng      *secret.Engine
	maxBytes int64
	progress func(int64) // compressed bytes of this layer read so far; nil: none

	lr   *LayerResult
	jobs chan *fileJob
	sem  *semaphore.Weighted
	head []byte
	// the scan worker's, read after it is done
	matches                 []fileMatch
	workerSkips             []skipRec
	scanned, members, bytes int64
}

// run walks the layer and returns its result.
func (w *walker) run(ctx context.Context) (*LayerResult, error) {
	desc := w.job.Layer.Descriptor
	rc, err := w.job.Store.Open(ctx, desc)
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", w.job.What, desc.Digest, err)
	}
	defer rc.Close()
	w.lr = &LayerResult{}
	w.jobs = make(chan *fileJob, 256)
	w.sem = semaphore.NewWeighted(inFlightBytes)
	w.head = make([]byte, secret.SniffLen)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		w.scanFiles(wctx)
	}()
	lo := layer.Options{MaxBytes: w.maxBytes, What: w.job.What, Progress: w.progress}
	// A sha256 blob digest is verified by the walk, so its content is what
	// the manifest names and is scanned even when the config's diff_id
	// claim is wrong (reported as a mismatch). Any other blob digest
	// leaves the diff_id as the only check: it must hold.
	var enforce image.Digest
	if desc.Digest.Algorithm() != "sha256" {
		enforce = w.job.Layer.DiffID
	}
	res, werr := layer.Walk(ctx, rc, desc, enforce, lo, func(e *layer.Entry, body io.Reader) error {
		return w.entry(ctx, wctx, e, body)
	})
	close(w.jobs)
	if werr != nil {
		cancel()
	}
	<-workerDone
	if werr != nil {
		return nil, werr
	}
	lr := w.lr
	lr.matches = w.matches
	lr.Scanned, lr.Members, lr.Bytes = w.scanned, w.members, w.bytes
	lr.skips = append(lr.skips, w.workerSkips...)
	lr.Size = res.Uncompressed
	lr.diffID = res.DiffID
	lr.verified = res.Digest == desc.Digest
	lr.listed = true
	return lr, nil
}

// scanFiles is the scan worker: it runs the engine on each file the walk
// sends, until the walk closes jobs.
func (w *walker) scanFiles(wctx context.Context) {
	for j := range w.jobs {
		st, err := w.eng.ScanFile(wctx, j.path, j.size, j.p, func(m secret.Match) {
			w.matches = append(w.matches, fileMatch{File: j.path, Match: m})
		})
		j.p.abandon()
		w.scanned++
		w.members += int64(st.ArchiveMembers)
		w.bytes += st.Bytes
		switch {
		case err != nil && wctx.Err() == nil:
			w.workerSkips = append(w.workerSkips, skipRec{j.path, "error: " + err.Error()})
		case st.Skipped || st.SkipReason != "":
			reason := st.SkipReason
			if st.Skipped && !strings.HasPrefix(reason, "binary") && reason != "" {
				reason = "not scanned: " + reason
			}
			w.workerSkips = append(w.workerSkips, skipRec{j.path, reason})
		}
	}
}

// entry lists one tar entry and, for a regular file the engine wants,
// sends its content to the scan worker.
func (w *walker) entry(ctx, wctx context.Context, e *layer.Entry, body io.Reader) error {
	lr := w.lr
	// Every entry is listed, in tar order; an unsafe one is never applied
	// (it hides nothing; its content is scanned).
	rec := entryRec{P: e.Path, T: uint8(e.Type), U: e.Unsafe != ""}
	if e.Type == layer.TypeHardlink {
		rec.L = e.Linkname
	}
	lr.entries = append(lr.entries, rec)
	if e.Type != layer.TypeFile || body == nil {
		return nil
	}
	lr.Files++
	n, err := io.ReadFull(body, w.head[:min(int64(len(w.head)), max(e.Size, 0))])
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return err
	}
	if !w.eng.Wants(e.Path, w.head[:n]) {
		lr.Binary++
		lr.skips = append(lr.skips, skipRec{e.Path, "binary"})
		return nil
	}
	p := newChunkPipe(w.sem, e.Size)
	select {
	case w.jobs <- &fileJob{path: e.Path, size: e.Size, p: p}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer p.closeWrite()
	if !p.send(wctx, append([]byte(nil), w.head[:n]...)) {
		return nil
	}
	return sendBody(wctx, p, body, e.Size-int64(n))
}

// sendBody copies the remaining bytes of a file into its pipe, in chunks.
func sendBody(wctx context.Context, p *chunkPipe, body io.Reader, remaining int64) error {
	for remaining > 0 {
		buf := newChunk(min(remaining, chunkMax))
		m, err := io.ReadFull(body, buf)
		if m > 0 && !p.send(wctx, buf[:m]) {
			return nil // the scanner is done with this file; the walk drains it
		}
		remaining -= int64(m)
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}
