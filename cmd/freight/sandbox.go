package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/config"
)

// cmdSandbox serves the Conversions API stand-in on its own, for
// docker-compose, integration tests and demos.
func cmdSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("freight sandbox", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8085", "address to serve on")
	faults := fs.String("faults", "", "faults to inject, e.g. 5xx=0.2,throttle=0.1,slow=0.05")
	path := fs.String("c", "", "a freight configuration: only its pixels exist, with their tokens (default: every pixel, any token)")
	var lf logFlags
	lf.register(fs)
	if !parseFlags(fs, args, stderr) {
		return exitConfig
	}
	f, err := capitest.ParseFaults(*faults)
	if err != nil {
		return exitCode(&config.ValidationError{Problems: []config.Problem{{Key: "--faults", Message: err.Error()}}}, stderr)
	}
	opts := capitest.Options{Faults: f, Seed: time.Now().UnixNano(), MaxRecorded: 10000, AnyToken: *path == ""}
	if *path != "" {
		cfg, err := loadConfig(*path)
		if err != nil {
			return exitCode(err, stderr)
		}
		if err := cfg.ResolveSecrets(nil); err != nil {
			return exitCode(err, stderr)
		}
		opts.Tokens = map[string]string{}
		for _, p := range cfg.CAPI.Pixels {
			tok, _ := config.NewTokenSource(p, nil).Token() // resolved above
			opts.Tokens[p.ID] = tok.Reveal()
		}
	}
	log, err := lf.logger(stderr, config.Log{Level: "info", Format: "text"})
	if err != nil {
		return exitCode(err, stderr)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return exitCode(fmt.Errorf("--listen: %w", err), stderr)
	}
	stand := capitest.New(opts)
	srv := &http.Server{Handler: stand, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "freight sandbox: POST http://%s/{version}/{pixel}/events; received events at GET /_sandbox/events, counts at /_sandbox/stats\n", l.Addr())
	log.Info("sandbox serving", "addr", l.Addr().String(), "faults", f.String(), "any_token", opts.AnyToken)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		stand.Close() // release requests held by slow or timeout faults
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = srv.Shutdown(shutdownCtx)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return exitCode(err, stderr)
	}
	return exitOK
}
