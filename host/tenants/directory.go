// Package tenants is the live directory of tenants: it loads every tenant and
// its active plugin versions from the registry at start, follows the
// registry's change feed to load new versions in the background and swap them
// in atomically, and serves a callback with a tenant's plugin chain
// (host/chain runs it).
//
// Callbacks read an immutable snapshot (an atomic pointer to a map of
// *Tenant), so serving never takes a lock and never waits for a load. A plugin
// that fails to load leaves the tenant on its previous plugins; the failure is
// logged, counted, and reported by Status (the /readyz detail).
package tenants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imhook/imhook/host/chain"
	"github.com/imhook/imhook/host/metrics"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/outcall"
	"github.com/imhook/imhook/plugins/registry"
	kvstate "github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/sdk/openim"
)

// Options configure a Directory.
type Options struct {
	// Registry is where tenants and plugins are stored. Required.
	Registry *registry.Registry
	// Engine is the sandbox the plugins run in. Required.
	Engine *plugins.Engine
	// Defaults are the sandbox limits of tenants that set none (see
	// SandboxOptions).
	Defaults limits.Limits
	// Metrics records load times and failures; nil records nothing.
	Metrics *metrics.Metrics
	// Logger receives load errors and the guests' log lines; nil discards.
	Logger *slog.Logger
	// Egress sends the tenants' out-calls (grant "http"); nil fails them.
	Egress *outcall.Pool
	// State is the tenants' key-value state (kv.go); nil: plugins granted
	// kv get the unavailable status.
	State kvstate.Backend
}

// Directory is the set of live tenants. It is safe for concurrent use: the
// serving methods (Lookup, Serve) read an atomic snapshot; loads run on one
// goroutine started by Start.
type Directory struct {
	opt      Options
	log      *slog.Logger
	guestLog *slog.Logger // log plus the callback's operation_id (opHandler)
	snap     atomic.Pointer[map[string]*Live]
	// published is closed, and replaced, each time snap changes: Await's
	// broadcast.
	published atomic.Pointer[chan struct{}]

	started atomic.Bool
	ready   atomic.Bool
	// applied is the registry revision the snapshot is at least as new as
	// (the revision read before the last successful sync): the store's
	// revision minus applied is how far this replica lags.
	applied  atomic.Uint64
	inFlight atomic.Int64
	closed   chan struct{}
	done     chan struct{} // closed when the watch loop ends

	// mu guards states; only Start, the watch loop and Close take it, never a
	// callback.
	mu     sync.Mutex
	states map[string]*state
}

// state is the loader's private record of one tenant.
type state struct {
	doc     *registry.Tenant // last applied document
	cfg     plugins.SandboxOptions
	sandbox *plugins.Sandbox
	plugins map[string]*plugins.Plugin // by plugin name: the version serving
	// held are versions loaded and warm but not serving, by plugin name and
	// hash: the newest upload (awaiting activation) and the previous active
	// version (the rollback target). Activating one is a pointer swap.
	held map[string]map[string]*plugins.Plugin
	errs map[string]string // by plugin name: the last load error
	// retry is set when a load failed for a reason other than the module
	// (the store did not answer): the next retry tick loads it again.
	retry bool
}

// publishBatch and publishEvery bound how many tenants a sync applies, and
// how long it runs, between two publications of the serving snapshot: 10,000
// tenants cost tens of copies of it instead of 10,000, and a tenant applied
// early in a long sync serves within publishEvery.
const (
	publishBatch = 256
	publishEvery = 50 * time.Millisecond
)

// retryEvery is how often loads that failed for a passing reason are retried.
const retryEvery = 5 * time.Second

