package formats

import (
	"sort"
	"strings"
)

// Format strings of the named formats.
const (
	// CommonLog is Apache's "common" format (NCSA Common Log Format).
	CommonLog = `%h %l %u %t "%r" %>s %b`
	// CombinedLog is Apache's "combined" format.
	CombinedLog = `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`
	// VHostCombinedLog is Apache's "vhost_combined" format, as in Debian's apache2.conf.
	VHostCombinedLog = `%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"`
	// RefererLog is Apache's "referer" format.
	RefererLog = `%{Referer}i -> %U`
	// AgentLog is Apache's "agent" format.
	AgentLog = `%{User-agent}i`
	// NginxCombinedLog is nginx's predefined "combined" log_format.
	NginxCombinedLog = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`
	// NginxMainLog is the "main" log_format of nginx's default nginx.conf.
	NginxMainLog = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"`
)

// JSONKeys returns the keys of the named "json" format, as in common nginx JSON
// log_format recipes. Each call returns a new slice.
func JSONKeys() []string {
	return []string{"time", "host", "remote_addr", "remote_user", "request", "status",
		"body_bytes_sent", "request_time", "http_referer", "http_user_agent"}
}

var named = map[string]func() (*Format, error){
	"common":         func() (*Format, error) { return CompileApache(CommonLog) },
	"combined":       func() (*Format, error) { return CompileApache(CombinedLog) },
	"vhost_combined": func() (*Format, error) { return CompileApache(VHostCombinedLog) },
	"referer":        func() (*Format, error) { return CompileApache(RefererLog) },
	"agent":          func() (*Format, error) { return CompileApache(AgentLog) },
	"nginx_combined": func() (*Format, error) { return CompileNginx(NginxCombinedLog) },
	"nginx_main":     func() (*Format, error) { return CompileNginx(NginxMainLog) },
	"json":           func() (*Format, error) { return CompileJSON(JSONKeys()...) },
}

// Names returns the names Named accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Named returns a new Format for one of the names listed by Names: "common", "combined",
// "vhost_combined", "referer", "agent", "nginx_combined", "nginx_main" and "json".
// Other names return an error wrapping ErrUnknownFormat.
func Named(name string) (*Format, error) {
	mk, ok := named[name]
	if !ok {
		return nil, &unknownError{name}
	}
	return mk()
}

type unknownError struct{ name string }

func (e *unknownError) Error() string {
	return ErrUnknownFormat.Error() + " " + quote([]byte(e.name)) + " (known: " + strings.Join(Names(), ", ") + ")"
}

func (e *unknownError) Unwrap() error { return ErrUnknownFormat }

// Compile turns a configuration value into a Format: a name known to Named; "json:" followed
// by comma-separated keys (CompileJSON); a string holding '%' (CompileApache); or a string
// holding '$' (CompileNginx).
func Compile(spec string) (*Format, error) {
	if _, ok := named[spec]; ok {
		return Named(spec)
	}
	switch {
	case strings.HasPrefix(spec, "json:"):
		return CompileJSON(strings.Split(spec[len("json:"):], ",")...)
	case strings.Contains(spec, "%"):
		return CompileApache(spec)
	case strings.Contains(spec, "$"):
		return CompileNginx(spec)
	}
	return Named(spec)
}
