package metrics

import (
	"strings"
	"testing"
	"time"
)

type fakeSource struct{}

func (fakeSource) Pools() []PoolStat {
	return []PoolStat{{Tenant: "acme", Plugin: "mod", Instances: 3, Waits: 7, InFlight: 2, Oldest: 1500 * time.Millisecond, BreakerOpen: true}}
}
func (fakeSource) PluginsLoaded() int { return 2 }
func (fakeSource) CPU() CPUStat       { return CPUStat{Slots: 2, Busy: 1, Waiting: 4} }
func (fakeSource) MemoryPool() MemoryPoolStat {
	return MemoryPoolStat{Reused: 5, Fresh: 2, Released: 1, KeptBytes: 4 << 20}
}

// gathered returns the metric families' names and series as text.
func gathered(t *testing.T, m *Metrics) string {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range fams {
		for _, s := range f.GetMetric() {
			b.WriteString(f.GetName())
			for _, l := range s.GetLabel() {
				b.WriteString(" " + l.GetName() + "=" + l.GetValue())
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	m := New()
	m.SetSource(fakeSource{})
	m.Call("acme", "callbackBeforeSendSingleMsgCommand", OutcomeOK, 0.001)
	m.Call("other", "callbackBeforeSendSingleMsgCommand", OutcomeRejected, 0)
	m.Failure("acme", "callbackBeforeSendSingleMsgCommand", "trap")
	m.Compile(0.5)
	m.LoadFailure("acme")
	m.Instructions("acme", "callbackBeforeSendSingleMsgCommand", 120_000)
	m.Instructions("other", "callbackBeforeSendSingleMsgCommand", 0) // unmetered: nothing
	m.Legacy("acme", "callbackMsgModifyCommand", LegacyRouted)
	out := gathered(t, m)
	for _, want := range []string{
		"imhook_webhook_calls_total command=callbackBeforeSendSingleMsgCommand outcome=ok tenant=acme",
		"imhook_webhook_duration_seconds command=callbackBeforeSendSingleMsgCommand tenant=acme",
		"imhook_plugin_failures_total command=callbackBeforeSendSingleMsgCommand kind=trap tenant=acme",
		"imhook_pool_instances plugin=mod tenant=acme",
		"imhook_pool_waits_total plugin=mod tenant=acme",
		"imhook_plugins_loaded",
		"imhook_compile_seconds",
		"imhook_plugin_load_failures_total tenant=acme",
		"imhook_plugin_instructions command=callbackBeforeSendSingleMsgCommand tenant=acme",
		"imhook_plugin_in_flight plugin=mod tenant=acme",
		"imhook_plugin_oldest_call_seconds plugin=mod tenant=acme",
		"imhook_plugin_breaker_open plugin=mod tenant=acme",
		"imhook_cpu_slots",
		"imhook_cpu_slots_busy",
		"imhook_cpu_waiting",
		"imhook_instance_memories_total source=reused",
		"imhook_instance_memories_total source=fresh",
		"imhook_instance_memories_released_total",
		"imhook_instance_memory_pool_bytes",
		"imhook_webhook_legacy_commands_total command=callbackMsgModifyCommand outcome=routed tenant=acme",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing series %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "imhook_webhook_duration_seconds command=callbackBeforeSendSingleMsgCommand tenant=other") {
		t.Error("a rejected call observed a duration")
	}
	if strings.Contains(out, "imhook_plugin_instructions command=callbackBeforeSendSingleMsgCommand tenant=other") {
		t.Error("an unmetered call (0 instructions) was observed")
	}
	m.Forget("acme")
	out = gathered(t, m)
	for _, gone := range []string{"calls_total command=callbackBeforeSendSingleMsgCommand outcome=ok tenant=acme", "failures_total", "load_failures_total", "instructions command=callbackBeforeSendSingleMsgCommand tenant=acme"} {
		if strings.Contains(out, gone) {
			t.Errorf("series %q survived Forget:\n%s", gone, out)
		}
	}
	// A tenant created again under the same id is counted again: Forget
	// must drop the cached series too, or the new calls would go to series
	// no longer registered.
	m.Call("acme", "callbackBeforeSendSingleMsgCommand", OutcomeOK, 0.001)
	m.Instructions("acme", "callbackBeforeSendSingleMsgCommand", 120_000)
	out = gathered(t, m)
	for _, want := range []string{
		"imhook_webhook_calls_total command=callbackBeforeSendSingleMsgCommand outcome=ok tenant=acme",
		"imhook_webhook_duration_seconds command=callbackBeforeSendSingleMsgCommand tenant=acme",
		"imhook_plugin_instructions command=callbackBeforeSendSingleMsgCommand tenant=acme",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("series %q missing after Forget and new calls:\n%s", want, out)
		}
	}
}

func TestNilMetrics(t *testing.T) {
	t.Parallel()
	var m *Metrics
	m.Call("a", "b", OutcomeOK, 1)
	m.Failure("a", "b", "trap")
	m.Compile(1)
	m.LoadFailure("a")
	m.Instructions("a", "b", 1)
	m.Forget("a")
	m.SetSource(fakeSource{})
}
