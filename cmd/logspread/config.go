package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// configFlags adds --config and --check-config to cmd.
type configFlags struct {
	File  string
	Check bool
}

func (c *configFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.File, "config", "", "YAML configuration file (flags override it)")
	cmd.Flags().BoolVar(&c.Check, "check-config", false, "validate the configuration and exit")
}

// load reads the YAML file into opts, if one was given, then re-applies every flag set
// on the command line so that flags override the file. YAML keys must match known
// fields (strict), and errors name the file and line.
func (c *configFlags) load(cmd *cobra.Command, opts any) error {
	if c.File == "" {
		return nil
	}
	type saved struct {
		f     *pflag.Flag
		value string
		slice []string
	}
	var changed []saved
	cmd.Flags().Visit(func(f *pflag.Flag) {
		s := saved{f: f, value: f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			s.slice = sv.GetSlice()
		}
		changed = append(changed, s)
	})
	if err := decodeConfigFile(c.File, opts); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	for _, s := range changed {
		var err error
		if sv, ok := s.f.Value.(pflag.SliceValue); ok {
			err = sv.Replace(s.slice)
		} else {
			err = s.f.Value.Set(s.value)
		}
		if err != nil {
			return usageError("--%s: %v", s.f.Name, err)
		}
	}
	return nil
}

// decodeConfigFile decodes path strictly into v.
func decodeConfigFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return fmt.Errorf("config %s: %v", path, joinErrs(te.Errors))
		}
		return fmt.Errorf("config %s: %v", path, err)
	}
	return nil
}

func joinErrs(errs []string) string {
	var b bytes.Buffer
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e)
	}
	return b.String()
}
