// Command freight relays web and CRM events from Kafka to Meta's Conversions
// API. See README.md and CONTRACT.md section 1 for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/freight-relay/freight/pkg/config"
)

// Exit codes (CONTRACT.md section 1).
const (
	exitOK     = 0
	exitFatal  = 1
	exitConfig = 2
)

// Stamped by the build: -ldflags "-X main.version=... -X main.commit=..."
// (the Makefile and deploy/Dockerfile).
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	// Signals become a context here and nowhere else. A second signal kills
	// at once (the default behaviour once stop is called).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `freight relays web and CRM events from Kafka to Meta's Conversions API.

usage:
  freight run -c FILE               run the relay
  freight dev [--events N]          the whole pipeline on this machine, nothing to install
  freight check -c FILE [--pixel ID] [--test-event-code CODE]
                                    send one test event to each pixel; exit 0 only if all answered 200
  freight status -c FILE [--json]  each pixel's connection status, from a running freight (http.listen);
                                    exit 0 only if every pixel is ok or idle
  freight sandbox [--listen ADDR] [--faults SPEC] [-c FILE]
                                    serve the Conversions API stand-in (default 127.0.0.1:8085)
  freight config validate -c FILE   check a configuration, exit 0 or 2
  freight dlq inspect -c FILE [--since T] [--until T] [--group-by class,pixel,code] [--json]
                                    count the dead letters by cause, with the newest example of each
  freight dlq replay -c FILE [--class C]... [--pixel P]... [--code N]... [--since T] [--until T]
                     [--limit N] [--rate N] [--dry-run] [--to-topic T]
                                    put dead letters back on their source topic, resumably
  freight --version

every command takes --log-level debug|info|warn|error and --log-format json|text
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitConfig
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "dev":
		return cmdDev(ctx, args[1:], stdout, stderr)
	case "check":
		return cmdCheck(ctx, args[1:], stdout, stderr)
	case "sandbox":
		return cmdSandbox(ctx, args[1:], stdout, stderr)
	case "status":
		return cmdStatus(ctx, args[1:], stdout, stderr)
	case "dlq":
		return cmdDLQ(ctx, args[1:], stdout, stderr)
	case "config":
		if len(args) < 2 || args[1] != "validate" {
			fmt.Fprintln(stderr, "usage: freight config validate -c FILE")
			return exitConfig
		}
		return cmdValidate(args[2:], stdout, stderr)
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, "freight", version, "commit", commit)
		return exitOK
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "freight: unknown command %q\n\n%s", args[0], usage)
	return exitConfig
}

// logFlags are the flags every command takes.
type logFlags struct {
	level, format string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.level, "log-level", "", "debug, info, warn or error (default: the config's log.level, else info)")
	fs.StringVar(&l.format, "log-format", "", "json or text (default: the config's log.format, else text)")
}

// logger builds the logger; flags win over the configuration.
func (l *logFlags) logger(w io.Writer, cfg config.Log) (*slog.Logger, error) {
	level, format := cfg.Level, cfg.Format
	if l.level != "" {
		level = l.level
	}
	if l.format != "" {
		format = l.format
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not json or text", format)
}

// parseFlags parses and reports problems as a config error (exit 2).
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) bool {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return false
	}
	return true
}

// exitCode maps an error to the contract's exit codes and prints it: a
// configuration problem is one line per problem, naming the key.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Fprintln(stderr, p.String())
		}
		return exitConfig
	}
	fmt.Fprintln(stderr, "freight:", err)
	return exitFatal
}
