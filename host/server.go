package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/capture"
	"github.com/imhook/imhook/host/console"
	"github.com/imhook/imhook/host/history"
	"github.com/imhook/imhook/host/metrics"
	"github.com/imhook/imhook/host/tenantlog"
	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/host/webhook"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/egress"
	"github.com/imhook/imhook/plugins/outcall"
	"github.com/imhook/imhook/plugins/queue"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/registry/redis"
	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/store/boltdb"
	"github.com/imhook/imhook/plugins/store/health"
	"github.com/imhook/imhook/plugins/store/redisdb"
	"github.com/imhook/imhook/sdk/openim"
)

// Server is imhook serving: the store, the sandbox, the live tenants, the
// webhook listener and the admin listener, assembled from a Config.
//
//	srv, err := host.New(ctx, cfg, logger)
//	if err != nil { ... }
//	err = srv.Run(ctx) // until ctx ends, then a graceful shutdown
//
// It is safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	reg      *registry.Registry
	engine   *plugins.Engine
	dir      *tenants.Directory
	metrics  *metrics.Metrics
	hooks    *webhook.Handler
	queue    *queue.Queue // after-callbacks (queue.go)
	web      *fasthttp.Server
	admin    *fasthttp.Server
	webLn    net.Listener
	adminLn  net.Listener
	stopping atomic.Bool
	shutdown atomic.Bool
	// closeQueue closes the queue's store, after the directory.
	closeQueue func()

	// The tenants' live logs and captures (host/workflow.go).
	logs    *tenantlog.Store
	capture *capture.Store

	// storeHealth reports a shared store's trouble (nil when it answers);
	// callbacks never wait on it. Always nil for bolt.
	storeHealth func() error
	// shared is the Redis backend, nil for bolt: its status, the lost-data
	// acceptance and the replicas' announcements.
	shared *redis.Backend
	// redisDB is the Redis every store shares (one client, one data-loss
	// guard), nil for bolt; closed last.
	redisDB   *redisdb.Shared
	replicaID string
	announced chan struct{} // closed when the announcer has withdrawn
	quit      chan struct{} // closed by Shutdown

	// state is the tenants' key-value state (state.go).
	state      state.Backend
	stateClose func() error

	// history is the tenants' last hour for the web console's charts.
	history *history.History
}

// historyInterval is how often the console's history samples the metrics.
const historyInterval = 10 * time.Second

