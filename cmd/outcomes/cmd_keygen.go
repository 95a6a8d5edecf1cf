package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/keys"
)

func cmdKeygen(_ context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := newFlags("keygen")
	out := fs.String("out", "", "where to write the new key (mode 0600)")
	partner := fs.Bool("partner", false, "write the linkage key for NHS partners, derived from the trust's key in --config, instead of a new key")
	cfgPath := fs.String("config", "", "with --partner: the configuration whose run.key_file is the trust's key")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{errors.New("--out FILE is required")}
	}
	if *partner {
		if *cfgPath == "" {
			return usageError{errors.New("--partner needs --config FILE, whose run.key_file is the trust's key")}
		}
		cfg, err := config.LoadFile(*cfgPath)
		if err != nil {
			return err
		}
		fp, err := keys.WriteLinkage(cfg.Path(cfg.Run.KeyFile), *out)
		if err != nil {
			return err
		}
		log.Info("linkage key written", "path", *out, "linkage_key_fingerprint", fp)
		fmt.Fprintf(stdout, "Wrote the partners' linkage key to %s (fingerprint %s). Give it, by a secure route, only to partners who tokenise their own files:\n"+
			"it makes the tokens linkage compares, but not the tokens the warehouse keeps, and the trust's key cannot be worked out from it.\n", *out, fp)
		return nil
	}
	fp, err := keys.Generate(*out)
	if err != nil {
		return err
	}
	log.Info("key created", "path", *out, "key_fingerprint", fp)
	fmt.Fprintf(stdout, "Wrote a new key to %s (fingerprint %s). Keep it secret and backed up: without it the warehouse cannot be rebuilt with the same tokens.\n", *out, fp)
	return nil
}
