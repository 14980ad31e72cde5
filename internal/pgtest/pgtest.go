package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stratascan/strata/internal/testtool"
)

// ErrNoPostgres: no PostgreSQL server binaries are installed.
var ErrNoPostgres = errors.New("pgtest: postgres not found under /usr/lib/postgresql/*/bin or on PATH (apt-get install -y postgresql)")

// startTimeout bounds initdb plus the server's start.
const startTimeout = 90 * time.Second

// DB is one fresh database on a running server.
type DB struct {
	Name   string
	server *Server
}

// DSN is the database's postgres:// URL (user postgres, no password, TCP on
// loopback).
func (d *DB) DSN() string { return d.server.dsn(d.Name) }

// Server is a running PostgreSQL server.
type Server struct {
	dir  string // temporary directory: data/, socket, log
	port int
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
	logM *sync.Mutex
}

func (s *Server) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

var shared struct {
	enabled bool
	once    sync.Once
	server  *Server
	err     error
}

var dbSeq atomic.Int64

// Main runs the tests of a package sharing one server, started by the first
// Start and stopped when the tests are done. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	shared.enabled = true
	code := m.Run()
	if shared.server != nil {
		shared.server.Stop()
	}
	return code
}

// Start returns a fresh, empty database, dropped when the test ends. When
// postgres is not installed the test fails if CI is set to a true value and
// is skipped otherwise.
func Start(t testing.TB) *DB {
	t.Helper()
	bin, err := Bin()
	if err != nil {
		if testtool.CI() {
			t.Fatalf("postgres is required in CI: %v", err)
		}
		t.Skipf("skipping (CI set to a true value makes this a failure): %v", err)
	}
	var srv *Server
	if shared.enabled {
		shared.once.Do(func() { shared.server, shared.err = StartServer(bin) })
		if shared.err != nil {
			t.Fatalf("pgtest: %v", shared.err)
		}
		srv = shared.server
	} else {
		if srv, err = StartServer(bin); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		t.Cleanup(srv.Stop)
	}
	db, err := srv.CreateDB(context.Background())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.admin(ctx, `DROP DATABASE IF EXISTS `+db.Name+` WITH (FORCE)`); err != nil {
			t.Logf("pgtest: drop %s: %v", db.Name, err)
		}
	})
	return db
}

// CreateDB creates a fresh database on the server.
func (s *Server) CreateDB(ctx context.Context) (*DB, error) {
	name := fmt.Sprintf("strata_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.admin(ctx, `CREATE DATABASE `+name); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	return &DB{Name: name, server: s}, nil
}

func (s *Server) admin(ctx context.Context, stmt string) error {
	conn, err := pgx.Connect(ctx, s.dsn("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}

// binGlob is where the Debian package installs each major version.
var binGlob = "/usr/lib/postgresql/*/bin"

// Bin is the directory of the newest installed PostgreSQL server binaries.
func Bin() (string, error) {
	dirs, _ := filepath.Glob(binGlob)
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && isExec(filepath.Join(filepath.Dir(p), "postgres")) {
		return filepath.Dir(p), nil
	}
	return "", ErrNoPostgres
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