// New returns an empty directory. Call Start to load the tenants.
func New(opt Options) (*Directory, error) {
	if opt.Registry == nil || opt.Engine == nil {
		return nil, errors.New("tenants: Options.Registry and Options.Engine are required")
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Directory{
		opt:      opt,
		log:      log,
		guestLog: slog.New(opHandler{log.Handler()}),
		closed:   make(chan struct{}),
		done:     make(chan struct{}),
		states:   make(map[string]*state),
	}
	empty := map[string]*Live{}
	d.snap.Store(&empty)
	ch := make(chan struct{})
	d.published.Store(&ch)
	return d, nil
}

// Start loads every tenant and its active plugins, then follows the
// registry's changes in the background until ctx ends or Close is called. It
// returns once the first load is done: from then on Ready reports true.
//
// The tenants' documents are read first and published at once, plugins not
// yet loaded: a callback for a tenant whose plugins still load is answered
// by the tenant's failure policy (Live.Loading), never a stop it did not ask
// for.
//
// A store that lost data (registry.ErrDataLost) is not trusted: Start
// returns at once with Ready false, and the directory loads when an
// operator has accepted the loss.
//
// # Errors
//
// Only when the registry cannot be read; a plugin that fails to load is
// reported by Status instead, and its tenant serves without it.
func (d *Directory) Start(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("tenants: Start called twice")
	}
	// Subscribe before reading so no change between the two is missed.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	changes := d.opt.Registry.Watch(wctx)
	err := d.sync(ctx, true)
	switch {
	case errors.Is(err, registry.ErrDataLost):
		d.log.Error("the registry lost data: this replica serves no callbacks until an operator accepts the loss (imhook store status)", "err", err)
	case err != nil:
		cancel()
		close(d.done)
		return err
	default:
		d.ready.Store(true)
	}
	go func() {
		defer close(d.done)
		defer cancel()
		if d.ready.Load() {
			d.warmAll(wctx)
		}
		tick := time.NewTicker(retryEvery)
		defer tick.Stop()
		failed := false // the last sync failed: retry on the next tick
		for {
			select {
			case <-ctx.Done():
				return
			case <-d.closed:
				return
			case _, ok := <-changes:
				if !ok {
					return
				}
			case <-tick.C:
				if !failed && !d.needsRetry() && d.ready.Load() {
					continue
				}
			}
			err := d.sync(wctx, !d.ready.Load())
			if err != nil && !(failed && errors.Is(err, registry.ErrDataLost)) {
				d.log.Error("reload tenants from the registry failed; serving the previous state, retrying", "err", err)
			}
			failed = err != nil
			if err == nil && d.ready.CompareAndSwap(false, true) {
				d.log.Info("tenants loaded: serving callbacks", "plugins_loaded", d.PluginsLoaded())
				d.warmAll(wctx)
			}
		}
	}()
	return nil
}

// InFlight returns the number of callbacks inside Serve right now.
func (d *Directory) InFlight() int64 { return d.inFlight.Load() }

// needsRetry reports whether a tenant has a load to retry.
func (d *Directory) needsRetry() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, st := range d.states {
		if st.retry {
			return true
		}
	}
	return false
}

// Ready reports whether the first load is done.
func (d *Directory) Ready() bool { return d.ready.Load() }

