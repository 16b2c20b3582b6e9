package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/devstack"
)

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("freight dev", flag.ContinueOnError)
	var o devstack.Options
	fs.IntVar(&o.Events, "events", 20000, "records to generate, then print the summary and stop (0: until Ctrl-C)")
	fs.IntVar(&o.Rate, "rate", 5000, "records per second (0: as fast as possible)")
	fs.StringVar(&o.RedisURL, "redis", "", "Redis URL (default: an in-memory Redis)")
	seed := fs.Uint64("seed", 1, "generator seed")
	fs.StringVar(&o.Faults, "faults", "", "faults the stand-in injects, e.g. 5xx=0.05,throttle=0.02")
	fs.StringVar(&o.Listen, "listen", "", "address of /metrics, /healthz, /readyz (default: a free port)")
	fs.StringVar(&o.PixelID, "pixel", "", "send to the real Graph API for this pixel instead of the stand-in")
	fs.StringVar(&o.TokenEnv, "token-env", "", "with --pixel: the environment variable holding its access token")
	fs.StringVar(&o.TestEventCode, "test-event-code", "", "with --pixel: Events Manager's test event code")
	var lf logFlags
	lf.register(fs)
	if !parseFlags(fs, args, stderr) {
		return exitConfig
	}
	o.Seed = *seed
	if o.PixelID != "" && o.TokenEnv == "" {
		return exitCode(&config.ValidationError{Problems: []config.Problem{{Key: "--token-env", Message: "required with --pixel"}}}, stderr)
	}
	log, err := lf.logger(stderr, config.Log{Level: "warn", Format: "text"})
	if err != nil {
		return exitCode(err, stderr)
	}
	o.Out, o.Logger, o.IsTTY = stdout, log, isTerminal(stdout)
	return exitCode(devstack.Run(ctx, o), stderr)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