// New opens the store, creates the sandbox and binds both listeners (so Addr
// and AdminAddr are known at once), but serves nothing until Run. cfg must
// have passed Validate.
//
// # Errors
//
// The data directory cannot be created, the store is locked by another
// process or unreadable, the cache directory is not private, or an address
// cannot be bound. Everything opened so far is closed again.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (_ *Server, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// s is not the named result: a failing return sets that to nil before
	// the closers below, which use s, run.
	s := &Server{cfg: cfg, log: logger, metrics: metrics.New(), quit: make(chan struct{}),
		logs: tenantlog.New(tenantlog.Options{}), capture: capture.New(capture.Options{})}
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()

	s.replicaID = redis.DefaultReplicaID()
	if cfg.Store.Backend == "redis" {
		// One client and one data-loss guard for the registry, the state and
		// the queue: they agree on whether Redis may be written to.
		s.redisDB, err = redisdb.OpenShared(ctx, cfg.Store.Redis, redisdb.GuardOptions{
			SeenFile:  cfg.SeenPath(),
			ReplicaID: s.replicaID,
			Logger:    logger.With("component", "store"),
		})
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		closers = append(closers, func() { _ = s.redisDB.Close() })
	}
	backend, path, err := openStore(ctx, cfg, s.redisDB)
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { _ = backend.Close() })
	s.storeHealth = func() error { return nil }
	if b, ok := backend.(*redis.Backend); ok {
		s.shared = b
		s.storeHealth = b.Health
	}
	s.reg, err = registry.New(ctx, backend, registry.Options{})
	if err != nil {
		return nil, fmt.Errorf("store[%s]: %w", path, err)
	}

	s.state, s.stateClose, err = openState(cfg, s.redisDB)
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { _ = s.stateClose() })

	s.engine, err = plugins.NewEngine(ctx, plugins.EngineOptions{
		CacheDir:     cfg.CacheDir(),
		Commands:     openim.CommandName,
		MaxInstances: cfg.Sandbox.MaxInstances,
		CPUSlots:     cfg.Sandbox.CPUSlots,
		MaxCPUWait:   cfg.Sandbox.MaxCPUWait,
		IdleTimeout:  cfg.Sandbox.IdleTimeout,

		CompileTimeout:   cfg.Sandbox.CompileTimeout,
		NoPreInit:        cfg.Sandbox.NoPreInit,
		MemoryPool:       cfg.Sandbox.MemoryPoolBytes,
		DeadlineFallback: cfg.Sandbox.DeadlineFallback,
		Logger:           logger.With("component", "sandbox"),
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	closers = append(closers, func() { _ = s.engine.Close(context.Background()) })

	nets, err := egress.ParseNetworks("egress.allow_networks", cfg.Egress.AllowNetworks)
	if err != nil {
		return nil, err
	}
	out := outcall.New(outcall.Options{Policy: egress.Policy{AllowNetworks: nets}, Observe: s.metrics.OutCall})
	closers = append(closers, out.Close)
	s.dir, err = tenants.New(tenants.Options{
		Registry: s.reg,
		Engine:   s.engine,
		Defaults: cfg.Sandbox.Limits.WithDefaults(),
		Metrics:  s.metrics,
		// Guest lines and load messages naming a tenant also go to its log.
		Logger: slog.New(s.logs.Handler(logger.Handler())),
		Egress: out,
		State:  s.state,
	})
	if err != nil {
		return nil, err
	}
	s.metrics.SetSource(s.dir)
	if s.shared != nil {
		s.metrics.SetStoreSource(func() metrics.StoreStat {
			st := s.shared.Status()
			return metrics.StoreStat{State: st.State, Revision: st.Revision, Applied: s.dir.Applied(), LastRead: st.LastRead}
		})
	}
	closeQueue, err := s.openQueue()
	if err != nil {
		return nil, err
	}
	closers = append(closers, closeQueue)
	s.closeQueue = closeQueue

	s.hooks, err = webhook.New(webhook.Options{
		Queue:         s.queue,
		Directory:     s.dir,
		Metrics:       s.metrics,
		Logger:        logger,
		MaxConcurrent: cfg.Server.MaxConcurrent,
		CallTimeout:   cfg.Server.CallTimeout,
		MaxBodyBytes:  cfg.Server.MaxBodyBytes,
		Tap:           tap{logs: s.logs, capture: s.capture},
	})
	if err != nil {
		return nil, err
	}
	s.web = &fasthttp.Server{
		Name:                  "imhook",
		Handler:               s.serveWebhook,
		ErrorHandler:          s.hooks.ErrorHandler,
		ReadTimeout:           cfg.Server.ReadTimeout,
		WriteTimeout:          cfg.Server.WriteTimeout,
		IdleTimeout:           cfg.Server.IdleTimeout,
		MaxRequestBodySize:    cfg.Server.MaxBodyBytes,
		CloseOnShutdown:       true,
		NoDefaultServerHeader: true,
		Logger:                fasthttpLogger{logger},
	}
	s.webLn, err = listen("server.addr", cfg.Server.Addr)
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { _ = s.webLn.Close() })

	if cfg.Admin.Addr != "" {
		opts := admin.Options{
			Registry:       s.reg,
			Engine:         s.engine,
			Defaults:       cfg.Sandbox.Limits.WithDefaults(),
			OperatorToken:  cfg.Admin.Token,
			MaxUploadBytes: cfg.Admin.MaxUploadBytes,
			Stats: func(id string) (any, bool) {
				st, ok := s.dir.Stats(id)
				if ok {
					st.Queue = s.queueStatus(id) // queue.go
				}
				return st, ok
			},
			Serving: s.dir.Await,
			Logs:    s.logs,
			Capture: s.capture,
			Logger:  logger.With("component", "admin"),
			Queue:   s.queue,
			State:   s.state,
		}
		if s.shared != nil {
			opts.Store = storeControl{s}
			opts.Replicas = s.replicaVersions
		}
		api, err := admin.New(opts)
		if err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
		apiHandler := api.Handler()
		metricsHandler := s.metrics.Handler()
		s.history = history.New(s.metrics.Registry())
		con, err := console.New(console.Options{API: apiHandler, Metrics: s.metrics.Registry(), History: s.history,
			Health: func(ctx *fasthttp.RequestCtx) { s.readyz(ctx, true) }})
		if err != nil {
			return nil, err
		}
		consoleHandler := con.Handler()
		s.admin = &fasthttp.Server{
			Name: "imhook-admin",
			Handler: func(ctx *fasthttp.RequestCtx) {
				switch string(ctx.Path()) {
				case "/healthz":
					s.healthz(ctx)
				case "/readyz":
					s.readyz(ctx, true)
				case "/metrics":
					if s.metricsAllowed(ctx) {
						metricsHandler(ctx)
					}
				default:
					if bytes.HasPrefix(ctx.Path(), pprofPrefix) {
						s.servePprof(ctx)
						return
					}
					if p := string(ctx.Path()); strings.HasPrefix(p, console.Prefix) || p == "/console" {
						consoleHandler(ctx) // docs/console.md
						return
					}
					apiHandler(ctx)
				}
			},
			ReadTimeout:           time.Minute, // uploads are large
			WriteTimeout:          time.Minute,
			IdleTimeout:           cfg.Server.IdleTimeout,
			MaxRequestBodySize:    api.MaxRequestBodySize(),
			CloseOnShutdown:       true,
			NoDefaultServerHeader: true,
			Logger:                fasthttpLogger{logger},
		}
		s.adminLn, err = listen("admin.addr", cfg.Admin.Addr)
		if err != nil {
			return nil, err
		}
		next := s.admin.Handler
		s.admin.Handler = func(ctx *fasthttp.RequestCtx) {
			if s.redisDB != nil {
				// Reads answer what the store holds; this says what that is.
				if st := s.redisDB.Guard.Status().State; st != health.OK {
					ctx.Response.Header.Set("Imhook-Store-State", st)
				}
			}
			if !s.refuseWrite(ctx) {
				next(ctx)
			}
		}
	}
	return s, nil
}

