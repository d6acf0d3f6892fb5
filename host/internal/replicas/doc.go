// Package replicas holds the multi-process tests of imhook replicas sharing
// one registry through Redis: three `imhook serve` processes on a real
// redis-server, an upload through one served by the others (propagation
// measured), a replica killed and restarted, Redis stopped and started under
// them (both transitions logged by every replica), Redis unreachable at
// start, Redis losing its data under them followed by replica restarts and
// refused writes until the operator's `imhook store accept`
// (TestDataLossThenRestart), a replica starting while callbacks flow to it
// (TestStartUnderLoad), and switches between versions every replica holds,
// measured with the real example plugins (TestRollout). It has no code of
// its own.
package replicas
