package main

import (
	"context"
	"flag"
	"io"
	"os"

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
