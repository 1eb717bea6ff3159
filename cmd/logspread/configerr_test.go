package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestConfigErrorMessages pins the wording of configuration errors: each names the flag
// (as typed) or the file, line and YAML key (as written), the value, and what is
// allowed, in the user's words; never a Go type or field name.
func TestConfigErrorMessages(t *testing.T) {
	dir := t.TempDir()
	goWords := regexp.MustCompile(`unmarshal|!!|time\.Duration|main\.|Options|MaxSession|Soft|int64|\bint\b|\[\]string`)
	for _, tc := range []struct {
		name string
		yaml string   // written to FILE when not empty
		args []string // FILE stands for the config file
		want string   // FILE stands for the config file
	}{
		{
			name: "negative flag",
			args: []string{"daemon", "--max-session-messages", "-1"},
			want: `logspread: daemon: --max-session-messages -1: want a positive number of messages`,
		},
		{
			name: "negative key",
			yaml: "name: localhost\nmax_session_messages: -1\n",
			args: []string{"daemon", "--config", "FILE"},
			want: `logspread: daemon: config FILE line 2: max_session_messages: -1: want a positive number of messages`,
		},
		{
			name: "flag names itself over the file",
			yaml: "max_sessions: 0\n",
			args: []string{"daemon", "--config", "FILE", "--max-sessions", "-3"},
			want: `logspread: daemon: --max-sessions -3: want a positive number of sessions`,
		},
		{
			name: "duration key",
			yaml: "handshake_timeout: soon\n",
			args: []string{"daemon", "--config", "FILE"},
			want: `logspread: daemon: config FILE line 1: handshake_timeout: "soon": want a duration such as 500ms, 10s or 1h`,
		},
		{
			name: "number key",
			yaml: "listen: [\"127.0.0.1:4803\"]\nmax_sessions: lots\n",
			args: []string{"daemon", "--config", "FILE"},
			want: `logspread: daemon: config FILE line 2: max_sessions: "lots": want a whole number`,
		},
		{
			name: "boolean key",
			yaml: "flow_control: maybe\n",
			args: []string{"daemon", "--config", "FILE"},
			want: `logspread: daemon: config FILE line 1: flow_control: "maybe": want true or false`,
		},
		{
			name: "list key",
			yaml: "listen:\n  a: b\n",
			args: []string{"daemon", "--config", "FILE"},
			want: `logspread: daemon: config FILE line 2: listen: key: value settings: want a list such as [a, b] (or one item per line, each starting with '- ')`,
		},
		{
			name: "unknown key",
			yaml: "group: www\npathz: [a.log]\n",
			args: []string{"ship", "--config", "FILE"},
			want: `logspread: ship: config FILE line 2: unknown key pathz (known: absent_timeout, ack, batch_compression, batch_delay, batch_size, checkpoint_expiry, checkpoint_interval, compression_level, from_beginning, group, host, journal_full, journal_size, legacy, log_level, max_line, max_open_files, metrics_addr, once, paths, poll_interval, require_collector, require_collectors, reset_checkpoint, rotate_wait, rotated_names, service, spread, state_dir)`,
		},
		{
			name: "key given twice",
			yaml: "group: www\ngroup: api\n",
			args: []string{"ship", "--config", "FILE"},
			want: `logspread: ship: config FILE line 2: group is given twice (first on line 1)`,
		},
		{
			name: "allow flag",
			args: []string{"daemon", "--allow", "10.0.0.0/33"},
			want: `logspread: daemon: --allow "10.0.0.0/33": want a network in CIDR notation such as 192.0.2.0/24 or 2001:db8::/32, or one address such as 192.0.2.7`,
		},
		{
			name: "socket mode key",
			yaml: "socket_mode: rw-rw----\n",
			args: []string{"daemon", "--config", "FILE"},
			want: `logspread: daemon: config FILE line 1: socket_mode: "rw-rw----": want permission bits in octal such as 0660 or 0666`,
		},
		{
			name: "duration flag",
			args: []string{"ship", "--batch-delay", "soon"},
			want: `logspread: ship: --batch-delay "soon": want a duration such as 500ms, 10s or 1h`,
		},
		{
			name: "size flag",
			args: []string{"ship", "--batch-size", "-5"},
			want: `logspread: ship: --batch-size "-5": want a size in bytes such as 65536, 64K, 100M or 1G (K, M, G, T are powers of 1024)`,
		},
		{
			name: "number flag",
			args: []string{"collect", "--max-holes", "many"},
			want: `logspread: collect: --max-holes "many": want a whole number`,
		},
		{
			name: "unknown flag",
			args: []string{"daemon", "--nope"},
			want: `logspread: daemon: unknown flag: --nope`,
		},
		{
			name: "word from the file",
			yaml: "group: www\nservice: bogus\npaths: [a.log]\n",
			args: []string{"ship", "--config", "FILE"},
			want: `logspread: ship: config FILE line 2: service: "bogus": want agreed, safe, fifo or reliable`,
		},
		{
			name: "required with a file",
			yaml: "paths: [a.log]\n",
			args: []string{"ship", "--config", "FILE"},
			want: `logspread: ship: --group (or group in FILE) is required`,
		},
		{
			name: "size flag",
			args: []string{"collect", "--log", "www=x.log", "--queue-size", "1K"},
			want: `logspread: collect: --queue-size 1K: want at least 64K`,
		},
		{
			name: "stream bound flags",
			args: []string{"collect", "--log", "www=x.log", "--max-streams", "0"},
			want: `logspread: collect: --max-streams 0: want at least 1`,
		},
		{
			name: "stream expiry key",
			yaml: "logs: [{group: www, path: x.log}]\nstream_expiry: 5s\n",
			args: []string{"collect", "--config", "FILE"},
			want: `logspread: collect: config FILE line 2: stream_expiry: 5s: want at least 1m, well above the shippers' checkpoint interval (default 168h)`,
		},
		{
			name: "reassembly size flag",
			args: []string{"collect", "--log", "www=x.log", "--reassembly-size", "1M"},
			want: `logspread: collect: --reassembly-size 1M: want 1028K (the longest line) to 1T`,
		},
		{
			name: "max logs key",
			yaml: "logs: [{group: www, path: x.log}]\nmax_logs: -2\n",
			args: []string{"collect", "--config", "FILE"},
			want: `logspread: collect: config FILE line 2: max_logs: -2: want at least 1`,
		},
		{
			name: "size key",
			yaml: "logs: [{group: www, path: x.log}]\nrotate_size: lots\n",
			args: []string{"collect", "--config", "FILE"},
			want: `logspread: collect: config FILE line 2: rotate_size: "lots": want a size in bytes such as 65536, 64K, 100M or 1G (K, M, G, T are powers of 1024)`,
		},
		{
			name: "word key",
			yaml: "logs: [{group: www, path: x.log}]\ncompress: brotli\n",
			args: []string{"collect", "--config", "FILE"},
			want: `logspread: collect: config FILE line 2: compress: "brotli": want zstd, gzip or none`,
		},
		{
			name: "unknown key in a list",
			yaml: "logs:\n  - group: www\n    pth: x.log\n",
			args: []string{"collect", "--config", "FILE"},
			want: `logspread: collect: config FILE line 3: unknown key logs[1].pth (known: format, group, host_prefix, path)`,
		},
		{
			name: "address flag",
			args: []string{"tail", "--spread", "x:y:z", "www"},
			want: `logspread: tail: --spread "x:y:z": want an address such as unix:/run/logspread/4803 (a unix socket), 127.0.0.1:4803 or 4803@host (TCP), or 4803 (Spread's unix socket /tmp/4803)`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if tc.yaml != "" {
				if err := os.WriteFile(file, []byte(tc.yaml), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := append([]string{}, tc.args...)
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, "FILE", file)
			}
			args = append(args, "--check-config")
			code, _, stderr := runMain(t, "", args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
			want := strings.ReplaceAll(tc.want, "FILE", file) + "\n"
			if stderr != want {
				t.Errorf("stderr\n got %q\nwant %q", stderr, want)
			}
			if m := goWords.FindString(strings.ReplaceAll(stderr, file, "")); m != "" {
				t.Errorf("stderr %q speaks Go (%q)", stderr, m)
			}
		})
	}
}

