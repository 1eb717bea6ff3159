package main

import (
	"fmt"
	"maps"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logspread/logspread/spreadlink"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// configFlags adds --config and --check-config to a command, loads the file, and
// remembers where each setting came from, so that an error names what the user wrote:
// the flag ("--max-sessions 0: ...") or the file, line and YAML key
// ("config daemon.yaml line 3: max_sessions: 0: ...").
//
// A setting's YAML key is its flag's name with '-' replaced by '_' (--max-sessions,
// max_sessions); TestFlagsHaveKeys checks that every command keeps to it.
type configFlags struct {
	File  string
	Check bool

	// replay is the command line (flags, then "--" and the arguments) a reload parses
	// again; see replayArgs.
	replay []string

	cmd  string         // command name, the prefix of error messages
	set  *pflag.FlagSet // the command's flags
	keys map[string]int // top-level keys the file set, and their lines
}

func (c *configFlags) add(cmd *cobra.Command) {
	c.cmd = cmd.Name()
	c.set = cmd.Flags()
	cmd.Flags().StringVar(&c.File, "config", "", "YAML configuration `FILE` (flags override it)")
	cmd.Flags().BoolVar(&c.Check, "check-config", false, "validate the configuration and exit")
}

// load reads the YAML file into opts, if one was given, then re-applies every flag set
// on the command line so that flags override the file. YAML keys must be known
// (strict), and errors name the file, the line and the key.
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
	keys, err := decodeConfig(c.File, opts)
	if err != nil {
		return usageError("%s: %v", c.cmd, err)
	}
	c.keys = keys
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

// fromFile reports whether the setting behind flag came from the config file (and not
// from the command line), and on which line.
func (c *configFlags) fromFile(flag string) (line int, ok bool) {
	if c.set != nil && c.set.Changed(flag) {
		return 0, false
	}
	line, ok = c.keys[flagKey(flag)]
	return line, ok
}

// flagKey returns the YAML key of the setting behind flag.
func flagKey(flag string) string { return strings.ReplaceAll(flag, "-", "_") }

// invalid returns the usage error for a bad value of the setting behind flag, written
// the way the user gave it: "--flag VALUE: want WANT" or
// "config FILE line N: key: VALUE: want WANT".
func (c *configFlags) invalid(flag string, value any, want string) error {
	v := fmt.Sprint(value)
	if s, ok := value.(string); ok {
		v = strconv.Quote(s)
	}
	if line, ok := c.fromFile(flag); ok {
		return c.usage("config %s line %d: %s: %s: want %s", c.File, line, flagKey(flag), v, want)
	}
	return c.usage("--%s %s: want %s", flag, v, want)
}

// given reports whether the setting behind flag was given, on the command line or in
// the config file (an empty value given is given).
func (c *configFlags) given(flag string) bool {
	if c.set != nil && c.set.Changed(flag) {
		return true
	}
	_, ok := c.keys[flagKey(flag)]
	return ok
}

// notEmpty returns the usage error for a setting given with an empty value where
// empty means nothing: leaving the setting out gives its default, an empty value is
// never silently the default. want says what the setting takes.
func (c *configFlags) notEmpty(flag, value, want string) error {
	if value == "" && c.given(flag) {
		return c.invalid(flag, value, want+" (leave the setting out for its default)")
	}
	return nil
}

// checkAddress checks a Spread address setting (--spread, --listen, --serve). Empty is
// an error, not Spread's own default /tmp/4803 (which spreadlink.ParseAddress reads it
// as): under PrivateTmp that address never meets the daemon.
func (c *configFlags) checkAddress(flag, value string) error {
	if value == "" {
		return c.invalid(flag, value, wantSpreadAddress+"; not empty")
	}
	if _, err := spreadlink.ParseAddress(value); err != nil {
		return c.invalid(flag, value, wantSpreadAddress)
	}
	return nil
}

// checkMetricsAddr checks --metrics-addr: empty (no metrics server) or HOST:PORT.
func (c *configFlags) checkMetricsAddr(value string) error {
	if value == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(value)
	if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || (n == 0 && port != "0") || strings.ContainsAny(host, " \t") {
		return c.invalid("metrics-addr", value, "HOST:PORT such as 127.0.0.1:9481 (TCP), or empty for no metrics server")
	}
	return nil
}

// checkDir checks a directory setting that is required: not empty, no NUL byte.
func (c *configFlags) checkDir(flag, value, example string) error {
	if value == "" || strings.ContainsRune(value, 0) {
		return c.invalid(flag, value, "a directory such as "+example)
	}
	return nil
}

// missing returns the usage error for a required setting that was not given.
func (c *configFlags) missing(flag string) error {
	if c.File != "" {
		return c.usage("--%s (or %s in %s) is required", flag, flagKey(flag), c.File)
	}
	return c.usage("--%s is required", flag)
}

// usage returns a usage error prefixed with the command name.
func (c *configFlags) usage(format string, args ...any) error {
	if c.cmd != "" {
		format = c.cmd + ": " + format
	}
	return usageError(format, args...)
}

// decodeConfigFile decodes the YAML file at path strictly into v (see decodeConfig).
func decodeConfigFile(path string, v any) error {
	_, err := decodeConfig(path, v)
	return err
}

// decodeConfig decodes the YAML file at path into opts, a pointer to a command's
// options struct, by the fields' yaml tags, and returns the top-level keys it set with
// their lines. Unknown and repeated keys are errors, and a value that does not fit its
// key is an error naming the file, line, key, value and what the key takes, in the
// user's words (never a Go type).
func decodeConfig(path string, opts any) (map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(doc.Content) == 0 { // an empty file or only comments
		return map[string]int{}, nil
	}
	d := configDecoder{path: path, lines: map[string]int{}}
	keys, err := d.mapping(doc.Content[0], reflect.ValueOf(opts).Elem(), "")
	if err != nil {
		return nil, err
	}
	for k, line := range d.lines { // nested keys ("logs[2].path") for error messages
		if _, ok := keys[k]; !ok {
			keys[k] = line
		}
	}
	return keys, nil
}

// configDecoder walks a YAML document into a struct.
type configDecoder struct {
	path  string
	lines map[string]int // every key set, nested ones as "logs[2].path", and its line
}

func (d *configDecoder) errorf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("config %s line %d: %s", d.path, n.Line, fmt.Sprintf(format, args...))
}

