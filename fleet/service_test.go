package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/stratascan/strata/fleet/store"
	"github.com/stratascan/strata/secret"
)

func TestConfigDefaultsAndErrors(t *testing.T) {
	st := &store.Store{}
	e := &secret.Engine{}
	for _, c := range []struct {
		name string
		cfg  Config
		want string // error text; "" = valid
	}{
		{"no store", Config{Engine: e}, "no findings store"},
		{"no engine", Config{Store: st}, "no secret engine"},
		{"negative workers", Config{Store: st, Engine: e, Workers: -1}, "negative workers"},
		{"rescue before timeout", Config{Store: st, Engine: e, JobTimeout: time.Hour, RescueAfter: time.Minute}, "must exceed the job timeout"},
		{"tagged registry", Config{Store: st, Engine: e, Registries: []string{"reg.example/app:1"}}, "want host[:port]"},
		{"digest registry", Config{Store: st, Engine: e, Registries: []string{"reg.example/app@sha256:00"}}, "want host[:port]"},
		{"empty registry", Config{Store: st, Engine: e, Registries: []string{" "}}, "want host[:port]"},
		{"host, port and prefix", Config{Store: st, Engine: e, Registries: []string{"docker://reg.example:5000/team/", "reg2.example"}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.cfg.withDefaults()
			if c.want != "" {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want ErrConfig saying %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Registries[0] != "reg.example:5000/team" || c.cfg.Registries[0] != "docker://reg.example:5000/team/" {
				t.Errorf("registries %q (caller's %q)", got.Registries, c.cfg.Registries)
			}
			if got.JobTimeout != DefaultJobTimeout || got.RescueAfter != DefaultJobTimeout+15*time.Minute || got.StopGrace != DefaultStopGrace ||
				got.PollInterval != DefaultPollInterval || got.MaxAttempts != DefaultMaxAttempts || got.Logger == nil {
				t.Errorf("defaults %+v", got)
			}
		})
	}
}

func TestSnoozeDelay(t *testing.T) {
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for n, w := range want {
		if got := snoozeDelay(n); got != w {
			t.Errorf("snoozeDelay(%d) = %s, want %s", n, got, w)
		}
	}
}

// An insert-only service (Workers 0) enqueues references, pushes and
// sweeps as River jobs and works none of them; bad references are refused.
func TestEnqueue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, sqliteDSN(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := New(ctx, Config{Store: st, Engine: defaultEngine(t), Registries: []string{"reg.example:5000"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(ctx)
	const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, ref := range []string{"reg.example:5000/team/app:1.0", "docker://reg.example:5000/team/app@" + dg, "reg.example:5000/team/app:1.0"} {
		if err := svc.EnqueueRef(ctx, ref); err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
	}
	if err := svc.EnqueuePush(ctx, "reg.example:5000", "team/web", "latest", dg); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "oci:examples/leaky-app", "reg.example/App:1", "reg.example/app@sha256:short"} {
		if err := svc.EnqueueRef(ctx, bad); !errors.Is(err, ErrBadReference) {
			t.Errorf("EnqueueRef(%q) = %v, want ErrBadReference", bad, err)
		}
	}
	if err := svc.EnqueuePush(ctx, "reg.example:5000", "team/web", "", ""); !errors.Is(err, ErrBadReference) {
		t.Errorf("a push without tag or digest: %v", err)
	}
	if err := svc.EnqueueSweep(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.EnqueueSweep(ctx); err != nil { // pending: skipped as a duplicate
		t.Fatal(err)
	}
	res, err := svc.q.JobList(ctx, river.NewJobListParams().First(100))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range res.Jobs {
		if j.State != rivertype.JobStateAvailable {
			t.Errorf("job %s is %s: an insert-only service works nothing", j.Kind, j.State)
		}
		var a map[string]any
		json.Unmarshal(j.EncodedArgs, &a)
		got = append(got, j.Kind+" "+strings.Join([]string{str(a["repository"]), str(a["tag"]), str(a["manifest"])}, ","))
	}
	want := []string{
		KindResolve + " team/app,1.0,", // the second identical reference is a duplicate while pending
		KindResolve + " team/app,," + dg,
		KindResolve + " team/web,latest," + dg,
		KindSweep + " ,,",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("jobs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	stats, err := svc.QueueStats(ctx)
	if err != nil || stats["available"] != 4 || stats["running"] != 0 {
		t.Errorf("QueueStats %v %v", stats, err)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