// TestFlagsHaveKeys checks the rule errors rely on to name a setting: the YAML key of
// every flag is the flag's name with '-' replaced by '_'.
func TestFlagsHaveKeys(t *testing.T) {
	s := &streams{}
	g := &globalOptions{}
	for _, tc := range []struct {
		cmd      *cobra.Command
		opts     reflect.Type
		flagOnly []string // flags with no YAML key of their own
	}{
		{cmd: newCmdDaemon(s, g, nil), opts: reflect.TypeFor[DaemonOptions]()},
		{cmd: newCmdShip(s, g, nil), opts: reflect.TypeFor[ShipOptions]()},
		{cmd: newCmdCollect(s, g, nil), opts: reflect.TypeFor[CollectOptions](), flagOnly: []string{"log"}}, // --log GROUP=TEMPLATE; YAML has logs
		{cmd: newCmdTail(s, nil), opts: reflect.TypeFor[TailOptions]()},
	} {
		keys := yamlFields(tc.opts)
		tc.cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "config" || f.Name == "check-config" || slices.Contains(tc.flagOnly, f.Name) {
				return
			}
			if _, ok := keys[flagKey(f.Name)]; !ok {
				t.Errorf("%s --%s: no YAML key %s", tc.cmd.Name(), f.Name, flagKey(f.Name))
			}
		})
	}
}