// Addr returns the webhook listener's address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.webLn.Addr() }

// AdminAddr returns the admin listener's address, or nil when disabled.
func (s *Server) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// Registry returns the tenant registry, for the demo set-up and for tests.
func (s *Server) Registry() *registry.Registry { return s.reg }

// Engine returns the sandbox engine.
func (s *Server) Engine() *plugins.Engine { return s.engine }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// Directory returns the live tenants.
func (s *Server) Directory() *tenants.Directory { return s.dir }

// Run loads the tenants, then serves both listeners until ctx ends or a
// listener fails, and then shuts down gracefully within
// server.shutdown_timeout: the listeners stop accepting, in-flight callbacks
// finish, then plugins, the sandbox and the store are closed.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- s.web.Serve(s.webLn) }()
	if s.admin != nil {
		go func() { errc <- s.admin.Serve(s.adminLn) }()
	}
	// Listeners are up before the load so /healthz answers and /readyz says
	// "loading" while large plugins compile.
	if s.shared != nil {
		s.announced = make(chan struct{})
		go s.announce(ctx)
	}
	if err := s.dir.Start(ctx); err != nil {
		s.Shutdown(context.Background())
		return err
	}
	s.queue.Start()
	if s.history != nil {
		go s.history.Run(ctx, historyInterval)
	}
	s.log.Info("imhook serving", "webhook", s.Addr().String(), "admin", addrString(s.AdminAddr()),
		"store", s.storeName(), "plugins_loaded", s.dir.PluginsLoaded(), "ready", s.dir.Ready(), "replica", s.replicaID)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		runErr = fmt.Errorf("listener stopped: %w", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	return errors.Join(runErr, s.Shutdown(sctx))
}