// Close stops following changes and closes every plugin, waiting for the
// calls in flight up to ctx. It may be called without Start.
func (d *Directory) Close(ctx context.Context) error {
	select {
	case <-d.closed:
	default:
		close(d.closed)
	}
	if d.started.Load() {
		<-d.done
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for id, st := range d.states {
		for _, p := range st.plugins {
			errs = append(errs, p.Close(ctx))
		}
		errs = append(errs, st.sandbox.Close(ctx))
		delete(d.states, id)
	}
	empty := map[string]*Live{}
	d.snap.Store(&empty)
	return errors.Join(errs...)
}

// Lookup returns the live tenant with the given ID. The conversion in the map
// index does not allocate.
func (d *Directory) Lookup(id []byte) (*Live, bool) {
	t, ok := (*d.snap.Load())[string(id)]
	return t, ok
}

// warmAll loads every tenant's versions worth holding (warmHeld).
func (d *Directory) warmAll(ctx context.Context) {
	d.mu.Lock()
	ids := slices.Collect(maps.Keys(d.states))
	d.mu.Unlock()
	go func() {
		for _, id := range ids {
			d.warmHeld(ctx, id)
		}
	}()
}

// Applied returns the registry revision the serving snapshot is at least as
// new as.
func (d *Directory) Applied() uint64 { return d.applied.Load() }

// sync brings every tenant whose document changed up to date. With first,
// tenants not loaded yet are published at once, plugins still loading, so
// their callbacks get their failure policy rather than "unknown tenant".
func (d *Directory) sync(ctx context.Context, first bool) error {
	rev, err := d.opt.Registry.Revision(ctx)
	if err != nil {
		return fmt.Errorf("tenants: read the registry's revision: %w", err)
	}
	docs, err := d.opt.Registry.Tenants(ctx)
	if err != nil {
		return fmt.Errorf("tenants: list the registry: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.applied.Store(rev)
	if first {
		d.publishLoading(docs)
	}
	seen := make(map[string]bool, len(docs))
	var (
		warmed  []string
		retired []*plugins.Plugin // closed once a snapshot without them is published
		pending int               // tenants applied since the last publication
		last    = time.Now()
		cost    time.Duration // what the last publication took
	)
	publish := func() {
		start := time.Now()
		d.publish()
		// Close only after publishing: calls that read the old snapshot
		// finish on the old version, or get ErrClosed and retry on the new one.
		go closePlugins(retired)
		retired, pending, last, cost = nil, 0, time.Now(), time.Since(start)
	}
	for _, doc := range docs {
		seen[doc.ID] = true
		if st, ok := d.states[doc.ID]; ok && st.doc.Revision == doc.Revision && !st.retry {
			continue
		}
		retired = append(retired, d.apply(ctx, doc)...)
		warmed = append(warmed, doc.ID)
		// Publishing copies the whole snapshot: after each of 10,000
		// tenants (a start-up, or many registered at once) that is time
		// quadratic in the tenants. Publish every publishBatch tenants, or
		// once publishEvery and ten times the last publication's cost have
		// passed (an apply that loaded a plugin serves soon, and publishing
		// takes at most a tenth of the sync), and at the end.
		if pending++; pending >= publishBatch || time.Since(last) >= max(publishEvery, 10*cost) {
			publish()
		}
	}
	if pending > 0 {
		publish()
	}
	// Versions to hold load after every tenant's serving state is published,
	// and at start-up only once the directory is ready (warmAll).
	for _, id := range warmed {
		if !first {
			go d.warmHeld(ctx, id)
		}
	}
	for id, st := range d.states {
		if seen[id] {
			continue
		}
		delete(d.states, id)
		d.publish()
		go closeTenant(st)
		d.opt.Metrics.Forget(id)
		if d.opt.Egress != nil {
			d.opt.Egress.Forget(id)
		}
		d.log.Info("tenant removed", "tenant", id)
	}
	return nil
}

// closeTenant closes a removed tenant: the calls running in its plugins end
// with it (Sandbox.Close aborts them, KindClosed), then its plugins are freed.
func closeTenant(st *state) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = st.sandbox.Close(ctx)
	closePlugins(slices.Collect(maps.Values(st.plugins))) // closed already, unless loaded outside the sandbox
}

// closePlugins closes retired plugins, giving their calls in flight a minute.
func closePlugins(ps []*plugins.Plugin) {
	if len(ps) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, p := range ps {
		_ = p.Close(ctx)
	}
}

// apply loads what changed in one tenant's document. On return the tenant's
// state holds the plugins to serve; the caller publishes it, then closes the
// retired plugins apply returns.
func (d *Directory) apply(ctx context.Context, doc *registry.Tenant) (retired []*plugins.Plugin) {
	log := d.log.With("tenant", doc.ID)
	cfg := SandboxOptions(doc, d.opt.Defaults)
	cfg.Logger = d.guestLog // the sandbox adds tenant, plugin and command; Serve the operation_id
	if d.opt.Egress != nil {
		// The same client for the tenant's life: its connections last.
		cfg.HTTP = d.opt.Egress.Client(doc.ID, cfg.Limits.MaxOutIdleConns)
	}
	cfg.KV = d.kv(doc.ID, cfg.Limits)
	st, ok := d.states[doc.ID]
	reloadAll := false
	if !ok {
		sb, err := d.opt.Engine.NewSandbox(cfg)
		if err != nil {
			// Only invalid limits get here, and the registry validates them.
			log.Error("tenant cannot be served: its sandbox settings are refused", "err", err)
			d.opt.Metrics.LoadFailure(doc.ID)
			return nil
		}
		st = &state{sandbox: sb, plugins: map[string]*plugins.Plugin{}, held: map[string]map[string]*plugins.Plugin{}, errs: map[string]string{}}
		d.states[doc.ID] = st
	} else if !reflect.DeepEqual(cfg.Limits, st.cfg.Limits) || cfg.Grants != st.cfg.Grants || !maps.Equal(cfg.Config, st.cfg.Config) ||
		!slices.Equal(cfg.EgressAllow, st.cfg.EgressAllow) || !maps.Equal(cfg.Secrets, st.cfg.Secrets) {
		st.sandbox.Update(cfg)
		// Limits and grants apply to plugins loaded after Update.
		reloadAll = cfg.Limits != st.cfg.Limits || cfg.Grants != st.cfg.Grants
	}
	st.cfg = cfg

	st.retry = false
	if reloadAll {
		// Held versions were loaded under the old limits: drop them.
		for _, hs := range st.held {
			for _, p := range hs {
				retired = append(retired, p)
			}
		}
		clear(st.held)
	}
	next := make(map[string]*plugins.Plugin, len(doc.Plugins))
	for _, p := range doc.Plugins {
		cur := st.plugins[p.Name]
		if p.Active == "" {
			continue
		}
		if cur != nil && cur.Hash() == p.Active && !reloadAll {
			next[p.Name] = cur
			continue
		}
		if h := st.held[p.Name][p.Active]; h != nil {
			// Warm already (uploaded earlier, or the version rolled back to).
			delete(st.held[p.Name], p.Active)
			delete(st.errs, p.Name)
			next[p.Name] = h
			log.Info("plugin version serving (it was loaded and warm)", "plugin", p.Name, "plugin_version", short(p.Active))
			continue
		}
		loaded, err := d.load(ctx, st.sandbox, doc.ID, p.Name, p.Active)
		if err != nil {
			log.Error("plugin version failed to load; the previous version keeps serving",
				"plugin", p.Name, "plugin_version", short(p.Active), "err", err)
			d.opt.Metrics.LoadFailure(doc.ID)
			st.errs[p.Name] = err.Error()
			if !errors.As(err, new(*plugins.LoadError)) {
				st.retry = true // the module is fine; the store or the engine was not
			}
			if cur != nil {
				next[p.Name] = cur
			}
			continue
		}
		delete(st.errs, p.Name)
		next[p.Name] = loaded
		log.Info("plugin version loaded", "plugin", p.Name, "plugin_version", short(p.Active),
			"commands", loaded.Commands())
	}
	for name := range st.errs {
		if _, ok := doc.Plugin(name); !ok {
			delete(st.errs, name)
		}
	}
	for name, p := range st.plugins {
		if next[name] == p {
			continue
		}
		if pl, ok := doc.Plugin(name); ok && !reloadAll && slices.Contains(holdable(pl), p.Hash()) {
			hold(st, name, p) // replaced, but the rollback target: keep it warm
			continue
		}
		retired = append(retired, p)
	}
	st.plugins = next
	st.doc = doc
	return retired
}

// holdable returns the versions of p worth keeping loaded besides the
// active one: the newest (an upload awaiting activation) and the previous
// active version (what a rollback activates).
func holdable(p *registry.Plugin) []string {
	var out []string
	if n := len(p.Versions); n > 0 && p.Versions[n-1].Hash != p.Active {
		out = append(out, p.Versions[n-1].Hash)
	}
	for i := len(p.History) - 1; i >= 0; i-- {
		h := p.History[i]
		if _, kept := p.Version(h); kept && h != p.Active {
			out = append(out, h)
			break
		}
	}
	return out
}

// hold records p as a warm, non-serving version of plugin name.
func hold(st *state, name string, p *plugins.Plugin) {
	if st.held[name] == nil {
		st.held[name] = map[string]*plugins.Plugin{}
	}
	st.held[name][p.Hash()] = p
}

// warmHeld loads tenant id's holdable versions not loaded yet and closes
// the held versions no longer holdable. It loads without d.mu, so an
// activation never waits for a version being warmed; a version that fails
// to load here is only logged (its activation would load it again and
// report the failure).
func (d *Directory) warmHeld(ctx context.Context, id string) {
	type todo struct{ name, hash string }
	var (
		retired []*plugins.Plugin
		load    []todo
		sb      *plugins.Sandbox
	)
	d.mu.Lock()
	st, ok := d.states[id]
	if ok {
		sb = st.sandbox
		for name, hs := range st.held {
			pl, ok := st.doc.Plugin(name)
			for h, p := range hs {
				if !ok || !slices.Contains(holdable(pl), h) {
					retired = append(retired, p)
					delete(hs, h)
				}
			}
			if len(hs) == 0 {
				delete(st.held, name)
			}
		}
		for _, p := range st.doc.Plugins {
			for _, h := range holdable(&p) {
				if !st.holds(p.Name, h) {
					load = append(load, todo{p.Name, h})
				}
			}
		}
	}
	d.mu.Unlock()
	closePlugins(retired)
	for _, l := range load {
		loaded, err := d.load(ctx, sb, id, l.name, l.hash)
		if err != nil {
			d.log.Warn("a version awaiting activation (or the rollback target) failed to load ahead of time",
				"tenant", id, "plugin", l.name, "plugin_version", short(l.hash), "err", err)
			continue
		}
		d.mu.Lock()
		st, ok := d.states[id]
		keep := ok && st.sandbox == sb && !st.holds(l.name, l.hash)
		if keep {
			pl, ok := st.doc.Plugin(l.name)
			keep = ok && slices.Contains(holdable(pl), l.hash)
		}
		if keep {
			hold(st, l.name, loaded)
			d.publishStatus(id)
		}
		d.mu.Unlock()
		if !keep {
			closePlugins([]*plugins.Plugin{loaded})
		}
	}
}

// holds reports whether the state serves or holds plugin name's version hash.
func (st *state) holds(name, hash string) bool {
	if p := st.plugins[name]; p != nil && p.Hash() == hash {
		return true
	}
	return st.held[name][hash] != nil
}

// load fetches a version's blob and loads it into the tenant's sandbox.
func (d *Directory) load(ctx context.Context, sb *plugins.Sandbox, tenant, name, hash string) (*plugins.Plugin, error) {
	start := time.Now()
	blob, err := d.opt.Registry.Blob(ctx, tenant, hash)
	if err != nil {
		return nil, fmt.Errorf("read blob: %w", err)
	}
	p, err := sb.Load(ctx, name, blob)
	if err != nil {
		return nil, err
	}
	d.opt.Metrics.Compile(time.Since(start).Seconds())
	return p, nil
}

// publish rebuilds the serving snapshot from the loader's states. The caller
// holds d.mu. Tenants still loading stay in it until they are loaded.
func (d *Directory) publish() {
	old := *d.snap.Load()
	snap := make(map[string]*Live, len(d.states))
	for id, t := range old {
		if t.loading != nil {
			snap[id] = t
		}
	}
	for id, st := range d.states {
		snap[id] = d.newLive(st)
	}
	d.snap.Store(&snap)
	next := make(chan struct{})
	close(*d.published.Swap(&next))
}

// publishStatus republishes tenant id's serving view after a change of its
// held versions (its status lists them). The caller holds d.mu.
func (d *Directory) publishStatus(id string) {
	st, ok := d.states[id]
	if !ok {
		return
	}
	snap := maps.Clone(*d.snap.Load())
	snap[id] = d.newLive(st)
	d.snap.Store(&snap)
}

// publishLoading adds to the snapshot, plugins not loaded yet, every tenant
// of docs it lacks. The caller holds d.mu.
func (d *Directory) publishLoading(docs []*registry.Tenant) {
	snap := maps.Clone(*d.snap.Load())
	for _, doc := range docs {
		if _, ok := snap[doc.ID]; ok {
			continue
		}
		t := &Live{d: d, ID: doc.ID, settings: doc.Settings, loading: make([]bool, maxCommand+1),
			status: Status{Tenant: doc.ID, Plugins: []PluginStatus{}}}
		t.networks = networks(doc.Settings.Auth.Networks)
		for _, c := range openim.Commands() {
			t.loading[c] = len(doc.Chain(c.String())) > 0
		}
		snap[doc.ID] = t
	}
	d.snap.Store(&snap)
}

// networks parses a tenant's allowed networks; the registry validated them.
func networks(ns []string) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range ns {
		if p, err := netip.ParsePrefix(n); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// Await waits until the webhook path serves tenant's document of revision rev
// or a later one (its plugins loaded, or failed to load and reported in the
// status), and returns the tenant's status then. When ctx ends or the
// directory closes first, it returns the status so far (false when the
// tenant is not served at all) with an error.
func (d *Directory) Await(ctx context.Context, tenant string, rev uint64) (Status, bool, error) {
	for {
		// Load the channel before the snapshot: a publish in between closes it.
		ch := *d.published.Load()
		st, ok := d.Stats(tenant)
		if ok && st.Revision >= rev {
			return st, true, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, ok, ctx.Err()
		case <-d.closed:
			return st, ok, errors.New("tenants: directory closed")
		}
	}
}

// Published returns a channel closed at the next change of the serving
// snapshot.
func (d *Directory) Published() <-chan struct{} { return *d.published.Load() }

// Serving returns, by tenant, the hash of each plugin's serving version.
func (d *Directory) Serving() map[string]map[string]string {
	snap := *d.snap.Load()
	out := make(map[string]map[string]string, len(snap))
	for id, t := range snap {
		ps := make(map[string]string, len(t.plugins))
		for _, p := range t.plugins {
			ps[p.Name()] = p.Hash()
		}
		out[id] = ps
	}
	return out
}

// short abbreviates a content hash for logs.
func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// Live is the immutable serving view of one tenant: its settings, its
// authentication rules and, per command, the plugins that run in order.
// Build a new one to change anything.
type Live struct {
	// ID is the tenant's ID.
	ID string
	// Revision is the registry revision this view was built from.
	Revision uint64

	d        *Directory // for the hooks of chain.Run (metrics, hot-swap replacement)
	settings registry.Settings
	networks []netip.Prefix
	chains   [][]chain.Plugin // indexed by openim.Command
	status   Status
	plugins  []*plugins.Plugin // every serving plugin, for metrics
	// loading is set while the tenant's plugins load at start-up: by
	// command, whether an active plugin declares it.
	loading []bool
}

// Loading reports whether cmd would run a plugin of the tenant that has not
// loaded yet (start-up): the caller answers with the failure policy.
func (t *Live) Loading(cmd openim.Command) bool {
	return int(cmd) < len(t.loading) && t.loading[cmd]
}

// newTenant builds the serving view of a loader state.
func (d *Directory) newLive(st *state) *Live {
	t := &Live{d: d, ID: st.doc.ID, Revision: st.doc.Revision, settings: st.doc.Settings, status: status(st)}
	for _, p := range st.doc.Plugins {
		if pl := st.plugins[p.Name]; pl != nil {
			t.plugins = append(t.plugins, pl)
		}
	}
	t.networks = networks(st.doc.Settings.Auth.Networks)
	t.chains = make([][]chain.Plugin, maxCommand+1)
	for _, c := range openim.Commands() {
		name := c.String()
		if !st.doc.Settings.Enabled(name) {
			continue
		}
		for _, p := range st.doc.Plugins {
			if pl := st.plugins[p.Name]; pl != nil && pl.Handles(name) {
				t.chains[c] = append(t.chains[c], pl)
			}
		}
	}
	return t
}

// maxCommand is the largest openim.Command, the last index of Tenant.chains.
var maxCommand = slices.Max(openim.Commands())

// chain returns the plugins that handle cmd, in order.
func (t *Live) chain(cmd openim.Command) []chain.Plugin {
	if int(cmd) >= len(t.chains) {
		return nil
	}
	return t.chains[cmd]
}

// Handles reports whether any plugin of the tenant handles cmd. When none
// does, the callback gets the neutral reply without entering a sandbox.
func (t *Live) Handles(cmd openim.Command) bool { return len(t.chain(cmd)) > 0 }

// Policy returns the tenant's failure policy for cmd.
func (t *Live) Policy(cmd openim.Command) registry.Policy {
	return t.settings.FailurePolicy(cmd.String())
}

// Auth returns the tenant's webhook authentication rules.
func (t *Live) Auth() *registry.Auth { return &t.settings.Auth }

// AllowsAddr reports whether a callback from addr passes the tenant's network
// allow-list (an empty list allows every address).
func (t *Live) AllowsAddr(addr netip.Addr) bool {
	if len(t.networks) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range t.networks {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Status is the load state of one tenant, for /readyz and the admin API.
type Status struct {
	Tenant   string         `json:"tenant"`
	Revision uint64         `json:"revision"`
	Plugins  []PluginStatus `json:"plugins"`
	// Queue is the tenant's after-callback queue; the server fills it in
	// (deliver.go).
	Queue *QueueStatus `json:"queue,omitempty"`
}

// PluginStatus is one plugin of a tenant: the version serving and the last
// load failure, if any.
type PluginStatus struct {
	Name    string `json:"name"`
	Serving string `json:"serving,omitempty"` // hash of the serving version
	Active  string `json:"active,omitempty"`  // hash the registry says is active
	// Held are versions loaded and warm but not serving: the newest upload
	// awaiting activation and the rollback target. Activating one is
	// instant.
	Held      []string           `json:"held,omitempty"`
	LoadError string             `json:"load_error,omitempty"`
	Commands  []string           `json:"commands,omitempty"`
	Pool      *plugins.PoolStats `json:"pool,omitempty"`
	// InFlight is the calls inside the serving version's guest now, and
	// OldestInFlightMS how long the oldest has been there.
	InFlight         int                   `json:"in_flight"`
	OldestInFlightMS int64                 `json:"oldest_in_flight_ms"`
	Breaker          *plugins.BreakerStats `json:"breaker,omitempty"`
}

// Stats returns the load state and pool statistics of one tenant. Its result
// is JSON-encodable; the admin API serves it.
func (d *Directory) Stats(id string) (Status, bool) {
	t, ok := (*d.snap.Load())[id]
	if !ok {
		return Status{}, false
	}
	s := t.status
	s.Plugins = slices.Clone(s.Plugins)
	for i := range s.Plugins {
		for _, p := range t.plugins {
			if p.Name() == s.Plugins[i].Name {
				stats, br := p.Stats(), p.Breaker()
				s.Plugins[i].Pool, s.Plugins[i].Breaker = &stats, &br
				n, oldest := p.InFlight()
				s.Plugins[i].InFlight = n
				if !oldest.IsZero() {
					s.Plugins[i].OldestInFlightMS = time.Since(oldest).Milliseconds()
				}
			}
		}
	}
	return s, true
}

// Failures returns the status of every tenant with a plugin that failed to
// load, sorted by tenant.
func (d *Directory) Failures() []Status {
	var out []Status
	for _, t := range *d.snap.Load() {
		for _, p := range t.status.Plugins {
			if p.LoadError != "" {
				out = append(out, t.status)
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Tenant, b.Tenant) })
	return out
}

// status builds the load state of a tenant, without pool statistics.
func status(st *state) Status {
	s := Status{Tenant: st.doc.ID, Revision: st.doc.Revision, Plugins: []PluginStatus{}}
	for _, p := range st.doc.Plugins {
		ps := PluginStatus{Name: p.Name, Active: p.Active, LoadError: st.errs[p.Name]}
		if pl := st.plugins[p.Name]; pl != nil {
			ps.Serving, ps.Commands = pl.Hash(), pl.Commands()
		}
		for h := range st.held[p.Name] {
			ps.Held = append(ps.Held, h)
		}
		slices.Sort(ps.Held)
		s.Plugins = append(s.Plugins, ps)
	}
	return s
}

// Pools implements metrics.Source.
func (d *Directory) Pools() []metrics.PoolStat {
	var out []metrics.PoolStat
	for id, t := range *d.snap.Load() {
		for _, p := range t.plugins {
			st := p.Stats()
			ps := metrics.PoolStat{Tenant: id, Plugin: p.Name(), Instances: st.Live, Waits: st.Waits,
				BreakerOpen: p.Breaker().State != "closed"}
			var oldest time.Time
			if ps.InFlight, oldest = p.InFlight(); !oldest.IsZero() {
				ps.Oldest = time.Since(oldest)
			}
			out = append(out, ps)
		}
	}
	return out
}

// CPU implements metrics.Source.
func (d *Directory) CPU() metrics.CPUStat {
	s := d.opt.Engine.CPUStats()
	return metrics.CPUStat{Slots: s.Slots, Busy: s.Busy, Waiting: s.Waiting}
}

// MemoryPool implements metrics.Source.
func (d *Directory) MemoryPool() metrics.MemoryPoolStat {
	s := d.opt.Engine.MemoryPoolStats()
	return metrics.MemoryPoolStat{Reused: s.Reused, Fresh: s.Fresh, Released: s.Released, KeptBytes: s.KeptSize}
}

// PluginsLoaded implements metrics.Source.
func (d *Directory) PluginsLoaded() int {
	n := 0
	for _, t := range *d.snap.Load() {
		n += len(t.plugins)
	}
	return n
}

var _ metrics.Source = (*Directory)(nil)