// TestRunF runs commands with a stubbed run: the options it gets come from the file,
// overridden by flags, with the arguments.
func TestRunF(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ship.yaml")
	if err := os.WriteFile(file, []byte("group: www\nservice: safe\nbatch_size: 2000\nbatch_delay: 10ms\npaths: [from-file.log]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var got *ShipOptions
	cmd := newCmdShip(&streams{}, &globalOptions{}, func(o *ShipOptions) error {
		got = o
		return nil
	})
	cmd.SetArgs([]string{"--config", file, "--batch-size", "1000", "a.log", "b.log"})
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("run not called")
	}
	if got.Group != "www" || got.Service != "safe" || got.BatchSize != 1000 || got.BatchDelay != 10*time.Millisecond ||
		!reflect.DeepEqual(got.Paths, []string{"a.log", "b.log"}) {
		t.Errorf("options %+v", got)
	}

	var cat *CatOptions
	cmd = newCmdCat(&streams{}, func(o *CatOptions) error {
		cat = o
		return nil
	})
	cmd.SetArgs([]string{"x.zst", "y.zst"})
	if err := cmd.ExecuteContext(t.Context()); err != nil || cat == nil || !reflect.DeepEqual(cat.Files, []string{"x.zst", "y.zst"}) {
		t.Errorf("cat: err %v, options %+v", err, cat)
	}
}

// TestShipCompressionFlags: the compression flags reach the sender's configuration,
// and bad values name the flag and what is allowed.
func TestShipCompressionFlags(t *testing.T) {
	for _, tc := range []struct {
		args        []string
		comp, level string
		err         string
	}{
		{args: nil, comp: "zstd", level: "fastest"},
		{args: []string{"--batch-compression", "none"}, comp: "none", level: "fastest"},
		{args: []string{"--compression-level", "better"}, comp: "zstd", level: "better"},
		{args: []string{"--batch-compression", "gzip"}, err: `--batch-compression "gzip": want zstd or none`},
		{args: []string{"--compression-level", "9"}, err: `--compression-level "9": want fastest, default, better or best`},
	} {
		var got *ShipOptions
		cmd := newCmdShip(&streams{}, &globalOptions{}, func(o *ShipOptions) error { got = o; return nil })
		cmd.SetArgs(append([]string{"--group", "www", "a.log"}, tc.args...))
		err := cmd.Execute() // checks the options (build) before calling runF
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		_, snd, err := got.build()
		if err != nil {
			t.Fatal(err)
		}
		if snd.Compression != tc.comp || snd.CompressionLevel != tc.level {
			t.Errorf("%v: compression %q level %q, want %q %q", tc.args, snd.Compression, snd.CompressionLevel, tc.comp, tc.level)
		}
	}
}