// Shutdown stops accepting callbacks, waits for those in flight (up to ctx;
// then their plugin calls are cancelled and they answer with the failure
// policy), and closes everything. It is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.shutdown.CompareAndSwap(false, true) {
		return nil
	}
	s.stopping.Store(true)
	close(s.quit)
	s.log.Info("imhook shutting down: finishing in-flight callbacks")
	var errs []error
	done := make(chan error, 1)
	go func() { done <- s.web.ShutdownWithContext(ctx) }()
	select {
	case err := <-done:
		errs = append(errs, err)
	case <-ctx.Done():
		s.hooks.Close() // cancel the plugin calls still running
		errs = append(errs, <-done)
	}
	if s.admin != nil {
		s.logs.Close() // end the log followers' streams, which keep their connections open
		errs = append(errs, s.admin.ShutdownWithContext(ctx))
	}
	// fasthttp closes the listeners it served; these close them when Run was
	// never called (the second Close's error means nothing).
	_ = s.webLn.Close()
	if s.adminLn != nil {
		_ = s.adminLn.Close()
	}
	s.hooks.Close()
	errs = append(errs, s.stopQueue(ctx)) // no callback enqueues any more
	if s.announced != nil {
		<-s.announced // withdrawn from the replicas' list before the store closes
	}
	errs = append(errs, s.dir.Close(ctx), s.engine.Close(ctx), s.reg.Close(), s.stateClose())
	s.closeQueue()
	if s.redisDB != nil {
		errs = append(errs, s.redisDB.Close())
	}
	err := errors.Join(errs...)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		s.log.Error("shutdown incomplete", "err", err)
	}
	return err
}

// serveWebhook serves the webhook listener: callbacks and the probes.
func (s *Server) serveWebhook(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/healthz":
		s.healthz(ctx)
	case "/readyz":
		s.readyz(ctx, false)
	default:
		s.hooks.Serve(ctx)
	}
}

