package main

import (
	"context"
	"flag"
	"io"
	"os"
	"runtime/debug"

	"github.com/freight-relay/freight/pkg/app"
	"github.com/freight-relay/freight/pkg/config"
)

func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("freight run", flag.ContinueOnError)
	path := fs.String("c", "", "configuration file (YAML)")
	var lf logFlags
	lf.register(fs)
	if !parseFlags(fs, args, stderr) {
		return exitConfig
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return exitCode(err, stderr)
	}
	log, err := lf.logger(stderr, cfg.Log)
	if err != nil {
		return exitCode(err, stderr)
	}
	a, err := app.New(cfg, app.Options{Logger: log})
	if err != nil {
		return exitCode(err, stderr)
	}
	// The byte bound counts the records held; the garbage collector's
	// headroom comes on top (twice the live heap by default). A soft limit
	// keeps the process near the bound plus app.MemoryOverhead instead, so
	// that a container sized for it is not killed; GOMEMLIMIT overrides it.
	if os.Getenv("GOMEMLIMIT") == "" {
		limit := int64(cfg.Batch.MaxBufferedBytes) + app.MemoryOverhead
		debug.SetMemoryLimit(limit)
		log.Info("memory limit", "bytes", limit, "max_buffered_bytes", int64(cfg.Batch.MaxBufferedBytes))
	}
	if err := a.Run(ctx); err != nil {
		log.Error("freight stopped", "err", err)
		return exitFatal
	}
	log.Info("freight stopped cleanly")
	return exitOK
}

// loadConfig loads FILE, or the defaults with the environment overlay when
// no file is named.
func loadConfig(path string) (config.Config, error) {
	if path == "" {
		return config.Parse(nil)
	}
	if _, err := os.Stat(path); err != nil {
		return config.Config{}, &config.ValidationError{Problems: []config.Problem{{Key: "-c", Message: err.Error()}}}
	}
	return config.Load(path)
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("freight config validate", flag.ContinueOnError)
	path := fs.String("c", "", "configuration file (YAML)")
	var lf logFlags
	lf.register(fs)
	if !parseFlags(fs, args, stderr) {
		return exitConfig
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return exitCode(err, stderr)
	}
	if err := cfg.ResolveSecrets(nil); err != nil {
		return exitCode(err, stderr)
	}
	if _, err := lf.logger(io.Discard, cfg.Log); err != nil {
		return exitCode(err, stderr)
	}
	io.WriteString(stdout, "configuration is valid\n")
	return exitOK
}