// mapping decodes the mapping n into the struct v; prefix names v's place in the file
// ("" at the top, "logs[2]." in a list). It returns the keys it set and their lines.
func (d *configDecoder) mapping(n *yaml.Node, v reflect.Value, prefix string) (map[string]int, error) {
	n = unalias(n)
	keys := map[string]int{}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return keys, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, d.errorf(n, "%swant key: value settings, not %s", prefix, shown(n))
	}
	fields := yamlFields(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		if first, dup := keys[key]; dup {
			return nil, d.errorf(k, "%s%s is given twice (first on line %d)", prefix, key, first)
		}
		idx, ok := fields[key]
		if !ok {
			return nil, d.errorf(k, "unknown key %s%s (known: %s)", prefix, key, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
		}
		keys[key] = k.Line
		d.lines[prefix+key] = k.Line
		if err := d.value(val, v.Field(idx), prefix+key); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// value decodes n into v, the field of the setting key.
func (d *configDecoder) value(n *yaml.Node, v reflect.Value, key string) error {
	n = unalias(n)
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct { // collect's logs
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return d.errorf(n, "%s: %s: want a list", key, shown(n))
		}
		list := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if _, err := d.mapping(item, list.Index(i), fmt.Sprintf("%s[%d].", key, i+1)); err != nil {
				return err
			}
		}
		v.Set(list)
		return nil
	}
	if v.Type() == reflect.TypeFor[time.Duration]() {
		// The flag's syntax (time.ParseDuration), so that 0 is 0 in a file as on the
		// command line (the YAML decoder takes only strings with a unit).
		dur, err := time.ParseDuration(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			return d.errorf(n, "%s: %s: want %s", key, shown(n), wantFor("duration"))
		}
		v.SetInt(int64(dur))
		return nil
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		return d.errorf(n, "%s: %s: want %s", key, shown(n), wantFor(kindOf(v.Type())))
	}
	return nil
}

// yamlFields maps the yaml keys of the exported fields of struct type t to their
// indexes; fields without a yaml tag, or tagged "-", are not settings.
func yamlFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && key != "" && key != "-" {
			m[key] = i
		}
	}
	return m
}

func unalias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// shown renders a YAML value for an error message.
func shown(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "key: value settings"
	}
	if n.Tag == "!!str" {
		return strconv.Quote(n.Value)
	}
	return n.Value
}

// kindOf names the kind of value a setting of type t takes, with pflag's type names.
func kindOf(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[time.Duration]():
		return "duration"
	case reflect.TypeFor[byteSize]():
		return "size"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return kindOf(t.Elem())
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int"
	case reflect.String:
		return "string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "stringArray"
		}
	}
	return ""
}

// wantFor says, in the user's words, what a setting of a kind (pflag's type names)
// takes.
func wantFor(kind string) string {
	switch kind {
	case "duration":
		return "a duration such as 500ms, 10s or 1h"
	case "size":
		return sizeSyntax
	case "bool":
		return "true or false"
	case "int":
		return "a whole number"
	case "string":
		return "a single value"
	case "stringArray":
		return "a list such as [a, b] (or one item per line, each starting with '- ')"
	}
	return "a value of another form (see --help)"
}

// defaultSpread is the address of the local daemon that every client uses by default
// and that logspread's daemon listens on by default: a unix socket in the daemon's
// systemd RuntimeDirectory. /run is shared by every service, whereas /tmp/4803 (a bare
// "4803", Spread's own default) is private to each service that runs with PrivateTmp
// (logspread's units, Debian's apache2.service), so two of them would never meet there.
const defaultSpread = "unix:/run/logspread/4803"

// spreadUsage is the help of --spread.
const spreadUsage = "Spread daemon `ADDR`: unix:PATH (a unix socket), HOST:PORT or PORT@HOST (TCP), or PORT (Spread's unix socket /tmp/PORT)"

// wantSpreadAddress says what --spread, --listen and --serve take.
const wantSpreadAddress = "an address such as unix:/run/logspread/4803 (a unix socket), 127.0.0.1:4803 or 4803@host (TCP), or 4803 (Spread's unix socket /tmp/4803)"