// healthz answers 200 while the process runs.
func (s *Server) healthz(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"status":"ok"}` + "\n")
}

// readyz answers, for load balancers (docs/operations.md, "Endpoints"):
//
//   - 200 "ready": tenants loaded, the store answers and holds what was
//     seen;
//   - 203 "degraded": tenants loaded and served from the last loaded state,
//     but the shared store is unreachable or lost data (admin changes are
//     refused). Every replica is in the same position when the store is
//     down, so a balancer should keep sending callbacks (203 is a success
//     to Kubernetes; add it to a balancer's matcher);
//   - 503 "loading", "stopping", or "waiting for the operator" (started
//     against a store that lost data): send no callbacks.
//
// With detail (the admin listener) the body lists the tenants whose plugins
// failed to load (they serve their previous plugins, so they don't make the
// server unready), and "store" says why in detail.
func (s *Server) readyz(ctx *fasthttp.RequestCtx, detail bool) {
	status, code := "ready", fasthttp.StatusOK
	var st *registry.StoreStatus
	if s.shared != nil {
		v := s.shared.Status()
		st = &v
	}
	switch {
	case s.stopping.Load():
		status, code = "stopping", fasthttp.StatusServiceUnavailable
	case !s.dir.Ready() && st != nil && st.State == registry.StoreLost:
		status, code = "waiting for the operator", fasthttp.StatusServiceUnavailable
	case !s.dir.Ready():
		status, code = "loading", fasthttp.StatusServiceUnavailable
	case st != nil && st.State != registry.StoreOK:
		status, code = "degraded", fasthttp.StatusNonAuthoritativeInfo
	}
	body := struct {
		Status     string           `json:"status"`
		Store      string           `json:"store,omitempty"`
		StoreState string           `json:"store_state,omitempty"`
		Revision   uint64           `json:"revision,omitempty"`
		Applied    uint64           `json:"applied,omitempty"`
		Failures   []tenants.Status `json:"load_failures,omitempty"`
	}{Status: status}
	if detail {
		body.Failures = s.dir.Failures()
	}
	if st != nil {
		body.StoreState = st.State
		if detail {
			body.Revision, body.Applied = st.Revision, s.dir.Applied()
		}
		switch st.State {
		case registry.StoreUnreachable:
			body.Store = "unavailable: admin changes are refused, callbacks are served from the last loaded state"
		case registry.StoreLost:
			body.Store = "lost data: admin changes are refused until the operator acts, callbacks are served from the last loaded state"
		}
		if detail && st.Reason != "" {
			body.Store = st.Reason
		}
	}
	ctx.SetStatusCode(code)
	b, _ := json.Marshal(body)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

// listen binds the address of the configuration key key.
func listen(key, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s[%s]: address already in use: another process listens there; stop it or choose another address for %s", key, addr, key)
	}
	if err != nil {
		return nil, fmt.Errorf("%s[%s]: %w", key, addr, err)
	}
	return ln, nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return "disabled"
	}
	return a.String()
}

// fasthttpLogger sends fasthttp's own messages to slog.
type fasthttpLogger struct{ l *slog.Logger }

// Printf implements fasthttp.Logger.
func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Warn(fmt.Sprintf(format, args...), "component", "fasthttp")
}

// Install inspects wasm, stores it as a version of tenant's plugin and
// activates it: the upload path in one call, for the demo set-up and for
// tests (the admin API does the same in steps). The live directory picks the
// change up from the registry's change feed. It returns the version's hash.
func (s *Server) Install(ctx context.Context, tenant, plugin string, wasm []byte) (string, error) {
	t, err := s.reg.Tenant(ctx, tenant)
	if err != nil {
		return "", err
	}
	cfg := tenants.SandboxOptions(t, s.cfg.Sandbox.Limits)
	info, err := s.engine.InspectFor(ctx, wasm, cfg.Limits, cfg.Grants)
	if err != nil {
		return "", fmt.Errorf("tenant[%s] plugin[%s]: %w", tenant, plugin, err)
	}
	_, v, err := s.reg.AddVersion(ctx, tenant, plugin, wasm, registry.VersionInfo{
		Hash: info.Hash, Size: int64(info.Size), ABIVersion: info.ABIVersion, Commands: info.Commands,
	}, registry.AnyRevision)
	if err != nil {
		return "", err
	}
	if _, err := s.reg.Activate(ctx, tenant, plugin, v.Hash, registry.AnyRevision); err != nil {
		return "", err
	}
	return v.Hash, nil
}

// Store selection and health (issue 7: replicas sharing the registry).

// openStore opens the registry backend cfg.Store selects (on db, the shared
// Redis, when it is not nil) and returns it with a name for messages (the
// bbolt path or "redis").
func openStore(ctx context.Context, cfg Config, db *redisdb.Shared) (registry.Backend, string, error) {
	if db != nil {
		b, err := redis.New(ctx, db)
		if err != nil {
			return nil, "", fmt.Errorf("store: %w", err)
		}
		return b, "redis", nil
	}
	path := cfg.StorePath()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, "", fmt.Errorf("store[%s]: create its directory: %w", path, err)
	}
	b, err := bolt.Open(path, boltdb.Options{})
	if err != nil {
		return nil, "", fmt.Errorf("store[%s]: %w", path, err)
	}
	return b, path, nil
}

// storeName names the store in the start-up log line.
func (s *Server) storeName() string {
	if s.cfg.Store.Backend == "redis" {
		return s.cfg.Store.Redis.WithDefaults().Where()
	}
	return s.cfg.StorePath()
}

// metricsAllowed reports whether a /metrics request may be answered: always
// without admin.metrics_token, else only with that token or the operator's
// as its bearer token. It answers the 401 itself.
func (s *Server) metricsAllowed(ctx *fasthttp.RequestCtx) bool {
	want := s.cfg.Admin.MetricsToken
	if want == "" {
		return true
	}
	scheme, token, _ := strings.Cut(string(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)), " ")
	if strings.EqualFold(scheme, "Bearer") && token != "" &&
		(sameSecret(token, want) || s.cfg.Admin.Token != "" && sameSecret(token, s.cfg.Admin.Token)) {
		return true
	}
	ctx.SetStatusCode(fasthttp.StatusUnauthorized)
	ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="imhook metrics"`)
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"error":"/metrics requires a bearer token: admin.metrics_token or the operator token"}` + "\n")
	return false
}

// sameSecret compares two secrets in a time that depends on neither.
func sameSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// refuseWrite answers an admin write with 503 while the shared store does
// not answer, at once and with the reason, instead of letting it wait for
// Redis and fail with a 500. Reads go through: they fail on their own.
func (s *Server) refuseWrite(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsGet() || ctx.IsHead() || string(ctx.Path()) == "/v1/store/accept" {
		return false // the acceptance is how the lost-data state ends
	}
	err := s.storeHealth()
	if err == nil {
		return false
	}
	msg := err.Error() + "; changes are refused until it answers again, retry later"
	lost := errors.Is(err, registry.ErrDataLost)
	if lost {
		msg = err.Error() // says what the operator must do; retrying does not help
	}
	b, _ := json.Marshal(map[string]string{"error": msg})
	ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	ctx.SetContentType("application/json")
	if !lost {
		ctx.Response.Header.Set("Retry-After", "5")
	}
	ctx.SetBody(append(b, '\n'))
	return true
}
