// Package replicas holds the multi-process tests of imhook replicas sharing
// one registry through Redis: three `imhook serve` processes on a real
// redis-server, an upload through one served by the others (propagation
// measured), a replica killed and restarted, Redis stopped and started under
// them, and Redis unreachable at start. It has no code of its own.
package replicas
