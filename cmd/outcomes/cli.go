package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"

	"github.com/outcomes/outcomes/pipeline"
	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/ingest"
	"github.com/outcomes/outcomes/pipeline/keys"
	"github.com/outcomes/outcomes/pipeline/ledger"
	"github.com/outcomes/outcomes/transforms/pseudonym"
)

// version is stamped by the Makefile (-ldflags "-X main.version=...").
var version = "dev"

// Exit codes, decided here and nowhere else.
const (
	ExitOK          = 0
	ExitInternal    = 1 // anything unexpected
	ExitUsage       = 2 // bad flags or configuration: a path, the key file, a folder
	ExitBadInput    = 3 // input refused: missing file or column, too many rejected rows
	ExitBudget      = 4 // the privacy ledger refused the release
	ExitLocked      = 5 // another outcomes process holds the state folder
	ExitInterrupted = 6 // stopped by SIGINT or SIGTERM; nothing was published
)

const usage = `outcomes: attendance impact of school health initiatives, published with differential privacy

Usage:
  outcomes fixtures --out DIR [--config FILE] [--seed N] [--schools N] [--pupils N] [--effect PP]
  outcomes keygen --out FILE
  outcomes keygen --partner --config FILE --out FILE
  outcomes tokens --config FILE --in RAW.csv --out TOKENS.csv
  outcomes run --config FILE [--final]
  outcomes approve RELEASE --by NAME --config FILE [--yes]
  outcomes schedule --config FILE
  outcomes budget --config FILE [--json]
  outcomes status --config FILE [--json] [--limit N]
  outcomes query --config FILE [--release ID] [--format table|csv|json] (SQL | NAME [--school URN] [--programme ID])
  outcomes query --list
  outcomes report --config FILE [--release ID] [--out FILE]
  outcomes version

Global flags (before or after the command): --log-format text|json
Exit codes: 0 ok, 1 internal error, 2 usage or configuration, 3 input refused,
4 privacy budget refused, 5 state folder locked, 6 interrupted.
`

// usageError marks an error in how the command was called.
type usageError struct{ error }

// Run is the whole program behind main: it parses args, runs one command and
// returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	logFormat := "text"
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--log-format" || a == "-log-format":
			if i+1 < len(args) {
				logFormat = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--log-format="):
			logFormat = strings.TrimPrefix(a, "--log-format=")
		default:
			rest = append(rest, a)
		}
	}
	logger, err := newLogger(stderr, logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "outcomes:", err)
		return ExitUsage
	}
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" {
		fmt.Fprint(stderr, usage)
		if len(rest) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	commands := map[string]func(context.Context, []string, io.Writer, *slog.Logger) error{
		"fixtures": cmdFixtures,
		"keygen":   cmdKeygen,
		"tokens":   cmdTokens,
		"run":      cmdRun,
		"schedule": cmdSchedule,
		"budget":   cmdBudget,
		"approve":  cmdApprove,
		"status":   cmdStatus,
		"query":    cmdQuery,
		"report":   cmdReport,
		"version": func(context.Context, []string, io.Writer, *slog.Logger) error {
			fmt.Fprintln(stdout, "outcomes", version)
			return nil
		},
	}
	cmd, ok := commands[rest[0]]
	if !ok {
		fmt.Fprintf(stderr, "outcomes: unknown command %q\n\n%s", rest[0], usage)
		return ExitUsage
	}
	err = cmd(ctx, rest[1:], stdout, logger)
	code := exitCode(ctx, err)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stderr, "outcomes %s: %v\n", rest[0], err)
		if hint := hint(err); hint != "" {
			fmt.Fprintln(stderr, hint)
		}
	}
	return code
}

func exitCode(ctx context.Context, err error) int {
	var ue usageError
	var cfgErr *config.FileError
	var missing *ingest.MissingColumnsError
	var folderErr *pipeline.FolderError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &ue), errors.As(err, &cfgErr), errors.As(err, &folderErr),
		errors.Is(err, keys.ErrNoKey), errors.Is(err, keys.ErrKeyExposed), errors.Is(err, pseudonym.ErrShortKey),
		errors.Is(err, pipeline.ErrKeyChanged), errors.Is(err, keys.ErrLinkageKey):
		return ExitUsage
	case errors.Is(err, ledger.ErrBudgetExhausted):
		return ExitBudget
	case errors.Is(err, pipeline.ErrLocked):
		return ExitLocked
	case errors.Is(err, pipeline.ErrTooManyRejects), errors.As(err, &missing), errors.Is(err, os.ErrNotExist),
		errors.Is(err, ingest.ErrTokenKey), errors.Is(err, ingest.ErrUnreadable):
		return ExitBadInput
	}
	return ExitInternal
}

// hint adds plain advice for failures whose cause is the machine, not the data.
func hint(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "No space left on device"):
		return "The disk is full. Free some space and run again: a failed run publishes nothing, and the last good release and the ledger are untouched."
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EROFS):
		return "A folder or file could not be written: check the paths in the configuration and their permissions."
	}
	return ""
}

func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: logLevel()})), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: logLevel()})), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("outcomes "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			var b strings.Builder
			fs.SetOutput(&b)
			fs.PrintDefaults()
			return usageError{fmt.Errorf("flags:\n%s", b.String())}
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, usageError{errors.New("--config FILE is required")}
	}
	return config.LoadFile(path)
}

// logLevel is Debug when OUTCOMES_DEBUG is set: per-step timings, never data.
func logLevel() slog.Level {
	if os.Getenv("OUTCOMES_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
