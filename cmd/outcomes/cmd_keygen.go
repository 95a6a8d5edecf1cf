package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/outcomes/outcomes/pipeline/keys"
)

func cmdKeygen(_ context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := newFlags("keygen")
	out := fs.String("out", "", "where to write the new key (mode 0600)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{errors.New("--out FILE is required")}
	}
	fp, err := keys.Generate(*out)
	if err != nil {
		return err
	}
	log.Info("key created", "path", *out, "key_fingerprint", fp)
	fmt.Fprintf(stdout, "Wrote a new key to %s (fingerprint %s). Keep it secret and backed up: without it the warehouse cannot be rebuilt with the same tokens.\n", *out, fp)
	return nil
}
