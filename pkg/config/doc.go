// Package config loads, checks and explains freight's configuration (CONTRACT.md,
// section 2).
//
// Load and Parse start from Default, decode the YAML file strictly over it, overlay
// the FREIGHT_* environment variables and run Validate. The file is walked node by
// node against the yaml tags of Config, so that every problem names its full key
// (kafka.topics[1].kind, capi.pixels[0].id, kafka.topcs) and all problems are
// reported at once in a *ValidationError, one "key: message" line each.
//
// Secrets never live in the file: a pixel names an environment variable or a file
// holding its access token, and a TokenSource reads it when asked, re-reading a file
// whenever it changes on disk, so that a Kubernetes secret rotated in place takes
// effect without a restart. Secret values travel as Secret, whose every printed form
// is "[redacted]", and no error of this package carries one.
//
// What it deliberately does not do:
//   - connect to anything: it does not check that brokers answer, topics exist,
//     Redis is reachable or a token is accepted by Meta (freight check does that);
//   - check files other than token files (TLS files are read by whoever builds the
//     TLS config);
//   - watch files or reload the configuration at runtime: only token files are
//     re-read, and only when a token is asked for;
//   - support YAML merge keys (<<) or more than one YAML document per file;
//   - print URLs back in messages, since a Redis URL may carry a password.
package config
